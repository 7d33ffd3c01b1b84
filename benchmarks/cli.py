"""`python -m benchmarks` / `make bench`: run the scenarios, print tables, check targets.

Writes `benchmarks/results/latest.json` and `docs/bench-sweep.png` (when the sweep
ran). Progress goes to stderr, tables to stdout. Exit status 0 whatever the targets
say (they are printed, PASS or MISS), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.chart import Series, write_line_chart
from benchmarks.harness import Measurement, Workload, measure
from benchmarks.report import (
    LEGEND,
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

__all__ = ["main"]

_PACKAGE = Path(__file__).resolve().parent
DEFAULT_JSON = _PACKAGE / "results" / "latest.json"
DEFAULT_PLOT = _PACKAGE.parent / "docs" / "bench-sweep.png"
_SHOWN_JSON, _SHOWN_PLOT = "benchmarks/results/latest.json", "docs/bench-sweep.png"
PARTS = ("S1", "S2", "S3", "S4", "sweep")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Compare six ways of updating one JSON document in S3, on a local S3 "
                    "with injected latency.")
    parser.add_argument("--latency", type=float, default=20.0, metavar="MS",
                        help="latency added to every request, in milliseconds (default 20)")
    parser.add_argument("--quick", action="store_true",
                        help="smaller scenarios (same shapes), for development")
    parser.add_argument("--only", type=lambda s: s.split(","), default=list(PARTS),
                        metavar="PARTS", help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON,
                        help=f"where to write the results (default {_SHOWN_JSON})")
    parser.add_argument("--plot", type=Path, default=DEFAULT_PLOT,
                        help=f"where to draw the sweep (default {_SHOWN_PLOT})")
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


def _plot(results: Results, path: Path, *, quick: bool) -> None:
    series = [
        Series(label=next(iter(points.values())).title,
               points=[(float(w), m.updates_per_s) for w, m in sorted(points.items())],
               dashed=any(m.lost for m in points.values()))
        for points in results.sweep.values()
    ]
    title = (f"N writers appending to one JSON document in S3 (LocalS3, "
             f"{results.latency * 1000:g} ms per request)" + (" --quick" if quick else ""))
    path.parent.mkdir(parents=True, exist_ok=True)
    x_label = f"writers on one key (threads, {results.sizes.sweep_updates} updates each)"
    write_line_chart(path, series, title=title, x_label=x_label,
                     y_label="acknowledged updates/s", note="dashed: loses updates")


def _shown(path: Path) -> str:
    """`path` relative to the working directory when it is under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; see the module docstring."""
    parser = _parser()
    args = parser.parse_args(argv)
    parts = set(args.only)
    if not parts <= set(PARTS) or args.latency < 0:
        parser.error(f"--only takes a subset of {','.join(PARTS)}; --latency must be >= 0")
    sizes = QUICK_SIZES if args.quick else DEFAULT_SIZES
    results = Results(latency=args.latency / 1000, sizes=sizes)
    started_at = datetime.datetime.now(datetime.UTC)
    started = time.monotonic()
    load = os.getloadavg()[0]  # other work on the machine skews every number
    print(f"make bench: LocalS3 (moto, strict) in its own process, {args.latency:g} ms added "
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
    write_json(args.json, results_json(results, targets, meta))
    written = [_shown(args.json)]
    if results.sweep:
        _plot(results, args.plot, quick=args.quick)
        written.append(_shown(args.plot))
    print(f"\nwrote {', '.join(written)}; {seconds:.0f} s in all")
    return 0
