"""update()'s compare-and-swap path under what S3 answers: 412, 404, 409, 503, 403...

The 412 and 404 come from real competing writers (a write or delete slipped in
between update()'s read and its write); 409 and 503 are injected by LocalS3.
"""

from __future__ import annotations

from typing import Any

import pytest

from s3store import (
    ConflictError,
    JsonStore,
    NotFoundError,
    RetriesExhaustedError,
    RetryPolicy,
    StorageError,
)
from s3store.testing import LocalS3
from tests.helpers import raw_bytes

KEY = "doc.json"


def puts(local_s3: LocalS3) -> list[int]:
    """Statuses of the object PUTs the server answered, in order."""
    return [r.status for r in local_s3.requests if r.method == "PUT" and r.key == KEY]


def test_competing_write_between_read_and_write_is_kept(
    local_s3: LocalS3, store: JsonStore
) -> None:
    store.create(KEY, ["first"])
    other = local_s3.client()
    calls = 0

    def append_mine(items: list[str]) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 1:  # another writer lands after our read: our If-Match must fail
            store.replace(KEY, ["first", "theirs"], etag=store.get(KEY).etag)
        return [*items, "mine"]

    local_s3.clear_requests()
    result = store.update(KEY, append_mine)
    assert result.value == ["first", "theirs", "mine"]
    assert calls == 2
    assert puts(local_s3) == [200, 412, 200]
    assert store.get(KEY).value == ["first", "theirs", "mine"]
    assert other.head_object(Bucket=store.bucket, Key=KEY)["ETag"] == result.etag


def test_document_deleted_between_read_and_write_is_recreated_from_default(
    local_s3: LocalS3, store: JsonStore
) -> None:
    store.create(KEY, ["old"])
    calls = 0

    def append(items: list[str]) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            store.delete(KEY)
        return [*items, "new"]

    local_s3.clear_requests()
    result = store.update(KEY, append, default=[])
    assert result.value == ["new"]
    # 404 NoSuchKey on the If-Match write, then a create with If-None-Match.
    statuses = [(r.method, r.status, "If-None-Match" in r.headers)
                for r in local_s3.requests if r.method == "PUT"]
    assert statuses == [("PUT", 404, False), ("PUT", 200, True)]


def test_document_deleted_between_read_and_write_without_default_is_not_found(
    store: JsonStore,
) -> None:
    store.create(KEY, ["old"])

    def delete_then_append(items: list[str]) -> list[str]:
        store.delete(KEY)
        return [*items, "new"]

    with pytest.raises(NotFoundError):
        store.update(KEY, delete_then_append)


def test_concurrent_create_turns_into_update(local_s3: LocalS3, store: JsonStore) -> None:
    calls = 0

    def append(items: list[str]) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            store.create(KEY, ["theirs"])
        return [*items, "mine"]

    assert store.update(KEY, append, default=[]).value == ["theirs", "mine"]


def test_409_conditional_request_conflict_is_retried(local_s3: LocalS3, store: JsonStore) -> None:
    store.create(KEY, [])
    local_s3.clear_requests()
    local_s3.inject("conditional_conflict", count=2)
    assert store.update(KEY, lambda items: [*items, 1]).value == [1]
    assert puts(local_s3) == [409, 409, 200]
    assert store.get(KEY).value == [1]


def test_503_slow_down_is_retried_by_botocore(local_s3: LocalS3, store: JsonStore) -> None:
    store.create(KEY, [])
    local_s3.clear_requests()
    local_s3.inject("slow_down", count=2)
    assert store.update(KEY, lambda items: [*items, 1]).value == [1]
    assert local_s3.stats()["faults"] == {"slow_down": 2}


def test_a_read_throttled_beyond_botocores_retries_fails_at_once_as_transient(
    local_s3: LocalS3,
) -> None:
    slept: list[float] = []
    store = JsonStore(local_s3.client(max_attempts=2), local_s3.bucket, cache_size=0,
                      retry=RetryPolicy(sleep=slept.append))
    store.create(KEY, [])
    local_s3.clear_requests()
    local_s3.inject("slow_down", count=2)
    with pytest.raises(StorageError) as caught:
        store.update(KEY, lambda items: [*items, 1])  # its GET is throttled twice
    assert caught.value.transient and caught.value.code == "SlowDown"
    assert caught.value.key == KEY and caught.value.request_id
    assert len(local_s3.requests) == 2 and slept == []  # botocore's 2 attempts, no more
    assert store.get(KEY).value == []


def test_a_throttled_write_is_retried_by_the_store_alone(local_s3: LocalS3) -> None:
    slept: list[float] = []
    store = JsonStore(local_s3.client(max_attempts=5), local_s3.bucket,
                      retry=RetryPolicy(max_attempts=3, sleep=slept.append))
    store.create(KEY, [])
    local_s3.clear_requests()
    local_s3.inject("slow_down", count=3)
    with pytest.raises(RetriesExhaustedError) as caught:
        store.update(KEY, lambda items: [*items, 1])  # written against the cache: no GET
    assert caught.value.attempts == 3 and len(slept) == 2
    assert [(r.method, r.status) for r in local_s3.requests] == [("PUT", 503)] * 3
    assert store.get(KEY).value == []


def test_retries_exhausted_says_how_many_attempts(local_s3: LocalS3) -> None:
    slept: list[float] = []
    store = JsonStore(local_s3.client(), local_s3.bucket,
                      retry=RetryPolicy(max_attempts=3, sleep=slept.append))
    store.create(KEY, 0)
    competitor = JsonStore(local_s3.client(), local_s3.bucket)

    def always_overtaken(value: int) -> int:
        competitor.update(KEY, lambda v: v + 1)
        return value + 100

    with pytest.raises(RetriesExhaustedError) as caught:
        store.update(KEY, always_overtaken)
    assert caught.value.attempts == 3 and caught.value.key == KEY
    assert caught.value.elapsed >= 0 and isinstance(caught.value.__cause__, ConflictError)
    assert "3 attempts" in str(caught.value)
    assert len(slept) == 2
    # Only the competitor's writes landed: one per run of the mutation, which ran on the
    # cached value first (a wrong guess: a request, not an attempt), then 3 times fresh.
    assert store.get(KEY).value == 4


@pytest.mark.parametrize("kind", ["access_denied", "no_such_bucket"])
def test_permanent_errors_fail_at_once_and_are_never_retried(
    local_s3: LocalS3, kind: str
) -> None:
    client = local_s3.client()
    client.put_object(Bucket=local_s3.bucket, Key=KEY, Body=b"[1]")
    local_s3.clear_requests()
    if kind == "access_denied":
        store = JsonStore(client, local_s3.bucket)
        local_s3.inject("access_denied", count=5)
        code = "AccessDenied"
    else:
        store = JsonStore(client, "no-such-bucket-here")
        code = "NoSuchBucket"
    with pytest.raises(StorageError) as caught:
        store.update(KEY, lambda items: [*items, 2])
    assert caught.value.code == code and not caught.value.transient
    assert caught.value.key == KEY
    assert len(local_s3.requests) == 1
    local_s3.set_faults(local_s3.faults)  # drop the injections left over
    assert raw_bytes(client, local_s3.bucket, KEY) == b"[1]"


def test_conditional_write_errors_carry_the_etag(store: JsonStore) -> None:
    first = store.create(KEY, {"v": 1})
    store.replace(KEY, {"v": 2}, etag=first.etag)
    with pytest.raises(ConflictError) as caught:
        store.replace(KEY, {"v": 3}, etag=first.etag)
    error: Any = caught.value
    assert error.etag == first.etag and error.code == "PreconditionFailed"
