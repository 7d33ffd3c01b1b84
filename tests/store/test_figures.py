"""Each call's figures and the store's counters, checked against what `LocalS3` saw: exact
alone, under contention (threads, group commit on and off) and under server-side faults."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from s3store import (
    CallFigures,
    ConflictError,
    JsonStore,
    NotFoundError,
    RetriesExhaustedError,
    RetryPolicy,
    StoreCounters,
)
from s3store._commit import clone_error
from s3store.testing import FaultPlan, LocalS3
from s3store.testing.faults import LANDS
from tests.helpers import FAST_RETRY
from tests.hooks import act_before

KEY = "doc.json"
NO_WAIT = RetryPolicy(max_attempts=500, base_delay=0.0, max_delay=0.0, deadline=None,
                      sleep=lambda _: None)


@pytest.fixture
def s3() -> Iterator[LocalS3]:
    with LocalS3(versioning=True) as local:
        yield local


def server_figures(s3: LocalS3) -> dict[str, int]:
    """What the server saw of the store's requests: requests, conditional writes, refusals
    (412/409), and writes that landed (answered, or lost after landing)."""
    log = s3.requests
    puts = [r for r in log if r.method == "PUT" and r.key]
    return {
        "requests": len(log),
        "attempts": len(puts),
        "conflicts": sum(1 for r in puts if r.status in (409, 412)),
        "writes": sum(1 for r in puts if (r.status < 300 and r.fault is None)
                      or r.fault in LANDS),
    }


def store_figures(counters: StoreCounters) -> dict[str, int]:
    return {"requests": counters.requests, "attempts": counters.attempts,
            "conflicts": counters.conflicts, "writes": counters.writes}


def append(item: Any) -> Any:
    return lambda items: [*items, item]


def test_one_update_reports_its_requests_attempt_and_write(s3: LocalS3) -> None:
    calls: list[CallFigures] = []
    store = JsonStore(s3.client(), s3.bucket, on_call=calls.append)
    store.create(KEY, [])
    s3.clear_requests()
    document = store.update(KEY, append(1))
    figures = document.figures
    assert figures is not None and calls[-1] is figures
    assert (figures.operation, figures.key, figures.requests, figures.attempts,
            figures.conflicts, figures.lost_answers, figures.wrote, figures.callers,
            figures.error) == ("update", KEY, 1, 1, 0, 0, True, 1, None)  # the cache: no GET
    assert figures.requests == len(s3.requests)


def test_an_unchanged_update_and_a_get_write_nothing(s3: LocalS3) -> None:
    store = JsonStore(s3.client(), s3.bucket, cache_size=0)
    store.create(KEY, [1])
    unchanged = store.update(KEY, lambda items: items).figures
    read = store.get(KEY).figures
    assert unchanged is not None and read is not None
    assert (unchanged.requests, unchanged.attempts, unchanged.wrote) == (1, 0, False)
    assert (read.operation, read.requests, read.attempts, read.wrote) == ("get", 1, 0, False)


def test_the_callers_own_requests_on_the_same_client_are_not_counted(s3: LocalS3) -> None:
    client = s3.client()
    store = JsonStore(client, s3.bucket)
    store.create(KEY, [])
    client.put_object(Bucket=s3.bucket, Key="other.json", Body=b"{}")
    client.get_object(Bucket=s3.bucket, Key="other.json")
    assert store.counters().requests == 1
    assert store.counters().calls == 1


def test_a_conflict_is_counted_and_the_error_carries_the_figures(s3: LocalS3) -> None:
    client = s3.client()
    store = JsonStore(client, s3.bucket, retry=RetryPolicy(max_attempts=3,
                                                           sleep=lambda _: None))
    store.create(KEY, [])
    raw = s3.client()
    bodies = iter(range(100))
    # Another writer gets in before each of the store's writes (new bytes each time: an
    # ETag is a hash of them): every attempt conflicts.
    act_before(client, "PutObject", lambda _: raw.put_object(
        Bucket=s3.bucket, Key=KEY, Body=f"[{next(bodies)}]".encode()), times=10)
    s3.clear_requests()
    with pytest.raises(RetriesExhaustedError) as caught:
        store.update(KEY, append(1))
    figures = caught.value.figures
    assert figures is not None
    assert caught.value.attempts == 3
    store_puts = [r for r in s3.requests if r.method == "PUT" and "If-Match" in r.headers]
    raw_puts = [r for r in s3.requests if r.method == "PUT" and "If-Match" not in r.headers]
    # 3 attempts, the first from the cache's guess, then re-read: 4 conditional writes
    assert len(store_puts) == 4 and all(r.status == 412 for r in store_puts)
    assert (figures.attempts, figures.conflicts, figures.wrote, figures.error) == (
        4, 4, False, "RetriesExhaustedError")
    assert figures.requests == len(s3.requests) - len(raw_puts)
    # what the store re-read last: the other writer's third value (its fourth came after)
    current = caught.value.current
    assert current is not None and (current.key, current.value) == (KEY, [len(raw_puts) - 2])
    copy = clone_error(caught.value)
    assert isinstance(copy, RetriesExhaustedError) and copy.current is not None
    assert copy.current == current and copy.current.value is not current.value  # its own
    counters = store.counters()
    assert (counters.calls, counters.errors, counters.conflicts) == (2, 1, 4)


def test_a_missing_key_is_an_error_call(s3: LocalS3) -> None:
    store = JsonStore(s3.client(), s3.bucket)
    with pytest.raises(NotFoundError) as caught:
        store.get("missing.json")
    assert caught.value.figures is not None and caught.value.figures.requests == 1
    assert (store.counters().calls, store.counters().errors) == (1, 1)


@pytest.mark.parametrize("group_commit", [True, False])
def test_counters_are_exact_under_contention(s3: LocalS3, group_commit: bool) -> None:
    calls: list[CallFigures] = []
    lock = threading.Lock()

    def on_call(figures: CallFigures) -> None:
        with lock:
            calls.append(figures)

    stores = [JsonStore(s3.client(), s3.bucket, retry=NO_WAIT, group_commit=group_commit,
                        on_call=on_call) for _ in range(2)]
    stores[0].create(KEY, [])
    s3.clear_requests()
    for store in stores:  # the counters from here on
        store._totals = type(store._totals)()
    barrier = threading.Barrier(8)

    def run(n: int) -> None:
        barrier.wait()
        for i in range(5):
            stores[n % 2].update(KEY, append(f"{n}-{i}"))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(stores[0].get(KEY).value) == 40
    seen = server_figures(s3)
    seen["requests"] -= 1  # the get just now
    totals = [store_figures(store.counters()) for store in stores]
    assert {name: totals[0][name] + totals[1][name] for name in seen} == {
        **seen, "requests": seen["requests"] + 1}
    assert sum(store.counters().calls for store in stores) == 41
    updates = [f for f in calls if f.operation == "update"]
    assert len(updates) == 40 and all(f.wrote for f in updates)
    if not group_commit:  # every call alone: the calls' figures add up to the totals
        for name in ("requests", "attempts", "conflicts"):
            assert sum(getattr(f, name) for f in updates) == seen[name]
    else:
        assert max(f.callers for f in updates) > 1  # rounds were shared


def test_counters_are_exact_under_faults_that_lose_answers(s3: LocalS3) -> None:
    store = JsonStore(s3.client(), s3.bucket, retry=NO_WAIT)
    store.create(KEY, [])
    s3.clear_requests()
    store._totals = type(store._totals)()
    s3.set_faults(FaultPlan(seed=7, slow_down=0.15, error_after_write=0.15,
                            drop_after_write=0.1, error_before_write=0.1,
                            conditional_conflict=0.1))
    lock = threading.Lock()
    figures: list[CallFigures] = []
    barrier = threading.Barrier(4)

    def run(n: int) -> None:
        barrier.wait()
        for i in range(10):
            document = store.update(KEY, append(f"{n}-{i}"))
            assert document.figures is not None
            with lock:
                figures.append(document.figures)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    s3.set_faults(FaultPlan())
    assert sorted(store.get(KEY).value) == sorted(f"{n}-{i}" for n in range(4)
                                                   for i in range(10))
    seen = server_figures(s3)
    counters = store.counters()
    assert store_figures(counters) == {**seen, "requests": seen["requests"]}
    lost = sum(1 for r in s3.requests if r.fault in LANDS)
    assert lost > 0 and counters.lost_answers >= lost  # at least those that landed
    assert counters.resolved_landed == lost  # a versioned bucket: each found
    assert counters.unresolved == 0
    assert any(f.lost_answers for f in figures)


def test_a_failing_metrics_hook_never_fails_the_call(
        s3: LocalS3, caplog: pytest.LogCaptureFixture) -> None:
    def broken(_: CallFigures) -> None:
        raise RuntimeError("metrics backend down")

    store = JsonStore(s3.client(), s3.bucket, on_call=broken)
    with caplog.at_level(logging.WARNING, logger="s3store"):
        assert store.create(KEY, [1]).value == [1]
    assert "on_call hook failed for create doc.json" in caplog.text
    assert store.get(KEY).value == [1]


def test_a_replace_conflict_counts_once(s3: LocalS3) -> None:
    store = JsonStore(s3.client(), s3.bucket, retry=FAST_RETRY)
    first = store.create(KEY, [1])
    store.replace(KEY, [2], etag=first.etag)
    with pytest.raises(ConflictError) as caught:
        store.replace(KEY, [3], etag=first.etag)
    assert caught.value.figures is not None
    assert (caught.value.figures.attempts, caught.value.figures.conflicts) == (1, 1)
