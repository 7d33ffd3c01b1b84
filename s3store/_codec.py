"""JSON bytes in and out: deterministic, UTF-8, strict in both directions.

Encoding keeps dict insertion order (the same value always gives the same bytes),
writes UTF-8 without escaping non-ASCII, and refuses what JSON cannot hold —
NaN and infinities, sets, bytes, datetimes, any non-JSON type, strings with lone
surrogates — before a request is sent. Decoding refuses invalid UTF-8, invalid
JSON and the non-standard constants `NaN` / `Infinity` that Python's `json` would otherwise accept.
"""

from __future__ import annotations

import json
from typing import Any

from s3store._errors import CorruptDocumentError, DocumentTooLargeError, InvalidValueError

__all__ = ["decode", "encode"]

_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def encode(key: str, value: Any, *, max_bytes: int) -> bytes:
    """The value as compact UTF-8 JSON.

    Raises `InvalidValueError` for a value JSON cannot hold, `DocumentTooLargeError`
    when the result is over `max_bytes`.
    """
    try:
        # UnicodeEncodeError (a ValueError): a lone surrogate, which UTF-8 cannot hold.
        data = _ENCODER.encode(value).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidValueError(f"value cannot be stored as JSON: {exc}", key=key) from exc
    if len(data) > max_bytes:
        raise DocumentTooLargeError(
            f"document would be {len(data)} bytes, over the limit of {max_bytes}",
            key=key, size=len(data), limit=max_bytes,
        )
    return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode(key: str, data: bytes, *, etag: str | None = None) -> Any:
    """Parse stored bytes. Raises `CorruptDocumentError` if they are not strict UTF-8 JSON."""
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CorruptDocumentError(
            f"stored bytes are not valid JSON: {exc}", key=key, etag=etag
        ) from exc
