"""The documentation's tests: every code block of README.md and docs/ runs; links resolve."""
