"""`make bench`'s async column, at a tiny size (its figures are measured, not checked here).

Each option runs for real against the benchmark's own S3 host: every update is
acknowledged and none lost, requests are counted by the server, and the table and the JSON
carry every option. A hand-written CAS loop with its conditional header taken away (a
plain put) is the negative control: the harness must count what it loses.
"""

from __future__ import annotations

import json

import pytest
from matplotlib.patches import Rectangle

pytest.importorskip("aiobotocore", reason="the `aio` extra is not installed (make test-min)")

from benchmarks.asyncbench import (
    ASYNC_OPTIONS,
    UNCONDITIONAL,
    AsyncRow,
    asyncio_table,
    measure_async,
)
from benchmarks.plot import ASYNC_PANELS, async_figure
from benchmarks.scenarios import Results, Sizes
from benchmarks.server import S3Host

WRITERS, UPDATES = 6, 2


@pytest.fixture(scope="module")
def rows() -> list[AsyncRow]:
    with S3Host() as host:
        return [measure_async(host, option, "one key", 1, writers=WRITERS, updates=UPDATES,
                              latency=0.0) for option in ASYNC_OPTIONS]


def test_every_option_acknowledges_every_update_and_loses_none(rows: list[AsyncRow]) -> None:
    assert [row.option for row in rows] == list(ASYNC_OPTIONS)
    for row in rows:
        assert (row.updates, row.acknowledged, row.failed, row.lost) == (
            WRITERS * UPDATES, WRITERS * UPDATES, 0, 0), row
        # at least the final write of each update's round; a CAS loop reads and writes
        assert row.requests >= 1 and row.p50_ms <= row.p99_ms
    by = {row.option: row for row in rows}
    # group commit: the stores share rounds; a CAS loop pays a read and a write each time
    assert by["AsyncJsonStore"].requests_per_update < by["aiobotocore CAS loop"].requests_per_update
    assert by["obstore CAS loop"].requests_per_update >= 2


def test_the_table_and_the_json_carry_every_row(rows: list[AsyncRow]) -> None:
    table = asyncio_table(rows)
    assert all(option in table for option in ASYNC_OPTIONS)
    data = json.loads(json.dumps([row.as_json() for row in rows], allow_nan=False))
    assert {"per_second", "requests_per_update", "peak_kib_per_1000", "lost"} <= set(data[0])


def test_negative_control_an_unconditional_put_loses_updates() -> None:
    """The aiobotocore loop without its If-Match: the harness counts what it loses."""
    with S3Host() as host:
        row = measure_async(host, UNCONDITIONAL, "one key", 1, writers=12, updates=2,
                            latency=0.01)
    assert row.failed == 0 and row.lost > 0, row


def test_the_figure_has_a_bar_per_option_in_each_panel(rows: list[AsyncRow]) -> None:
    results = Results(latency=0.0, sizes=Sizes(async_writers=WRITERS, async_updates=UPDATES),
                      asyncio=rows)
    figure = async_figure(results, quick=True)
    axes = figure.get_axes()
    assert [ax.get_ylabel() for ax in axes] == [label for label, _, _ in ASYNC_PANELS]
    assert [ax.get_yscale() for ax in axes] == [scale for _, scale, _ in ASYNC_PANELS]
    for ax, (_, _, value) in zip(axes, ASYNC_PANELS, strict=True):
        heights = [patch.get_height() for patch in ax.patches
                   if isinstance(patch, Rectangle)]
        assert heights == [value(row) for row in rows]  # one shape: a bar per option
