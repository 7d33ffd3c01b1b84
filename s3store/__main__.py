"""`python -m s3store`: the `s3store` command line."""

import sys

from s3store.cli import main

if __name__ == "__main__":  # spawned processes (the demo's workers) import this module too
    sys.exit(main())
