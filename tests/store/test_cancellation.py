"""Cancellation is an outcome, not a leak (`s3store.aio`), at every await point of a round.

Every await of an `AsyncJsonStore` call is one effect its steps yielded (a request, a
retry's sleep, a group-commit wait), performed by `AsyncJsonStore._perform`. The harness
wraps it to cancel one task, the victim, at its k-th effect, for every k it reaches:
before the effect (a request not sent, a wait not begun) and after it (a request that
reached S3 — a write that landed — whose answer the task never sees). Then:

- the victim got `CancelledError`; every other caller got its answer, as if the victim
  had never been there (none fails because of it);
- nothing leaks: no queue is left on the key, and a later update goes through;
- the history holds: each other caller's item is stored exactly once, the victim's at
  most once (its outcome is unknown to it, never applied twice).

The negative control takes the hand-over out of group commit (a cancelled leader drops
its round): the harness must then see a caller stuck or failed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

pytest.importorskip("aiobotocore", reason="the `aio` extra is not installed (make test-min)")

from s3store import RetryPolicy
from s3store._commit import GroupCommit
from s3store._steps import Effect, Request, Sleep
from s3store.aio import AsyncJsonStore
from s3store.testing import LocalS3
from tests.frontends import async_client_like

KEY = "cancel/doc.json"
BOUND = 10.0  # seconds any caller may take: a stuck key fails the test, never hangs it
NO_WAIT = RetryPolicy(max_attempts=50, base_delay=0.0, max_delay=0.0, deadline=None)
WHEN = ("before", "after")


class Victim:
    """Cancels the task named "victim" at its `at`-th effect (1-based), `when` before or
    after performing it; counts the effects it reached. Before a request means inside the
    client, before it is sent (at botocore's `before-sign`), as a cancellation really
    arrives: within aiobotocore's call, whose `before-send` then never runs."""

    def __init__(self, store: AsyncJsonStore, at: int, when: str) -> None:
        self.at, self.when, self.seen = at, when, 0
        self.kinds: list[str] = []
        self.armed = False
        real = store._perform
        hook: Any = self._before_sign  # aiobotocore awaits a coroutine handler
        store.client.meta.events.register("before-sign.s3", hook)

        def perform(effect: Effect) -> Awaitable[Any]:
            task = asyncio.current_task()
            if task is None or task.get_name() != "victim":
                return real(effect)
            self.seen += 1
            self.kinds.append(_kind(effect))
            if self.seen != self.at:
                return real(effect)
            if self.when == "before" and isinstance(effect, Request):
                self.armed = True  # cancelled inside the client, before it sends
                return real(effect)
            return self._cancelled(task, real(effect) if self.when == "after" else None)

        store._perform = perform  # type: ignore[method-assign]

    async def _before_sign(self, **_: Any) -> None:
        task = asyncio.current_task()
        if self.armed and task is not None and task.get_name() == "victim":
            self.armed = False
            task.cancel()
            await asyncio.sleep(0)  # the cancellation arrives here, in the client's call

    @staticmethod
    async def _cancelled(task: asyncio.Task[Any], performed: Awaitable[Any] | None) -> Any:
        if performed is not None:  # it reached S3 (a write landed, or was refused): the
            with contextlib.suppress(Exception):  # answer, whatever it is, is never seen
                await performed
        task.cancel()
        await asyncio.sleep(0)  # the cancellation arrives here, at this await
        raise AssertionError("the cancellation did not arrive")


def _kind(effect: Effect) -> str:
    if isinstance(effect, Request):
        return effect.operation
    return "sleep" if isinstance(effect, Sleep) else "wait"


def append(item: str) -> Callable[[list[str]], list[str]]:
    return lambda items: [*items, item]


async def scenario(s3: LocalS3, at: int, when: str, *, shape: str,
                   group: Callable[[], GroupCommit] | None = None,
                   bound: float = BOUND) -> dict[str, Any]:
    """Run one shape of round with the victim cancelled at effect `at`; what came of it."""
    async with async_client_like(s3.client()) as client:
        store = AsyncJsonStore(client, s3.bucket, retry=NO_WAIT)
        if group is not None:
            store._group = group()
        seed = AsyncJsonStore(client, s3.bucket, retry=NO_WAIT)
        if shape != "create":  # there: the round creates the key
            await seed.create(KEY, [])
        if shape in ("cold", "lost", "conflict", "create"):
            pass  # the store has not seen the key: its round reads first
        else:
            await store.update(KEY, append("warm"))  # the store knows the key (its cache)
        if shape == "lost":
            s3.inject("error_after_write")  # the victim's write lands, its answer is lost
        victim = Victim(store, at, when)
        others: list[asyncio.Task[Any]] = []
        if shape == "stale":  # another store writes first: the victim's cached guess is stale
            await seed.update(KEY, append("rival"))
        if shape == "conflict":  # another store writes between the victim's read and write
            rivalled = False

            async def rival(**_: Any) -> None:
                nonlocal rivalled
                if not rivalled:
                    rivalled = True
                    await seed.update(KEY, append("rival"))

            client.meta.events.register("before-send.s3.PutObject", rival)
        if shape == "group":  # o0's round goes first; the victim leads the next, shared
            others.append(asyncio.create_task(store.update(KEY, append("o0")), name="o0"))
        victim_task = asyncio.create_task(store.update(KEY, append("v"), default=[]),
                                          name="victim")
        if shape in ("group", "create"):  # queued behind the victim's first effect: its round
            others += [asyncio.create_task(store.update(KEY, append(f"o{n}"), default=[]),
                                           name=f"o{n}") for n in range(1, 4)]
        outcome: dict[str, Any] = {"kinds": victim.kinds}
        async with asyncio.timeout(bound):
            results = await asyncio.gather(victim_task, *others, return_exceptions=True)
            outcome["victim"] = results[0]
            outcome["others"] = results[1:]
            outcome["queued"] = 0 if store._group is None else store._group.queued(KEY)
            outcome["after"] = (await store.update(KEY, append("after"))).value
        outcome["seen"] = victim.seen
        return outcome


SHAPES = ("warm", "cold", "stale", "conflict", "group", "lost", "create")


def effects_of(shape: str, versioning: bool) -> int:
    """How many effects the victim's call has in `shape` when nobody cancels it."""
    with LocalS3(versioning=versioning) as s3:
        outcome = asyncio.run(scenario(s3, 0, "before", shape=shape))
    assert not isinstance(outcome["victim"], BaseException), outcome
    return int(outcome["seen"])


@pytest.mark.parametrize("versioning", [True, False], ids=["versioned", "unversioned"])
@pytest.mark.parametrize("shape", SHAPES)
def test_a_task_cancelled_at_any_await_of_its_round_leaks_nothing(shape: str,
                                                                  versioning: bool) -> None:
    """On an unversioned bucket too: a write cancelled before botocore sent it is known
    not to have landed (its before-send never ran), so the caller who carries the round on
    has nothing to resolve; one cancelled after it landed is found by its write id."""
    total = effects_of(shape, versioning)
    assert total >= 1
    reached: set[str] = set()
    for at in range(1, total + 1):
        for when in WHEN:
            with LocalS3(versioning=versioning) as s3:
                outcome = asyncio.run(scenario(s3, at, when, shape=shape))
            context = f"{shape}: cancelled {when} effect {at} of {outcome['kinds']}"
            reached.update(outcome["kinds"])
            assert isinstance(outcome["victim"], asyncio.CancelledError), context
            assert all(isinstance(r, object) and not isinstance(r, BaseException)
                       for r in outcome["others"]), (context, outcome["others"])
            assert outcome["queued"] == 0, context
            stored = outcome["after"]
            expected = [f"o{n}" for n in range(1 if shape == "create" else 0,
                                               len(outcome["others"]) + (shape == "create"))]
            assert all(stored.count(item) == 1 for item in [*expected, "after"]), (context,
                                                                                   stored)
            assert stored.count("v") <= 1, (context, stored)
            if when == "before" and outcome["kinds"][-1] in ("get_object", "wait", "sleep"):
                assert "v" not in stored, (context, stored)  # nothing of it was sent
    expected_kinds = {"warm": {"put_object"}, "cold": {"get_object", "put_object"},
                      "stale": {"put_object", "get_object"},
                      "conflict": {"get_object", "put_object", "sleep"},
                      "group": {"wait", "put_object"},
                      "create": {"get_object", "put_object"},
                      "lost": {"get_object", "put_object", "head_object"}}[shape]
    assert expected_kinds <= reached, reached


def test_a_follower_cancelled_while_queued_leaves_the_queue() -> None:
    """The victim queues behind a round held open; cancelled at its wait, it leaves the
    queue: nothing of it is sent, the round and the next caller are answered."""
    async def run(s3: LocalS3) -> tuple[Any, list[str], int]:
        async with async_client_like(s3.client()) as client:
            store = AsyncJsonStore(client, s3.bucket, retry=NO_WAIT)
            await store.create(KEY, [])
            held, release = asyncio.Event(), asyncio.Event()

            async def hold(**_: Any) -> None:
                held.set()
                await release.wait()

            client.meta.events.register_first("before-send.s3.PutObject", hold)
            leader = asyncio.create_task(store.update(KEY, append("leader")))
            await held.wait()
            client.meta.events.unregister("before-send.s3.PutObject", hold)
            victim = asyncio.create_task(store.update(KEY, append("v")), name="victim")
            nxt = asyncio.create_task(store.update(KEY, append("next")))
            for _ in range(100):
                if store._group is not None and store._group.queued(KEY) == 2:
                    break
                await asyncio.sleep(0)
            victim.cancel()
            release.set()
            async with asyncio.timeout(BOUND):
                results = await asyncio.gather(leader, victim, nxt, return_exceptions=True)
            assert not isinstance(results[0], BaseException)
            assert not isinstance(results[2], BaseException)
            queued = store._group.queued(KEY) if store._group is not None else 0
            return results[1], (await store.get(KEY)).value, queued

    with LocalS3() as s3:
        cancelled, stored, queued = asyncio.run(run(s3))
    assert isinstance(cancelled, asyncio.CancelledError)
    assert sorted(stored) == ["leader", "next"] and queued == 0


class _NoHandOver(GroupCommit):
    """The hole the hand-over closes: a leader cancelled mid-round forgets its round (its
    callers are left waiting on a round nobody writes)."""

    def submit(self, key: str, pending: Any, flush: Any, **kwargs: Any) -> Any:
        steps = super().submit(key, pending, flush, **kwargs)
        try:
            answer = None
            while True:
                effect = steps.send(answer)
                answer = yield effect
        except StopIteration as done:
            return done.value
        except BaseException:
            with self._lock:
                for queue in self._queues.values():
                    queue.carried = []  # the round is dropped, its callers not told
            raise


def test_negative_control_a_leader_that_drops_its_round_is_caught() -> None:
    def no_hand_over() -> GroupCommit:
        from s3store.aio import _Condition, _NoLock  # noqa: PLC0415 - the loop's primitives
        return _NoHandOver(condition=_Condition, lock=_NoLock)

    caught = 0
    for at in (2, 3):  # after the victim's wait: its round's write, and what follows
        with LocalS3() as s3:
            try:
                outcome = asyncio.run(scenario(s3, at, "after", shape="group",
                                               group=no_hand_over, bound=2.0))
            except TimeoutError:
                caught += 1  # a caller stuck on the key: what the real test would catch
                continue
            if any(isinstance(r, BaseException) for r in outcome["others"]):
                caught += 1
    assert caught > 0


def test_a_leader_cancelled_before_its_create_left_fails_nobody_on_an_unversioned_bucket(
) -> None:
    """The round creates the key (no version, no write id to resolve by): the victim leads
    it with three others and is cancelled inside the client before the PUT is sent. The
    write is known not to have left (its before-send never ran), so the caller who carries
    the round on sends it and every other caller lands. (Taken for a lost answer, the
    round could not be resolved on this bucket: each of the three got OutcomeUnknownError.)"""
    async def run(s3: LocalS3) -> tuple[list[Any], list[str]]:
        async with async_client_like(s3.client()) as client:
            store = AsyncJsonStore(client, s3.bucket, retry=NO_WAIT)
            victim = Victim(store, 3, "before")  # its wait, its read, then its PUT

            def fails(_: list[str]) -> list[str]:
                raise ValueError("the first round writes nothing")

            first = asyncio.create_task(store.update(KEY, fails, default=[]))
            await asyncio.sleep(0)  # leads the first round
            tasks = [asyncio.create_task(store.update(KEY, append("v"), default=[]),
                                         name="victim")]
            tasks += [asyncio.create_task(store.update(KEY, append(f"o{n}"), default=[]))
                      for n in range(3)]
            async with asyncio.timeout(BOUND):
                results = await asyncio.gather(first, *tasks, return_exceptions=True)
            assert victim.kinds[:3] == ["wait", "get_object", "put_object"], victim.kinds
            return results[1:], (await store.get(KEY)).value

    with LocalS3() as s3:
        results, stored = asyncio.run(run(s3))
    assert isinstance(results[0], asyncio.CancelledError)
    assert all(not isinstance(r, BaseException) for r in results[1:]), results
    assert sorted(stored) == ["o0", "o1", "o2"]
