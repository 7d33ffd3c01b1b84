"""The demo (`python -m worker_integration.demo.run`, `make demo`): the incident replayed on
the new path and, for comparison, on the old one (`legacy`, kept only for that and as the
tests' negative control), with its report. Nothing outside the demo and the tests imports
it but the `demo` subcommand."""
