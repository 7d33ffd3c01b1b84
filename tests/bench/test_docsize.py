"""`make bench`'s document-size scenario (`benchmarks.docsize`): what it measures, on a tiny
document against the benchmark's own S3 host, and how its table, JSON and target read the
rows. No figure is judged here (speed belongs in the benchmark)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from benchmarks.docsize import METHODS, DocSizeRow, available_libraries, document
from benchmarks.report import docsize_table, results_json
from benchmarks.scenarios import DEFAULT_SIZES, QUICK_SIZES, Results
from benchmarks.server import S3Host
from benchmarks.targets import check
from s3store import JSON_CODEC


@pytest.fixture(scope="module")
def rows() -> list[DocSizeRow]:
    """The scenario run for real on a 2 KB and a 20 KB document, two updates each."""
    from benchmarks.docsize import measure_sizes  # noqa: PLC0415 - next to its use

    with S3Host() as host:
        return measure_sizes(host, (2_000, 20_000), (2, 2))


def test_every_codec_installed_is_measured_with_every_method(rows: list[DocSizeRow]) -> None:
    codecs = [library.name for library in available_libraries()]
    assert codecs[0] == "json"
    assert [row.codec for row in rows] == codecs * 2
    small, large = rows[0].size, rows[-1].size
    assert [row.size for row in rows] == [small] * len(codecs) + [large] * len(codecs)
    assert 2_000 <= small < 20_000 <= large
    for row in rows:
        assert set(row.cpu_ms) == set(METHODS) and all(ms > 0 for ms in row.cpu_ms.values())
        assert row.updates == 2


def test_botocore_does_the_same_work_over_every_methods_body(rows: list[DocSizeRow]) -> None:
    """The floor is fair: every method's PutObject carries the same checksum and payload
    hash (botocore's work over the body), whatever they are on this botocore."""
    for row in rows:
        assert set(row.put_work) == set(METHODS)
        assert len(set(row.put_work.values())) == 1, row.put_work
    assert docsize_table(rows).splitlines()[-1].startswith("Every PutObject above: ")


def test_the_document_is_steps_as_the_worker_writes_them() -> None:
    steps = document(50_000)
    data = JSON_CODEC.encode(steps)
    assert 50_000 <= len(data) < 60_000
    assert [step["step_order"] for step in steps] == list(range(1, len(steps) + 1))
    assert steps[0]["error"] is None and isinstance(steps[0]["usage_info"]["cost_usd"], float)
    assert document(50_000) == steps  # the same every run


def _row(codec: str, size: int, store: float, floor: float) -> DocSizeRow:
    work = dict.fromkeys(METHODS, "x-amz-checksum-crc32")
    return DocSizeRow(codec, size, 10, {"store": store, "store-read": floor, "floor": floor,
                                        "bare": 1.0}, work)


def test_the_table_json_and_target_read_the_rows() -> None:
    results = Results(latency=0.0, sizes=QUICK_SIZES, docsize=[
        _row("json", 10_000, 1.0, 2.0), _row("json", 5_000_000, 100.0, 90.0),
        _row("orjson", 10_000, 1.0, 2.0), _row("orjson", 5_000_000, 130.0, 100.0)])
    table = docsize_table(results.docsize)
    assert "json        5 MB   100.00" in table and "1.11" in table and "1.30" in table
    targets = {t.name: t for t in check(results) if t.name.startswith("Sizes")}
    assert [(t.passed, t.detail) for t in targets.values()] == [
        (True, "10 KB 0.50x, 5 MB 1.11x"), (False, "10 KB 0.50x, 5 MB 1.30x")]
    data: dict[str, Any] = json.loads(json.dumps(results_json(results, [], {})))
    assert data["document_sizes"][1] == {
        "codec": "json", "bytes": 5_000_000, "updates": 10, "store_cpu_ms": 100.0,
        "store_read_cpu_ms": 90.0, "floor_cpu_ms": 90.0, "bare_cpu_ms": 1.0,
        "store_per_floor": 1.111, "store_read_per_floor": 1.0, "store_per_bare": 100.0,
        "put_work": dict.fromkeys(METHODS, "x-amz-checksum-crc32")}
    assert data["sizes"]["docsize_bytes"] == list(DEFAULT_SIZES.docsize_bytes)


def test_without_the_scenario_its_target_is_skipped() -> None:
    (target,) = [t for t in check(Results(latency=0.0, sizes=QUICK_SIZES))
                 if t.name.startswith("Sizes")]
    assert target.verdict == "SKIP"
