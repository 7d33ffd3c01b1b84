"""Group commit: concurrent `update()`s of one key through one store share a write.

While a round is being written, new mutations queue. The caller whose mutation
opens a round (the leader) takes everything queued, applies it in order to the
fresh value, writes once, and hands leadership to the first caller that queued
meanwhile. Every caller returns when the round holding its mutation has landed
(with that round's document), or with its own error: a mutation that raises fails
only its own caller, and the round goes on without it. (turbopuffer's "queue in a
single JSON file on object storage": buffer while a CAS is in flight, then flush.)

`apply_mutations` is the pure part: a round's mutations applied to stored bytes.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from s3store.codec import decode
from s3store.errors import NotFoundError

__all__ = ["NO_DEFAULT", "GroupCommit", "Pending", "apply_mutations"]


class _NoDefault:
    def __repr__(self) -> str:
        return "<no default>"


NO_DEFAULT: Any = _NoDefault()


@dataclass(eq=False)
class Pending:
    """One caller's mutation, waiting for the round that writes it."""

    mutate: Callable[[Any], Any]
    default: Any = NO_DEFAULT
    error: BaseException | None = None
    result: Any = None
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False

    def outcome(self) -> Any:
        """The round's result for this caller, or its error raised."""
        if self.error is not None:
            raise self.error
        return self.result


def apply_mutations(
    key: str, body: bytes | None, batch: list[Pending], *, encode: Callable[[Any], bytes],
    etag: str | None = None,
) -> bytes | None:
    """Apply each pending mutation in order, starting from the stored `body` (None: no
    object). Each gets a private copy of the value so far; one that raises (or whose
    result cannot be stored) gets that error and leaves the value as it was. A missing
    document starts from the caller's `default` (`NotFoundError` without one).

    Returns the bytes after the last successful mutation (`body` if none succeeded).
    """
    current = body
    for pending in batch:
        pending.error = None
        try:
            if current is None:
                if pending.default is NO_DEFAULT:
                    raise NotFoundError("no document to update and no default given", key=key)
                start = decode(key, encode(pending.default))
            else:
                start = decode(key, current, etag=etag)
            current = encode(pending.mutate(start))
        except Exception as exc:  # any failure of a mutation is its caller's alone
            pending.error = exc
    return current


class GroupCommit:
    """Per-key queues of pending mutations, and who writes the next round."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, list[Pending]] = {}

    def submit(self, key: str, pending: Pending,
               flush: Callable[[list[Pending]], None]) -> None:
        """Queue `pending` and return once a round has settled it.

        `flush(batch)` writes one round: it must settle every `Pending` of the batch
        (set `result` or `error`) and not raise.
        """
        with self._lock:
            queue = self._queues.get(key)
            leads = queue is None
            if queue is None:
                self._queues[key] = [pending]
            else:
                queue.append(pending)
        if not leads:
            pending.done.wait()
            if not pending.lead:
                return  # settled by another caller's round
        with self._lock:
            batch = self._queues[key]
            self._queues[key] = []
        try:
            flush(batch)
        except BaseException as exc:  # settle everyone, then let it go on in this thread
            for other in batch:
                if other.error is None and other.result is None:
                    other.error = copy.copy(exc)
            raise
        finally:
            self._hand_over(key, batch)

    def _hand_over(self, key: str, batch: list[Pending]) -> None:
        with self._lock:
            waiting = self._queues[key]
            if waiting:
                waiting[0].lead = True  # queued while we wrote: the next round is theirs
                waiting[0].done.set()
            else:
                del self._queues[key]
        for pending in batch:
            pending.done.set()
