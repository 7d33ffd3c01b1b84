"""What the compatibility table says, asserted on each backend (`S3STORE_BACKENDS`):
the probe's verdicts, one winner among racing conditional writes, the order and end of a
version listing, and the demo's incident regression. Where a server deviates from S3,
the test says so by name (`tests.servers.DEVIATIONS`) and asserts the deviation; nothing is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from s3store import JsonStore, StorageError
from s3store._probe import DELETE, PUT_CHECKS, Verdict
from s3store.testing import LocalS3
from tests.cli_harness import fake_aws
from tests.compat import race_if_match
from tests.servers import BACKENDS, Bucket, ServerProcess, deviates
from tests.worker.helpers import run_demo

SERVER_BACKENDS = [name for name in BACKENDS if name != "local"]

@pytest.fixture(params=BACKENDS)
def named_backend(request: pytest.FixtureRequest) -> Iterator[tuple[str, Bucket]]:
    """(backend name, a fresh versioned bucket on it)."""
    if request.param == "local":
        with LocalS3(versioning=True) as s3:
            yield "local", s3
        return
    server: ServerProcess = request.getfixturevalue(request.param)
    yield request.param, server.new_bucket(versioning=True)


def test_the_probes_verdicts(named_backend: tuple[str, Bucket]) -> None:
    name, bucket = named_backend
    report = JsonStore(bucket.client(), bucket.bucket).probe()
    verdicts = {check.name: check.verdict for check in report.checks}
    assert [verdicts[check] for check in PUT_CHECKS] == [Verdict.HONOURED] * 3
    if deviates(name, "conditional_delete"):
        assert verdicts[DELETE] is Verdict.NOT_SUPPORTED
        assert next(c.code for c in report.checks if c.name == DELETE) == "NotImplemented"
    else:
        assert verdicts[DELETE] is Verdict.HONOURED
    assert report.exit_status == 0 and report.writes_safe


def test_a_conditional_delete_is_honoured_or_refused_loudly(
        named_backend: tuple[str, Bucket]) -> None:
    name, bucket = named_backend
    store = JsonStore(bucket.client(), bucket.bucket)
    document = store.create("doc.json", {"v": 1})
    if deviates(name, "conditional_delete"):
        with pytest.raises(StorageError) as caught:
            store.delete("doc.json", etag=document.etag)
        assert caught.value.code == "NotImplemented" and not caught.value.transient
        assert "If-Match on DeleteObject" in str(caught.value)
        assert store.get("doc.json") == document  # untouched
    else:
        store.delete("doc.json", etag=document.etag)


def test_racing_conditional_writes_have_exactly_one_winner(
        named_backend: tuple[str, Bucket]) -> None:
    """8 PutObjects with one If-Match at once: S3 lets one win and refuses the rest with
    412 (or 409 ConditionalRequestConflict while they overlap)."""
    _, bucket = named_backend
    answers = race_if_match(bucket)
    print(f"racing If-Match PUTs: {dict(sorted(answers.items()))}")
    assert answers[200] == 1
    assert set(answers) <= {200, 409, 412}


def test_versions_are_listed_newest_first_to_the_end(named_backend: tuple[str, Bucket]) -> None:
    _, bucket = named_backend
    client = bucket.client()
    etags = [client.put_object(Bucket=bucket.bucket, Key="v.json", Body=f"[{n}]".encode())
             ["ETag"] for n in range(4)]
    client.put_object(Bucket=bucket.bucket, Key="v.json2", Body=b"[]")
    store = JsonStore(client, bucket.bucket)
    for page_size in (1, 2, 1000):
        listed = [v.etag for v in store.versions("v.json", page_size=page_size)]
        assert listed == etags[::-1], page_size


@pytest.mark.parametrize("backend", SERVER_BACKENDS)
def test_the_incident_regression(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
                                 backend: str) -> None:
    """The demo's --compare on an S3 server this project did not write: the new path
    keeps all ten records, the old path loses them as in the incident."""
    bucket = request.getfixturevalue(backend).new_bucket()
    fake_aws(monkeypatch)
    status, lines = run_demo("--compare", "--endpoint-url", bucket.endpoint_url,
                         "--bucket", bucket.bucket)
    assert status == 0
    assert lines[0].startswith(f"S3: bucket {bucket.bucket} at {bucket.endpoint_url}: safe:")
    assert "new path: 10/10 execution steps stored across 1 job(s)" in lines
    assert ("old path: 0/10 execution steps stored — lost orders "
            "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]; html_generation stored at step_order 1") in lines
