"""The public contract of JsonStore, method by method and error by error.

Runs against the strict LocalS3 over HTTP, against ministack (an S3 server this project
did not write, `tests/servers.py`), and also against a real S3 endpoint when
`S3STORE_TEST_BUCKET` is set (with `S3STORE_TEST_ENDPOINT_URL` for MinIO, R2...;
credentials from the standard AWS chain). Every key lives under a fresh prefix.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from s3store import (
    AlreadyExistsError,
    ConflictError,
    CorruptDocumentError,
    Document,
    DocumentTooLargeError,
    InvalidKeyError,
    InvalidValueError,
    JsonStore,
    NotFoundError,
    StorageError,
)
from s3store.testing import LocalS3
from tests.frontends import make_store
from tests.helpers import FAST_RETRY, raw_bytes
from tests.servers import BACKENDS, deviates

REAL_BUCKET = os.environ.get("S3STORE_TEST_BUCKET")


@pytest.fixture(params=[*BACKENDS, pytest.param("real", marks=pytest.mark.real_s3)])
def backend(request: pytest.FixtureRequest) -> Iterator[tuple[Any, str, str]]:
    """(boto3 client, bucket, key prefix) for LocalS3, ministack or the real endpoint."""
    prefix = f"s3store-contract/{uuid.uuid4().hex}/"
    if request.param == "local":
        with LocalS3() as s3:
            yield s3.client(), s3.bucket, prefix
        return
    if request.param != "real":
        bucket = request.getfixturevalue(request.param).new_bucket()
        yield bucket.client(), bucket.bucket, prefix
        return
    if not REAL_BUCKET:
        pytest.skip("no real S3 configured (set S3STORE_TEST_BUCKET, S3STORE_TEST_ENDPOINT_URL)")
    client = boto3.client("s3", endpoint_url=os.environ.get("S3STORE_TEST_ENDPOINT_URL"))
    yield client, REAL_BUCKET, prefix
    listed = client.list_objects_v2(Bucket=REAL_BUCKET, Prefix=prefix).get("Contents", [])
    for item in listed:
        client.delete_object(Bucket=REAL_BUCKET, Key=item["Key"])


@pytest.fixture
def contract(request: pytest.FixtureRequest, front_end: str,
             backend: tuple[Any, str, str]) -> tuple[JsonStore, Any, str]:
    """The store under contract, through each front end (`tests.frontends`)."""
    client, bucket, prefix = backend
    portal = request.getfixturevalue("portal") if front_end == "async" else None
    store = make_store(front_end, client, bucket, portal, retry=FAST_RETRY,
                       max_document_bytes=4096)
    return store, client, prefix


def test_create_then_get_round_trips(contract: tuple[JsonStore, Any, str]) -> None:
    store, client, prefix = contract
    key = prefix + "doc.json"
    value = {"name": "café", "items": [1, 2.5, None, True], "nested": {"a": []}}
    created = store.create(key, value)
    assert created.key == key and created.value == value and created.etag
    fetched = store.get(key)
    assert fetched == Document(key, value, created.etag)
    head = client.head_object(Bucket=store.bucket, Key=key)
    assert head["ContentType"] == "application/json"
    assert raw_bytes(client, store.bucket, key) == '{"name":"café","items":[1,2.5,null,true],' \
        '"nested":{"a":[]}}'.encode()


def test_get_missing_key_raises_not_found(contract: tuple[JsonStore, Any, str]) -> None:
    store, _, prefix = contract
    with pytest.raises(NotFoundError) as caught:
        store.get(prefix + "absent.json")
    assert caught.value.key == prefix + "absent.json"


def test_create_on_existing_key_raises_already_exists(contract: tuple[JsonStore, Any, str]) -> None:
    store, _, prefix = contract
    key = prefix + "doc.json"
    first = store.create(key, [1])
    with pytest.raises(AlreadyExistsError) as caught:
        store.create(key, [2])
    assert isinstance(caught.value, ConflictError)
    assert caught.value.key == key and caught.value.code == "PreconditionFailed"
    assert store.get(key) == first


def test_replace_with_current_etag_writes(contract: tuple[JsonStore, Any, str]) -> None:
    store, _, prefix = contract
    key = prefix + "doc.json"
    first = store.create(key, {"v": 1})
    second = store.replace(key, {"v": 2}, etag=first.etag)
    assert second.etag != first.etag
    assert store.get(key) == second


def test_replace_with_stale_etag_raises_conflict(contract: tuple[JsonStore, Any, str]) -> None:
    store, _, prefix = contract
    key = prefix + "doc.json"
    first = store.create(key, {"v": 1})
    second = store.replace(key, {"v": 2}, etag=first.etag)
    with pytest.raises(ConflictError) as caught:
        store.replace(key, {"v": 3}, etag=first.etag)
    assert caught.value.etag == first.etag and caught.value.key == key
    assert store.get(key) == second


def test_replace_of_deleted_key_raises_conflict(contract: tuple[JsonStore, Any, str]) -> None:
    store, _, prefix = contract
    key = prefix + "doc.json"
    first = store.create(key, {"v": 1})
    store.delete(key)
    with pytest.raises(ConflictError) as caught:
        store.replace(key, {"v": 2}, etag=first.etag)
    assert not isinstance(caught.value, AlreadyExistsError)
    assert caught.value.code == "NoSuchKey"
    with pytest.raises(NotFoundError):
        store.get(key)


def test_update_applies_mutation_and_returns_new_document(
    contract: tuple[JsonStore, Any, str],
) -> None:
    store, _, prefix = contract
    key = prefix + "doc.json"
    store.create(key, {"items": ["a"]})

    def append_b(value: dict[str, list[str]]) -> dict[str, list[str]]:
        value["items"].append("b")
        return value

    updated = store.update(key, append_b)
    assert updated.value == {"items": ["a", "b"]}
    assert store.get(key) == updated


def test_update_missing_key_without_default_raises_not_found(
    contract: tuple[JsonStore, Any, str],
) -> None:
    store, _, prefix = contract
    with pytest.raises(NotFoundError):
        store.update(prefix + "absent.json", lambda v: v)


def test_update_missing_key_with_default_creates(contract: tuple[JsonStore, Any, str]) -> None:
    store, _, prefix = contract
    key = prefix + "doc.json"
    default: list[int] = []
    created = store.update(key, lambda v: [*v, 1], default=default)
    assert created.value == [1] and default == []  # the default itself is never mutated
    assert store.get(key) == created


def test_update_returning_equal_value_writes_nothing(
    contract: tuple[JsonStore, Any, str],
) -> None:
    store, client, prefix = contract
    key = prefix + "doc.json"
    first = store.create(key, {"a": 1, "b": [1, 2]})
    unchanged = store.update(key, lambda v: {"a": 1, "b": [1, 2]})
    assert unchanged.etag == first.etag
    assert client.head_object(Bucket=store.bucket, Key=key)["ETag"] == first.etag


def test_update_mutation_error_propagates_and_writes_nothing(
    contract: tuple[JsonStore, Any, str],
) -> None:
    store, client, prefix = contract
    key = prefix + "doc.json"
    store.create(key, {"a": 1})
    before = raw_bytes(client, store.bucket, key)

    def broken(value: Any) -> Any:
        value["a"] = 2
        raise RuntimeError("mutation failed")

    with pytest.raises(RuntimeError, match="mutation failed"):
        store.update(key, broken)
    assert raw_bytes(client, store.bucket, key) == before


def test_delete_with_etag(contract: tuple[JsonStore, Any, str],
                          request: pytest.FixtureRequest) -> None:
    store, _, prefix = contract
    key = prefix + "doc.json"
    first = store.create(key, {"v": 1})
    second = store.replace(key, {"v": 2}, etag=first.etag)
    if deviates(request.node.callspec.params["backend"], "conditional_delete"):
        for etag in (first.etag, second.etag):  # refused loudly, the object untouched
            with pytest.raises(StorageError) as caught:
                store.delete(key, etag=etag)
            assert caught.value.code == "NotImplemented" and not caught.value.transient
        assert store.get(key) == second
        return
    with pytest.raises(ConflictError):
        store.delete(key, etag=first.etag)
    assert store.get(key) == second
    store.delete(key, etag=second.etag)
    with pytest.raises(NotFoundError):
        store.get(key)


def test_delete_without_etag_of_missing_key_is_a_no_op(
    contract: tuple[JsonStore, Any, str],
) -> None:
    store, _, prefix = contract
    store.delete(prefix + "absent.json")


def test_corrupt_bytes_raise_and_are_never_overwritten(
    contract: tuple[JsonStore, Any, str],
) -> None:
    store, client, prefix = contract
    key = prefix + "doc.json"
    garbage = b'{"items": [1, 2'
    client.put_object(Bucket=store.bucket, Key=key, Body=garbage)
    with pytest.raises(CorruptDocumentError) as caught:
        store.get(key)
    assert caught.value.key == key
    with pytest.raises(CorruptDocumentError):
        store.update(key, lambda v: v, default=[])
    assert raw_bytes(client, store.bucket, key) == garbage


def test_unencodable_value_is_refused_before_any_request(
    contract: tuple[JsonStore, Any, str],
) -> None:
    store, _, prefix = contract
    key = prefix + "doc.json"
    for value in ({"x": float("nan")}, {"x": {1, 2}}, {"x": b"bytes"}, {"x": object()}):
        with pytest.raises(InvalidValueError) as caught:
            store.create(key, value)
        assert caught.value.key == key
    with pytest.raises(NotFoundError):
        store.get(key)


def test_documents_over_the_limit_are_refused_both_ways(
    contract: tuple[JsonStore, Any, str],
) -> None:
    store, client, prefix = contract
    key = prefix + "big.json"
    with pytest.raises(DocumentTooLargeError) as caught:
        store.create(key, "x" * 5000)
    assert caught.value.limit == 4096 and caught.value.size > 4096
    big = b'"' + b"x" * 5000 + b'"'
    client.put_object(Bucket=store.bucket, Key=key, Body=big)
    with pytest.raises(DocumentTooLargeError):
        store.get(key)
    with pytest.raises(DocumentTooLargeError):
        store.update(key, lambda v: "small")
    assert raw_bytes(client, store.bucket, key) == big


@pytest.mark.parametrize("bad_key", ["", "/abs", "a//b", "a/../b", "./a", "a\nb", "a\x00b",
                                     "k" * 1025])
def test_invalid_keys_are_refused(contract: tuple[JsonStore, Any, str], bad_key: str) -> None:
    store, _, _ = contract
    with pytest.raises(InvalidKeyError):
        store.get(bad_key)
    with pytest.raises(InvalidKeyError):
        store.update(bad_key, lambda v: v, default={})


def test_verify_conditional_writes_passes_and_cleans_up(
    contract: tuple[JsonStore, Any, str],
) -> None:
    store, client, prefix = contract
    store.verify_conditional_writes(prefix=prefix)
    assert client.list_objects_v2(Bucket=store.bucket, Prefix=prefix).get("KeyCount") == 0
