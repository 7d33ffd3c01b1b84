"""One caller's failure, exit or interruption never blocks or fails another (issue 9: 8-10).

A round is held open deterministically: the leader's `PutObject` waits in a botocore
`before-send` hook until the test releases it, so the other callers are provably
queued behind it. Waits are bounded (`Event.wait`, `join` with a timeout), never sleeps.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest

from s3store import Document, JsonStore, RetryPolicy
from s3store.commit import GroupCommit, Pending
from s3store.testing import LocalS3
from tests.hooks import act_before, land_then_raise

KEY = "doc.json"
NO_WAIT = RetryPolicy(sleep=lambda _: None)
BOUND = 20.0  # seconds any wait here may take before the test fails instead of hanging


def append(item: str) -> Callable[[list[str]], list[str]]:
    return lambda items: [*items, item]


@pytest.fixture
def s3() -> Iterator[LocalS3]:
    with LocalS3() as local:
        yield local


class HeldRound:
    """The next store write waits in its before-send hook until `release()`."""

    def __init__(self, client: Any) -> None:
        self.started, self._released = threading.Event(), threading.Event()
        act_before(client, "PutObject", self._hold)

    def _hold(self, _: Any) -> None:
        self.started.set()
        assert self._released.wait(BOUND)

    def release(self) -> None:
        self._released.set()


def run(store: JsonStore, mutate: Callable[[Any], Any], outcomes: dict[str, Any],
        name: str) -> threading.Thread:
    def target() -> None:
        try:
            outcomes[name] = store.update(KEY, mutate)
        except BaseException as exc:  # the outcome is what is checked
            outcomes[name] = exc

    thread = threading.Thread(target=target, name=name)
    thread.start()
    return thread


def wait_until_queued(store: JsonStore, count: int) -> None:
    assert store._group is not None
    for _ in range(1_000_000):  # bounded: the callers are about to queue
        if store._group.queued(KEY) == count:
            return
    raise AssertionError(f"{count} callers never queued")


def store_with_round_held(s3: LocalS3) -> tuple[JsonStore, Any, HeldRound, dict[str, Any],
                                                threading.Thread]:
    client = s3.client()
    store = JsonStore(client, s3.bucket, retry=NO_WAIT)
    store.create(KEY, [])
    held = HeldRound(client)
    outcomes: dict[str, Any] = {}
    leader = run(store, append("leader"), outcomes, "leader")
    assert held.started.wait(BOUND)
    return store, client, held, outcomes, leader


class Leave(Exception):  # what a signal-based timeout raises in a thread
    pass


def test_8_a_caller_that_leaves_while_queued_leaves_the_key_usable(s3: LocalS3) -> None:
    store, _, held, outcomes, leader = store_with_round_held(s3)

    def leave(*_: Any) -> None:
        raise Leave

    previous = signal.signal(signal.SIGUSR1, leave)
    def kick() -> None:
        wait_until_queued(store, 1)
        os.kill(os.getpid(), signal.SIGUSR1)  # runs the handler in the main thread

    kicker = threading.Thread(target=kick)
    kicker.start()
    try:
        with pytest.raises(Leave):
            store.update(KEY, append("leaves"))  # queued in this (main) thread, then a signal
    finally:
        kicker.join(BOUND)
        signal.signal(signal.SIGUSR1, previous)
    assert store._group is not None and store._group.queued(KEY) == 0
    held.release()
    leader.join(BOUND)
    later = run(store, append("after"), outcomes, "after")
    later.join(BOUND)
    assert not later.is_alive(), "the key stayed blocked by a caller that left"
    assert outcomes["after"].value == ["leader", "after"]
    assert KEY not in store._group._queues  # forgotten once nobody waits


def test_a_lone_follower_queued_behind_a_round_returns_and_the_queue_empties(
        s3: LocalS3) -> None:
    store, _, held, outcomes, leader = store_with_round_held(s3)
    follower = run(store, append("follower"), outcomes, "follower")
    wait_until_queued(store, 1)
    held.release()
    leader.join(BOUND)
    follower.join(BOUND)
    assert not follower.is_alive()
    assert outcomes["follower"].value == ["leader", "follower"]
    assert store._group is not None and store._group._queues == {}


@pytest.mark.parametrize("landed", [True, False], ids=["write-landed", "write-not-sent"])
def test_a_leader_interrupted_mid_request_hands_its_round_on(s3: LocalS3, landed: bool) -> None:
    """The leader of the second round gets a KeyboardInterrupt while its PUT is on the
    wire (after it landed, or before it was sent). The round's other caller carries it
    on: it resolves that write first, and is answered; nobody hangs or fails."""
    store, client, held, outcomes, leader = store_with_round_held(s3)
    interrupt: Any = land_then_raise(s3.client(), s3.bucket, KeyboardInterrupt())
    if not landed:
        def interrupt(_: Any) -> None:
            raise KeyboardInterrupt
    act_before(client, "PutObject", interrupt)  # the next write: the second round's
    first, second = (run(store, append(name), outcomes, name) for name in ("t1", "t2"))
    wait_until_queued(store, 2)
    held.release()
    for thread in (leader, first, second):
        thread.join(BOUND)
        assert not thread.is_alive()
    interrupted = [n for n in ("t1", "t2") if isinstance(outcomes[n], KeyboardInterrupt)]
    assert len(interrupted) == 1
    (carried_on,) = {"t1", "t2"} - set(interrupted)
    document = outcomes[carried_on]
    assert isinstance(document, Document) and carried_on in document.value
    final = store.get(KEY).value
    assert sorted(final) == sorted(["leader", "t1", "t2"] if landed
                                   else ["leader", carried_on])
    assert store._group is not None and store._group._queues == {}


def test_10_a_mutation_raising_a_base_exception_fails_only_its_own_caller(
        s3: LocalS3) -> None:
    store = JsonStore(s3.client(), s3.bucket, retry=NO_WAIT)
    store.create(KEY, [])

    def interrupted(_: list[str]) -> list[str]:
        raise KeyboardInterrupt

    batch = [Pending(append("a")), Pending(interrupted), Pending(append("c"))]
    store._commit(KEY, batch)
    assert batch[0].outcome().value == ["a", "c"]
    with pytest.raises(KeyboardInterrupt):
        batch[1].outcome()
    assert batch[2].outcome().value == ["a", "c"]
    assert store.get(KEY).value == ["a", "c"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_9_a_child_forked_while_a_round_is_in_flight_can_update_the_key(s3: LocalS3) -> None:
    store, _, held, _, leader = store_with_round_held(s3)
    pid = os.fork()
    if pid == 0:  # the child: the leader thread does not exist here
        signal.alarm(int(BOUND))  # a hang ends the child instead of the test run
        try:
            store.update(KEY, append("child"))
            code = 0
        except BaseException:  # any failure is the child's exit code
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    held.release()
    leader.join(BOUND)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    assert sorted(store.get(KEY).value) == ["child", "leader"]


class Leavable(threading.Condition):
    """A group-commit wait that the threads in `leaving` give up (as on a signal)."""

    leaving: ClassVar[set[threading.Thread]] = set()  # threads, not idents: those are reused

    def wait(self, timeout: float | None = None) -> bool:
        if threading.current_thread() in Leavable.leaving:
            raise Leave
        woke = super().wait(timeout)
        if threading.current_thread() in Leavable.leaving:
            raise Leave
        return woke


def test_a_round_handed_over_skips_a_caller_that_already_left() -> None:
    """Round 1 holds X (leading) and Y. Y leaves while it is written; then X is
    interrupted mid-request. The round must not be carried by Y (gone): Z, queued
    behind, leads the next round instead of waiting forever."""
    group = GroupCommit(condition=Leavable)
    gates = [threading.Event(), threading.Event()]
    entered = [threading.Event(), threading.Event()]
    batches: list[list[Pending]] = []
    leaders: list[int] = []

    def flush(batch: list[Pending]) -> None:
        index = len(batches)
        batches.append(batch)
        leaders.append(threading.get_ident())
        if index < 2:
            entered[index].set()
            assert gates[index].wait(BOUND)
        if index == 1:
            raise KeyboardInterrupt  # X, interrupted while its write is on the wire
        for pending in batch:
            pending.settled = True

    outcomes: dict[str, Any] = {}

    def submit(name: str) -> threading.Thread:
        def target() -> None:
            try:
                group.submit("k", Pending(lambda v: v), flush)
                outcomes[name] = "ok"
            except BaseException as exc:  # the outcome is what is checked
                outcomes[name] = type(exc).__name__

        thread = threading.Thread(target=target, name=name)
        thread.start()
        return thread

    threads = {"w": submit("w")}
    assert entered[0].wait(BOUND)
    threads |= {name: submit(name) for name in ("x", "y")}
    for _ in range(1_000_000):  # bounded: both queue behind round 0
        if group.queued("k") == 2:
            break
    gates[0].set()
    assert entered[1].wait(BOUND)  # round 1 = x and y, led by one of them
    members = {p.owner for p in batches[1]}
    assert members == {threads["x"].ident, threads["y"].ident}
    follower = next(t for t in (threads["x"], threads["y"]) if t.ident != leaders[1])
    Leavable.leaving.add(follower)
    with group._lock:
        group._queues["k"].cond.notify_all()
    follower.join(BOUND)
    threads["z"] = submit("z")
    for _ in range(1_000_000):
        if group.queued("k") == 1:
            break
    gates[1].set()
    for thread in threads.values():
        thread.join(BOUND)
        assert not thread.is_alive(), f"{thread.name} never came back"
    Leavable.leaving.clear()
    assert sorted(outcomes.values()) == ["KeyboardInterrupt", "Leave", "ok", "ok"]
    assert outcomes["z"] == "ok" and group._queues == {}
