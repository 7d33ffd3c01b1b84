"""Shared test helpers: retry settings for races, and the naive code negative controls use."""

from __future__ import annotations

import json
from typing import Any

from s3store import RetryPolicy

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
