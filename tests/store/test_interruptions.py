"""What an adversarial review found after the exactly-once rewrite, each forced exactly:

- a leader interrupted (a signal) after its round's write landed, or after a lost answer
  was found unknown, must not let the round's other caller apply its mutation twice;
- a Ctrl-C reaching the main thread while it runs another caller's mutation is the main
  thread's, not that caller's;
- every "maybe sent" exception class is resolved, not raised raw; a write that provably
  never left is transient (sent again); a probe's lost answer is a typed error;
- a version id "null" (versioning suspended) never identifies the base; a listed version
  that vanishes makes the outcome unknown, not `NotFoundError`.

Signals are modelled by a logging handler that raises `KeyboardInterrupt` at the exact
log line where a signal could be delivered (a write to a stream).
"""

from __future__ import annotations

import concurrent.futures
import http.client
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.exceptions import ConnectionClosedError, ConnectTimeoutError, EndpointConnectionError

from s3store import JsonStore, OutcomeUnknownError, RetryPolicy, StorageError
from s3store._commit import Pending, apply_mutations
from s3store._objects import ObjectClient, ObjectHead, ObjectVersion
from s3store._resolve import Base, Outcome, resolve
from s3store._steps import run
from s3store.testing import LocalS3
from tests.hooks import act_before, land_then_raise
from tests.steps import answered_by

KEY = "doc.json"
NO_WAIT = RetryPolicy(sleep=lambda _: None)
BOUND = 20.0


class InterruptAt(logging.Handler):
    """Raises KeyboardInterrupt once, at the first log record that `matches`."""

    def __init__(self, matches: Callable[[logging.LogRecord], bool]) -> None:
        super().__init__(logging.DEBUG)
        self.matches, self.fired = matches, False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.fired and self.matches(record):
            self.fired = True
            raise KeyboardInterrupt


@pytest.fixture
def interrupt_at() -> Iterator[Callable[[Callable[[logging.LogRecord], bool]], None]]:
    logger = logging.getLogger("s3store._core")
    level, handlers = logger.level, list(logger.handlers)

    def install(matches: Callable[[logging.LogRecord], bool]) -> None:
        logger.setLevel(logging.DEBUG)
        logger.addHandler(InterruptAt(matches))

    yield install
    logger.setLevel(level)
    logger.handlers = handlers


def three_callers(s3: LocalS3, client: Any, store: JsonStore,
                  second_round: Callable[[], None]) -> dict[str, Any]:
    """A leader's round held open; t1 and t2 queue behind it and share the second round
    (whose write `second_round` prepares); every outcome, once all three are back."""
    started, released = threading.Event(), threading.Event()

    def hold(_: Any) -> None:
        started.set()
        assert released.wait(BOUND)

    act_before(client, "PutObject", hold)
    outcomes: dict[str, Any] = {}

    def run(name: str) -> threading.Thread:
        def target() -> None:
            try:
                outcomes[name] = store.update(KEY, lambda items: [*items, name]).value
            except BaseException as exc:  # the outcome is what is checked
                outcomes[name] = exc

        thread = threading.Thread(target=target)
        thread.start()
        return thread

    threads = [run("leader")]
    assert started.wait(BOUND)
    second_round()
    threads += [run("t1"), run("t2")]
    assert store._group is not None
    for _ in range(10_000_000):  # bounded: both are about to queue
        if store._group.queued(KEY) == 2:
            break
    released.set()
    for thread in threads:
        thread.join(BOUND)
        assert not thread.is_alive()
    return outcomes


def test_a_leader_interrupted_after_its_write_landed_answers_the_others_as_it_landed(
        interrupt_at: Callable[..., None]) -> None:
    with LocalS3() as s3:
        client = s3.client()
        store = JsonStore(client, s3.bucket, retry=NO_WAIT)
        store.create(KEY, [])
        interrupt_at(lambda r: r.msg.startswith("update %s: %s -> %s") and r.args is not None
                     and r.args[3] == 2)
        outcomes = three_callers(s3, client, store, lambda: None)
        final = store.get(KEY).value
        assert sorted(final) == ["leader", "t1", "t2"]  # each once
        assert sum(isinstance(v, KeyboardInterrupt) for v in outcomes.values()) == 1
        assert all(v == final for v in outcomes.values() if isinstance(v, list) and
                   v != ["leader"])


def test_a_leader_interrupted_after_an_unknown_answer_never_lets_it_be_reapplied(
        interrupt_at: Callable[..., None]) -> None:
    with LocalS3() as s3:
        client, raw = s3.client(), s3.client()
        store = JsonStore(client, s3.bucket, retry=NO_WAIT)
        other = JsonStore(s3.client(), s3.bucket, retry=NO_WAIT)
        store.create(KEY, [])
        interrupt_at(lambda r: "could not be resolved" in str(r.msg))

        def second_round() -> None:  # its write lands, the answer is lost, another appends
            act_before(client, "PutObject",
                       land_then_raise(raw, s3.bucket, ConnectionClosedError(endpoint_url="x")))
            act_before(client, "HeadObject", lambda _: other.update(KEY, lambda v: [*v, "o"]))

        outcomes = three_callers(s3, client, store, second_round)
        final = store.get(KEY).value
        assert all(final.count(name) == 1 for name in ("leader", "t1", "t2", "o")), final
        carried = [v for n, v in outcomes.items() if n != "leader"
                   and not isinstance(v, KeyboardInterrupt)]
        assert [type(v) for v in carried] == [OutcomeUnknownError]


def test_ctrl_c_while_the_main_thread_runs_another_callers_mutation_is_the_main_threads(
) -> None:
    """A KeyboardInterrupt out of a mutation owned by another thread is the running
    (leading) thread's: it goes on there, so the round is handed over. Out of the
    leader's own mutation it is that caller's answer, and the round goes on."""
    theirs: list[Pending] = []
    thread = threading.Thread(target=lambda: theirs.append(Pending(interrupted)))
    thread.start()
    thread.join(BOUND)
    with pytest.raises(KeyboardInterrupt):
        apply_mutations(KEY, b"[]", [Pending(lambda v: [*v, "mine"]), *theirs], max_bytes=1000)
    own = [Pending(interrupted), Pending(lambda v: [*v, "mine"])]
    body = apply_mutations(KEY, b"[]", own, max_bytes=1000).body
    assert body == b'["mine"]' and isinstance(own[0].error, KeyboardInterrupt)


def interrupted(_: Any) -> Any:
    raise KeyboardInterrupt


@pytest.mark.parametrize("error", [http.client.IncompleteRead(b"partial"),
                                   http.client.BadStatusLine("x"),
                                   concurrent.futures.CancelledError(),
                                   ConnectionResetError(104, "reset")],
                         ids=lambda e: type(e).__name__)
def test_every_maybe_sent_error_after_a_landed_write_is_resolved_not_raised(
        error: BaseException) -> None:
    with LocalS3(versioning=True) as s3:
        client = s3.client()
        store = JsonStore(client, s3.bucket, retry=NO_WAIT)
        store.create(KEY, [])
        act_before(client, "PutObject", land_then_raise(s3.client(), s3.bucket, error))
        assert store.update(KEY, lambda v: [*v, 1]).value == [1]
        document = store.get(KEY)
        act_before(client, "PutObject", land_then_raise(s3.client(), s3.bucket, error))
        assert store.replace(KEY, [9], etag=document.etag).value == [9]
        assert store.get(KEY).value == [9]


@pytest.mark.parametrize("error", [EndpointConnectionError(endpoint_url="http://x"),
                                   ConnectTimeoutError(endpoint_url="http://x")],
                         ids=lambda e: type(e).__name__)
def test_a_write_that_never_left_is_sent_again(local_s3: LocalS3, error: Exception) -> None:
    client = local_s3.client()
    store = JsonStore(client, local_s3.bucket, retry=NO_WAIT)
    store.create(KEY, 0)

    def fail(_: Any) -> None:
        raise error

    act_before(client, "PutObject", fail)
    assert store.update(KEY, lambda v: v + 1).value == 1


@pytest.mark.parametrize("kind", ["error_after_write", "drop_after_write",
                                  "error_before_write"])
def test_a_probe_whose_answer_is_lost_is_a_typed_transient_error(
        local_s3: LocalS3, kind: Any) -> None:
    """A probe's verdict comes from the server's own answers: a lost one is never
    resolved into a verdict (that made a false 'honoured'), it is 'run it again'."""
    store = JsonStore(local_s3.client(), local_s3.bucket, retry=NO_WAIT)
    local_s3.inject(kind)
    with pytest.raises(StorageError) as caught:
        store.verify_conditional_writes()
    assert caught.value.transient and "run it again" in str(caught.value)
    assert caught.value.code == "AnswerLost"


class SuspendedBucket:
    """What S3 answers after versioning was suspended: every write is version "null",
    replacing the one before it (ours among them, without a trace)."""

    when = datetime(2025, 1, 1, 12, 0, 5, tzinfo=UTC)

    def head(self, key: str, *, version_id: str | None = None) -> ObjectHead:
        if version_id in (None, "null"):
            return ObjectHead('"X"', "null", "their-write")
        return ObjectHead('"V1"', "v1", "older-write")

    def versioning_enabled(self, key: str) -> bool:
        return True  # as asked before the suspension

    def versions(self, key: str, *, page_size: int = 100) -> Iterator[ObjectVersion]:
        yield ObjectVersion("null", '"X"', self.when)
        yield ObjectVersion("v1", '"V1"', self.when.replace(second=1))


def test_a_null_version_id_never_identifies_the_base() -> None:
    resolution = run(resolve(ObjectClient("bucket"), KEY, ours={"our-write"},
                             base=Base('"E1"', "base-write", "null")),
                     answered_by(SuspendedBucket()))
    assert resolution.outcome is Outcome.UNKNOWN


def test_a_version_that_vanishes_during_the_walk_makes_the_outcome_unknown() -> None:
    with LocalS3(versioning=True) as s3:
        client, raw = s3.client(), s3.client()
        store = JsonStore(client, s3.bucket, retry=NO_WAIT)
        document = store.create(KEY, ["v0"])
        act_before(client, "PutObject",
                   land_then_raise(raw, s3.bucket, ConnectionClosedError(endpoint_url="x")))
        act_before(client, "HeadObject",
                   lambda _: raw.put_object(Bucket=s3.bucket, Key=KEY, Body=b'["x"]'))

        def expire(request: Any) -> None:  # a lifecycle rule expires the listed version
            version = parse_qs(urlsplit(request.url).query).get("versionId", [None])[0]
            if version:
                raw.delete_object(Bucket=s3.bucket, Key=KEY, VersionId=version)

        act_before(client, "HeadObject", expire, skip=1)
        with pytest.raises(OutcomeUnknownError):
            store.replace(KEY, ["mine"], etag=document.etag)
