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

__all__ = ["CACHE_MAX_BYTES", "Cached", "DocumentCache"]

CACHE_MAX_BYTES: Final = 64 * 1024 * 1024
"""The cache holds at most 64 MiB of document bytes, whatever its entry count."""


@dataclass(frozen=True)
class Cached:
    """A document's bytes as last written or read, under its ETag and write id."""

    body: bytes
    etag: str
    write_id: str | None


class DocumentCache:
    """A thread-safe LRU map key -> `Cached`, bounded by entries and by total bytes."""

    def __init__(self, max_entries: int, *, max_bytes: int = CACHE_MAX_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, Cached] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> Cached | None:
        """The entry for `key`, if any (and mark it recently used)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: str, entry: Cached) -> None:
        """Remember `entry` for `key`, evicting the least recently used beyond the bounds."""
        if self.max_entries <= 0 or len(entry.body) > self.max_bytes:
            return
        with self._lock:
            self._drop(key)
            self._entries[key] = entry
            self._bytes += len(entry.body)
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                self._drop(next(iter(self._entries)))

    def discard(self, key: str) -> None:
        """Forget `key` (its document changed in a way this store did not write)."""
        with self._lock:
            self._drop(key)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry.body)
