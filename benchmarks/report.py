"""Tables and JSON for one run's results."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from benchmarks.docsize import DocSizeRow, size_label
from benchmarks.harness import Measurement
from benchmarks.scenarios import SCALING_OPTION, Results
from benchmarks.targets import Target

__all__ = ["LEGEND", "docsize_table", "results_json", "scaling_table", "scenario_table",
           "sweep_table", "targets_section", "write_json"]

_COLUMNS = (f"{'updates/s':>9} {'req/update':>10} {'lost':>5} {'failed':>6} "
            f"{'p50 ms':>7} {'p99 ms':>7} {'cpu ms':>7}")


LEGEND = """\
Columns: updates/s acknowledged per second of wall time; req/update: object requests the
server saw per acknowledged update; lost: acknowledged updates missing from the document
at the end; failed: updates not acknowledged (the writer gave up); p50/p99 ms: latency of
one update; cpu ms: the writers' CPU time per acknowledged update."""


def _number(value: float, spec: str) -> str:
    return "-" if math.isnan(value) or math.isinf(value) else format(value, spec)


def _row(label: str, m: Measurement) -> str:
    return (f"{label:<28} {m.updates_per_s:>9.1f} {_number(m.requests_per_ack, '.2f'):>10} "
            f"{m.lost:>5} {m.failed:>6} {_number(m.p50_ms, '.0f'):>7} "
            f"{_number(m.p99_ms, '.0f'):>7} {_number(m.client_cpu_ms_per_ack, '.2f'):>7}")


def _table(title: str, rows: Iterable[tuple[str, Measurement]], *, first: str = "option") -> str:
    header = f"{first:<28} {_COLUMNS}"
    lines = [title, header, "-" * len(header)]
    notes = []
    for label, m in rows:
        lines.append(_row(label, m))
        if m.duplicated:
            notes.append(f"  {label}: {m.duplicated} items stored twice")
        if m.failures:
            kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(m.failures.items()))
            notes.append(f"  {label}: not acknowledged: {kinds}")
    return "\n".join(lines + notes)


def scenario_table(name: str, title: str, measurements: dict[str, Measurement]) -> str:
    """A scenario's table: one row per option."""
    updates = next(iter(measurements.values())).updates if measurements else 0
    return _table(f"{name}: {title} ({updates} updates)",
                  ((m.title, m) for m in measurements.values()))


def scaling_table(scaling: dict[int, Measurement]) -> str:
    """S3's shape with 1, 2, 4... processes, for the livelock check."""
    return _table(f"S3 by processes ({SCALING_OPTION.title})",
                  ((f"{p} process{'es' if p > 1 else ''} x {m.writers // p} threads", m)
                   for p, m in sorted(scaling.items())), first="writers")


def sweep_table(sweep: dict[str, dict[int, Measurement]]) -> str:
    """Acknowledged updates/s (and lost, if any) per option and number of writers."""
    writers = sorted({w for points in sweep.values() for w in points})
    header = f"{'option':<28}" + "".join(f"{w:>8}" for w in writers)
    lines = ["Sweep: acknowledged updates/s by writers on one key "
             "(lost or not acknowledged in brackets)", header, "-" * len(header)]
    for points in sweep.values():
        title = next(iter(points.values())).title
        cells = []
        for w in writers:
            m = points.get(w)
            if m is None:
                cells.append(f"{'':>8}")
                continue
            bad = m.lost + m.failed
            cells.append(f"{m.updates_per_s:>8.0f}" if not bad
                         else f"{f'{m.updates_per_s:.0f}({bad})':>8}")
        lines.append(f"{title:<28}" + "".join(cells))
    return "\n".join(lines)


def docsize_table(rows: list[DocSizeRow]) -> str:
    """CPU per update of each method, per codec and document size, and the ratios; then
    what botocore computed over each `PutObject` body (the same for all: a fair floor)."""
    header = (f"{'codec':<8} {'size':>7} {'store':>8} {'store,read':>10} {'floor':>8} "
              f"{'bare put':>8} {'store/floor':>11} {'read/floor':>10} {'store/bare':>10}")
    lines = ["Document sizes: CPU ms per update of one document (this process; no latency "
             "added), one writer", header, "-" * len(header)]
    for row in rows:
        cpu = row.cpu_ms
        lines.append(
            f"{row.codec:<8} {size_label(row.size):>7} {cpu['store']:>8.2f} "
            f"{cpu['store-read']:>10.2f} {cpu['floor']:>8.2f} {cpu['bare']:>8.2f} "
            f"{row.store_per_floor:>11.2f} {cpu['store-read'] / cpu['floor']:>10.2f} "
            f"{cpu['store'] / cpu['bare']:>10.2f}")
    work = {text for row in rows for text in row.put_work.values()}
    if len(work) == 1:
        lines.append(f"Every PutObject above: {work.pop()} (botocore's, the same for all)")
    else:
        lines += [f"  {row.codec} {size_label(row.size)} PutObject: {row.put_work}"
                  for row in rows]
    return "\n".join(lines)


def targets_section(targets: list[Target]) -> str:
    """One line per target: verdict, name, numbers."""
    lines = ["Targets"]
    lines += [f"  {t.verdict:<4}  {t.name}: {t.detail}" for t in targets]
    missed = sum(1 for t in targets if t.passed is False)
    passed = sum(1 for t in targets if t.passed)
    lines.append(f"  {passed} passed, {missed} missed"
                 + (f", {len(targets) - passed - missed} skipped"
                    if len(targets) > passed + missed else ""))
    return "\n".join(lines)


def results_json(results: Results, targets: list[Target], meta: dict[str, Any]) -> dict[str, Any]:
    """Everything measured, as JSON-ready data."""
    return {
        "meta": meta,
        "sizes": {k: list(v) if isinstance(v, tuple) else v
                  for k, v in vars(results.sizes).items()},
        "scenarios": {name: [m.as_json() for m in rows.values()]
                      for name, rows in results.scenarios.items()},
        "s3_by_processes": {str(p): m.as_json() for p, m in sorted(results.scaling.items())},
        "sweep": {option: {str(w): m.as_json() for w, m in sorted(points.items())}
                  for option, points in results.sweep.items()},
        "document_sizes": [row.as_json() for row in results.docsize],
        "asyncio": [row.as_json() for row in results.asyncio],
        "targets": [{"name": t.name, "verdict": t.verdict, "detail": t.detail}
                    for t in targets],
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write `data` to `path` (creating its directory), pretty-printed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
