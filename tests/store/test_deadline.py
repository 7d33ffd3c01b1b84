"""Per-call `retry=` and `deadline=`: a call stops retrying at its deadline (no wait runs past
it), as `RetriesExhaustedError`, or `OutcomeUnknownError` when an answer was lost on the way.

Time is a fake clock that only the store's waits move, patched over `time.monotonic`: the
tests never wait and never depend on how fast the machine is.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, cast

import pytest
from botocore.exceptions import ReadTimeoutError

from s3store import JsonStore, OutcomeUnknownError, RetriesExhaustedError, RetryPolicy
from s3store.testing import LocalS3
from tests.hooks import act_before, answer

KEY = "doc.json"


class Clock:
    """`time.monotonic`, moved only by `sleep`."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture(scope="module")
def s3() -> Iterator[LocalS3]:
    with LocalS3() as local:
        yield local


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(time, "monotonic", clock.monotonic)
    return clock


def refuse_every_put(client: Any) -> None:
    act_before(client, "PutObject", lambda _: answer(412, "PreconditionFailed"), times=10_000)


def store_on(s3: LocalS3, clock: Clock, **options: Any) -> tuple[JsonStore, Any]:
    client = s3.client(max_attempts=1)  # botocore's own retries would really sleep
    policy = RetryPolicy(max_attempts=10_000, base_delay=0.2, max_delay=0.5, deadline=None,
                         sleep=clock.sleep)
    store = JsonStore(client, s3.bucket, retry=policy, **options)
    s3.client().delete_object(Bucket=s3.bucket, Key=KEY)
    store.create(KEY, [])
    return store, client


@pytest.mark.parametrize("group_commit", [True, False])
def test_an_update_stops_at_its_deadline_and_no_wait_runs_past_it(
        s3: LocalS3, clock: Clock, group_commit: bool) -> None:
    store, client = store_on(s3, clock, group_commit=group_commit)
    refuse_every_put(client)
    started = clock.now
    with pytest.raises(RetriesExhaustedError) as caught:
        store.update(KEY, lambda items: [*items, 1], deadline=3.0)
    assert clock.now - started == pytest.approx(3.0)  # the last wait cut to the deadline
    assert sum(clock.slept) == pytest.approx(3.0)
    assert 2 < caught.value.attempts < 10_000
    assert caught.value.figures is not None and caught.value.figures.conflicts > 2


def test_the_policys_deadline_and_the_calls_the_earlier_wins(s3: LocalS3, clock: Clock) -> None:
    client = s3.client()
    store = JsonStore(client, s3.bucket, retry=RetryPolicy(
        max_attempts=10_000, base_delay=0.2, max_delay=0.5, deadline=2.0, sleep=clock.sleep))
    s3.client().delete_object(Bucket=s3.bucket, Key=KEY)
    store.create(KEY, [])
    refuse_every_put(client)
    started = clock.now
    with pytest.raises(RetriesExhaustedError):
        store.update(KEY, lambda items: [*items, 1], deadline=30.0)
    assert clock.now - started == pytest.approx(2.0)


def test_a_per_call_retry_policy_replaces_the_stores(s3: LocalS3, clock: Clock) -> None:
    store, client = store_on(s3, clock, cache_size=0)
    refuse_every_put(client)
    with pytest.raises(RetriesExhaustedError) as caught:
        store.update(KEY, lambda items: [*items, 1],
                     retry=RetryPolicy(max_attempts=2, sleep=clock.sleep))
    assert caught.value.attempts == 2
    assert caught.value.figures is not None and caught.value.figures.attempts == 2


@pytest.mark.parametrize("operation", ["create", "replace", "delete"])
def test_single_writes_take_a_deadline_too(s3: LocalS3, clock: Clock, operation: str) -> None:
    store, client = store_on(s3, clock)
    etag = store.get(KEY).etag
    act_before(client, "PutObject", lambda _: answer(503, "SlowDown"), times=10_000)
    act_before(client, "DeleteObject", lambda _: answer(503, "SlowDown"), times=10_000)
    started = clock.now
    call: dict[str, Any] = {
        "create": lambda: store.create("new.json", [1], deadline=2.5),
        "replace": lambda: store.replace(KEY, [1], etag=etag, deadline=2.5),
        "delete": lambda: store.delete(KEY, etag=etag, deadline=2.5),
    }
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the type is asserted below
        call[operation]()
    assert clock.now - started == pytest.approx(2.5)
    assert getattr(caught.value, "transient", False), caught.value  # the last 503, as S3 gave it


def test_a_deadline_after_a_lost_answer_is_an_unknown_outcome(s3: LocalS3, clock: Clock) -> None:
    """The write's answer is lost and S3 cannot be asked about it (every HEAD and listing
    throttled) until the deadline: whether the update landed is unknown."""
    store, client = store_on(s3, clock)

    def lose(request: Any) -> None:
        raise ReadTimeoutError(endpoint_url=request.url)

    act_before(client, "PutObject", lose)
    for operation in ("HeadObject", "ListObjectVersions", "GetObject"):
        act_before(client, operation, lambda _: answer(503, "SlowDown"), times=10_000)
    started = clock.now
    with pytest.raises(OutcomeUnknownError) as caught:
        store.update(KEY, lambda items: [*items, 1], deadline=2.0)
    assert clock.now - started == pytest.approx(2.0)
    assert caught.value.figures is not None and caught.value.figures.lost_answers == 1


@pytest.mark.parametrize("deadline", [0, -1.0, float("nan"), "1"])
def test_a_deadline_must_be_positive_seconds(s3: LocalS3, clock: Clock, deadline: Any) -> None:
    store, _ = store_on(s3, clock)
    s3.clear_requests()
    with pytest.raises(ValueError, match="deadline must be a positive number of seconds"):
        store.update(KEY, lambda items: [*items, 1], deadline=deadline)
    assert s3.requests == []


def test_a_retry_must_be_a_policy(s3: LocalS3, clock: Clock) -> None:
    store, _ = store_on(s3, clock)
    with pytest.raises(TypeError, match="retry must be a RetryPolicy"):
        store.create("x.json", 1, retry=5)  # type: ignore[arg-type]


def test_retry_policy_fields_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        cast(Any, RetryPolicy)(3)  # as a caller without a type checker would
