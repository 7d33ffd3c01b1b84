"""Shared test helpers: retry settings for races, the naive code negative controls use, and
what a bucket holds or accepted."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from s3store import RetryPolicy

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
