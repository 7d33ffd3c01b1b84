"""`s3store bench` / `make bench` / `python -m benchmarks`: run the scenarios, print
tables, check targets.

Writes `latest.json` and, when the sweep ran, `bench-sweep.png` into `--output` (by
default `benchmarks/results/`, which git ignores); only `--update-docs` also copies the
figure to the committed `docs/bench-sweep.png`. Progress goes to stderr, tables to
stdout. Exit status 0 whatever the targets say (they are printed, PASS or MISS), 2 for
bad arguments.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.asyncbench import ASYNC_OPTIONS, SHAPES, asyncio_table, measure_async
from benchmarks.docsize import measure_sizes
from benchmarks.harness import Measurement, Workload, measure
from benchmarks.plot import write_async_figure, write_sweep_figure
from benchmarks.report import (
    LEGEND,
    docsize_table,
    results_json,
    scaling_table,
    scenario_table,
    sweep_table,
    targets_section,
    write_json,
)
from benchmarks.scenarios import (
    DEFAULT_SIZES,
    QUICK_SIZES,
    SCALING_OPTION,
    SWEEP_OPTIONS,
    Results,
    scaling_workloads,
    scenarios,
    sweep_workloads,
)
from benchmarks.server import S3Host
from benchmarks.targets import check
from benchmarks.updaters import Option

__all__ = ["main", "parse_args"]

_PACKAGE = Path(__file__).resolve().parent
DEFAULT_OUTPUT = _PACKAGE / "results"
"""Where results go unless `--output` says otherwise (ignored by git)."""
DOCS_FIGURE = _PACKAGE.parent / "docs" / "bench-sweep.png"
"""The committed figure the README shows: written only with `--update-docs`."""
JSON_NAME, FIGURE_NAME, ASYNC_FIGURE_NAME = "latest.json", "bench-sweep.png", "bench-async.png"
DOCS_ASYNC_FIGURE = _PACKAGE.parent / "docs" / ASYNC_FIGURE_NAME
"""The committed figure of the async column: written only with `--update-docs`."""
PARTS = ("S1", "S2", "S3", "S4", "sweep", "sizes", "async")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s3store bench",
        description="Compare six ways of updating one JSON document in S3, on a local S3 "
                    "with injected latency.")
    parser.add_argument("--latency", type=float, default=20.0, metavar="MS",
                        help="latency added to every request, in milliseconds (default 20)")
    parser.add_argument("--quick", action="store_true",
                        help="smaller scenarios (same shapes), for development")
    parser.add_argument("--only", type=lambda s: s.split(","), default=list(PARTS),
                        metavar="PARTS", help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, metavar="DIR",
                        help=f"folder for {JSON_NAME} and {FIGURE_NAME} (default "
                             "benchmarks/results/ in the checkout, ignored by git)")
    parser.add_argument("--update-docs", action="store_true",
                        help="also copy the figure to the committed docs/bench-sweep.png "
                             "(needs the sweep)")
    return parser


class _Runner:
    """Measures on one S3 host and reports progress on stderr."""

    def __init__(self, host: S3Host, latency: float) -> None:
        self.host, self.latency = host, latency

    def run(self, label: str, option: Option, workload: Workload) -> Measurement:
        print(f"  {label:<18} {option.title:<28}", end="", file=sys.stderr, flush=True)
        started = time.monotonic()
        m = measure(self.host, option, workload, latency=self.latency)
        print(f" {time.monotonic() - started:6.1f} s", file=sys.stderr, flush=True)
        return m


def _run(parts: set[str], results: Results, runner: _Runner) -> None:
    sizes = results.sizes
    for scenario in scenarios(sizes):
        if scenario.name not in parts:
            continue
        rows = {option.name: runner.run(scenario.name, option, scenario.workload)
                for option in scenario.options}
        results.scenarios[scenario.name] = rows
        print(scenario_table(scenario.name, scenario.title, rows), end="\n\n", flush=True)
        if scenario.name == "S3" and SCALING_OPTION.name in rows:
            for processes, workload in scaling_workloads(sizes):
                results.scaling[processes] = runner.run(f"S3 {processes} proc",
                                                        SCALING_OPTION, workload)
            results.scaling[sizes.s3_processes] = rows[SCALING_OPTION.name]
            print(scaling_table(results.scaling), end="\n\n", flush=True)
    if "sweep" in parts:
        for option in SWEEP_OPTIONS:
            results.sweep[option.name] = {
                writers: runner.run(f"sweep {writers} writers", option, workload)
                for writers, workload in sweep_workloads(sizes)
            }
        print(sweep_table(results.sweep), end="\n\n", flush=True)
    if "sizes" in parts:
        results.docsize = measure_sizes(
            runner.host, sizes.docsize_bytes, sizes.docsize_updates,
            progress=lambda what: print(f"  sizes {what}", file=sys.stderr, flush=True))
        print(docsize_table(results.docsize), end="\n\n", flush=True)
    if "async" in parts:
        for shape, keys in SHAPES:
            for name in ASYNC_OPTIONS:
                print(f"  async {name}, {shape}", file=sys.stderr, flush=True)
                results.asyncio.append(measure_async(
                    runner.host, name, shape, keys, writers=sizes.async_writers,
                    updates=sizes.async_updates, latency=results.latency))
        print(asyncio_table(results.asyncio), end="\n\n", flush=True)


def _shown(path: Path) -> str:
    """`path` relative to the working directory when it is under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The benchmark's arguments, checked; `SystemExit(2)` with a usage line if wrong."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not set(args.only) <= set(PARTS) or args.latency < 0:
        parser.error(f"--only takes a subset of {','.join(PARTS)}; --latency must be >= 0")
    if args.update_docs and ("sweep" not in args.only or args.quick):
        parser.error("--update-docs needs the sweep at its default sizes (no --quick)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; see the module docstring."""
    args = parse_args(argv)
    parts = set(args.only)
    sizes = QUICK_SIZES if args.quick else DEFAULT_SIZES
    results = Results(latency=args.latency / 1000, sizes=sizes)
    started_at = datetime.datetime.now(datetime.UTC)
    started = time.monotonic()
    load = os.getloadavg()[0]  # other work on the machine skews every number
    print(f"s3store bench: LocalS3 (moto, strict) in its own process, {args.latency:g} ms added "
          f"to every request; {'quick' if args.quick else 'default'} sizes; "
          f"{os.cpu_count()} CPUs (load {load:.1f} at start), Python "
          f"{platform.python_version()}\n\n{LEGEND}\n", flush=True)
    with S3Host() as host:
        _run(parts, results, _Runner(host, results.latency))
    targets = check(results)
    print(targets_section(targets))
    seconds = time.monotonic() - started
    meta = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "latency_ms": args.latency,
        "quick": args.quick,
        "parts": sorted(parts),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_at_start": round(load, 2),
        "load_at_end": round(os.getloadavg()[0], 2),
    }
    output: Path = args.output
    write_json(output / JSON_NAME, results_json(results, targets, meta))
    written = [_shown(output / JSON_NAME)]
    figures = [(write_sweep_figure, FIGURE_NAME, DOCS_FIGURE)] if results.sweep else []
    if results.asyncio:
        figures.append((write_async_figure, ASYNC_FIGURE_NAME, DOCS_ASYNC_FIGURE))
    for draw, name, committed in figures:
        draw(results, output / name, quick=args.quick)
        written.append(_shown(output / name))
        if args.update_docs:
            shutil.copyfile(output / name, committed)
            written.append(_shown(committed))
    print(f"\nwrote {', '.join(written)}; {seconds:.0f} s in all")
    return 0
