"""No error a caller sees carries the store's internal signals in its chain.

`Again` (an attempt to run again), `AnswerLost` (a write's answer lost), `_FirstAnswer`
(a write's answer taken from botocore's retry handlers) and tenacity's `RetryError` are
how the store talks to itself. Each test forces one way a public error is raised after
them — retries running out, a lost answer resolved or not, a resolution refused, a
round's error copied to each of its callers — through `tests/hooks.py`'s botocore hooks
and `LocalS3`'s queued faults, and walks the error's whole `__cause__` / `__context__`
chain. (`__suppress_context__` only hides a context from tracebacks: the chain still
holds it, and so does whatever walks it — a logger, Sentry, `traceback.TracebackException`.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import tenacity
from botocore.exceptions import EndpointConnectionError

from s3store import (
    ConflictError,
    Document,
    JsonStore,
    OutcomeUnknownError,
    RetriesExhaustedError,
    RetryPolicy,
    S3StoreError,
    StorageError,
)
from s3store._objects import AnswerLost, _FirstAnswer
from s3store._writer import Again
from s3store.testing import LocalS3
from tests.hooks import act_before, answer

KEY = "doc.json"
BOUND = 20.0  # seconds a thread here may take before the test fails instead of hanging
INTERNAL: tuple[type[BaseException], ...] = (Again, AnswerLost, _FirstAnswer,
                                             tenacity.RetryError)
ALWAYS = 1000  # a hook's `times`: every request of the kind, however many botocore makes


@pytest.fixture
def s3() -> Iterator[LocalS3]:
    with LocalS3() as local:  # unversioned: where a lost answer can stay unknown
        yield local


def store_on(s3: LocalS3, *, attempts: int, **options: Any) -> tuple[JsonStore, Any]:
    client = s3.client()
    retry = RetryPolicy(max_attempts=attempts, deadline=None, sleep=lambda _: None)
    return JsonStore(client, s3.bucket, retry=retry, **options), client


def chain(error: BaseException) -> list[BaseException]:
    """`error` and every exception reachable from it by `__cause__` and `__context__`."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [error]
    while todo:
        current = todo.pop()
        if current is None or any(current is known for known in seen):
            continue
        seen.append(current)
        todo += [current.__cause__, current.__context__]
    return seen


def assert_clean(error: BaseException) -> None:
    links = chain(error)
    leaked = [type(link).__name__ for link in links if isinstance(link, INTERNAL)]
    assert not leaked, (f"{type(error).__name__} carries {leaked} in its chain "
                        f"{[type(link).__name__ for link in links]}")


def raised(expected: type[BaseException], call: Callable[[], object]) -> BaseException:
    with pytest.raises(expected) as caught:
        call()
    assert_clean(caught.value)
    return caught.value


def throttled(_: Any) -> Any:
    return answer(503, "SlowDown")


def refused(_: Any) -> Any:
    return answer(403, "AccessDenied")


def unreachable(request: Any) -> Any:
    raise EndpointConnectionError(endpoint_url=request.url)


def inc(value: int) -> int:
    return value + 1


# -- the walk itself ------------------------------------------------------------------------

def _give_up_inside_the_except() -> None:
    """What `ConditionalWriter._retrying` did: the public error raised `from None` within
    the `except` that caught the internal signal."""
    try:
        raise Again from StorageError("throttled", key=KEY, transient=True)
    except Again:
        raise StorageError("gave up", key=KEY) from None


def test_the_walk_finds_an_internal_signal_behind_a_suppressed_context() -> None:
    """The negative control: what `raise Public(...) from None` inside an `except` leaves
    is found, although a traceback would not show it."""
    with pytest.raises(StorageError) as caught:
        _give_up_inside_the_except()
    assert caught.value.__suppress_context__  # a traceback shows no `Again`...
    assert Again in {type(link) for link in chain(caught.value)}  # ...but it is there
    with pytest.raises(AssertionError, match="Again"):
        assert_clean(caught.value)


# -- update(): the round's loop (`JsonStore._commit`) ----------------------------------------

@pytest.mark.parametrize("group_commit", [True, False], ids=["grouped", "alone"])
def test_update_whose_writes_are_throttled_until_the_policy_gives_up(
        s3: LocalS3, group_commit: bool) -> None:
    """Each attempt's `Again` has the 503 as its cause: the caller gets that 503 as the
    cause, and neither the `Again` nor the answer taken from botocore."""
    store, client = store_on(s3, attempts=2, group_commit=group_commit)
    store.create(KEY, 0)
    act_before(client, "PutObject", throttled, times=ALWAYS)
    error = raised(RetriesExhaustedError, lambda: store.update(KEY, inc))
    assert isinstance(error.__cause__, StorageError) and error.__cause__.code == "SlowDown"


def test_update_whose_writes_are_unreachable_until_the_policy_gives_up(s3: LocalS3) -> None:
    """A transport error on a store write is taken from botocore's handlers and raised
    again: it must not carry what took it."""
    store, client = store_on(s3, attempts=2)
    store.create(KEY, 0)
    act_before(client, "PutObject", unreachable, times=ALWAYS)
    error = raised(RetriesExhaustedError, lambda: store.update(KEY, inc))
    assert isinstance(error.__cause__, StorageError) and error.__cause__.transient


def test_update_whose_lost_answers_provably_missed_until_the_policy_gives_up(
        s3: LocalS3) -> None:
    """`_lost` raises a bare `Again` (no cause) for a write proven not landed."""
    store, _ = store_on(s3, attempts=2)
    store.create(KEY, 0)
    s3.inject("error_before_write", count=2)  # a 500, and nothing written: resolved "no"
    raised(RetriesExhaustedError, lambda: store.update(KEY, inc))
    assert store.get(KEY).value == 0


def test_update_idempotent_whose_lost_answer_stays_unknown_until_the_policy_gives_up(
        s3: LocalS3) -> None:
    """The `OutcomeUnknownError` `_commit` builds when the policy ran out with an answer
    still open."""
    store, client = store_on(s3, attempts=1)
    rival, _ = store_on(s3, attempts=3)
    store.create(KEY, 0)
    s3.inject("error_after_write")  # lands, answered 500
    act_before(client, "HeadObject", lambda _: rival.update(KEY, inc))  # then nobody can tell
    raised(OutcomeUnknownError, lambda: store.update(KEY, inc, idempotent=True))


def test_update_whose_lost_answer_stays_unknown(s3: LocalS3) -> None:
    store, client = store_on(s3, attempts=3)
    rival, _ = store_on(s3, attempts=3)
    store.create(KEY, 0)
    s3.inject("error_after_write")
    act_before(client, "HeadObject", lambda _: rival.update(KEY, inc))
    raised(OutcomeUnknownError, lambda: store.update(KEY, inc))


@pytest.mark.parametrize("attempts", [1, 2])
def test_update_whose_resolving_head_is_throttled_until_the_policy_gives_up(
        s3: LocalS3, attempts: int) -> None:
    """The first resolution runs where the lost answer was caught; later ones at the
    start of an attempt. Either way the caller's cause is the 503 alone."""
    store, client = store_on(s3, attempts=attempts)
    store.create(KEY, 0)
    s3.inject("error_after_write")
    act_before(client, "HeadObject", throttled, times=ALWAYS)
    error = raised(OutcomeUnknownError, lambda: store.update(KEY, inc))
    assert isinstance(error.__cause__, StorageError) and error.__cause__.transient


def test_update_whose_resolving_head_is_refused(s3: LocalS3) -> None:
    """An `S3StoreError` out of the round with an answer open: `_commit` wraps it."""
    store, client = store_on(s3, attempts=3)
    store.create(KEY, 0)
    s3.inject("error_after_write")
    act_before(client, "HeadObject", refused, times=ALWAYS)
    error = raised(OutcomeUnknownError, lambda: store.update(KEY, inc))
    assert isinstance(error.__cause__, StorageError) and not error.__cause__.transient


def test_a_round_error_copied_to_each_of_its_callers(s3: LocalS3) -> None:
    """Group commit: two callers queued behind a held round share the next round, whose
    writes are throttled until it gives up; each gets its own copy of the error."""
    store, client = store_on(s3, attempts=2)
    store.create(KEY, 0)
    started, released = threading.Event(), threading.Event()

    def hold(_: Any) -> None:
        started.set()
        assert released.wait(BOUND)

    act_before(client, "PutObject", hold)
    act_before(client, "PutObject", throttled, skip=1, times=ALWAYS)  # all but the held one
    outcomes: dict[str, Any] = {}

    def run(name: str) -> threading.Thread:
        def target() -> None:
            try:
                outcomes[name] = store.update(KEY, inc)
            except BaseException as exc:  # the outcome is what is checked
                outcomes[name] = exc

        thread = threading.Thread(target=target, name=name)
        thread.start()
        return thread

    leader = run("leader")
    assert started.wait(BOUND)
    followers = [run("a"), run("b")]
    assert store._group is not None
    for _ in range(1_000_000):  # bounded: the followers are about to queue
        if store._group.queued(KEY) == 2:
            break
    else:
        raise AssertionError("the followers never queued")
    released.set()
    for thread in (leader, *followers):
        thread.join(BOUND)
        assert not thread.is_alive()
    assert isinstance(outcomes["leader"], Document)
    first, second = outcomes["a"], outcomes["b"]
    assert isinstance(first, RetriesExhaustedError) and isinstance(second, RetriesExhaustedError)
    assert first is not second  # a copy each: the round was shared
    for error in (first, second):
        assert_clean(error)
        assert isinstance(error.__cause__, StorageError)


# -- create() / replace(): `ConditionalWriter.write` ---------------------------------------

def test_create_throttled_until_the_policy_gives_up(s3: LocalS3) -> None:
    """The last refusal is raised as S3 gave it, after the policy's `RetryError`."""
    store, client = store_on(s3, attempts=2)
    act_before(client, "PutObject", throttled, times=ALWAYS)
    error = raised(StorageError, lambda: store.create(KEY, 0))
    assert isinstance(error, StorageError) and error.code == "SlowDown"


def test_create_unreachable_until_the_policy_gives_up(s3: LocalS3) -> None:
    store, client = store_on(s3, attempts=2)
    act_before(client, "PutObject", unreachable, times=ALWAYS)
    raised(StorageError, lambda: store.create(KEY, 0))


def test_replace_racing_until_the_policy_gives_up(s3: LocalS3) -> None:
    store, _ = store_on(s3, attempts=2)
    document = store.create(KEY, 0)
    s3.inject("conditional_conflict", count=2)  # 409: nothing landed, retry
    raised(ConflictError, lambda: store.replace(KEY, 1, etag=document.etag))


def test_replace_whose_lost_answers_provably_missed_until_the_policy_gives_up(
        s3: LocalS3) -> None:
    """Every attempt's `Again` is bare (not landed, the base still current): the store
    says so in an error of its own."""
    store, _ = store_on(s3, attempts=2)
    document = store.create(KEY, 0)
    s3.inject("error_before_write", count=2)
    raised(StorageError, lambda: store.replace(KEY, 1, etag=document.etag))


def test_create_whose_resolving_head_is_throttled_until_the_policy_gives_up(
        s3: LocalS3) -> None:
    store, client = store_on(s3, attempts=1)
    s3.inject("error_after_write")
    act_before(client, "HeadObject", throttled, times=ALWAYS)
    raised(OutcomeUnknownError, lambda: store.create(KEY, 0))


def test_replace_whose_resolving_head_is_refused(s3: LocalS3) -> None:
    store, client = store_on(s3, attempts=3)
    document = store.create(KEY, 0)
    s3.inject("error_after_write")
    act_before(client, "HeadObject", refused, times=ALWAYS)
    error = raised(OutcomeUnknownError, lambda: store.replace(KEY, 1, etag=document.etag))
    assert isinstance(error.__cause__, StorageError)


def test_replace_whose_lost_answer_stays_unknown(s3: LocalS3) -> None:
    store, client = store_on(s3, attempts=3)
    rival, _ = store_on(s3, attempts=3)
    document = store.create(KEY, 0)
    s3.inject("error_after_write")
    act_before(client, "HeadObject", lambda _: rival.update(KEY, inc))
    raised(OutcomeUnknownError, lambda: store.replace(KEY, 5, etag=document.etag))


def test_replace_whose_lost_answer_missed_a_key_changed_since(s3: LocalS3) -> None:
    store, client = store_on(s3, attempts=3)
    rival, _ = store_on(s3, attempts=3)
    document = store.create(KEY, 0)
    s3.inject("error_before_write")  # not landed; then a rival writes before the HEAD
    act_before(client, "HeadObject", lambda _: rival.update(KEY, inc))
    raised(S3StoreError, lambda: store.replace(KEY, 5, etag=document.etag))


# -- delete(etag=...): `ConditionalWriter.delete` ------------------------------------------

def test_delete_racing_until_the_policy_gives_up(s3: LocalS3) -> None:
    store, _ = store_on(s3, attempts=2)
    document = store.create(KEY, 0)
    s3.inject("conditional_conflict", count=2)
    raised(ConflictError, lambda: store.delete(KEY, etag=document.etag))


def test_delete_throttled_until_the_policy_gives_up(s3: LocalS3) -> None:
    store, client = store_on(s3, attempts=2)
    document = store.create(KEY, 0)
    act_before(client, "DeleteObject", throttled, times=ALWAYS)
    raised(StorageError, lambda: store.delete(KEY, etag=document.etag))


def test_delete_with_resolution_off_whose_answers_are_lost_until_the_policy_gives_up(
        s3: LocalS3) -> None:
    """The negative controls' mode: each lost answer an `Again` caused by `AnswerLost`."""
    store, _ = store_on(s3, attempts=2, resolve_lost_responses=False)
    document = store.create(KEY, 0)
    s3.inject("error_before_write", count=2)
    raised(StorageError, lambda: store.delete(KEY, etag=document.etag))


def test_delete_whose_lost_answer_finds_the_object_gone(s3: LocalS3) -> None:
    store, _ = store_on(s3, attempts=3)
    document = store.create(KEY, 0)
    s3.inject("error_after_write")
    raised(OutcomeUnknownError, lambda: store.delete(KEY, etag=document.etag))


def test_delete_whose_lost_answer_finds_the_object_changed(s3: LocalS3) -> None:
    store, client = store_on(s3, attempts=3)
    rival, _ = store_on(s3, attempts=3)
    document = store.create(KEY, 0)
    s3.inject("error_before_write")
    act_before(client, "HeadObject", lambda _: rival.update(KEY, inc))
    raised(OutcomeUnknownError, lambda: store.delete(KEY, etag=document.etag))


def test_delete_whose_resolving_head_is_throttled_until_the_policy_gives_up(
        s3: LocalS3) -> None:
    store, client = store_on(s3, attempts=1)
    document = store.create(KEY, 0)
    s3.inject("error_before_write")
    act_before(client, "HeadObject", throttled, times=ALWAYS)
    raised(OutcomeUnknownError, lambda: store.delete(KEY, etag=document.etag))


def test_delete_whose_resolving_head_is_refused(s3: LocalS3) -> None:
    store, client = store_on(s3, attempts=3)
    document = store.create(KEY, 0)
    s3.inject("error_before_write")
    act_before(client, "HeadObject", refused, times=ALWAYS)
    raised(S3StoreError, lambda: store.delete(KEY, etag=document.etag))
