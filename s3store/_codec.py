"""Codecs: how a document's value becomes bytes and back, and the one place where their
failures become the store's errors.

A `Codec` turns a value into bytes (`encode`, raising `TypeError` / `ValueError` /
`RecursionError` for a value it cannot hold) and bytes back into a value (`decode`,
raising `ValueError` / `RecursionError`, or `TypeError` from a model's constructor, for
bytes that are not a document). `encode()` and `decode()` below wrap them for the store:
`InvalidValueError`, `DocumentTooLargeError` (the size limit is the store's, checked
here), `CorruptDocumentError` with the key and ETag.

A codec must be deterministic: the same value always gives the same bytes, and bytes it
wrote decode to a value that it encodes back to those bytes. The store relies on it to
judge "unchanged" by comparing bytes (`s3store._core`).

- `JsonCodec` (`JSON_CODEC`, the default): the standard library's `json`. Compact UTF-8
  without escaping non-ASCII, dict insertion order kept; refuses NaN and infinities,
  sets, bytes, datetimes, any non-JSON type and strings with lone surrogates before a
  request is sent. Decoding refuses invalid UTF-8, invalid JSON and the non-standard
  constants `NaN` / `Infinity` that Python's `json` would otherwise accept.
- `OrjsonCodec`, `MsgspecCodec` (extras `s3store[orjson]`, `s3store[msgspec]`): the same
  format through a faster library, no less strict — see `check_json_value` for what they
  accept. Their bytes equal `JsonCodec`'s except for floats written with an exponent
  (`1e-7` for json's `1e-07`; msgspec also `1e16` for `1e+16`): equal values, other
  bytes. Stores that share keys should use one codec; one that reads another codec's
  bytes still reads them (any JSON formatting decodes), and at worst writes an update
  whose value is equal but whose floats are formatted its own way once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar

from s3store._errors import CorruptDocumentError, DocumentTooLargeError, InvalidValueError

__all__ = [
    "JSON_CODEC",
    "Codec",
    "JsonCodec",
    "MsgspecCodec",
    "OrjsonCodec",
    "check_json_value",
    "decode",
    "encode",
]

T = TypeVar("T")


class Codec(Protocol[T]):
    """Turns a document's value (of type `T`) into bytes and back; see `s3store._codec`.

    `encode` raises `TypeError`, `ValueError` or `RecursionError` for a value it cannot
    hold; `decode` raises `ValueError` or `RecursionError` (`TypeError` is taken too) for
    bytes that are not a document. Both must be deterministic and safe to call from
    several threads at once.
    """

    def encode(self, value: T, /) -> bytes:
        """The value as bytes."""
        ...

    def decode(self, data: bytes, /) -> T:
        """The value the bytes hold."""
        ...


_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _strict_loads(data: bytes) -> Any:
    # UnicodeDecodeError (a ValueError) for invalid UTF-8; json.loads(bytes) would also
    # take UTF-16 and UTF-32.
    return json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)


@dataclass(frozen=True)
class JsonCodec:
    """JSON through the standard library's `json`: the store's default (`JSON_CODEC`)."""

    def encode(self, value: Any, /) -> bytes:
        """Compact UTF-8 JSON; `ValueError` for NaN, infinities and lone surrogates (UTF-8
        cannot hold them), `TypeError` for what JSON cannot hold."""
        return _ENCODER.encode(value).encode("utf-8")

    def decode(self, data: bytes, /) -> Any:
        """The value of strict UTF-8 JSON; `ValueError` for anything else."""
        return _strict_loads(data)


JSON_CODEC: Final = JsonCodec()
"""The default codec of every `JsonStore`."""


def check_json_value(value: object, *, keys: bool = True) -> None:
    """Raise unless `value` holds only what JSON can: dicts with string keys, lists,
    tuples, strings, ints, finite floats, bools and None (subclasses included: a
    `StrEnum` member is a string). `keys=False` leaves the keys unchecked (for an encoder
    that refuses any but strings itself).

    `ValueError` for NaN or an infinity, `TypeError` for anything else (sets, bytes,
    datetimes, UUIDs, dataclasses, non-string keys, ...), which orjson or msgspec would
    otherwise write silently (NaN as null, a set in its iteration order, a datetime as a
    string that reads back as a string). Walks without recursion; a cyclic value never
    gets here (the library's encoder refuses it first). Written for speed: it runs on
    every value the fast codecs encode.
    """
    stack: list[Any] = [(value,)]  # containers only: the value itself is a member
    pop, push = stack.pop, stack.append
    while stack:
        container = pop()
        if isinstance(container, dict):
            if keys:
                _check_keys(container)
            container = container.values()
        for member in container:
            kind = type(member)
            if kind is str or kind is int or kind is bool or member is None:
                continue
            if kind is dict or kind is list or kind is tuple:
                push(member)
            elif kind is float:
                if member - member:  # nan for NaN and the infinities, 0.0 for the rest
                    raise ValueError(f"Out of range float values are not JSON compliant: "
                                     f"{member!r}")
            elif isinstance(member, dict | list | tuple):  # subclasses, checked last
                push(member)
            elif isinstance(member, float):
                push((float(member),))
            elif not isinstance(member, str | int):
                raise TypeError(f"Object of type {kind.__name__} is not JSON serializable")


def _check_keys(mapping: dict[Any, Any]) -> None:
    for name in mapping:
        if type(name) is not str and not isinstance(name, str):
            raise TypeError(f"keys must be strings, not {type(name).__name__}")


# orjson reads an integer literal beyond 64 bits (below -2**63, from 2**64) as a float, which
# may round to -2**63 itself.
_INT_FLOOR: Final = -float(2**63)
_UINT_CEILING: Final = float(2**64)


def _may_be_a_long_integer(value: object) -> bool:
    """Does `value` (as orjson decodes: dicts, lists, scalars) hold a float that orjson
    may have made of a longer integer literal?"""
    stack: list[Any] = [(value,)]
    pop, push = stack.pop, stack.append
    while stack:
        container = pop()
        for member in container.values() if type(container) is dict else container:
            kind = type(member)
            if kind is dict or kind is list:
                push(member)
            elif kind is float and (member >= _UINT_CEILING or member <= _INT_FLOOR):
                return True
    return False


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for part in text.split(".")[:2]:
        digits = "".join(ch for ch in part if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def _missing(extra: str, error: ImportError) -> ImportError:
    missing = ImportError(f"{extra} is not installed: install s3store[{extra}] "
                          f"(pip install 's3store[{extra}]') to use its codec")
    missing.__cause__ = error
    return missing


class OrjsonCodec:
    """JSON through orjson (the `orjson` extra), as strict as `JsonCodec`.

    Encoding refuses NaN and infinities and every non-JSON type (`check_json_value`),
    lone surrogates, integers beyond 64 bits and non-string keys (orjson's own limits),
    and values nested deeper than 255 levels. Decoding refuses invalid UTF-8 (and a
    byte order mark), `NaN` / `Infinity`, lone surrogates (escaped too) and numbers out
    of a float's range; an integer beyond 64 bits, which orjson would read as a float,
    is read exactly (by the standard library) instead — and then refused by `encode`.

    Raises `ImportError` naming the extra when orjson is not installed.
    """

    __slots__ = ("_orjson",)

    def __init__(self) -> None:
        try:
            import orjson  # noqa: PLC0415 - an optional extra, imported when it is used
        except ImportError as exc:
            raise _missing("orjson", exc) from exc
        self._orjson = orjson

    def __repr__(self) -> str:
        return "OrjsonCodec()"

    def encode(self, value: Any, /) -> bytes:
        """Compact UTF-8 JSON, `JsonCodec`'s bytes but for floats with an exponent."""
        data: bytes = self._orjson.dumps(value)  # TypeError for what orjson refuses
        check_json_value(value, keys=False)  # orjson takes string keys only
        return data

    def decode(self, data: bytes, /) -> Any:
        """The value of strict UTF-8 JSON; `ValueError` for anything else."""
        value = self._orjson.loads(data)
        if _may_be_a_long_integer(value):
            return _strict_loads(data)  # orjson accepted the bytes: only the numbers differ
        return value


class MsgspecCodec:
    """JSON through msgspec (the `msgspec` extra), as strict as `JsonCodec`.

    Encoding refuses NaN and infinities and every non-JSON type (`check_json_value`:
    msgspec itself would write sets, bytes, datetimes, UUIDs...), lone surrogates and
    `str` subclasses (msgspec's own limit). Decoding refuses invalid UTF-8 (and a byte
    order mark), `NaN` / `Infinity`, lone surrogates (escaped too) and numbers out of a
    float's range; integers of any size are exact.

    Raises `ImportError` naming the extra when msgspec is not installed.
    """

    __slots__ = ("_error", "_json")

    def __init__(self) -> None:
        try:
            import msgspec  # noqa: PLC0415 - an optional extra, imported when it is used
        except ImportError as exc:
            raise _missing("msgspec", exc) from exc
        if _version(msgspec.__version__) < (0, 17):
            raise ImportError(f"MsgspecCodec needs msgspec 0.17.0 or later, not "
                              f"{msgspec.__version__} (older ones read integers beyond 64 "
                              "bits as floats): install s3store[msgspec]")
        self._json = msgspec.json
        self._error = msgspec.DecodeError

    def __repr__(self) -> str:
        return "MsgspecCodec()"

    def encode(self, value: Any, /) -> bytes:
        """Compact UTF-8 JSON, `JsonCodec`'s bytes but for floats with an exponent."""
        data: bytes = self._json.encode(value)  # TypeError / ValueError for what it refuses
        check_json_value(value)
        return data

    def decode(self, data: bytes, /) -> Any:
        """The value of strict UTF-8 JSON; `ValueError` for anything else."""
        try:
            return self._json.decode(data)
        except self._error as exc:  # a ValueError in recent msgspec only
            raise ValueError(str(exc)) from exc


def encode(key: str, value: Any, *, max_bytes: int, codec: Codec[Any] = JSON_CODEC) -> bytes:
    """The value as `codec` writes it (by default compact UTF-8 JSON).

    Raises `InvalidValueError` for a value the codec cannot hold, `DocumentTooLargeError`
    when the result is over `max_bytes`.
    """
    try:
        data = codec.encode(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidValueError(f"value cannot be stored as JSON: {exc}", key=key) from exc
    if len(data) > max_bytes:
        raise DocumentTooLargeError(
            f"document would be {len(data)} bytes, over the limit of {max_bytes}",
            key=key, size=len(data), limit=max_bytes,
        )
    return data


def decode(key: str, data: bytes, *, etag: str | None = None,
           codec: Codec[Any] = JSON_CODEC) -> Any:
    """Parse stored bytes with `codec`. Raises `CorruptDocumentError` if they are not a
    document it can read (for the default: not strict UTF-8 JSON)."""
    try:
        return codec.decode(data)
    except (ValueError, RecursionError, TypeError) as exc:
        raise CorruptDocumentError(
            f"stored bytes are not valid JSON: {exc}", key=key, etag=etag
        ) from exc
