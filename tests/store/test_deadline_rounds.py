"""Deadlines under group commit: each caller of a key is held to its own, whether it is
queued behind another round, leads a shared round, or follows in one; a caller answered
early has its own figures; a handed-over round goes on counting its attempts.

The interleavings are forced with events in botocore hooks: a round is held on the wire
until the caller under test has been answered (or a guard of seconds fails the test).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from s3store import JsonStore, NoneResultError, RetriesExhaustedError, RetryPolicy
from s3store.testing import LocalS3
from tests.hooks import HeldRound, act_before

KEY = "doc.json"
NO_WAIT = RetryPolicy(max_attempts=100_000, base_delay=0.0, max_delay=0.0, deadline=None,
                      sleep=lambda _: None)
GUARD = 20.0  # seconds a hook waits for what must happen before it goes on


@pytest.fixture
def s3() -> Iterator[LocalS3]:
    with LocalS3() as local:
        yield local


def run(results: dict[str, Any], name: str, store: JsonStore, **options: Any) -> None:
    try:
        results[name] = store.update(KEY, lambda items: [*items, name], **options)
    except BaseException as exc:
        results[name] = exc


def start_held_round(store: JsonStore, client: Any,
                     results: dict[str, Any]) -> tuple[HeldRound, threading.Thread]:
    """L's update, its write held on the wire: the next callers queue behind its round."""
    held = HeldRound(client)
    leader = threading.Thread(target=run, args=(results, "L", store))
    leader.start()
    assert held.started.wait(GUARD)
    return held, leader


def queue(store: JsonStore, threads: list[threading.Thread]) -> None:
    """Start each thread's update in turn, once the one before is queued."""
    for n, thread in enumerate(threads, start=1):
        thread.start()
        while store._group is not None and store._group.queued(KEY) < n:
            pass


def test_a_caller_queued_past_its_deadline_leaves_and_sends_nothing(s3: LocalS3) -> None:
    client = s3.client()
    store = JsonStore(client, s3.bucket, retry=NO_WAIT)
    store.create(KEY, [])
    results: dict[str, Any] = {}
    held, leader = start_held_round(store, client, results)
    run(results, "A", store, deadline=0.2)  # queued behind L's round, held until A returns
    held.release()
    leader.join(GUARD)
    error = results["A"]
    assert isinstance(error, RetriesExhaustedError) and error.attempts == 0, error
    assert "nothing of it was sent" in str(error)
    assert error.figures is not None and error.figures.attempts == 0
    # its elapsed time counts from its call's start (it waited its whole deadline), not
    # from the deadline
    assert error.elapsed >= 0.2 and error.figures.elapsed >= error.elapsed * 0.99, error
    assert store.get(KEY).value == ["L"]


@pytest.mark.parametrize("first", ["A", "B"])
def test_a_caller_in_a_shared_round_is_answered_at_its_deadline(s3: LocalS3, first: str) -> None:
    """A (deadline 0.3 s) and B (none) share a round that another writer keeps refusing
    until A has been answered: A must be answered while the round goes on (as its leader:
    it hands the round over; as a follower: it is woken), and never written."""
    client, raw = s3.client(), s3.client()
    store = JsonStore(client, s3.bucket, retry=NO_WAIT)
    store.create(KEY, [])
    a_answered = threading.Event()
    bodies = iter(range(1_000_000))

    def conflict(_: Any) -> None:  # another writer before each of the round's writes
        if not a_answered.is_set():
            raw.put_object(Bucket=s3.bucket, Key=KEY, Body=f'["o{next(bodies)}"]'.encode())

    act_before(client, "PutObject", conflict, skip=1, times=1_000_000)
    results: dict[str, Any] = {}
    held, leader = start_held_round(store, client, results)
    options = {"A": {"deadline": 0.3}, "B": {}}
    threads = {name: threading.Thread(target=run, args=(results, name, store),
                                      kwargs=options[name])
               for name in (first, "B" if first == "A" else "A")}
    queue(store, list(threads.values()))  # behind L's round, in this order
    held.release()
    threads["A"].join(GUARD)
    assert not threads["A"].is_alive()
    assert "B" not in results  # A was answered while B's round went on
    a_answered.set()
    for thread in [leader, *threads.values()]:
        thread.join(GUARD)
    error = results["A"]
    assert isinstance(error, RetriesExhaustedError), error
    assert error.figures is not None and not error.figures.wrote
    assert results["B"].value[-1] == "B"
    assert "A" not in store.get(KEY).value  # failed means not there


def test_a_failed_caller_of_a_round_that_wrote_did_not_write(s3: LocalS3) -> None:
    client = s3.client()
    store = JsonStore(client, s3.bucket, retry=NO_WAIT)
    store.create(KEY, [])
    results: dict[str, Any] = {}
    held, leader = start_held_round(store, client, results)

    def forgetful() -> None:
        try:
            store.update(KEY, lambda items: items.append("lost"))
        except NoneResultError as exc:
            results["N"] = exc

    threads = [threading.Thread(target=forgetful),
               threading.Thread(target=run, args=(results, "B", store))]
    queue(store, threads)
    held.release()
    for thread in [leader, *threads]:
        thread.join(GUARD)
    figures = results["N"].figures
    assert figures is not None and not figures.wrote and figures.callers == 2
    assert results["B"].figures.wrote
    assert store.get(KEY).value == ["L", "B"]


def test_a_handed_over_round_goes_on_counting_its_attempts() -> None:
    """max_attempts=3 for a round whose leader is interrupted in its second attempt: the
    caller that carries it on has one attempt left, not three."""
    with LocalS3(versioning=True) as s3:  # the interrupted write is proven not to have landed
        client, raw = s3.client(), s3.client()
        policy = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0, deadline=None,
                             sleep=lambda _: None)
        store = JsonStore(client, s3.bucket, retry=policy, cache_size=0)
        store.create(KEY, [])
        bodies = iter(range(1000))
        puts = {"n": 0}

        def conflict_or_interrupt(_: Any) -> None:
            puts["n"] += 1
            raw.put_object(Bucket=s3.bucket, Key=KEY, Body=f'["o{next(bodies)}"]'.encode())
            if puts["n"] == 2:
                raise KeyboardInterrupt  # the leader's thread, in its round's second attempt

        act_before(client, "PutObject", conflict_or_interrupt, skip=1, times=1000)
        results: dict[str, Any] = {}
        held, leader = start_held_round(store, client, results)
        callers = [threading.Thread(target=run, args=(results, name, store)) for name in "AB"]
        queue(store, callers)
        held.release()
        for thread in (leader, *callers):
            thread.join(GUARD)
    outcomes = sorted(type(results[name]).__name__ for name in "AB")
    assert outcomes == ["KeyboardInterrupt", "RetriesExhaustedError"], results
    error = next(results[name] for name in "AB"
                 if isinstance(results[name], RetriesExhaustedError))
    assert error.attempts == 3
    # the round's three attempts across its two leaders: two writes, then the carrier's one
    # attempt found the interrupted write not landed (a count that restarted at the
    # hand-over would have written twice more)
    assert puts["n"] == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX")
def test_a_forked_child_counts_from_zero_even_if_the_counters_lock_was_held(
        s3: LocalS3) -> None:
    store = JsonStore(s3.client(), s3.bucket)
    store.create(KEY, [1])
    totals = store._totals
    totals._lock.acquire()  # another thread in the middle of counting, at the fork
    try:
        pid = os.fork()
        if pid == 0:  # the child: its counters are its own, and usable
            counters = store._totals.snapshot()
            os._exit(0 if counters.calls == 0 else 1)
    finally:
        totals._lock.release()
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert store.counters().calls == 1
