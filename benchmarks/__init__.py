"""Benchmarks of concurrent updates to one JSON document in S3: `make bench`.

Six ways to append to a JSON array in S3 (`benchmarks.updaters`), run against a
`LocalS3` with injected latency in the scenarios of `benchmarks.scenarios`; the run
prints a table per scenario, checks the performance targets (`benchmarks.targets`),
writes `latest.json` and draws the writer sweep (`benchmarks.plot`, matplotlib) into
`benchmarks/results/` or `--output`. `benchmarks.docsize` measures the CPU of one update
of a large document (10 KB to 5 MB) beside the hand-written floor, for each codec.
"""
