"""`s3store probe` and `s3store get` against LocalS3: output, `--json` shapes, exit status."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from s3store.testing import FaultPlan, LocalS3
from tests.cli_harness import fake_aws, run_on


@pytest.fixture(autouse=True)
def _aws(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_aws(monkeypatch)


@pytest.fixture(scope="module")
def local_s3() -> Iterator[LocalS3]:
    with LocalS3() as s3:
        yield s3


def _probe_objects(s3: LocalS3, bucket: str) -> list[str]:
    listing = s3.client().list_objects_v2(Bucket=bucket, Prefix="probes/")
    return [item["Key"] for item in listing.get("Contents", [])]


CHECKS = ["If-None-Match on PutObject", "If-Match on PutObject",
          "If-Match on PutObject, missing key", "If-Match on DeleteObject", "bucket versioning"]


def _verdicts(report: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(c["name"], c["verdict"], c["code"]) for c in report["checks"]]


def test_probe_passes_on_local_s3(capsys: pytest.CaptureFixture[str],
                                  local_s3: LocalS3) -> None:
    result = run_on(capsys, local_s3, "probe", "--prefix", "probes/")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[:2] == [f"endpoint  {local_s3.endpoint_url}", f"bucket    {local_s3.bucket}"]
    rows = lines[5:10]
    for row, name in zip(rows, CHECKS, strict=True):
        assert row.startswith(name), row
    assert [row[36:].split()[0] for row in rows[:4]] == ["honoured"] * 4
    assert "reported (off)" in rows[4]
    assert lines[-1].startswith("safe: conditional writes are honoured")
    assert _probe_objects(local_s3, local_s3.bucket) == []  # the probe cleaned up


def test_probe_json_shape_and_versioning(capsys: pytest.CaptureFixture[str]) -> None:
    with LocalS3(versioning=True) as s3:
        result = run_on(capsys, s3, "--json", "probe")
    assert result.code == 0
    report = result.json()
    assert set(report) == {"endpoint", "bucket", "safe", "writes_safe", "summary",
                           "left_behind", "checks"}
    assert report["left_behind"] == []
    assert (report["endpoint"], report["bucket"], report["safe"], report["writes_safe"]) == (
        s3.endpoint_url, s3.bucket, True, True)
    assert _verdicts(report) == [(name, "honoured", None) for name in CHECKS[:4]] + [
        ("bucket versioning", "reported", "Enabled")]
    assert all(isinstance(c["detail"], str) and c["detail"] for c in report["checks"])
    assert all(c["key"].startswith(".s3store-probe/") for c in report["checks"][:4])


def test_probe_fails_on_an_endpoint_that_ignores_if_match(
        capsys: pytest.CaptureFixture[str]) -> None:
    with LocalS3(faults=FaultPlan(ignore_conditions=True)) as s3:
        result = run_on(capsys, s3, "probe", "--prefix", "probes/")
        as_json = run_on(capsys, s3, "probe", "--json", "--prefix", "probes/")
        left = _probe_objects(s3, s3.bucket)
    assert result.code == 1 and as_json.code == 1
    row = next(line for line in result.out.splitlines()
               if line.startswith("If-None-Match on PutObject"))
    assert row.split()[3:6] == ["IGNORED", "the", "endpoint"]
    assert "UNSAFE: this endpoint accepted requests it had to refuse" in result.out
    assert "blind overwrites" in result.out
    report = as_json.json()
    assert report["safe"] is False and report["writes_safe"] is False
    assert [v for _, v, _ in _verdicts(report)] == ["IGNORED"] * 4 + ["reported"]
    assert left == []


def test_a_501_on_conditional_deletes_is_not_supported_and_the_writes_still_safe(
        capsys: pytest.CaptureFixture[str]) -> None:
    """LocalStack: every DeleteObject with If-Match is 501. Every check is still reported;
    the store can be used (the worker never deletes), and the summary says so."""
    with LocalS3(faults=FaultPlan(conditional_delete_not_implemented=True)) as s3:
        result = run_on(capsys, s3, "probe", "--json")
        table = run_on(capsys, s3, "probe")
        left = _probe_objects(s3, s3.bucket)
    assert result.code == 0 and table.code == 0
    report = result.json()
    assert _verdicts(report) == [(name, "honoured", None) for name in CHECKS[:3]] + [
        ("If-Match on DeleteObject", "not supported", "NotImplemented"),
        ("bucket versioning", "reported", "off")]
    assert "If-Match on DeleteObject" in report["checks"][3]["detail"]  # names the header
    assert "Conditional deletes are not supported here" in report["summary"]
    assert "the worker never deletes" in report["summary"]
    assert "not supported (NotImplemented)" in table.out
    assert left == []


def test_ignored_put_conditions_with_refused_deletes_is_unsafe_not_an_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    """The case probe exists for, on a server that also refuses conditional deletes: the
    delete's verdict must not hide the puts' (it used to end as an error, exit 2)."""
    plan = FaultPlan(ignore_conditions=True, conditional_delete_not_implemented=True)
    with LocalS3(faults=plan) as s3:
        result = run_on(capsys, s3, "probe", "--json")
    assert result.code == 1
    report = result.json()
    assert [v for _, v, _ in _verdicts(report)] == ["IGNORED", "IGNORED", "IGNORED",
                                                   "not supported", "reported"]
    assert report["summary"].startswith("UNSAFE")


def test_a_check_that_errors_does_not_hide_the_others(
        capsys: pytest.CaptureFixture[str], local_s3: LocalS3) -> None:
    """One refused request (403) fails one check; every other check has its verdict."""
    local_s3.inject("access_denied")
    result = run_on(capsys, local_s3, "probe", "--json", "--prefix", "probes/")
    assert result.code == 2
    report = result.json()
    assert _verdicts(report)[0] == ("If-None-Match on PutObject", "error", "AccessDenied")
    assert [v for _, v, _ in _verdicts(report)[1:]] == ["honoured"] * 3 + ["reported"]
    assert report["summary"].startswith("UNKNOWN: If-None-Match on PutObject could not")


def test_probe_of_a_missing_bucket_is_an_error(capsys: pytest.CaptureFixture[str],
                                               local_s3: LocalS3) -> None:
    result = run_on(capsys, local_s3, "probe", bucket="no-such-bucket-probed")
    assert result.code == 2 and "error (NoSuchBucket)" in result.out


def test_get_prints_the_document_and_its_etag(capsys: pytest.CaptureFixture[str],
                                             local_s3: LocalS3) -> None:
    put = local_s3.client().put_object(Bucket=local_s3.bucket, Key="docs/a.json",
                                       Body='{"name":"Zoë","items":[1,2]}'.encode())
    result = run_on(capsys, local_s3, "get", "docs/a.json")
    assert result.code == 0
    assert result.out == (f"key   docs/a.json\netag  {put['ETag']}\n\n"
                          '{\n  "name": "Zoë",\n  "items": [\n    1,\n    2\n  ]\n}\n')
    as_json = run_on(capsys, local_s3, "get", "docs/a.json", "--json")
    assert as_json.json() == {"key": "docs/a.json", "etag": put["ETag"],
                              "value": {"name": "Zoë", "items": [1, 2]}}


def test_get_exits_1_for_a_missing_or_corrupt_document(capsys: pytest.CaptureFixture[str],
                                                      local_s3: LocalS3) -> None:
    missing = run_on(capsys, local_s3, "get", "docs/none.json")
    assert missing.code == 1 and missing.out == ""
    assert missing.err.startswith("s3store get: no object at this key (key='docs/none.json'")
    local_s3.client().put_object(Bucket=local_s3.bucket, Key="docs/bad.json", Body=b"{nope")
    corrupt = run_on(capsys, local_s3, "get", "docs/bad.json", "--json")
    assert corrupt.code == 1 and corrupt.out == ""
    assert "docs/bad.json" in corrupt.err
