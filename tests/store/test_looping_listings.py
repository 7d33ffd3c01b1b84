"""Listings that loop (LocalStack's `ListObjectVersions` with small pages): the store's
walks — the version search, `JsonStore.versions()` and `keys()` — end with a clear error
naming the server's fault, after a handful of requests, instead of walking forever (the
worker's walks, `recover` and `audit`: `tests/worker/test_looping_listings.py`).

`FaultPlan(cycle_listings=True)` makes `LocalS3` answer a listing's third page with its
first, so markers come back in a cycle: m1, m2, m1, m2...
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from s3store import REPEATED_LISTING, JsonStore, StorageError
from s3store.testing import FaultPlan, LocalS3
from tests.cli_harness import fake_aws
from tests.helpers import listing_requests

KEY = "doc.json"


@pytest.fixture(autouse=True)
def _aws(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_aws(monkeypatch)


@pytest.fixture
def looping() -> Iterator[LocalS3]:
    with LocalS3(versioning=True) as s3:
        yield s3


def write_versions(s3: LocalS3, key: str, count: int) -> None:
    client = s3.client()
    for n in range(count):
        client.put_object(Bucket=s3.bucket, Key=key, Body=f"[{n}]".encode())


def test_negative_control_boto3s_paginator_walks_the_cycle_forever(looping: LocalS3) -> None:
    """The harness loops, and boto3's own paginator does not notice: 50 pages of a
    three-version key, and still going."""
    write_versions(looping, KEY, 3)
    looping.set_faults(FaultPlan(cycle_listings=True))
    pages = looping.client().get_paginator("list_object_versions").paginate(
        Bucket=looping.bucket, Prefix=KEY, PaginationConfig={"PageSize": 1})
    assert sum(1 for _ in itertools.islice(pages, 50)) == 50


def test_without_the_fault_the_same_walk_ends(looping: LocalS3) -> None:
    write_versions(looping, KEY, 3)
    store = JsonStore(looping.client(), looping.bucket)
    assert len(list(store.versions(KEY, page_size=1))) == 3


@pytest.mark.parametrize("walk", ["versions", "keys"])
def test_the_stores_walks_stop_on_a_cycle(looping: LocalS3, walk: str) -> None:
    for key in ("a.json", "b.json", "c.json", "d.json"):
        write_versions(looping, key if walk == "keys" else KEY, 1)
    looping.set_faults(FaultPlan(cycle_listings=True))
    store = JsonStore(looping.client(), looping.bucket)
    looping.clear_requests()
    with pytest.raises(StorageError) as caught:
        list(store.versions(KEY, page_size=1) if walk == "versions"
             else store.keys(page_size=1))
    assert caught.value.code == REPEATED_LISTING and not caught.value.transient
    assert "loops" in str(caught.value)
    assert listing_requests(looping) <= 4
