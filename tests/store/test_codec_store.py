"""A store's codec (`JsonStore(..., codec=...)`), end to end on the local S3: every codec
through get, create, replace, update, the cache and group commit; the work an update does
(one decode and one encode of the document when one caller writes); "unchanged" judged by
value whoever wrote the stored bytes; a model codec (a list of dataclasses)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest

from s3store import (
    JSON_CODEC,
    Codec,
    CorruptDocumentError,
    InvalidValueError,
    JsonCodec,
    JsonStore,
)
from s3store._commit import Pending, apply_mutations
from s3store.testing import LocalS3
from tests.helpers import FAST_RETRY, raw_bytes, writes_accepted
from tests.store.codecs import CODEC_NAMES, CountingCodec, Step, StepsCodec, make_codec, pretty

KEY = "jobs/j1/steps.json"


@pytest.fixture(params=CODEC_NAMES)
def codec(request: pytest.FixtureRequest) -> Codec[Any]:
    """Each codec the store ships, in turn."""
    return make_codec(request.param)


def test_a_store_reads_and_writes_with_its_codec_end_to_end(local_s3: LocalS3,
                                                           codec: Codec[Any]) -> None:
    client = local_s3.client()
    store = JsonStore(client, local_s3.bucket, codec=codec, retry=FAST_RETRY)
    assert store.codec is codec and JsonStore(client, local_s3.bucket).codec is JSON_CODEC
    first = store.create(KEY, [{"step": 1, "text": "é日本"}])
    assert raw_bytes(client, local_s3.bucket, KEY) == codec.encode(first.value)
    second = store.replace(KEY, [*first.value, {"step": 2}], etag=first.etag)
    third = store.update(KEY, lambda steps: [*steps, {"step": 3, "cost": 0.5}])
    assert store.get(KEY) == third
    assert [s["step"] for s in third.value] == [1, 2, 3] and third.etag != second.etag
    with pytest.raises(InvalidValueError):
        store.update(KEY, lambda steps: [*steps, float("nan")])
    with pytest.raises(InvalidValueError):
        store.create(KEY + ".2", {"when": {1, 2}})
    assert store.get(KEY) == third  # nothing written by the refused updates


def test_corrupt_bytes_are_corrupt_to_every_codec_with_key_and_etag(
        local_s3: LocalS3, codec: Codec[Any]) -> None:
    client = local_s3.client()
    etag = client.put_object(Bucket=local_s3.bucket, Key=KEY, Body=b'[1, NaN]')["ETag"]
    store = JsonStore(client, local_s3.bucket, codec=codec, retry=FAST_RETRY)
    calls: list[Callable[[], object]] = [lambda: store.get(KEY),
                                         lambda: store.update(KEY, lambda v: v)]
    for call in calls:
        with pytest.raises(CorruptDocumentError) as caught:
            call()
        assert (caught.value.key, caught.value.etag) == (KEY, etag)
    assert raw_bytes(client, local_s3.bucket, KEY) == b'[1, NaN]'  # never overwritten


def test_concurrent_updates_share_rounds_and_each_caller_gets_its_own_copy(
        local_s3: LocalS3, codec: Codec[Any]) -> None:
    store = JsonStore(local_s3.client(), local_s3.bucket, codec=codec, retry=FAST_RETRY)
    store.create(KEY, [])
    results: dict[int, Any] = {}
    start = threading.Barrier(8)

    def caller(n: int) -> None:
        start.wait()
        results[n] = store.update(KEY, lambda steps: [*steps, {"n": n}]).value

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    final = store.get(KEY).value
    assert sorted(s["n"] for s in final) == list(range(8))
    for n, value in results.items():
        assert {"n": n} in value
        value.append("mine alone")  # a caller's copy is its own: nobody else sees this
    assert all(value.count("mine alone") == 1 for value in results.values())
    assert store.get(KEY).value == final


@pytest.mark.parametrize("cache_size", [1024, 0], ids=["cache", "no-cache"])
def test_an_update_decodes_and_encodes_the_document_once(local_s3: LocalS3,
                                                        cache_size: int) -> None:
    """The floor of a read-modify-write is one decode and one encode: no re-encoding of
    the stored value to judge "unchanged", no second decode for the caller's answer
    (it gets the value its mutation returned, which nobody else was given). The same
    whether the store writes against its cache or reads first."""
    counting = CountingCodec()
    store = JsonStore(local_s3.client(), local_s3.bucket, codec=counting, cache_size=cache_size)
    store.create(KEY, [1])
    store.update(KEY, lambda items: [*items, 0])
    counting.encodes = counting.decodes = 0
    returned: list[list[int]] = []

    def mutate(items: list[int]) -> list[int]:
        returned.append([*items, len(items)])
        return returned[-1]

    document = store.update(KEY, mutate)
    assert (counting.decodes, counting.encodes) == (1, 1)
    assert document.value is returned[0] and document.value == [1, 0, 2]
    assert store.get(KEY).value == [1, 0, 2]


def test_each_caller_of_a_round_is_applied_with_its_own_codec() -> None:
    mine, theirs = CountingCodec(), CountingCodec()
    batch = [Pending(lambda v: [*v, "a"], codec=mine), Pending(lambda v: [*v, "b"], codec=theirs)]
    applied = apply_mutations("k", b"[]", batch, max_bytes=1000)
    assert applied.body == b'["a","b"]' and applied.by is batch[1] and applied.codec is theirs
    assert (mine.decodes, mine.encodes, theirs.decodes, theirs.encodes) == (1, 1, 1, 1)


@pytest.mark.parametrize("cache_size", [1024, 0], ids=["cache", "no-cache"])
def test_an_equal_result_writes_nothing_whatever_wrote_the_stored_bytes(
        local_s3: LocalS3, codec: Codec[Any], cache_size: int) -> None:
    """Bytes the store wrote are compared as they are; bytes another writer formatted its
    own way (indented, escaped) are judged by value: an equal result writes nothing."""
    client = local_s3.client()
    store = JsonStore(client, local_s3.bucket, codec=codec, cache_size=cache_size)
    value = {"steps": [{"text": "é", "cost": 0.25, "error": None}], "n": 2}
    store.create("ours.json", value)
    client.put_object(Bucket=local_s3.bucket, Key="theirs.json", Body=pretty(value))
    for key in ("ours.json", "theirs.json"):
        before = raw_bytes(client, local_s3.bucket, key)
        writes = writes_accepted(local_s3)
        assert store.update(key, lambda _: json.loads(json.dumps(value))).value == value
        assert writes_accepted(local_s3) == writes
        assert raw_bytes(client, local_s3.bucket, key) == before
        store.update(key, lambda v: {**v, "n": 3})
        assert writes_accepted(local_s3) == writes + 1


def test_an_equal_value_another_codec_formatted_otherwise_is_written_once_at_most(
        local_s3: LocalS3) -> None:
    """The documented cost of mixing codecs on one key: a store's bytes are taken as
    canonical, so an equal result whose floats another codec formats otherwise may be
    written — once, its value unchanged; after that the bytes are this codec's own."""
    fast = make_codec("msgspec")
    client = local_s3.client()
    JsonStore(client, local_s3.bucket).create(KEY, {"tiny": 1e-7, "huge": 1e16})
    assert raw_bytes(client, local_s3.bucket, KEY) == b'{"tiny":1e-07,"huge":1e+16}'
    store = JsonStore(client, local_s3.bucket, codec=fast)
    writes = writes_accepted(local_s3)
    for _ in range(3):
        assert store.update(KEY, dict).value == {"tiny": 1e-7, "huge": 1e16}
    assert writes_accepted(local_s3) <= writes + 1
    assert raw_bytes(client, local_s3.bucket, KEY) in (b'{"tiny":1e-07,"huge":1e+16}',
                                                       fast.encode({"tiny": 1e-7, "huge": 1e16}))


def test_a_model_codec_through_update(local_s3: LocalS3) -> None:
    """A codec of dataclasses: mutations get and return `list[Step]`, the object holds a
    bare JSON array, another writer's object that is not a list of steps is corrupt."""
    client = local_s3.client()
    store = JsonStore(client, local_s3.bucket, codec=StepsCodec(), retry=FAST_RETRY)
    empty: list[Step] = []
    created = store.update(KEY, lambda steps: [*steps, Step(1, "fetch")], default=empty)
    updated = store.update(KEY, lambda steps: [*steps, Step(2, "render", "<html>")])
    assert updated.value == [Step(1, "fetch"), Step(2, "render", "<html>")] and empty == []
    assert json.loads(raw_bytes(client, local_s3.bucket, KEY)) == [
        {"order": 1, "name": "fetch", "output": ""},
        {"order": 2, "name": "render", "output": "<html>"}]
    assert store.get(KEY).value == updated.value and created.etag != updated.etag
    def rebuilt(steps: list[Step]) -> list[Step]:
        return [Step(step.order, step.name, step.output) for step in steps]

    assert store.update(KEY, rebuilt).etag == updated.etag  # equal: nothing written
    etag = client.put_object(Bucket=local_s3.bucket, Key="other.json",
                             Body=b'[{"order": 1, "title": "x"}]')["ETag"]
    with pytest.raises(CorruptDocumentError) as caught:
        store.update("other.json", lambda steps: steps)
    assert (caught.value.key, caught.value.etag) == ("other.json", etag)


def test_a_codec_without_encode_and_decode_is_refused(local_s3: LocalS3) -> None:
    with pytest.raises(TypeError, match="codec must have encode"):
        JsonStore(local_s3.client(), local_s3.bucket, codec=json)  # type: ignore[arg-type]
    assert JsonStore(local_s3.client(), local_s3.bucket, codec=JsonCodec()).codec == JSON_CODEC


def test_a_per_call_codec_reads_and_writes_models_on_a_plain_json_store(
        local_s3: LocalS3) -> None:
    """One store, the default codec; the calls that pass `codec=` see models, the others the
    same object's JSON. A codec that is not one is refused before any request."""
    client = local_s3.client()
    store = JsonStore(client, local_s3.bucket, retry=FAST_RETRY)
    steps = StepsCodec()
    key = "per-call/steps.json"
    created = store.create(key, [Step(1, "fetch")], codec=steps)
    assert created.value == [Step(1, "fetch")]
    assert store.get(key).value == [{"order": 1, "name": "fetch", "output": ""}]
    updated = store.update(key, lambda items: [*items, Step(2, "render")], codec=steps)
    assert updated.value == [Step(1, "fetch"), Step(2, "render")]
    assert store.get(key, codec=steps).value == updated.value
    replaced = store.replace(key, [Step(3, "html")], etag=updated.etag, codec=steps)
    assert json.loads(raw_bytes(client, local_s3.bucket, key)) == [
        {"order": 3, "name": "html", "output": ""}]
    assert store.update(key, lambda items: [*items, {"order": 4}]).value[-1] == {"order": 4}
    assert replaced.etag != store.get(key).etag
    local_s3.clear_requests()
    with pytest.raises(TypeError, match="codec must have encode"):
        store.get(key, codec=json)  # type: ignore[arg-type]
    assert local_s3.requests == []
