"""What a `JsonStore` last knew of each document, so that `update()` can skip its GET.

After its own write lands, the store knows the document's bytes and ETag; the next
`update()` of that key writes straight against them, and only a 412 (someone else
wrote since) costs a re-read. An entry is only ever a guess: `update()` treats it
as possibly stale (a mutation that raises, or changes nothing, on a cached value is
re-run on a fresh read), and `get()` never uses it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

from s3store._forks import reset_after_fork

__all__ = [
    "CACHE_MAX_BYTES",
    "FIRST_TOUCH_SCORE_LIMIT",
    "FIRST_TOUCH_THRESHOLD",
    "Cached",
    "DocumentCache",
    "FirstTouch",
]

CACHE_MAX_BYTES: Final = 64 * 1024 * 1024
"""The cache holds at most 64 MiB of document bytes, whatever its entry count."""

FIRST_TOUCH_SCORE_LIMIT: Final = 4
"""`FirstTouch`'s score stays within -4..4 (an unseen key found absent +1, present -1, a
create refused -2): the guess follows what the store's latest first touches found."""

FIRST_TOUCH_THRESHOLD: Final = 2
"""Unseen keys are written without a read first once `FirstTouch`'s score is over 2."""


@dataclass(frozen=True)
class Cached:
    """A document's bytes as last written or read, under its ETag and write id."""

    body: bytes
    etag: str
    write_id: str | None
    version_id: str | None = None


@dataclass
class _Entry:
    cached: Cached
    trusted: bool


class DocumentCache:
    """A thread-safe LRU map key -> `Cached`, bounded by entries and by total bytes.

    It learns which keys other writers touch: an entry found stale (a 412 against it,
    or a fresh read showing an ETag this store did not write) stops being served
    until a fresh read shows the key unchanged since this store last knew it. So a
    lone writer skips its reads, and a contended key costs what it would without a
    cache (a read and a write), not a refused write on top.
    """

    def __init__(self, max_entries: int, *, max_bytes: int = CACHE_MAX_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        reset_after_fork(self)

    def _after_fork_in_child(self) -> None:
        # Another thread may have held the lock mid-update: start empty, with a new lock.
        self._lock = threading.Lock()
        self._entries = OrderedDict()
        self._bytes = 0

    def get(self, key: str) -> Cached | None:
        """The entry for `key`, if there is one worth writing against."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or not entry.trusted:
                return None
            self._entries.move_to_end(key)
            return entry.cached

    def peek(self, key: str) -> Cached | None:
        """What this store last knew of `key`, trusted or not (its identity, not its bytes,
        is what a caller wants: a write id observed before a write was sent)."""
        with self._lock:
            entry = self._entries.get(key)
            return entry.cached if entry is not None else None

    def wrote(self, key: str, cached: Cached) -> None:
        """This store's write landed: `cached` is the document now."""
        with self._lock:
            previous = self._entries.get(key)
            self._store(key, _Entry(cached, previous.trusted if previous else True))

    def read(self, key: str, cached: Cached) -> None:
        """A fresh read found `cached`: trust the key again if nobody else wrote since."""
        with self._lock:
            previous = self._entries.get(key)
            trusted = previous is None or previous.cached.etag == cached.etag
            self._store(key, _Entry(cached, trusted))

    def knows(self, key: str) -> bool:
        """Has this store seen `key` (trusted or not)?"""
        with self._lock:
            return key in self._entries

    def distrust(self, key: str) -> None:
        """What this store knew of `key` proved stale: read before writing from now on."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                entry.trusted = False

    def discard(self, key: str) -> None:
        """Forget `key` (this store changed it in a way it does not follow)."""
        with self._lock:
            self._drop(key)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _store(self, key: str, entry: _Entry) -> None:
        self._drop(key)
        if self.max_entries <= 0 or len(entry.cached.body) > self.max_bytes:
            return
        self._entries[key] = entry
        self._bytes += len(entry.cached.body)
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry.cached.body)


class FirstTouch:
    """Whether a key this store has never seen is likely to be new.

    A store that keeps creating documents (a job's first step, say) learns it from
    its first reads finding nothing, and then writes such keys straight away with
    `If-None-Match: *`, skipping a read that would find nothing. A create refused
    because the key existed counts twice against the guess; both paths are correct,
    the guess only saves (or costs) a request.
    """

    def __init__(self) -> None:
        self._score = 0
        self._lock = threading.Lock()
        reset_after_fork(self)

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()

    def likely_new(self) -> bool:
        """Write an unseen key without reading it first?"""
        with self._lock:
            return self._score > FIRST_TOUCH_THRESHOLD

    def saw(self, *, new: bool, weight: int = 1) -> None:
        """A first touch found the key absent (`new`) or present."""
        with self._lock:
            step = weight if new else -weight
            self._score = max(-FIRST_TOUCH_SCORE_LIMIT,
                              min(FIRST_TOUCH_SCORE_LIMIT, self._score + step))
