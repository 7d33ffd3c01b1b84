"""`s3store probe` and `s3store get` against LocalS3: output, `--json` shapes, exit status."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from s3store.testing import FaultPlan, LocalS3
from tests.test_cli_harness import fake_aws, run_on


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


def test_probe_passes_on_local_s3(capsys: pytest.CaptureFixture[str],
                                  local_s3: LocalS3) -> None:
    result = run_on(capsys, local_s3, "probe", "--prefix", "probes/")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[:2] == [f"endpoint  {local_s3.endpoint_url}", f"bucket    {local_s3.bucket}"]
    assert lines[5].split()[:4] == ["conditional", "PutObject", "honoured", "If-None-Match:"]
    assert lines[6].split()[:3] == ["conditional", "DeleteObject", "honoured"]
    assert lines[7].split()[:3] == ["bucket", "versioning", "off"]
    assert lines[-1].startswith("safe: conditional writes and deletes are honoured")
    assert _probe_objects(local_s3, local_s3.bucket) == []  # the probe cleaned up


def test_probe_json_shape_and_versioning(capsys: pytest.CaptureFixture[str]) -> None:
    with LocalS3(versioning=True) as s3:
        result = run_on(capsys, s3, "--json", "probe")
    assert result.code == 0
    report = result.json()
    assert set(report) == {"endpoint", "bucket", "safe", "checks"}
    assert (report["endpoint"], report["bucket"], report["safe"]) == (s3.endpoint_url,
                                                                      s3.bucket, True)
    assert [(c["name"], c["ok"], c["result"], c["required"]) for c in report["checks"]] == [
        ("conditional PutObject", True, "honoured", True),
        ("conditional DeleteObject", True, "honoured", True),
        ("bucket versioning", True, "Enabled", False),
    ]
    assert all(isinstance(c["detail"], str) and c["detail"] for c in report["checks"])


def test_probe_fails_on_an_endpoint_that_ignores_if_match(
        capsys: pytest.CaptureFixture[str]) -> None:
    with LocalS3(faults=FaultPlan(ignore_conditions=True)) as s3:
        result = run_on(capsys, s3, "probe", "--prefix", "probes/")
        as_json = run_on(capsys, s3, "probe", "--json", "--prefix", "probes/")
        left = _probe_objects(s3, s3.bucket)
    assert result.code == 1 and as_json.code == 1
    assert "conditional PutObject     IGNORED  the endpoint accepted If-None-Match: *" in (
        result.out)
    assert "conditional DeleteObject  IGNORED  the endpoint deleted an object" in result.out
    assert "UNSAFE: this endpoint accepted requests it had to refuse." in result.out
    assert "blind overwrites" in result.out
    report = as_json.json()
    assert report["safe"] is False
    assert [c["ok"] for c in report["checks"][:2]] == [False, False]
    assert left == []


def test_probe_of_a_missing_bucket_is_an_error(capsys: pytest.CaptureFixture[str],
                                               local_s3: LocalS3) -> None:
    result = run_on(capsys, local_s3, "probe", bucket="no-such-bucket-probed")
    assert result.code == 2 and "NoSuchBucket" in result.err


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
