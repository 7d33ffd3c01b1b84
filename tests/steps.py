"""The store's steps (`s3store._steps`) performed the blocking way, for tests that drive
one part of the core on its own: an `ObjectClient`, `resolve`, a `GroupCommit`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, TypeVar

from s3store._objects import (
    WRITE_ID_METADATA,
    KeyListing,
    ObjectClient,
    VersionListing,
    prepare_client,
    send,
)
from s3store._steps import Answer, Request, Steps, run

__all__ = ["Blocking", "answered_by", "blocking_flush", "listed", "submit"]

T = TypeVar("T")


def listed(listing: VersionListing | KeyListing, client: Any) -> Iterator[Any]:
    """A listing's items, each page requested with `client` as it is needed."""
    while (page := run(listing.page(), partial(send, client))) is not None:
        yield from page


class Blocking:
    """An `ObjectClient` whose methods make their requests with a boto3 `client` and
    return the outcome (listings as iterators), as `JsonStore` performs them."""

    def __init__(self, client: Any, bucket: str, **options: Any) -> None:
        prepare_client(client)
        self.client = client
        self.objects = ObjectClient(bucket, **options)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.objects, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            if isinstance(result, VersionListing | KeyListing):
                return listed(result, self.client)
            return run(result, partial(send, self.client))
        return call


def blocking_flush(flush: Callable[[list[Any]], None]) -> Callable[[list[Any]], Steps[None]]:
    """A plain `flush(batch)` as the steps `GroupCommit.submit` takes."""
    def steps(batch: list[Any]) -> Steps[None]:
        flush(batch)
        return
        yield  # a generator function
    return steps


def submit(group: Any, key: str, pending: Any, flush: Callable[[list[Any]], None],
           **kwargs: Any) -> None:
    """`group.submit(...)` with a plain `flush`, waiting in this thread."""
    run(group.submit(key, pending, blocking_flush(flush), **kwargs), _no_requests)


def _no_requests(request: Any) -> Any:
    raise AssertionError(f"a group-commit test made a request: {request}")


def answered_by(fake: Any) -> Callable[[Request], Answer]:
    """A `perform` that answers an `ObjectClient`'s read requests from `fake`, an object
    with `head(key, *, version_id)`, `versioning_enabled(key)` and `versions(key)` (its
    `ObjectHead`s and `ObjectVersion`s): a part of the core driven with no client at all."""
    def perform(request: Request) -> Answer:
        params = request.params
        if request.operation == "head_object":
            head = fake.head(params["Key"], version_id=params.get("VersionId"))
            metadata = {WRITE_ID_METADATA: head.write_id} if head.write_id else {}
            return Answer({"ETag": head.etag, "VersionId": head.version_id,
                           "Metadata": metadata})
        if request.operation == "get_bucket_versioning":
            enabled = fake.versioning_enabled(request.key)
            return Answer({"Status": "Enabled" if enabled else "Suspended"})
        assert request.operation == "list_object_versions", request
        return Answer({"IsTruncated": False, "Versions": [
            {"Key": params["Prefix"], "VersionId": v.version_id, "ETag": v.etag,
             "LastModified": v.last_modified} for v in fake.versions(params["Prefix"])]})
    return perform
