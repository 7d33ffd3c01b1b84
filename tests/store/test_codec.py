"""JSON encoding and decoding: deterministic, UTF-8, strict."""

from __future__ import annotations

import datetime
import math
from typing import Any

import pytest

from s3store import CorruptDocumentError, DocumentTooLargeError, InvalidValueError
from s3store._codec import decode, encode

LIMIT = 1 << 20


def test_encoding_is_compact_utf8_and_keeps_order() -> None:
    value = {"z": 1, "a": ["é", "日本", None, 1.5, True]}
    data = encode("k", value, max_bytes=LIMIT)
    assert data == '{"z":1,"a":["é","日本",null,1.5,true]}'.encode()
    assert encode("k", decode("k", data), max_bytes=LIMIT) == data


@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, -math.inf, {1, 2}, b"x", datetime.datetime(2026, 1, 1), object(),
     {"nested": [{"deep": math.nan}]}, {(1, 2): "tuple key"}],
)
def test_values_json_cannot_hold_are_refused(value: Any) -> None:
    with pytest.raises(InvalidValueError) as caught:
        encode("doc.json", value, max_bytes=LIMIT)
    assert caught.value.key == "doc.json"


def test_self_referencing_value_is_refused() -> None:
    value: list[Any] = []
    value.append(value)
    with pytest.raises(InvalidValueError):
        encode("k", value, max_bytes=LIMIT)


def test_oversized_value_is_refused() -> None:
    with pytest.raises(DocumentTooLargeError) as caught:
        encode("k", "x" * 100, max_bytes=50)
    assert (caught.value.size, caught.value.limit) == (102, 50)


@pytest.mark.parametrize(
    "data",
    [b"", b"{", b"[1,]", b"NaN", b'{"a": Infinity}', b"\xff\xfe[]", b"[1] trailing", b"\x00"],
)
def test_invalid_bytes_are_corrupt(data: bytes) -> None:
    with pytest.raises(CorruptDocumentError) as caught:
        decode("doc.json", data, etag='"e"')
    assert (caught.value.key, caught.value.etag) == ("doc.json", '"e"')


def test_decode_accepts_any_json_formatting() -> None:
    assert decode("k", b' [ {"a" : 1} ]\n') == [{"a": 1}]


def test_the_errors_say_what_was_wrong() -> None:
    """The message names the reason (mutmut survivors: messages replaced by None)."""
    with pytest.raises(InvalidValueError) as refused:
        encode("k", {"x": float("nan")}, max_bytes=100)
    assert str(refused.value).startswith("value cannot be stored as JSON: ")
    with pytest.raises(CorruptDocumentError) as corrupt:
        decode("k", b'{"x": NaN}')
    assert "NaN is not JSON" in str(corrupt.value)
    assert str(corrupt.value).startswith("stored bytes are not valid JSON: ")
    with pytest.raises(DocumentTooLargeError) as large:
        encode("k", "x" * 200, max_bytes=100)
    assert str(large.value).startswith("document would be 202 bytes, over the limit of 100")
