"""`python -m benchmarks` (what `make bench` runs); `--help` for the options."""

from benchmarks.cli import main

if __name__ == "__main__":  # spawned writer processes import this module too
    raise SystemExit(main())
