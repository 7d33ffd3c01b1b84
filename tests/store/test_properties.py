"""Property-based tests (hypothesis): the codec and `check_key` on arbitrary input, and the
group-commit queue driven through random interleavings, leavers and interrupted leaders."""

from __future__ import annotations

import json
import random
import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s3store import (
    JSON_CODEC,
    CorruptDocumentError,
    DocumentTooLargeError,
    InvalidKeyError,
    InvalidValueError,
    OrjsonCodec,
)
from s3store._codec import decode, encode
from s3store._commit import GroupCommit, Pending
from s3store._store import check_key
from tests.steps import submit
from tests.store.codecs import CODEC_NAMES, FAST_CODEC_NAMES, make_codec
from tests.store.sim.simulation import Scheduler, SimCondition

LIMIT = 1 << 16

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@given(json_values)
def test_every_json_value_round_trips_to_the_same_bytes(value: Any) -> None:
    data = encode("k", value, max_bytes=LIMIT * 16)
    assert decode("k", data) == value or value != value  # noqa: PLR0124 - NaN is excluded
    assert encode("k", decode("k", data), max_bytes=LIMIT * 16) == data  # deterministic
    assert json.loads(data) == decode("k", data)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_are_corrupt(data: bytes) -> None:
    try:
        decode("k", data)
    except CorruptDocumentError as exc:
        error: CorruptDocumentError | None = exc
    else:
        error = None
    assert error is None or error.key == "k"  # a value, or the typed error: nothing else


anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(
        alphabet=st.characters(codec=None)) | st.binary(max_size=4)
    | st.sets(st.integers(), max_size=2) | st.just(object()),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.text() | st.integers() | st.tuples(st.integers()), inner, max_size=3),
    max_leaves=10,
)


@given(anything)
def test_arbitrary_values_encode_or_are_refused_typed(value: Any) -> None:
    try:
        data: bytes | None = encode("k", value, max_bytes=LIMIT)
    except (InvalidValueError, DocumentTooLargeError) as exc:
        refused: Exception | None = exc
        data = None
    else:
        refused = None
    assert refused is None or getattr(refused, "key", None) == "k"
    if data is not None:
        decode("k", data)  # what was accepted reads back


def _has_a_long_integer(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_a_long_integer(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_a_long_integer(v) for v in value)
    return isinstance(value, int) and not -(2**63) <= value < 2**64


@pytest.mark.parametrize("name", CODEC_NAMES)
@given(value=json_values)
def test_every_codec_round_trips_every_json_value_to_the_same_bytes(name: str,
                                                                    value: Any) -> None:
    """Each codec writes what reads back equal and encodes again to the same bytes, and
    reads what the default codec wrote; orjson refuses (typed) only integers beyond 64
    bits."""
    codec = make_codec(name)
    try:
        data = encode("k", value, max_bytes=LIMIT * 16, codec=codec)
    except InvalidValueError:
        assert isinstance(codec, OrjsonCodec) and _has_a_long_integer(value)
        return
    assert decode("k", data, codec=codec) == value
    assert encode("k", decode("k", data, codec=codec), max_bytes=LIMIT * 16,
                  codec=codec) == data
    assert json.loads(data) == value
    assert decode("k", JSON_CODEC.encode(value), codec=codec) == value


@pytest.mark.parametrize("name", FAST_CODEC_NAMES)
@given(value=anything)
def test_a_fast_codec_accepts_no_value_the_default_refuses(name: str, value: Any) -> None:
    """Never less strict: what a fast codec writes, the default writes too, to bytes that
    read back to the same value."""
    codec = make_codec(name)
    try:
        data = encode("k", value, max_bytes=LIMIT, codec=codec)
    except (InvalidValueError, DocumentTooLargeError) as exc:
        refused: Exception | None = exc
    else:
        refused = None
        assert decode("k", data) == decode("k", encode("k", value, max_bytes=LIMIT * 16))
    assert refused is None or getattr(refused, "key", None) == "k"


@pytest.mark.parametrize("name", FAST_CODEC_NAMES)
@given(data=st.binary(max_size=60) | st.text(max_size=40).map(lambda s: s.encode())
       | json_values.map(JSON_CODEC.encode))
def test_a_fast_codec_reads_no_bytes_the_default_refuses(name: str, data: bytes) -> None:
    """Never less strict on reading either: bytes a fast codec reads, the default reads,
    to the same value."""
    codec = make_codec(name)
    try:
        value = decode("k", data, codec=codec)
    except CorruptDocumentError as exc:
        refused: CorruptDocumentError | None = exc
    else:
        refused = None
        assert decode("k", data) == value
    assert refused is None or refused.key == "k"


@given(st.text(alphabet=st.characters(codec=None), max_size=300))
def test_check_key_accepts_only_sane_keys_and_refuses_the_rest_typed(key: str) -> None:
    try:
        check_key(key)
    except InvalidKeyError:
        return
    encoded = key.encode("utf-8")  # accepted: encodable, and within the rules
    assert 0 < len(encoded) <= 1024
    assert not any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key)
    assert all(segment not in ("", ".", "..") for segment in key.split("/"))


# -- the group-commit queue ------------------------------------------------------------------

class Leave(Exception):  # what a caller leaving its wait raises
    pass


callers = st.lists(st.sampled_from(["ok", "fails", "interrupts", "leaves"]), min_size=1,
                   max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(callers, st.integers(0, 2**32 - 1))
def test_the_queue_answers_every_caller_once_and_empties(kinds: list[str], seed: int) -> None:
    """Callers of one key under a seeded scheduler: each round's flush may fail one
    caller's mutation, a leader may be interrupted mid-round, a waiter may leave. Every
    caller comes back (no deadlock), at most one round runs at a time, nobody is
    answered twice, and nothing is left queued."""
    scheduler = Scheduler(random.Random(seed))
    rng = random.Random(seed + 1)
    group = GroupCommit(condition=lambda lock: PossiblyLeaving(scheduler, lock, rng, kinds))
    flushing = threading.Lock()
    answered: dict[int, int] = {}
    outcomes: dict[int, str] = {}

    def flush(batch: list[Pending]) -> None:
        assert flushing.acquire(blocking=False), "two rounds of one key at once"
        try:
            scheduler.boundary()  # a request on the wire: others run meanwhile
            for pending in batch:
                index = pending.default
                if kinds[index] == "interrupts" and not pending.result:
                    pending.result = "interrupted once"
                    raise KeyboardInterrupt
                if pending.left:
                    continue
                answered[index] = answered.get(index, 0) + 1
                pending.error = ValueError("its own") if kinds[index] == "fails" else None
                pending.settled = True
        finally:
            flushing.release()

    def caller(index: int) -> None:
        scheduler.enter(f"c{index}")
        try:
            pending = Pending(lambda v: v, index)
            submit(group, "k", pending, flush)
            outcomes[index] = "error" if pending.error else "ok"
        except (Leave, KeyboardInterrupt) as exc:
            outcomes[index] = type(exc).__name__
        finally:
            scheduler.finish()

    threads = []
    for index in range(len(kinds)):
        scheduler.register(f"c{index}")
        threads.append(threading.Thread(target=caller, args=(index,), daemon=True))
        threads[-1].start()
    scheduler.run()
    for thread in threads:
        thread.join(5)
    assert set(outcomes) == set(range(len(kinds)))  # everyone came back
    assert all(count == 1 for count in answered.values())
    for index, kind in enumerate(kinds):
        if outcomes[index] in ("ok", "error"):
            assert answered.get(index) == 1
            assert outcomes[index] == ("error" if kind == "fails" else "ok")
    assert group._queues == {}


class PossiblyLeaving(SimCondition):
    """A wait that a "leaves" caller gives up (as a signal-based timeout would)."""

    def __init__(self, scheduler: Scheduler, lock: Any, rng: random.Random,
                 kinds: list[str]) -> None:
        super().__init__(scheduler, lock)
        self._rng = rng
        self._kinds = kinds

    def wait(self, timeout: float | None = None) -> None:
        name = self._scheduler.current() or ""
        if self._kinds[int(name[1:])] == "leaves" and self._rng.random() < 0.7:
            raise Leave
        super().wait(timeout)


@pytest.mark.parametrize("key", ["a\ud800b", "\udfff"])
def test_a_key_with_a_lone_surrogate_is_an_invalid_key(key: str) -> None:
    with pytest.raises(InvalidKeyError):
        check_key(key)
