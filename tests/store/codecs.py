"""The codecs the suite runs each codec test with, and codecs made for the tests: one that
counts its calls, and one of a model (a list of dataclasses)."""

from __future__ import annotations

import dataclasses
import json
import threading
from dataclasses import dataclass
from typing import Any, Final

import pytest

from s3store import JSON_CODEC, Codec, MsgspecCodec, OrjsonCodec

CODEC_NAMES: Final = ("json", "orjson", "msgspec")
"""Every codec the store ships (the fast ones need their extras: skipped without)."""

FAST_CODEC_NAMES: Final = ("orjson", "msgspec")


def make_codec(name: str) -> Codec[Any]:
    """The codec called `name`; the test is skipped if its library is not installed."""
    if name == "json":
        return JSON_CODEC
    pytest.importorskip(name)
    return OrjsonCodec() if name == "orjson" else MsgspecCodec()


class CountingCodec:
    """Another codec, counting its encodes and decodes (thread-safe)."""

    def __init__(self, inner: Codec[Any] = JSON_CODEC) -> None:
        self.inner = inner
        self.encodes = self.decodes = 0
        self._lock = threading.Lock()

    def encode(self, value: Any, /) -> bytes:
        with self._lock:
            self.encodes += 1
        return self.inner.encode(value)

    def decode(self, data: bytes, /) -> Any:
        with self._lock:
            self.decodes += 1
        return self.inner.decode(data)


@dataclass(frozen=True)
class Step:
    """A model a codec reads and writes: a bare JSON array of these objects."""

    order: int
    name: str
    output: str = ""


class StepsCodec:
    """`list[Step]` <-> a JSON array of objects. An object with a field `Step` has not is
    refused (`TypeError` from the constructor: the store says the document is corrupt)."""

    def encode(self, value: list[Step], /) -> bytes:
        return JSON_CODEC.encode([dataclasses.asdict(step) for step in value])

    def decode(self, data: bytes, /) -> list[Step]:
        items = JSON_CODEC.decode(data)
        if not isinstance(items, list):
            raise ValueError(f"steps must be a JSON array, not {type(items).__name__}")
        return [Step(**item) for item in items]


def pretty(value: Any) -> bytes:
    """`value` as another writer may store it: indented, ASCII-escaped, spaced."""
    return json.dumps(value, indent=2, ensure_ascii=True).encode()
