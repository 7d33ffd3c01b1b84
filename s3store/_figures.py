"""What each call cost, and a store's running totals: for operators, before contention
becomes `RetriesExhaustedError`.

Every call of `JsonStore` (`get`, `create`, `replace`, `update`, `delete`) records its
figures while it runs: the HTTP requests it sent (botocore's own retries included), the
conditional writes it attempted, the conflicts that sent it back, the answers it lost and
how each was resolved, and whether it wrote. A `Document` carries them as `.figures`; an
`S3StoreError` raised by a call carries them too. The store adds them up (`counters()`)
and hands each call's figures to its `on_call` hook.

Concurrent `update()`s of one key that share a round (group commit) share its requests:
each caller's figures are the round's (`callers` says how many shared it), and the store's
totals count the round once.

Requests are counted by a `before-send` handler on the store's boto3 client that counts
only while one of the store's own calls runs in that thread (a context variable): the
caller's own requests on the same client are not counted, and nothing else of them changes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from typing import Any, Final

from s3store._forks import reset_after_fork

__all__ = ["CallFigures", "Counts", "OnCall", "Recorder", "StoreCounters", "Totals",
           "count_request", "note", "recording"]


@dataclass(frozen=True, kw_only=True)
class Counts:
    """What was sent and seen: the counts a call's figures and a store's totals share.

    - `requests`: HTTP requests sent (botocore's retries of a read included).
    - `attempts`: conditional writes sent (a resend after a lost answer is one more).
    - `conflicts`: writes refused because another writer got in first (412, a 404 on
      `If-Match`, 409 `ConditionalRequestConflict`), each followed by a re-read.
    - `lost_answers`: writes whose answer was lost (they may have landed);
      `resolved_landed`, `resolved_not_landed`, `unresolved`: what became of them (found
      to have landed, proven not to have, nobody could tell).
    """

    requests: int = 0
    attempts: int = 0
    conflicts: int = 0
    lost_answers: int = 0
    resolved_landed: int = 0
    resolved_not_landed: int = 0
    unresolved: int = 0


@dataclass(frozen=True, kw_only=True)
class CallFigures(Counts):
    """What one call of the store took: the `Counts`, and

    - `operation`: "get", "create", "replace", "update" or "delete"; `key`: its key.
    - `wrote`: a write of this call landed (an unchanged `update()` writes nothing).
    - `callers`: the `update()` callers that shared the round (1 when alone).
    - `elapsed`: seconds from the call's start to its answer.
    - `error`: the class name of the error the call raised, None on success.
    """

    operation: str
    key: str
    wrote: bool = False
    callers: int = 1
    elapsed: float = 0.0
    error: str | None = None


_COUNTED = tuple(f.name for f in fields(Counts))


@dataclass(frozen=True, kw_only=True)
class StoreCounters(Counts):
    """A store's totals since it was made (`JsonStore.counters()`): the `Counts`, each
    request, attempt and conflict counted once (a round shared by several callers once),
    and `calls` and `errors` (callers: each `update()` caller of a shared round is one
    call), `writes` (writes that landed).
    """

    calls: int = 0
    errors: int = 0
    writes: int = 0


class Totals:
    """A store's running totals, safe to update from many threads. A forked child starts
    from zero (its counters count its own calls; the parent's lock may be held)."""

    def __init__(self) -> None:
        self._after_fork_in_child()
        reset_after_fork(self)

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        self._values = dict.fromkeys((f.name for f in fields(StoreCounters)), 0)

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._values[name] += amount

    def snapshot(self) -> StoreCounters:
        with self._lock:
            return StoreCounters(**self._values)


@dataclass(eq=False)
class Recorder:
    """The figures of one operation (a call, or a round of `update()` callers) as they
    happen; every count also goes to the store's totals."""

    totals: Totals
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COUNTED, 0))
    wrote: bool = False

    def note(self, name: str) -> None:
        self.counts[name] += 1
        self.totals.add(name)

    def snapshot(self, *, wrote: bool) -> Recorder:
        """A copy of the figures so far, that counts nothing more (for a caller answered
        while its round goes on; `wrote`: whether this caller's mutation is in a write)."""
        copy = Recorder(_NO_TOTALS, dict(self.counts))
        copy.wrote = self.wrote and wrote
        return copy

    def landed(self) -> None:
        if not self.wrote:
            self.wrote = True
            self.totals.add("writes")

    def figures(self, operation: str, key: str, *, started: float, callers: int = 1,
                error: BaseException | None = None) -> CallFigures:
        """The figures so far, for a caller that started at `started` (`time.monotonic()`)."""
        return CallFigures(operation=operation, key=key, wrote=self.wrote, callers=callers,
                           elapsed=time.monotonic() - started,
                           error=None if error is None else type(error).__name__,
                           **self.counts)


_NO_TOTALS: Final = Totals()  # where a snapshot's counts would go: it counts none

_recording: ContextVar[Recorder | None] = ContextVar("s3store_recording", default=None)


@contextmanager
def recording(recorder: Recorder) -> Iterator[Recorder]:
    """Count what this thread sends, until the block ends, into `recorder`."""
    token = _recording.set(recorder)
    try:
        yield recorder
    finally:
        _recording.reset(token)


def note(name: str) -> None:
    """Count one `name` ("attempts", "conflicts", ...) for the operation this thread runs."""
    recorder = _recording.get()
    if recorder is not None:
        recorder.note(name)


def count_request(**_: Any) -> None:
    """`before-send` handler: one HTTP request of the store's (none of the caller's own)."""
    note("requests")


OnCall = Callable[[CallFigures], None]
