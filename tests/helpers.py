"""Shared test helpers: retry settings for races, the naive code negative controls use,
what a bucket holds or accepted, and what a refused key's error says."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from s3store import InvalidKeyError, RetryPolicy

if TYPE_CHECKING:
    from s3store.testing import LocalS3

# Conflicts are frequent in the race tests: many attempts, tiny backoff (tests never time).
FAST_RETRY = RetryPolicy(max_attempts=500, base_delay=0.01, max_delay=0.3, deadline=None)


def naive_append(client: Any, bucket: str, key: str, item: Any) -> None:
    """The incident's code: read the list (or start empty), append, unconditional PutObject."""
    try:
        items: list[Any] = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    except client.exceptions.NoSuchKey:
        items = []
    items.append(item)
    client.put_object(Bucket=bucket, Key=key, Body=json.dumps(items).encode())


def raw_bytes(client: Any, bucket: str, key: str) -> bytes:
    """The object's stored bytes, read straight from S3."""
    body: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def stored_or_none(client: Any, bucket: str, key: str) -> bytes | None:
    """The object's raw bytes, or None if the key holds no object."""
    try:
        return raw_bytes(client, bucket, key)
    except client.exceptions.NoSuchKey:
        return None


def writes_accepted(local_s3: LocalS3) -> int:
    """PUT and DELETE requests the server has accepted so far.

    (A store may send a conditional write against what it last knew, which S3 then
    refuses: that writes nothing, and is not counted.)
    """
    return sum(1 for record in local_s3.requests
               if record.method in ("PUT", "DELETE") and record.status < 300)


def listing_requests(local_s3: LocalS3) -> int:
    """Listings (GETs of the bucket, no key) the server has served so far."""
    return sum(1 for r in local_s3.requests if r.method == "GET" and not r.key)


def invalid_key(call: Callable[[], object]) -> InvalidKeyError:
    """The `InvalidKeyError` `call` raises (the test fails if it raises anything else)."""
    with pytest.raises(InvalidKeyError) as caught:
        call()
    return caught.value


def printable_text(error: BaseException) -> str:
    """`str(error)`, checked fit to print and log: valid UTF-8, no control characters, short."""
    text = str(error)
    text.encode("utf-8")  # a lone surrogate would make this raise
    assert not any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text), text
    assert len(text) < 400, text
    return text
