"""Bad input gets a clear, typed error naming the key, and changes nothing.

For every kind of bad input — stored bytes that are not JSON, documents over
`max_document_bytes`, values JSON cannot hold, a `mutate` that raises or returns
the wrong type, keys and ids that must not be used, a missing bucket, access denied,
a key deleted between read and write — these tests show that the store raises an
`s3store` error whose `key` names the key (or id), that the stored object is
byte-identical afterwards (or still absent), and, where the input can be refused
up front, that no request reached S3 at all.

The worker's rows of the bad-input table are the worker's tests: a `change` returning no
step and the errors hostile ids get (`tests/worker/test_bad_input.py`), the wrong shape of
the steps array
(`tests/worker/test_db_service.py::test_a_corrupt_object_is_reported_and_left_byte_identical`)
and hostile ids refused before any request
(`tests/worker/test_db_service.py::test_hostile_ids_are_refused_before_any_request`).
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from s3store import (
    DEFAULT_MAX_DOCUMENT_BYTES,
    ConflictError,
    CorruptDocumentError,
    DocumentTooLargeError,
    InvalidKeyError,
    InvalidValueError,
    JsonStore,
    NotFoundError,
    RetryPolicy,
    S3StoreError,
    StorageError,
)
from s3store.testing import LocalS3
from tests.helpers import stored_or_none, writes_accepted

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Retries that never really wait (the store's sleep is injectable).
NO_WAIT = RetryPolicy(max_attempts=5, base_delay=0.0, max_delay=0.0, deadline=None,
                      sleep=lambda _seconds: None)


@pytest.fixture(scope="module")
def local_s3() -> Iterator[LocalS3]:
    """One server for the module: every test uses its own fresh keys."""
    with LocalS3() as s3:
        yield s3


@pytest.fixture
def client(local_s3: LocalS3) -> S3Client:
    """A plain boto3 client on the LocalS3: the test's own view of the bucket."""
    return local_s3.client()


@pytest.fixture
def store(local_s3: LocalS3) -> JsonStore:
    return JsonStore(local_s3.client(), local_s3.bucket, retry=NO_WAIT)


@pytest.fixture
def key() -> str:
    return f"bad-input/{uuid.uuid4().hex}.json"


def _put_raw(client: S3Client, bucket: str, key: str, body: bytes) -> None:
    client.put_object(Bucket=bucket, Key=key, Body=body)


# -- stored bytes that are not JSON --------------------------------------------------------

NOT_JSON = {
    "truncated": b'[{"step_order": 1, "output": "half a docu',
    "invalid-utf8": b'["\xff\xfe\xfd"]',
    "binary": bytes(range(256)),
    "nan-literal": b'[{"cost": NaN}]',
    "infinity-literal": b"[Infinity, -Infinity]",
    "utf8-bom": b"\xef\xbb\xbf[]",
    "trailing-garbage": b"[] []",
    "empty": b"",
}


@pytest.mark.parametrize("body", NOT_JSON.values(), ids=NOT_JSON.keys())
def test_bytes_that_are_not_json_are_corrupt_on_get_and_update_and_left_as_they_are(
        store: JsonStore, client: S3Client, local_s3: LocalS3, key: str, body: bytes) -> None:
    _put_raw(client, local_s3.bucket, key, body)
    writes = writes_accepted(local_s3)
    with pytest.raises(CorruptDocumentError) as on_get:
        store.get(key)
    assert on_get.value.key == key
    with pytest.raises(CorruptDocumentError) as on_update:
        store.update(key, lambda value: value, default=[])
    assert on_update.value.key == key
    assert writes_accepted(local_s3) == writes
    assert stored_or_none(client, local_s3.bucket, key) == body


# -- documents over max_document_bytes -----------------------------------------------------

LIMIT = 100


@pytest.fixture
def small_store(local_s3: LocalS3) -> JsonStore:
    return JsonStore(local_s3.client(), local_s3.bucket, retry=NO_WAIT,
                     max_document_bytes=LIMIT)


def _string_of_encoded_size(size: int) -> str:
    """A JSON string value whose stored form is exactly `size` bytes (quotes included)."""
    return "x" * (size - 2)


def test_default_max_document_bytes_is_8_mib_and_applies_towrites_accepted(
        client: S3Client, local_s3: LocalS3, key: str) -> None:
    assert DEFAULT_MAX_DOCUMENT_BYTES == 8 * 1024 * 1024
    default_store = JsonStore(local_s3.client(), local_s3.bucket)
    assert default_store.max_document_bytes == DEFAULT_MAX_DOCUMENT_BYTES
    requests = len(local_s3.requests)
    with pytest.raises(DocumentTooLargeError) as caught:
        default_store.create(key, _string_of_encoded_size(DEFAULT_MAX_DOCUMENT_BYTES + 1))
    assert (caught.value.key, caught.value.size, caught.value.limit) == (
        key, DEFAULT_MAX_DOCUMENT_BYTES + 1, DEFAULT_MAX_DOCUMENT_BYTES)
    assert len(local_s3.requests) == requests
    assert stored_or_none(client, local_s3.bucket, key) is None


def test_a_stored_document_over_the_limit_is_refused_on_get_and_update_and_left_as_it_is(
        small_store: JsonStore, client: S3Client, local_s3: LocalS3, key: str) -> None:
    at_limit = json.dumps(_string_of_encoded_size(LIMIT)).encode()
    _put_raw(client, local_s3.bucket, key, at_limit)
    assert small_store.get(key).value == json.loads(at_limit)  # the limit itself is allowed
    over = json.dumps(_string_of_encoded_size(LIMIT + 1)).encode()
    _put_raw(client, local_s3.bucket, key, over)
    writes = writes_accepted(local_s3)
    reads: list[Callable[[], object]] = [
        lambda: small_store.get(key), lambda: small_store.update(key, lambda value: "short")]
    for read in reads:
        with pytest.raises(DocumentTooLargeError) as caught:
            read()
        assert (caught.value.key, caught.value.size, caught.value.limit) == (key, LIMIT + 1,
                                                                              LIMIT)
    assert writes_accepted(local_s3) == writes
    assert stored_or_none(client, local_s3.bucket, key) == over


def test_create_and_replace_over_the_limit_are_refused_before_any_request(
        small_store: JsonStore, client: S3Client, local_s3: LocalS3, key: str) -> None:
    too_big = _string_of_encoded_size(LIMIT + 1)
    requests = len(local_s3.requests)
    with pytest.raises(DocumentTooLargeError) as on_create:
        small_store.create(key, too_big)
    assert len(local_s3.requests) == requests
    assert (on_create.value.key, on_create.value.size, on_create.value.limit) == (
        key, LIMIT + 1, LIMIT)
    assert stored_or_none(client, local_s3.bucket, key) is None

    document = small_store.create(key, _string_of_encoded_size(LIMIT))  # at the limit: fine
    before = stored_or_none(client, local_s3.bucket, key)
    requests = len(local_s3.requests)
    with pytest.raises(DocumentTooLargeError) as on_replace:
        small_store.replace(key, too_big, etag=document.etag)
    assert len(local_s3.requests) == requests
    assert (on_replace.value.key, on_replace.value.size) == (key, LIMIT + 1)
    assert stored_or_none(client, local_s3.bucket, key) == before


def test_an_update_whose_result_is_over_the_limit_writes_nothing(
        small_store: JsonStore, client: S3Client, local_s3: LocalS3, key: str) -> None:
    small_store.create(key, ["small"])
    before = stored_or_none(client, local_s3.bucket, key)
    writes = writes_accepted(local_s3)
    with pytest.raises(DocumentTooLargeError) as caught:
        small_store.update(key, lambda value: [*value, "y" * LIMIT])
    assert (caught.value.key, caught.value.limit) == (key, LIMIT)
    assert caught.value.size > LIMIT
    assert writes_accepted(local_s3) == writes
    assert stored_or_none(client, local_s3.bucket, key) == before


# -- values JSON cannot hold ---------------------------------------------------------------


def _circular() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


NOT_JSON_VALUES: dict[str, Callable[[], Any]] = {
    "nan": lambda: float("nan"),
    "inf": lambda: float("inf"),
    "minus-inf": lambda: [float("-inf")],
    "nested-nan": lambda: {"steps": [{"cost": float("nan")}]},
    "set": lambda: {1, 2},
    "bytes": lambda: b"raw",
    "datetime": lambda: {"at": datetime.datetime(2025, 1, 31, tzinfo=datetime.UTC)},
    "object": lambda: [object()],
    "tuple-key": lambda: {(1, 2): "x"},
    "circular": _circular,
}


@pytest.mark.parametrize("make", NOT_JSON_VALUES.values(), ids=NOT_JSON_VALUES.keys())
def test_values_json_cannot_hold_are_refused_create_and_replace_before_any_request(
        store: JsonStore, client: S3Client, local_s3: LocalS3, key: str,
        make: Callable[[], Any]) -> None:
    requests = len(local_s3.requests)
    with pytest.raises(InvalidValueError) as on_create:
        store.create(key, make())
    assert on_create.value.key == key
    assert len(local_s3.requests) == requests
    assert stored_or_none(client, local_s3.bucket, key) is None

    document = store.create(key, {"ok": True})
    before = stored_or_none(client, local_s3.bucket, key)
    requests = len(local_s3.requests)
    with pytest.raises(InvalidValueError) as on_replace:
        store.replace(key, make(), etag=document.etag)
    assert on_replace.value.key == key
    assert len(local_s3.requests) == requests
    assert stored_or_none(client, local_s3.bucket, key) == before


@pytest.mark.parametrize("make", NOT_JSON_VALUES.values(), ids=NOT_JSON_VALUES.keys())
def test_values_json_cannot_hold_are_refused_by_update_and_nothing_is_written(
        store: JsonStore, client: S3Client, local_s3: LocalS3, key: str,
        make: Callable[[], Any]) -> None:
    store.create(key, {"ok": True})
    before = stored_or_none(client, local_s3.bucket, key)
    missing = key + ".missing"
    writes = writes_accepted(local_s3)
    with pytest.raises(InvalidValueError) as on_existing:
        store.update(key, lambda value: make())
    assert on_existing.value.key == key
    with pytest.raises(InvalidValueError) as on_missing:
        store.update(missing, lambda value: make(), default={})
    assert on_missing.value.key == missing
    with pytest.raises(InvalidValueError) as bad_default:
        store.update(missing, lambda value: value, default=make())
    assert bad_default.value.key == missing
    assert writes_accepted(local_s3) == writes
    assert stored_or_none(client, local_s3.bucket, key) == before
    assert stored_or_none(client, local_s3.bucket, missing) is None


LONE_SURROGATE = "\ud800"  # a str Python holds but UTF-8 (hence JSON text) cannot encode


def test_a_string_utf8_cannot_encode_is_an_invalid_value(
        store: JsonStore, client: S3Client, local_s3: LocalS3, key: str) -> None:
    requests = len(local_s3.requests)
    with pytest.raises(InvalidValueError) as caught:
        store.create(key, {"text": LONE_SURROGATE})
    assert caught.value.key == key
    assert len(local_s3.requests) == requests
    assert stored_or_none(client, local_s3.bucket, key) is None


def test_a_stored_escaped_lone_surrogate_gives_a_typed_error_on_update(
        store: JsonStore, client: S3Client, local_s3: LocalS3, key: str) -> None:
    body = b'["\\ud800"]'
    _put_raw(client, local_s3.bucket, key, body)
    writes = writes_accepted(local_s3)
    with pytest.raises(S3StoreError) as caught:
        store.update(key, lambda value: [*value, "more"])
    assert caught.value.key == key
    assert writes_accepted(local_s3) == writes
    assert stored_or_none(client, local_s3.bucket, key) == body


# -- a mutate that raises or returns the wrong type ----------------------------------------


# Stored by another writer: each decodes, but to a value JSON text cannot encode again.
UNENCODABLE = {"float-overflow": b'{"x": 1e400}', "lone-surrogate": b'["\\ud800"]'}


@pytest.mark.parametrize("body", UNENCODABLE.values(), ids=UNENCODABLE.keys())
def test_an_update_may_replace_a_stored_value_that_cannot_be_encoded_again(
        store: JsonStore, client: S3Client, local_s3: LocalS3, key: str,
        body: bytes) -> None:
    """Whether the mutation changed anything is judged without re-encoding the old value
    (which raised `InvalidValueError` for a valid new one): a mutation that keeps the
    bad value is refused, one that returns a valid value is written, once."""
    _put_raw(client, local_s3.bucket, key, body)
    with pytest.raises(InvalidValueError):
        store.update(key, lambda value: value)
    assert stored_or_none(client, local_s3.bucket, key) == body
    writes = writes_accepted(local_s3)
    assert store.update(key, lambda value: {"fixed": True}).value == {"fixed": True}
    assert writes_accepted(local_s3) == writes + 1
    assert json.loads(stored_or_none(client, local_s3.bucket, key) or b"") == {"fixed": True}


class MutateFailedError(Exception):
    """What the test's mutate raises."""


def test_an_exception_from_mutate_propagates_unchanged_and_nothing_is_written(
        store: JsonStore, client: S3Client, local_s3: LocalS3, key: str) -> None:
    store.create(key, [1, 2])
    before = stored_or_none(client, local_s3.bucket, key)
    failure = MutateFailedError("mutate refused")

    def mutate(value: Any) -> Any:
        raise failure

    missing = key + ".missing"
    writes = writes_accepted(local_s3)
    with pytest.raises(MutateFailedError) as on_existing:
        store.update(key, mutate)
    assert on_existing.value is failure
    with pytest.raises(MutateFailedError) as on_missing:
        store.update(missing, mutate, default=[])
    assert on_missing.value is failure
    assert writes_accepted(local_s3) == writes
    assert stored_or_none(client, local_s3.bucket, key) == before
    assert stored_or_none(client, local_s3.bucket, missing) is None


@pytest.mark.parametrize("result", [{"a", "b"}, frozenset(), object(), b"bytes"],
                         ids=["set", "frozenset", "object", "bytes"])
def test_a_mutate_returning_a_non_json_value_is_an_invalid_value_and_nothing_is_written(
        store: JsonStore, client: S3Client, local_s3: LocalS3, key: str, result: Any) -> None:
    store.create(key, [1, 2])
    before = stored_or_none(client, local_s3.bucket, key)
    writes = writes_accepted(local_s3)
    with pytest.raises(InvalidValueError) as caught:
        store.update(key, lambda value: result)
    assert caught.value.key == key
    assert writes_accepted(local_s3) == writes
    assert stored_or_none(client, local_s3.bucket, key) == before


# -- keys and ids --------------------------------------------------------------------------

OVER_LONG_ASCII = "k/" + "x" * 1023  # 1025 bytes
OVER_LONG_UTF8 = "é" * 513  # 513 characters, 1026 bytes: the limit is in bytes

# Every bad key, as the caller gives it: the error's `key` is that key unchanged (None for
# one that is not a string, whose type its message names instead).
BAD_KEYS: list[Any] = [
    "",
    "/leading/slash.json",
    "a//b.json",
    "trailing/",
    ".",
    "..",
    "a/./b.json",
    "a/../b.json",
    "../escape.json",
    "a/..",
    "line\nbreak",
    "nul\x00byte",
    "tab\tkey",
    "del\x7fkey",
    "escape\x1b[31m",
    OVER_LONG_ASCII,
    OVER_LONG_UTF8,
    None,
    b"bytes/key",
]


def _store_calls(store: JsonStore, key: str) -> list[Callable[[], object]]:
    return [
        lambda: store.get(key),
        lambda: store.create(key, {"a": 1}),
        lambda: store.replace(key, {"a": 1}, etag='"0123"'),
        lambda: store.update(key, lambda value: value, default={}),
        lambda: store.delete(key),
        lambda: store.delete(key, etag='"0123"'),
    ]


@pytest.mark.parametrize("bad_key", BAD_KEYS,
                         ids=[f"bad-key-{n}" for n in range(len(BAD_KEYS))])
def test_bad_store_keys_are_refused_before_any_request(
        store: JsonStore, local_s3: LocalS3, bad_key: Any) -> None:
    requests = len(local_s3.requests)
    for call in _store_calls(store, bad_key):
        with pytest.raises(InvalidKeyError) as caught:
            call()
        assert caught.value.key == (bad_key if isinstance(bad_key, str) else None)
        assert repr(bad_key)[:40] in str(caught.value)  # escaped, and cut if long
    assert len(local_s3.requests) == requests


def test_keys_of_exactly_1024_bytes_are_accepted(store: JsonStore) -> None:
    """The positive control of the length rule: the limit itself is fine."""
    for key in ("k/" + "x" * 1022, "é" * 512):
        assert len(key.encode()) == 1024
        store.create(key, [1])
        assert store.get(key).value == [1]
        store.delete(key)


# -- S3 refuses: a missing bucket, access denied -------------------------------------------


def test_a_missing_bucket_is_a_permanent_storage_error_after_one_request(
        local_s3: LocalS3, key: str) -> None:
    bucket = f"s3store-missing-{uuid.uuid4().hex[:12]}"
    store = JsonStore(local_s3.client(), bucket, retry=NO_WAIT)
    for call in (lambda: store.get(key),
                 lambda: store.create(key, [1]),
                 lambda: store.update(key, lambda value: [*value, 1], default=[]),
                 lambda: store.delete(key)):
        requests = len(local_s3.requests)
        with pytest.raises(StorageError) as caught:
            call()
        assert (caught.value.code, caught.value.transient, caught.value.key) == (
            "NoSuchBucket", False, key)
        assert len(local_s3.requests) == requests + 1
    names = [b["Name"] for b in local_s3.client().list_buckets().get("Buckets", [])]
    assert bucket not in names


def _access_denied_cases(store: JsonStore, local_s3: LocalS3,
                         key: str, etag: str) -> dict[str, Callable[[], object]]:
    def inject_then(mutation: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def mutate(value: Any) -> Any:
            local_s3.inject("access_denied")  # the read passed: deny the write
            return mutation(value)
        return mutate

    return {
        "get": lambda: store.get(key),
        "create": lambda: store.create(key + ".new", [1]),
        "replace": lambda: store.replace(key, ["new"], etag=etag),
        "update-read": lambda: store.update(key, lambda value: [*value, "new"]),
        "update-write": lambda: store.update(key, inject_then(lambda value: [*value, "new"])),
        "delete": lambda: store.delete(key, etag=etag),
    }


@pytest.mark.parametrize("operation", ["get", "create", "replace", "update-read",
                                       "update-write", "delete"])
def test_access_denied_is_a_permanent_storage_error_never_retried_object_untouched(
        store: JsonStore, client: S3Client, local_s3: LocalS3, key: str,
        operation: str) -> None:
    etag = store.create(key, ["old"]).etag
    before = stored_or_none(client, local_s3.bucket, key)
    call = _access_denied_cases(store, local_s3, key, etag)[operation]
    requests = len(local_s3.requests)
    if operation != "update-write":
        local_s3.inject("access_denied")
    with pytest.raises(StorageError) as caught:
        call()
    assert (caught.value.code, caught.value.transient) == ("AccessDenied", False)
    assert caught.value.key in (key, key + ".new")
    log = local_s3.requests[requests:]
    assert [r.status for r in log].count(403) == 1
    assert log[-1].status == 403  # nothing was sent after the refusal: no retry
    assert stored_or_none(client, local_s3.bucket, key) == before
    assert stored_or_none(client, local_s3.bucket, key + ".new") is None


# -- a key deleted between read and write --------------------------------------------------


def test_update_of_a_key_deleted_after_the_read_is_not_found_and_nothing_is_resurrected(
        store: JsonStore, client: S3Client, local_s3: LocalS3, key: str) -> None:
    store.create(key, ["step 1"])
    calls: list[Any] = []

    def mutate(value: Any) -> Any:
        if not calls:
            client.delete_object(Bucket=local_s3.bucket, Key=key)  # another writer
        calls.append(value)
        return [*value, "step 2"]

    with pytest.raises(NotFoundError) as caught:
        store.update(key, mutate)
    assert caught.value.key == key
    assert calls == [["step 1"]]
    assert stored_or_none(client, local_s3.bucket, key) is None


def test_update_with_a_default_after_a_delete_starts_from_the_default_not_the_old_value(
        store: JsonStore, client: S3Client, local_s3: LocalS3, key: str) -> None:
    store.create(key, ["step 1"])
    deleted: list[bool] = []

    def mutate(value: Any) -> Any:
        if not deleted:
            client.delete_object(Bucket=local_s3.bucket, Key=key)
            deleted.append(True)
        return [*value, "step 2"]

    assert store.update(key, mutate, default=[]).value == ["step 2"]
    assert json.loads(stored_or_none(client, local_s3.bucket, key) or b"null") == ["step 2"]


def test_replace_with_the_etag_of_a_deleted_object_is_a_conflict_and_nothing_is_resurrected(
        store: JsonStore, client: S3Client, local_s3: LocalS3, key: str) -> None:
    document = store.create(key, ["old"])
    client.delete_object(Bucket=local_s3.bucket, Key=key)
    with pytest.raises(ConflictError) as caught:
        store.replace(key, ["new"], etag=document.etag)
    assert (caught.value.key, caught.value.etag) == (key, document.etag)
    assert stored_or_none(client, local_s3.bucket, key) is None
