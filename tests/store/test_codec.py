"""JSON encoding and decoding: deterministic, UTF-8, strict — with the default codec and
with each fast one (`OrjsonCodec`, `MsgspecCodec`), which must be no less strict."""

from __future__ import annotations

import copy
import dataclasses
import datetime
import decimal
import enum
import json
import math
import re
import sys
import uuid
from typing import Any

import pytest

from s3store import (
    JSON_CODEC,
    Codec,
    CorruptDocumentError,
    DocumentTooLargeError,
    InvalidValueError,
    MsgspecCodec,
    OrjsonCodec,
)
from s3store._codec import decode, encode
from tests.store.codecs import CODEC_NAMES, FAST_CODEC_NAMES, Step, StepsCodec, make_codec

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


# -- the codecs: JsonCodec (the default), OrjsonCodec, MsgspecCodec ------------------------


@pytest.fixture(params=CODEC_NAMES)
def codec(request: pytest.FixtureRequest) -> Codec[Any]:
    """Each codec the store ships, in turn."""
    return make_codec(request.param)


@pytest.fixture(params=FAST_CODEC_NAMES)
def fast(request: pytest.FixtureRequest) -> Codec[Any]:
    """Each fast codec in turn."""
    return make_codec(request.param)


class Colour(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Kind(enum.StrEnum):
    STEP = "step"


@dataclasses.dataclass
class Point:
    x: int


REFUSED_BY_EVERY_CODEC = {
    "nan": math.nan, "inf": math.inf, "-inf": -math.inf, "nested-nan": {"a": [1, math.nan]},
    "set": {1, 2}, "frozenset": frozenset({"a"}), "bytes": b"x", "bytearray": bytearray(b"x"),
    "datetime": datetime.datetime(2026, 1, 1), "date": datetime.date(2026, 1, 1),
    "uuid": uuid.UUID(int=1), "enum": Colour.RED, "dataclass": Point(1), "object": object(),
    "tuple-key": {(1, 2): "x"}, "surrogate": ["a\ud800b"], "surrogate-key": {"\udc00": 1},
    "decimal": [decimal.Decimal("1.5")],
}


@pytest.mark.parametrize("value", REFUSED_BY_EVERY_CODEC.values(),
                         ids=REFUSED_BY_EVERY_CODEC.keys())
def test_every_codec_refuses_what_json_cannot_hold(codec: Codec[Any], value: Any) -> None:
    with pytest.raises(InvalidValueError) as caught:
        encode("doc.json", value, max_bytes=LIMIT, codec=codec)
    assert caught.value.key == "doc.json"
    assert isinstance(caught.value.__cause__, TypeError | ValueError)


def test_every_codec_refuses_a_value_that_holds_itself(codec: Codec[Any]) -> None:
    value: list[Any] = []
    value.append({"again": value})
    with pytest.raises(InvalidValueError):
        encode("k", value, max_bytes=LIMIT, codec=codec)


def test_the_fast_codecs_take_string_keys_only(fast: Codec[Any]) -> None:
    """`JsonCodec` writes `{1: 2}` as `{"1": 2}` (which reads back with a string key); the
    fast codecs refuse it rather than change the value."""
    assert encode("k", {1: 2}, max_bytes=LIMIT) == b'{"1":2}'
    with pytest.raises(InvalidValueError):
        encode("k", {1: 2}, max_bytes=LIMIT, codec=fast)


def test_every_codec_writes_subclasses_of_json_types_as_json_does(codec: Codec[Any]) -> None:
    value = {"kind": Kind.STEP, "level": Level.HIGH, "flag": True, "ordered": {"b": 1, "a": 2}}
    assert codec.encode(value) == b'{"kind":"step","level":3,"flag":true,"ordered":{"b":1,"a":2}}'


def test_every_codec_writes_json_codecs_bytes_but_for_exponents(codec: Codec[Any]) -> None:
    """Compact UTF-8, no escaping of non-ASCII, insertion order, the same escapes. Floats
    with an exponent are where the libraries differ (equal values, other bytes)."""
    value = {"z": [1, -0.0, 0.1, 2.5e-3, 123456.789, 2**63 - 1, "é日本\n\t\"\\/\x00\x7f\u2028"],
             "a": {"": None, "t": True, "f": False}, "e": "😀"}
    assert codec.encode(value) == JSON_CODEC.encode(value)
    exponents = [1e-7, 1e16]
    assert codec.decode(codec.encode(exponents)) == exponents
    assert JSON_CODEC.encode(exponents) == b"[1e-07,1e+16]"
    assert codec.encode(exponents) in (b"[1e-07,1e+16]", b"[1e-7,1e+16]", b"[1e-7,1e16]")


INVALID_FOR_EVERY_CODEC = {
    "empty": b"", "open": b"{", "trailing-comma": b"[1,]", "nan": b"NaN",
    "infinity": b'{"a": Infinity}', "-infinity": b"[-Infinity]", "utf16": '[1]'.encode("utf-16"),
    "not-utf8": b'["\xff"]', "encoded-surrogate": b'["\xed\xa0\x80"]', "trailing": b"[1] x",
    "nul": b"\x00", "bom": b"\xef\xbb\xbf[1]", "single-quotes": b"['a']",
}


@pytest.mark.parametrize("data", INVALID_FOR_EVERY_CODEC.values(),
                         ids=INVALID_FOR_EVERY_CODEC.keys())
def test_every_codec_refuses_bytes_that_are_not_strict_json(codec: Codec[Any],
                                                            data: bytes) -> None:
    with pytest.raises(CorruptDocumentError) as caught:
        decode("doc.json", data, etag='"e"', codec=codec)
    assert (caught.value.key, caught.value.etag) == ("doc.json", '"e"')


@pytest.mark.parametrize("data", [b'["\\ud800"]', b'{"\\udc00": 1}', b'["a\\ud83d"]'],
                         ids=["high", "low-key", "unpaired-at-end"])
def test_an_escaped_lone_surrogate_is_refused_by_the_fast_codecs(fast: Codec[Any],
                                                                 data: bytes) -> None:
    """`JsonCodec` reads it (as the standard library does) and refuses to write it back;
    the fast codecs refuse it at once."""
    with pytest.raises(InvalidValueError):
        encode("k", decode("k", data), max_bytes=LIMIT)
    with pytest.raises(CorruptDocumentError):
        decode("k", data, codec=fast)
    assert decode("k", b'["\\ud83d\\ude00"]', codec=fast) == ["😀"]  # a pair is one character


@pytest.mark.parametrize("number", [2**64, 2**70, -(2**63) - 1, -(2**100), 10**30 + 1])
def test_every_codec_reads_long_integers_exactly(codec: Codec[Any], number: int) -> None:
    """orjson alone would read these as floats (losing digits): `OrjsonCodec` reads them
    exactly, and refuses to write them (orjson holds 64 bits)."""
    data = f'{{"id": {number}, "ids": [1, {number}]}}'.encode()
    assert decode("k", data, codec=codec) == {"id": number, "ids": [1, number]}
    assert decode("k", b'[1.5e300, -9.3e18]', codec=codec) == [1.5e300, -9.3e18]
    if isinstance(codec, OrjsonCodec):
        with pytest.raises(InvalidValueError):
            encode("k", number, max_bytes=LIMIT, codec=codec)
    else:
        assert decode("k", codec.encode([number]), codec=codec) == [number]


def test_a_float_out_of_range_is_refused_by_the_fast_codecs(fast: Codec[Any]) -> None:
    """`1e400`: the standard library reads infinity (which it then refuses to write)."""
    assert decode("k", b"[1e400]") == [math.inf]
    with pytest.raises(CorruptDocumentError):
        decode("k", b"[1e400]", codec=fast)


def test_every_codec_is_deterministic(codec: Codec[Any]) -> None:
    value = [{"b": i, "a": [i * 0.5, str(i), None]} for i in range(50)]
    data = codec.encode(value)
    again = codec.decode(data)
    assert again == value and codec.encode(again) == data == codec.encode(copy.deepcopy(value))


@pytest.mark.parametrize(("make", "extra"), [(OrjsonCodec, "orjson"), (MsgspecCodec, "msgspec")])
def test_a_fast_codec_without_its_library_names_the_extra(
        monkeypatch: pytest.MonkeyPatch, make: type[Any], extra: str) -> None:
    monkeypatch.setitem(sys.modules, extra, None)  # `import extra` then raises ImportError
    monkeypatch.delitem(sys.modules, f"{extra}.json", raising=False)
    with pytest.raises(ImportError, match=re.escape(f"s3store[{extra}]")):
        make()


def test_a_model_codec_is_wrapped_like_the_others() -> None:
    steps = [Step(1, "fetch"), Step(2, "render", "ok")]
    data = encode("k", steps, max_bytes=LIMIT, codec=StepsCodec())
    assert json.loads(data) == [{"order": 1, "name": "fetch", "output": ""},
                                {"order": 2, "name": "render", "output": "ok"}]
    assert decode("k", data, codec=StepsCodec()) == steps
    for shape in (b'[{"order": 1, "name": "x", "extra": 1}]', b"[1]", b'{"order": 1}'):
        with pytest.raises(CorruptDocumentError) as caught:
            decode("k", shape, etag='"e"', codec=StepsCodec())
        assert (caught.value.key, caught.value.etag) == ("k", '"e"')
    with pytest.raises(InvalidValueError):
        encode("k", [Step(1, "x", output=math.nan)], max_bytes=LIMIT,  # type: ignore[arg-type]
               codec=StepsCodec())


def test_the_size_limit_is_the_stores_whatever_the_codec(codec: Codec[Any]) -> None:
    with pytest.raises(DocumentTooLargeError) as caught:
        encode("k", "x" * 100, max_bytes=50, codec=codec)
    assert (caught.value.key, caught.value.size, caught.value.limit) == ("k", 102, 50)
