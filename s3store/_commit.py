"""Group commit: concurrent `update()`s of one key through one store share a write.

While a round is being written, new mutations queue. The caller who finds the key
idle leads the next round: it takes everything queued, applies it in order to the
fresh value and writes once; when it is done, whoever is still queued leads the
round after. Every caller returns when the round holding its mutation has settled
it (with that round's document), or with its own error: a mutation that raises —
`BaseException`s included — fails only its own caller, and the round goes on
without it. (turbopuffer's "queue in a single JSON file on object storage": buffer
while a CAS is in flight, then flush.) A round's one write is sent with one set of write
options: callers whose options differ never share a round; the oldest queued caller's
options go next, with everyone queued with the same.

A caller is never stuck behind another that went away:

- one that leaves while queued (an exception in its own thread: a signal-based
  timeout, `SystemExit`, Ctrl-C) simply leaves the queue; one whose round is already
  being written is left out of that round's later attempts;
- a leader interrupted mid-round (a `BaseException` out of its request) hands the
  round, with the writes it has sent, to one of the round's other callers, who
  carries it on: nobody else fails, and nothing sent is forgotten;
- a forked child starts with empty queues (the parent's leaders do not exist there).

`apply_mutations` is the pure part: a round's mutations applied to stored bytes.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from s3store._codec import JSON_CODEC, Codec, decode, encode
from s3store._errors import NoneResultError, NotFoundError
from s3store._forks import reset_after_fork
from s3store._steps import Steps, Wait

__all__ = ["NO_DEFAULT", "Applied", "GroupCommit", "Pending", "apply_mutations", "clone_error"]


class _NoDefault:
    def __repr__(self) -> str:
        return "<no default>"


NO_DEFAULT: Any = _NoDefault()
_EXPIRED: Any = _NoDefault()  # a queued caller's deadline passed


@dataclass(eq=False)
class Pending:
    """One caller's mutation, waiting for the round that writes it.

    `settled`: a round gave it its answer (`result` or `error`). `left`: its caller
    stopped waiting (rounds skip it from then on). `round`: the store's state of the
    round it is being written in, carried over if that round changes hands. `options`:
    what its write is sent with (compared with `==`): only callers whose options are
    equal share a round.
    """

    mutate: Callable[[Any], Any]
    default: Any = NO_DEFAULT
    idempotent: bool = False
    allow_none: bool = False
    error: BaseException | None = None
    result: Any = None
    settled: bool = False
    left: bool = False
    round: Any = None
    owner: Any = field(default_factory=threading.get_ident)  # the caller's thread (or task)
    options: Any = None
    codec: Codec[Any] = JSON_CODEC  # how its mutation's value is decoded and encoded
    retry: Any = None  # the caller's RetryPolicy (None: the store's)
    ends_at: float | None = None  # when (time.monotonic()) the caller stops retrying
    started: float | None = None  # when (time.monotonic()) the caller's call started
    figures: Any = None  # its figures, when it was answered before its round ended

    def outcome(self) -> Any:
        """The round's result for this caller, or its error raised."""
        if self.error is not None:
            raise self.error
        return self.result


def clone_error(error: BaseException) -> BaseException:
    """A copy of a round's error for one of its callers (each raises its own in its thread)."""
    try:
        clone = copy.copy(error)
    except Exception:  # an exception type that cannot be copied: share it
        return error
    clone.__cause__ = error.__cause__
    current = getattr(error, "current", None)
    if current is not None:  # the document a failed round read: each caller its own
        clone.current = copy.deepcopy(current)  # type: ignore[attr-defined]
    return clone


@dataclass(frozen=True)
class Applied:
    """What a round's mutations made of the stored bytes: `body`, the bytes after the last
    mutation that succeeded (the stored bytes if none did; None: no object and nothing
    to create), and that mutation's own result (`value`) and caller (`by`; None if none
    succeeded). `value` is that caller's alone: nothing else was given it."""

    body: bytes | None
    value: Any = None
    by: Pending | None = None

    @property
    def codec(self) -> Codec[Any]:
        """The codec that wrote `body` (the default's if no mutation did)."""
        return self.by.codec if self.by is not None else JSON_CODEC


def apply_mutations(
    key: str, body: bytes | None, batch: list[Pending], *, max_bytes: int,
    etag: str | None = None, me: Any = None,
) -> Applied:
    """Apply each pending mutation in order, starting from the stored `body` (None: no
    object), each decoded and encoded with its caller's codec (documents over
    `max_bytes` refused). Each gets a private copy of the value so far; one that raises
    anything (or returns None without `allow_none`, or whose result cannot be stored)
    gets that error and leaves the value as it was — but a `KeyboardInterrupt` while
    another caller's mutation runs is the leading thread's own, and goes on in it (its
    round is handed over; `me`: who runs the round, its thread or task, by default this
    thread). A missing document starts from the caller's `default`
    (`NotFoundError` without one).
    """
    current, value, by = body, None, None
    for pending in batch:
        pending.error = None
        codec = pending.codec
        try:
            if current is None:
                if pending.default is NO_DEFAULT:
                    raise NotFoundError("no document to update and no default given", key=key)
                start = decode(key, encode(key, pending.default, max_bytes=max_bytes,
                                           codec=codec), codec=codec)
            else:
                start = decode(key, current, etag=etag, codec=codec)
            result = pending.mutate(start)
            if result is None and not pending.allow_none:
                raise NoneResultError(
                    "the mutation returned None (did it change the value in place and not "
                    "return it?); nothing was written: return the new value, or pass "
                    "allow_none=True to store null", key=key)
            current = encode(key, result, max_bytes=max_bytes, codec=codec)
            value, by = result, pending
        except BaseException as exc:  # any failure of a mutation is its caller's alone...
            if isinstance(exc, KeyboardInterrupt) and pending.owner != (
                    threading.get_ident() if me is None else me):
                # ...but Ctrl-C arrives in the main thread, whatever it runs: it is meant
                # for the caller leading this round, not for the one whose mutation ran.
                raise
            pending.error = exc
    return Applied(current, value, by)


@dataclass(eq=False)
class _Queue:
    cond: Any  # a Condition on the GroupCommit's lock (`s3store._steps.Condition`)
    waiting: list[Pending] = field(default_factory=list)
    carried: list[Pending] = field(default_factory=list)  # a round handed over, to resume
    busy: bool = False


class GroupCommit:
    """Per-key queues of pending mutations, and who writes the next round."""

    def __init__(self, *, condition: Callable[[Any], Any] = threading.Condition,
                 lock: Callable[[], Any] = threading.Lock) -> None:
        # `condition` (on the lock) and `lock`: how waiting is done — threads by default;
        # an event loop passes its own (`s3store.aio`), a deterministic simulator too.
        self._condition = condition
        self._new_lock = lock
        self._lock = lock()
        self._queues: dict[str, _Queue] = {}
        reset_after_fork(self)

    def _after_fork_in_child(self) -> None:
        self._lock = self._new_lock()
        self._queues = {}

    def queued(self, key: str) -> int:
        """How many callers wait on `key` (queued, or carried by a handed-over round)."""
        with self._lock:
            queue = self._queues.get(key)
            return 0 if queue is None else len(queue.waiting) + len(queue.carried)

    def submit(self, key: str, pending: Pending, flush: Callable[[list[Pending]], Steps[None]],
               *, expired: Callable[[Pending], BaseException] | None = None) -> Steps[None]:
        """Queue `pending` and return once a round has settled it (as steps: each wait is a
        `Wait` on the key's condition, with the lock held).

        `flush(batch)` writes one round (steps): it must settle every `Pending` of the batch that
        has not left. If it raises (a `BaseException` in the leader's thread), the round's
        other callers carry it on, and the exception goes on in this thread. A caller whose
        `ends_at` passes while it is only queued (in no round yet: nothing of it was sent)
        leaves the queue with `expired(pending)` as its error.
        """
        with self._lock:
            queue = self._queues.get(key)
            if queue is None:
                queue = self._queues[key] = _Queue(self._condition(self._lock))
            queue.waiting.append(pending)
            try:
                batch = yield from self._wait_to_lead(queue, pending)
            except BaseException:
                self._leave(key, queue, pending)
                raise
            if batch is _EXPIRED:
                pending.error = (expired(pending) if expired is not None
                                 else TimeoutError(f"the deadline passed while queued on {key!r}"))
                pending.settled = True
                self._leave(key, queue, pending)
                return
            if batch is None:
                return
            queue.busy = True
        try:
            yield from flush(batch)
        except BaseException:
            with self._lock:
                pending.left = True
                queue.carried = [p for p in batch if not (p.settled or p.left)]
                self._idle(key, queue)
            raise
        with self._lock:
            for other in batch:
                if not (other.settled or other.left):  # a flush that broke its contract
                    other.error = RuntimeError(f"the round writing {key!r} ended without "
                                               "answering this update")
                    other.settled = True
            self._idle(key, queue)

    def wake(self, key: str) -> None:
        """Wake `key`'s waiting callers: some were answered while a round goes on."""
        with self._lock:
            queue = self._queues.get(key)
            if queue is not None:
                queue.cond.notify_all()

    @staticmethod
    def _wait_to_lead(queue: _Queue, pending: Pending) -> Steps[list[Pending] | Any]:
        """Wait (lock held) until `pending` is settled (None), leads a batch (returned), or
        reaches its `ends_at` while only queued (`_EXPIRED`)."""
        while not pending.settled:
            if not queue.busy:
                if queue.carried:
                    if pending in queue.carried:  # a handed-over round: one of its own goes on
                        batch, queue.carried = queue.carried, []
                        return batch
                elif pending in queue.waiting and pending.options == queue.waiting[0].options:
                    # The oldest caller's options go next (none waits for ever), with every
                    # caller queued with equal options; the others wait for a round of theirs.
                    batch = [p for p in queue.waiting if p.options == pending.options]
                    queue.waiting = [p for p in queue.waiting if p.options != pending.options]
                    return batch
            if pending.ends_at is not None and pending in queue.waiting:
                left = pending.ends_at - time.monotonic()
                if left <= 0:
                    return _EXPIRED
                yield Wait(queue.cond, left)
            else:  # in a round: its leader answers it, or wakes it (`wake`)
                yield Wait(queue.cond)
        return None

    def _leave(self, key: str, queue: _Queue, pending: Pending) -> None:
        """`pending`'s caller stops waiting (lock held): out of the queue, or out of the
        rest of its round."""
        pending.left = True
        if pending in queue.waiting:
            queue.waiting.remove(pending)
        if pending in queue.carried:
            queue.carried.remove(pending)
        queue.cond.notify_all()
        if not (queue.busy or queue.waiting or queue.carried):
            self._queues.pop(key, None)

    def _idle(self, key: str, queue: _Queue) -> None:
        """A round ended (lock held): wake everyone; forget the key if nobody waits."""
        queue.busy = False
        queue.cond.notify_all()
        if not (queue.waiting or queue.carried):
            self._queues.pop(key, None)
