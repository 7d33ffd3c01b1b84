"""One caller's failure, exit or interruption never blocks or fails another (issue 9: 8-10).

A round is held open deterministically: the leader's `PutObject` waits in a botocore
`before-send` hook until the test releases it, so the other callers are provably
queued behind it. Waits are bounded (`Event.wait`, `join` with a timeout), never sleeps.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest

from s3store import Document, JsonStore, RetryPolicy
from s3store._commit import GroupCommit, Pending
from s3store.testing import LocalS3
from tests.hooks import HeldRound, act_before, land_then_raise
from tests.steps import submit

KEY = "doc.json"
NO_WAIT = RetryPolicy(sleep=lambda _: None)
BOUND = 20.0  # seconds any wait here may take before the test fails instead of hanging


def append(item: str) -> Callable[[list[str]], list[str]]:
    return lambda items: [*items, item]


@pytest.fixture
def s3() -> Iterator[LocalS3]:
    with LocalS3() as local:
        yield local


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


def interrupted_and_carried(outcomes: dict[str, Any], *threads: threading.Thread,
                            ) -> tuple[str, Any]:
    """Join `threads` (the leader, then t1 and t2); exactly one of t1 and t2 was
    interrupted: the other's name and outcome."""
    for thread in threads:
        thread.join(BOUND)
        assert not thread.is_alive()
    interrupted = [n for n in ("t1", "t2") if isinstance(outcomes[n], KeyboardInterrupt)]
    assert len(interrupted) == 1
    (carried_on,) = {"t1", "t2"} - set(interrupted)
    return carried_on, outcomes[carried_on]


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
    carried_on, document = interrupted_and_carried(outcomes, leader, first, second)
    assert isinstance(document, Document) and carried_on in document.value
    final = store.get(KEY).value
    assert sorted(final) == sorted(["leader", "t1", "t2"] if landed
                                   else ["leader", carried_on])
    assert store._group is not None and store._group._queues == {}


def test_a_leader_interrupted_after_its_write_was_answered_hands_on_what_landed(
        s3: LocalS3) -> None:
    """The second round's leader gets a KeyboardInterrupt after S3 answered its PUT (the
    store recorded that it landed) but before it answered its round. The other caller
    carries the round on from that record: answered with the document that write left,
    and nothing is read or written again (a re-read and re-apply would store t1 and t2
    twice)."""
    store, _, held, outcomes, leader = store_with_round_held(s3)
    sends = {"n": 0}
    real_send = store._writer.send

    def send_then_interrupt(*args: Any, **kwargs: Any) -> Any:
        outcome = yield from real_send(*args, **kwargs)
        sends["n"] += 1
        if sends["n"] == 1:  # the second round's write (the leader's was already under
            # way): landed, answered, recorded
            raise KeyboardInterrupt
        return outcome

    store._writer.send = send_then_interrupt  # type: ignore[method-assign]
    s3.clear_requests()  # the leader's PUT is held before it was sent: not yet served
    first, second = (run(store, append(name), outcomes, name) for name in ("t1", "t2"))
    wait_until_queued(store, 2)
    held.release()
    _, document = interrupted_and_carried(outcomes, leader, first, second)
    assert isinstance(document, Document) and sorted(document.value) == ["leader", "t1", "t2"]
    # the leader's round and the second round, nothing more
    assert [(r.method, r.status) for r in s3.requests] == [("PUT", 200), ("PUT", 200)]
    assert sorted(store.get(KEY).value) == ["leader", "t1", "t2"]
    assert store._group is not None and store._group._queues == {}


def test_10_a_mutation_raising_a_base_exception_fails_only_its_own_caller(
        s3: LocalS3) -> None:
    store = JsonStore(s3.client(), s3.bucket, retry=NO_WAIT)
    store.create(KEY, [])

    def interrupted(_: list[str]) -> list[str]:
        raise KeyboardInterrupt

    batch = [Pending(append("a")), Pending(interrupted), Pending(append("c"))]
    store._run(store._commit(KEY, batch))
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
    waiting: ClassVar[set[threading.Thread]] = set()  # inside wait() now

    def wait(self, timeout: float | None = None) -> bool:
        if threading.current_thread() in Leavable.leaving:
            raise Leave
        Leavable.waiting.add(threading.current_thread())
        try:
            woke = super().wait(timeout)
        finally:
            Leavable.waiting.discard(threading.current_thread())
        if threading.current_thread() in Leavable.leaving:
            raise Leave
        return woke

    @staticmethod
    def until_waiting(thread: threading.Thread) -> None:
        """Return once `thread` is inside a wait (bounded)."""
        for _ in range(1_000_000):
            if thread in Leavable.waiting:
                return
            time.sleep(0)
        raise AssertionError(f"{thread.name} never waited")


class GatedRounds:
    """A GroupCommit on `Leavable` waits whose round `i` waits at `gates[i]` (for the
    first `gated` rounds), and whose round `interrupted` raises KeyboardInterrupt, as
    if its leader were interrupted while its write is on the wire."""

    def __init__(self, *, gated: int, interrupted: int = 1) -> None:
        self.group = GroupCommit(condition=Leavable)
        self.gates = [threading.Event() for _ in range(gated)]
        self.entered = [threading.Event() for _ in range(gated)]
        self.batches: list[list[Pending]] = []
        self.leaders: list[int] = []
        self.outcomes: dict[str, Any] = {}
        self.threads: dict[str, threading.Thread] = {}
        self._interrupted = interrupted

    def flush(self, batch: list[Pending]) -> None:
        index = len(self.batches)
        self.batches.append(batch)
        self.leaders.append(threading.get_ident())
        if index < len(self.gates):
            self.entered[index].set()
            assert self.gates[index].wait(BOUND)
        if index == self._interrupted:
            raise KeyboardInterrupt
        for pending in batch:
            pending.settled = True

    def submit(self, name: str) -> None:
        def target() -> None:
            try:
                submit(self.group, "k", Pending(lambda v: v), self.flush)
                self.outcomes[name] = "ok"
            except BaseException as exc:  # the outcome is what is checked
                self.outcomes[name] = type(exc).__name__

        self.threads[name] = threading.Thread(target=target, name=name)
        self.threads[name].start()

    def wait_queued(self, count: int) -> None:
        for _ in range(1_000_000):  # bounded: the callers are about to queue
            if self.group.queued("k") == count:
                return

    def round_one_of_x_and_y(self) -> threading.Thread:
        """w writes round 0; x and y queue behind it and make round 1, held at its gate.
        Returns round 1's follower (the one that does not lead it)."""
        self.submit("w")
        assert self.entered[0].wait(BOUND)
        self.submit("x")
        self.submit("y")
        self.wait_queued(2)
        self.gates[0].set()
        assert self.entered[1].wait(BOUND)
        members = {p.owner for p in self.batches[1]}
        assert members == {self.threads["x"].ident, self.threads["y"].ident}
        return next(t for t in (self.threads["x"], self.threads["y"])
                    if t.ident != self.leaders[1])

    def join_all(self) -> None:
        try:
            for thread in self.threads.values():
                thread.join(BOUND)
                assert not thread.is_alive(), f"{thread.name} never came back"
        finally:
            Leavable.leaving.clear()


def test_a_round_handed_over_skips_a_caller_that_already_left() -> None:
    """Round 1 holds X (leading) and Y. Y leaves while it is written; then X is
    interrupted mid-request. The round must not be carried by Y (gone): Z, queued
    behind, leads the next round instead of waiting forever."""
    rounds = GatedRounds(gated=2)
    follower = rounds.round_one_of_x_and_y()
    Leavable.leaving.add(follower)
    with rounds.group._lock:
        rounds.group._queues["k"].cond.notify_all()
    follower.join(BOUND)
    rounds.submit("z")
    rounds.wait_queued(1)
    rounds.gates[1].set()
    rounds.join_all()
    assert sorted(rounds.outcomes.values()) == ["KeyboardInterrupt", "Leave", "ok", "ok"]
    assert rounds.outcomes["z"] == "ok" and rounds.group._queues == {}


def test_a_caller_leaving_the_round_it_was_handed_leaves_the_key_to_the_next() -> None:
    """Round 1 holds X and Y; its leader is interrupted mid-request, so the round is
    handed to the other (it is `carried`); that one leaves as it wakes to carry it on.
    Z, queued behind, must lead the next round, and the key stays queued while it does."""
    rounds = GatedRounds(gated=3)
    follower = rounds.round_one_of_x_and_y()
    rounds.submit("z")
    rounds.wait_queued(1)
    Leavable.until_waiting(follower)  # waiting for round 1's answer, not yet handed it
    Leavable.leaving.add(follower)  # it leaves when next woken: by the hand-over
    rounds.gates[1].set()
    assert rounds.entered[2].wait(BOUND)  # z leads round 2
    # The key's queue is still the one z's round holds: a caller arriving now queues
    # behind it instead of starting a second round beside it.
    assert "k" in rounds.group._queues and rounds.group._queues["k"].busy
    rounds.gates[2].set()
    rounds.join_all()
    assert sorted(rounds.outcomes.values()) == ["KeyboardInterrupt", "Leave", "ok", "ok"]
    assert [p.owner for p in rounds.batches[2]] == [rounds.threads["z"].ident]
    assert rounds.group._queues == {}


def test_the_last_caller_leaving_a_handed_over_round_forgets_the_key() -> None:
    """As above without Z: the caller handed the round leaves as it wakes, and nobody
    else waits. Leaving is then the key's last event: it must forget the queue (nothing
    else will), and count nobody queued."""
    rounds = GatedRounds(gated=2)
    follower = rounds.round_one_of_x_and_y()
    Leavable.until_waiting(follower)
    Leavable.leaving.add(follower)  # it leaves when next woken: by the hand-over
    rounds.gates[1].set()
    rounds.join_all()
    assert sorted(rounds.outcomes.values()) == ["KeyboardInterrupt", "Leave", "ok"]
    assert rounds.group._queues == {} and rounds.group.queued("k") == 0
