"""The benchmark's figure, drawn by matplotlib (the `bench` extra): the writer sweep,
one line per option, in three panels that share the writers axis — acknowledged
updates/s, requests per acknowledged update, and p99 latency per acknowledged update (on a
log scale: the slowest option's seconds would otherwise flatten everyone else's
milliseconds).

An option that lost updates is dashed: its throughput counts writes that were erased. An
option whose writers gave up on updates says how many in its label; at a writer count
where nothing was acknowledged it has no point in the last two panels (there is no
figure per acknowledged update), which its label also says.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Final

from matplotlib.figure import Figure

from benchmarks.asyncbench import AsyncRow
from benchmarks.harness import Measurement
from benchmarks.scenarios import Results

__all__ = ["ASYNC_PANELS", "PANELS", "async_figure", "option_label", "sweep_figure",
           "write_async_figure", "write_sweep_figure"]

PANELS: Final[tuple[tuple[str, str, Callable[[Measurement], float]], ...]] = (
    ("acknowledged updates/s", "linear", lambda m: m.updates_per_s),
    ("requests per acknowledged update", "linear", lambda m: m.requests_per_ack),
    ("p99 latency of an acknowledged update (ms)", "log", lambda m: m.p99_ms),
)
"""Each panel's y label, y scale, and what it plots of a measurement."""


def option_label(points: dict[int, Measurement]) -> str:
    """The legend's label of one option's line: its title, and what went wrong."""
    ordered = [points[w] for w in sorted(points)]
    notes = []
    if any(m.lost for m in ordered):
        notes.append("loses updates")
    failed = sum(m.failed for m in ordered)
    if failed:
        notes.append(f"gave up on {failed} updates")
    silent = [str(m.writers) for m in ordered if not m.acked]
    if silent:
        notes.append(f"none acknowledged at {', '.join(silent)} writers")
    return ordered[0].title + (f" ({'; '.join(notes)})" if notes else "")


def sweep_figure(results: Results, *, quick: bool) -> Figure:
    """The figure of `results.sweep`, one panel per entry of `PANELS`.

    Uses matplotlib's object API (no pyplot: no global state, no display needed).
    Raises ValueError if the sweep is empty.
    """
    if not results.sweep:
        raise ValueError("no sweep to draw: run the benchmark with the sweep")
    figure = Figure(figsize=(15, 4.8), layout="constrained")
    axes = figure.subplots(1, len(PANELS), sharex=True)
    writers = sorted({w for points in results.sweep.values() for w in points})
    for (label, scale, value), ax in zip(PANELS, axes, strict=True):
        for points in results.sweep.values():
            ordered = sorted(points.items())
            lost = any(m.lost for _, m in ordered)
            ys = [value(m) for _, m in ordered]
            ax.plot([w for w, _ in ordered],
                    [y if math.isfinite(y) and (y > 0 or scale == "linear") else math.nan
                     for y in ys],
                    marker="o", linestyle="--" if lost else "-", label=option_label(points))
        ax.set_xscale("log", base=2)
        ax.set_xticks(writers, [str(w) for w in writers])
        ax.set_xlabel(f"writers on one key (threads, {results.sizes.sweep_updates} updates each)")
        ax.set_ylabel(label)
        if scale == "log":
            ax.set_yscale("log")
        else:
            ax.set_ylim(bottom=0)
        ax.grid(visible=True, which="both", alpha=0.3)
    axes[0].legend(loc="best", fontsize="small")
    figure.suptitle(f"N writers appending to one JSON document in S3 (LocalS3, "
                    f"{results.latency * 1000:g} ms per request)"
                    + (" --quick" if quick else ""))
    return figure


ASYNC_PANELS: Final[tuple[tuple[str, str, Callable[[AsyncRow], float]], ...]] = (
    ("acknowledged updates/s", "linear", lambda r: r.per_second),
    ("requests per acknowledged update", "log", lambda r: r.requests_per_update),
    ("p99 latency of an acknowledged update (ms)", "log", lambda r: r.p99_ms),
)
"""The async column's panels: y label, y scale, and what each plots of a row (the CAS
loops' requests and seconds would flatten the stores' on a linear scale)."""


def async_figure(results: Results, *, quick: bool) -> Figure:
    """The async column (`results.asyncio`): a bar per option in each shape, per panel.
    Raises ValueError if it was not run."""
    if not results.asyncio:
        raise ValueError("no async column to draw: run the benchmark with --only async")
    shapes = list(dict.fromkeys(row.shape for row in results.asyncio))
    options = list(dict.fromkeys(row.option for row in results.asyncio))
    figure = Figure(figsize=(15, 4.8), layout="constrained")
    axes = figure.subplots(1, len(ASYNC_PANELS))
    width = 0.8 / len(options)
    for (label, scale, value), ax in zip(ASYNC_PANELS, axes, strict=True):
        for n, option in enumerate(options):
            rows = {row.shape: row for row in results.asyncio if row.option == option}
            ys = [value(rows[shape]) if shape in rows else math.nan for shape in shapes]
            lost = any(row.lost for row in rows.values())
            ax.bar([i + n * width for i in range(len(shapes))], ys, width,
                   label=option + (" (loses updates)" if lost else ""),
                   hatch="//" if lost else None)
        ax.set_xticks([i + width * (len(options) - 1) / 2 for i in range(len(shapes))], shapes)
        ax.set_ylabel(label)
        ax.set_yscale(scale)
        ax.grid(visible=True, axis="y", which="both", alpha=0.3)
    axes[0].legend(loc="best", fontsize="small")
    first = results.asyncio[0]
    figure.suptitle(f"{first.writers} concurrent updates ({first.updates // first.writers} "
                    f"each), one event loop (LocalS3, {results.latency * 1000:g} ms per "
                    "request)" + (" --quick" if quick else ""))
    return figure


def write_async_figure(results: Results, path: Path, *, quick: bool) -> None:
    """Draw `results.asyncio` (`async_figure`) into the PNG at `path`."""
    figure = async_figure(results, quick=quick)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)


def write_sweep_figure(results: Results, path: Path, *, quick: bool) -> None:
    """Draw `results.sweep` (`sweep_figure`) into the PNG at `path`, creating its folder."""
    figure = sweep_figure(results, quick=quick)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
