"""The sweep's line chart: one line per option, x on a log2 scale, legend as colored labels."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from benchmarks.png import BLACK, GRAY, LIGHT_GRAY, RGB, Canvas

__all__ = ["PALETTE", "Series", "nice_ticks", "write_line_chart"]

PALETTE: Final[tuple[RGB, ...]] = (
    (214, 39, 40), (255, 127, 14), (148, 103, 189), (31, 119, 180), (44, 160, 44),
    (140, 86, 75), (227, 119, 194),
)
"""Line colors, in the order of the series."""

_HEIGHT = 620
_LEFT, _RIGHT, _TOP, _BOTTOM = 100, 800, 80, 530  # the plot area
_SCALE = 2  # text is the 5x7 font at twice its size


@dataclass(frozen=True)
class Series:
    """One line: its label and (x, y) points; `dashed` marks it as not to be trusted."""

    label: str
    points: list[tuple[float, float]]
    dashed: bool = False


def nice_ticks(top: float, *, count: int = 6) -> list[float]:
    """Round tick values from 0 to at least `top`, about `count` of them."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [step * n for n in range(math.ceil(top / step - 1e-9) + 1)]


def _tick_label(value: float) -> str:
    return f"{value:g}" if value < 1e5 else f"{value:.0e}"


def _draw_series(canvas: Canvas, line: Series, points: list[tuple[int, int]],
                 later: list[list[tuple[int, int]]], color: RGB) -> None:
    """One line with its markers; where a later line will cover it, drawn wider, so that
    it shows as an outline around that line instead of vanishing under it."""

    def covered(point: tuple[int, int]) -> bool:
        return any(abs(point[0] - x) <= 4 and abs(point[1] - y) <= 4
                   for other in later for x, y in other)

    for start, end in itertools.pairwise(points):
        width = 7 if covered(start) and covered(end) else 3
        canvas.line(*start, *end, color, width=width, dash=10 if line.dashed else 0)
    for point in points:
        canvas.disc(*point, 8 if covered(point) else 5, color)


def write_line_chart(path: Path, series: Sequence[Series], *, title: str, x_label: str,
                     y_label: str, note: str = "") -> None:
    """Draw `series` (x > 0, log2 scale; y linear from 0) and save the PNG to `path`."""
    legend_width = max((Canvas.text_width(s.label, _SCALE) for s in series), default=0)
    canvas = Canvas(max(_RIGHT + 90 + legend_width, 1000), _HEIGHT)
    xs = sorted({x for s in series for x, _ in s.points}) or [1.0]
    y_ticks = nice_ticks(max((y for s in series for _, y in s.points), default=1.0))
    lo, hi = math.log2(xs[0]), math.log2(xs[-1])

    def px(x: float) -> int:
        span = hi - lo or 1.0
        return round(_LEFT + 20 + (math.log2(x) - lo) / span * (_RIGHT - _LEFT - 40))

    def py(y: float) -> int:
        return round(_BOTTOM - y / y_ticks[-1] * (_BOTTOM - _TOP))

    canvas.text(_LEFT - 60, 20, title, BLACK, scale=_SCALE)
    canvas.text(_LEFT - 60, _TOP - 30, y_label, GRAY, scale=_SCALE)
    for value in y_ticks:
        y = py(value)
        canvas.line(_LEFT, y, _RIGHT, y, LIGHT_GRAY)
        label = _tick_label(value)
        canvas.text(_LEFT - 10 - canvas.text_width(label, _SCALE), y - 7, label, BLACK,
                    scale=_SCALE)
    for x in xs:
        canvas.line(px(x), _BOTTOM, px(x), _BOTTOM + 6, BLACK)
        label = _tick_label(x)
        canvas.text(px(x) - canvas.text_width(label, _SCALE) // 2, _BOTTOM + 12, label, BLACK,
                    scale=_SCALE)
    canvas.line(_LEFT, _TOP, _LEFT, _BOTTOM, BLACK)
    canvas.line(_LEFT, _BOTTOM, _RIGHT, _BOTTOM, BLACK)
    mid = (_LEFT + _RIGHT - canvas.text_width(x_label, _SCALE)) // 2
    canvas.text(mid, _BOTTOM + 44, x_label, GRAY, scale=_SCALE)

    placed = [[(px(x), py(y)) for x, y in sorted(line.points)] for line in series]
    for n, line in enumerate(series):
        _draw_series(canvas, line, placed[n], placed[n + 1:], PALETTE[n % len(PALETTE)])
        legend_y = _TOP + 10 + 34 * n
        color = PALETTE[n % len(PALETTE)]
        canvas.line(_RIGHT + 30, legend_y + 7, _RIGHT + 60, legend_y + 7, color, width=3,
                    dash=6 if line.dashed else 0)
        canvas.disc(_RIGHT + 45, legend_y + 7, 5, color)
        canvas.text(_RIGHT + 70, legend_y, line.label, color, scale=_SCALE)
    if note:
        canvas.text(_RIGHT + 30, _TOP + 20 + 34 * len(series), note, GRAY, scale=_SCALE)
    canvas.save(path)
