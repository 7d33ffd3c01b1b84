"""What differs below the two front ends, tested on both: large bodies arrive in pieces.

aiohttp's body read gives what has arrived so far, not all that was asked for (urllib3's
reads it all): a document is read to its end, or to one byte past the limit, on both.
"""

from __future__ import annotations

from typing import Any

import pytest

from s3store import DocumentTooLargeError
from s3store.testing import LocalS3
from tests.frontends import make_store

KEY = "big/doc.json"


@pytest.mark.parametrize("size", [70_000, 2_000_000])
def test_a_large_document_is_read_whole(request: pytest.FixtureRequest, front_end: str,
                                        local_s3: LocalS3, size: int) -> None:
    portal = request.getfixturevalue("portal") if front_end == "async" else None
    store: Any = make_store(front_end, local_s3.client(), local_s3.bucket, portal)
    value = {"blob": "x" * size, "steps": []}
    store.create(KEY, value)
    cold: Any = make_store(front_end, local_s3.client(), local_s3.bucket, portal)
    assert cold.get(KEY).value == value  # read from S3, not from a cache
    updated = cold.update(KEY, lambda v: {**v, "steps": [*v["steps"], "one"]})
    assert updated.value["steps"] == ["one"] and len(updated.value["blob"]) == size
    assert store.get(KEY).value == updated.value


def test_a_document_over_the_limit_is_refused_on_both(request: pytest.FixtureRequest,
                                                      front_end: str,
                                                      local_s3: LocalS3) -> None:
    portal = request.getfixturevalue("portal") if front_end == "async" else None
    local_s3.client().put_object(Bucket=local_s3.bucket, Key=KEY, Body=b'"' + b"y" * 300_000 + b'"')
    store: Any = make_store(front_end, local_s3.client(), local_s3.bucket, portal,
                            max_document_bytes=200_000)
    with pytest.raises(DocumentTooLargeError):
        store.get(KEY)
