"""The benchmark's figure, drawn by matplotlib (the `bench` extra): the writer sweep,
one line per option, in three panels that share the writers axis — acknowledged
updates/s, requests per acknowledged update, and p99 latency per update.

An option that lost updates is dashed: its throughput counts writes that were erased.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Final

from matplotlib.figure import Figure

from benchmarks.harness import Measurement
from benchmarks.scenarios import Results

__all__ = ["PANELS", "sweep_figure", "write_sweep_figure"]

PANELS: Final[tuple[tuple[str, Callable[[Measurement], float]], ...]] = (
    ("acknowledged updates/s", lambda m: m.updates_per_s),
    ("requests per acknowledged update", lambda m: m.requests_per_ack),
    ("p99 latency of an update (ms)", lambda m: m.p99_ms),
)
"""Each panel's y label and what it plots of a measurement."""


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
    for (label, value), ax in zip(PANELS, axes, strict=True):
        for points in results.sweep.values():
            ordered = sorted(points.items())
            lost = any(m.lost for _, m in ordered)
            ys = [value(m) for _, m in ordered]
            ax.plot([w for w, _ in ordered], [y if math.isfinite(y) else math.nan for y in ys],
                    marker="o", linestyle="--" if lost else "-",
                    label=ordered[0][1].title + (" (loses updates)" if lost else ""))
        ax.set_xscale("log", base=2)
        ax.set_xticks(writers, [str(w) for w in writers])
        ax.set_xlabel(f"writers on one key (threads, {results.sizes.sweep_updates} updates each)")
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(visible=True, alpha=0.3)
    axes[0].legend(loc="best", fontsize="small")
    figure.suptitle(f"N writers appending to one JSON document in S3 (LocalS3, "
                    f"{results.latency * 1000:g} ms per request)"
                    + (" --quick" if quick else ""))
    return figure


def write_sweep_figure(results: Results, path: Path, *, quick: bool) -> None:
    """Draw `results.sweep` (`sweep_figure`) into the PNG at `path`, creating its folder."""
    figure = sweep_figure(results, quick=quick)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
