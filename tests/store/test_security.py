"""Security: the bucket owner is checked on every request, and nothing secret reaches
the logs (that ids cannot steer the worker's keys: `tests/worker/test_security.py`).

- `JsonStore(..., expected_bucket_owner=...)` sends `x-amz-expected-bucket-owner` on
  every request it makes — reads, conditional writes, deletes, the conditional-write
  probe, and the HEAD / ListObjectVersions of a lost-response resolution — and a store
  without the option sends it on none.
- Document bodies, step outputs and credentials never appear in the records the
  `s3store` and `worker_integration` loggers emit, at any level, on success and
  failure paths; and those libraries log nothing above DEBUG in normal operation. These
  run the store and the worker on it in one capture: the worker's logs are checked with
  the store's, under the store's calls they make.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from s3store import (
    AlreadyExistsError,
    ConflictError,
    CorruptDocumentError,
    DocumentTooLargeError,
    InvalidValueError,
    JsonStore,
    OutcomeUnknownError,
    RetryPolicy,
    S3StoreError,
    StorageError,
)
from s3store.testing import LocalS3, RequestRecord
from worker_integration import (
    DBService,
    ExecutionStep,
    StepRequest,
    StepResult,
    Workflow,
    WorkflowOrchestrator,
    WorkflowStep,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Retries that never really wait (the store's sleep is injectable).
NO_WAIT = RetryPolicy(max_attempts=5, base_delay=0.0, max_delay=0.0, deadline=None,
                      sleep=lambda _seconds: None)


@pytest.fixture(scope="module")
def local_s3() -> Iterator[LocalS3]:
    """One versioned server for the module (so a lost-response resolution can search
    versions); every test uses its own fresh keys."""
    with LocalS3(versioning=True) as s3:
        yield s3


# -- ExpectedBucketOwner on every request --------------------------------------------------

OWNER = "123456789012"
OWNER_HEADER = "x-amz-expected-bucket-owner"
INTERFERER_HEADER = "x-amz-meta-test-interferer"


def _overwrite_before_the_next_head(store_client: S3Client, local_s3: LocalS3,
                                    key: str) -> None:
    """Make another writer overwrite `key` just before the store's next HeadObject, so
    that a lost-response resolution has to search the key's versions."""
    other = local_s3.client()
    armed = [True]

    def overwrite(**_: Any) -> None:
        if armed:
            armed.clear()
            other.put_object(Bucket=local_s3.bucket, Key=key, Body=b'["other"]',
                             Metadata={"test-interferer": "1"})

    store_client.meta.events.register("before-call.s3.HeadObject", overwrite)


def _every_kind_of_request(store: JsonStore, store_client: S3Client,
                           local_s3: LocalS3) -> list[RequestRecord]:
    """Run every store operation, its failure answers and lost-response resolutions;
    return what the store sent (the interfering writer's request left out)."""
    key = f"owner/{uuid.uuid4().hex}.json"
    start = len(local_s3.requests)
    first = store.create(key, [1])
    with pytest.raises(AlreadyExistsError):
        store.create(key, [1])
    store.get(key)
    second = store.replace(key, [1, 2], etag=first.etag)
    with pytest.raises(ConflictError):
        store.replace(key, [0], etag=first.etag)
    store.update(key, lambda value: [*value, 3])
    store.update(key, lambda value: value)  # unchanged: a read only
    store.update(key + ".new", lambda value: [*value, 1], default=[])
    local_s3.inject("error_after_write")  # the PUT lands, its answer is a 500: HEAD resolves
    store.update(key, lambda value: [*value, 4])
    local_s3.inject("error_after_write")
    store.create(key + ".lost", [1])
    local_s3.inject("error_after_write")
    _overwrite_before_the_next_head(store_client, local_s3, key)
    store.update(key, lambda value: [*value, 5])  # resolution searches the versions
    current = store.get(key)
    local_s3.inject("error_after_write")
    with pytest.raises(OutcomeUnknownError):  # gone: by this delete or another's, who knows
        store.delete(key, etag=current.etag)
    with pytest.raises(ConflictError):
        store.delete(key + ".new", etag=second.etag)
    store.delete(key + ".new")
    store.delete(key + ".lost")
    store.verify_conditional_writes(prefix="owner/")
    sent = [r for r in local_s3.requests[start:] if INTERFERER_HEADER not in r.headers]
    kinds = {(r.method, bool(r.key)) for r in sent}
    assert {("GET", True), ("PUT", True), ("HEAD", True), ("DELETE", True),
            ("GET", False)} <= kinds  # objects, and ListObjectVersions on the bucket
    assert any(r.fault == "error_after_write" for r in sent)
    return sent


def test_expected_bucket_owner_is_sent_on_every_request(local_s3: LocalS3) -> None:
    client = local_s3.client()
    store = JsonStore(client, local_s3.bucket, retry=NO_WAIT, expected_bucket_owner=OWNER)
    sent = _every_kind_of_request(store, client, local_s3)
    missing = [r for r in sent if r.headers.get(OWNER_HEADER) != OWNER]
    assert missing == []


def test_without_expected_bucket_owner_no_request_carries_it(local_s3: LocalS3) -> None:
    client = local_s3.client()
    store = JsonStore(client, local_s3.bucket, retry=NO_WAIT)
    sent = _every_kind_of_request(store, client, local_s3)
    assert [r for r in sent if OWNER_HEADER in r.headers] == []


# -- nothing secret in the logs ------------------------------------------------------------

BODY_MARKER = "SECRET-BODY-7f3a"
ACCESS_KEY_MARKER = "AKIASECRETMARKER"
SECRET_KEY_MARKER = "SECRETKEYMARKER"  # noqa: S105 - a marker to search the logs for, not a secret
MARKERS = (BODY_MARKER, ACCESS_KEY_MARKER, SECRET_KEY_MARKER)
LIBRARY_LOGGERS = ("s3store", "worker_integration")


def _secret_client(local_s3: LocalS3) -> S3Client:
    session = boto3.session.Session(aws_access_key_id=ACCESS_KEY_MARKER,
                                    aws_secret_access_key=SECRET_KEY_MARKER,
                                    region_name="us-east-1")
    return session.client("s3", endpoint_url=local_s3.endpoint_url)


def _library_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records
            if any(r.name == name or r.name.startswith(name + ".") for name in LIBRARY_LOGGERS)]


class SecretExecutor:
    """Produces outputs that carry the secret marker; fails the step named "Fails" with
    an error message that carries it too."""

    def run(self, request: StepRequest) -> StepResult:
        if request.step_name == "Fails":
            raise RuntimeError(f"upstream answered {BODY_MARKER}")
        return StepResult(output={"text": f"{BODY_MARKER} for {request.step_name}"})


def _store_operations_with_failures(store: JsonStore, small: JsonStore, local_s3: LocalS3,
                                    key: str) -> list[S3StoreError]:
    """Store operations on values that carry the marker, including failure paths;
    returns the errors raised."""
    admin = local_s3.client()
    errors: list[S3StoreError] = []

    def expect(error: type[S3StoreError], call: Callable[[], object]) -> None:
        with pytest.raises(error) as caught:
            call()
        errors.append(caught.value)

    first = store.create(key, {"secret": BODY_MARKER, "n": [1]})
    store.get(key)
    store.update(key, lambda value: {**value, "n": [*value["n"], BODY_MARKER]})
    expect(ConflictError, lambda: store.replace(key, {"secret": BODY_MARKER}, etag=first.etag))
    expect(AlreadyExistsError, lambda: store.create(key, {"secret": BODY_MARKER}))
    expect(InvalidValueError, lambda: store.create(key + ".bad", {"s": BODY_MARKER, "x": {1}}))
    expect(DocumentTooLargeError, lambda: small.create(key + ".big", [BODY_MARKER] * 20))
    local_s3.inject("error_after_write")
    store.update(key, lambda value: {**value, "lost": BODY_MARKER})
    local_s3.inject("drop_after_write")
    store.update(key, lambda value: {**value, "dropped": BODY_MARKER})
    local_s3.inject("conditional_conflict")
    store.update(key, lambda value: {**value, "raced": BODY_MARKER})
    local_s3.inject("slow_down")
    store.update(key, lambda value: {**value, "throttled": BODY_MARKER})
    local_s3.inject("access_denied")
    expect(StorageError, lambda: store.get(key))
    expect(DocumentTooLargeError, lambda: small.get(key))
    admin.put_object(Bucket=local_s3.bucket, Key=key + ".corrupt",
                     Body=f'{{"secret": "{BODY_MARKER}", "n": [1,'.encode())
    expect(CorruptDocumentError, lambda: store.get(key + ".corrupt"))
    expect(CorruptDocumentError, lambda: store.update(key + ".corrupt", lambda value: value))
    store.delete(key, etag=store.get(key).etag)
    return errors


def _worker_operations_with_failures(db: DBService, local_s3: LocalS3) -> list[S3StoreError]:
    """A whole job whose step outputs (and one step's error) carry the marker, then a
    corrupt steps object; returns the errors raised."""
    customer_id, job_id = "cust_secret", f"job_{uuid.uuid4().hex[:12]}"
    workflow = Workflow.of([WorkflowStep(name="Research"), WorkflowStep(name="Fails")])
    WorkflowOrchestrator(db=db, executor=SecretExecutor()).run_job(customer_id, job_id,
                                                                   workflow)
    db.record_execution_step(customer_id, job_id, ExecutionStep(
        step_order=1, step_type="ai_generation", output=BODY_MARKER, input=BODY_MARKER))
    assert any(step.output == BODY_MARKER for step in db.get_execution_steps(customer_id,
                                                                              job_id))
    corrupt_job = f"job_{uuid.uuid4().hex[:12]}"
    local_s3.client().put_object(
        Bucket=local_s3.bucket, Key=f"{customer_id}/jobs/{corrupt_job}/execution_steps.json",
        Body=f'[{{"step_type": "ai_generation", "output": "{BODY_MARKER}"}}]'.encode())
    errors: list[S3StoreError] = []
    calls: list[Callable[[], object]] = [
        lambda: db.get_execution_steps(customer_id, corrupt_job),
        lambda: db.record_execution_step(customer_id, corrupt_job, ExecutionStep(
            step_order=2, step_type="ai_generation", output=BODY_MARKER)),
    ]
    for call in calls:
        with pytest.raises(CorruptDocumentError) as caught:
            call()
        errors.append(caught.value)
    return errors


def test_bodies_step_outputs_and_credentials_never_reach_the_library_logs(
        local_s3: LocalS3, caplog: pytest.LogCaptureFixture) -> None:
    """Every logger is captured at DEBUG, but the assertion covers the `s3store` and
    `worker_integration` loggers only: botocore's own DEBUG logging prints request
    headers, among them `Authorization` with the access key id (seen here), and the
    application decides whether to enable it. The library itself must not leak."""
    caplog.set_level(logging.DEBUG)
    client = _secret_client(local_s3)
    store = JsonStore(client, local_s3.bucket, retry=NO_WAIT)
    small = JsonStore(client, local_s3.bucket, retry=NO_WAIT, max_document_bytes=64)
    key = f"secret/{uuid.uuid4().hex}.json"
    start = len(local_s3.requests)
    errors = _store_operations_with_failures(store, small, local_s3, key)
    errors += _worker_operations_with_failures(DBService(store), local_s3)
    assert {r.fault for r in local_s3.requests[start:]} >= {  # the failure paths ran
        "error_after_write", "drop_after_write", "conditional_conflict", "slow_down",
        "access_denied"}

    records = _library_records(caplog)
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    texts = [formatter.format(record) for record in records]  # message, exc_text and stack
    assert any(r.name.startswith("s3store.") for r in records)  # the capture works...
    assert any(r.name.startswith("worker_integration.") for r in records)
    assert any(key in text for text in texts)  # ...and messages are formatted with their args
    leaks = [text for text in texts for marker in MARKERS if marker in text]
    assert leaks == []
    # The errors callers get (and may log) do not quote bodies either.
    assert [str(e) for e in errors if any(marker in str(e) for marker in MARKERS)] == []


def test_the_libraries_log_nothing_above_debug_in_normal_operation(
        local_s3: LocalS3, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = local_s3.client()
    store = JsonStore(client, local_s3.bucket, retry=NO_WAIT)
    key = f"quiet/{uuid.uuid4().hex}.json"
    document = store.create(key, [1])
    store.get(key)
    store.replace(key, [1, 2], etag=document.etag)
    other = local_s3.client()
    raced = [False]

    def append_after_a_racing_write(value: Any) -> Any:
        if not raced[0]:  # another writer lands first: the update re-reads and re-applies
            raced[0] = True
            other.put_object(Bucket=local_s3.bucket, Key=key, Body=b"[1,2,9]")
        return [*value, 3]

    assert store.update(key, append_after_a_racing_write).value == [1, 2, 9, 3]
    store.update(key, lambda value: value)
    store.delete(key)
    store.verify_conditional_writes(prefix="quiet/")
    workflow = Workflow.of([WorkflowStep(name="Research"), WorkflowStep(name="Draft")])
    WorkflowOrchestrator(db=DBService(store), executor=SecretExecutor()).run_job(
        "cust_quiet", f"job_{uuid.uuid4().hex[:12]}", workflow)

    records = _library_records(caplog)
    assert records
    assert [(r.name, r.levelname, r.getMessage()) for r in records
            if r.levelno > logging.DEBUG] == []
