"""Conditional S3 object requests, and the one place botocore's errors become ours.

This is the only module that imports botocore. It sends `GetObject`, `HeadObject`,
conditional `PutObject` and conditional `DeleteObject`, and translates every
`ClientError` / `BotoCoreError` into the `s3store.errors` tree:

| S3 answer                                     | error                                 |
|-----------------------------------------------|---------------------------------------|
| 412 `PreconditionFailed` (`If-None-Match: *`) | `AlreadyExistsError`                  |
| 412 `PreconditionFailed` (`If-Match`)         | `ConflictError`                       |
| 404 `NoSuchKey` on an `If-Match` write/delete | `ConflictError` (the object is gone)  |
| 404 `NoSuchKey` / `404` on a read             | `NotFoundError`                       |
| 409 `ConditionalRequestConflict`              | `ConflictError` (re-read and retry)   |
| 503 `SlowDown`, other 5xx, throttling codes,  | `StorageError(transient=True)`        |
| connection errors, read/connect timeouts      |                                       |
| `AccessDenied`, `NoSuchBucket`, anything else | `StorageError(transient=False)`       |

Writes (`put`, conditional `delete`) differ in two ways:

- botocore does not retry them: a retry of a conditional write whose first answer
  was lost sees 412 although the write landed. A `needs-retry` handler registered
  first on the client answers "no" while a store write is in flight (a context
  variable says so); every other request keeps botocore's retries. The store
  retries its writes itself (see `s3store.retry`).
- an answer that may come after the write landed — 5xx other than 503 `SlowDown`,
  a dropped connection, a read timeout — raises `OutcomeUnknownError`: the store
  then asks `HeadObject` whether the object carries the write's id
  (`x-amz-meta-s3store-write-id`, stamped on every `put`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import urllib3.exceptions
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

from s3store.errors import (
    AlreadyExistsError,
    ConflictError,
    DocumentTooLargeError,
    NotFoundError,
    OutcomeUnknownError,
    S3StoreError,
    StorageError,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "RACING_CONDITIONAL_WRITES",
    "WRITE_ID_METADATA",
    "ObjectClient",
    "ObjectHead",
    "ObjectVersion",
    "StoredObject",
    "client_config",
    "translate_client_error",
]

log = logging.getLogger("s3store")

_THROTTLING_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests"}
)
_TRANSIENT_CODES = frozenset({"RequestTimeout", "InternalError", "ServiceUnavailable"})

RACING_CONDITIONAL_WRITES = "ConditionalRequestConflict"
"""S3's 409 code when conditional writes to one key race: nothing landed, retry."""

WRITE_ID_METADATA = "s3store-write-id"
"""User-metadata key of the unique id stamped on every write (`x-amz-meta-s3store-write-id`)."""

_VETO_ID = "s3store.no-botocore-retry-of-store-writes"
_store_write_in_flight: ContextVar[bool] = ContextVar("s3store_write_in_flight", default=False)


def _veto_botocore_retry(**_: Any) -> bool | None:
    """`needs-retry` handler: False (no retry) for the store's writes, no opinion otherwise."""
    return False if _store_write_in_flight.get() else None


@contextmanager
def _without_botocore_retries() -> Iterator[None]:
    token = _store_write_in_flight.set(True)
    try:
        yield
    finally:
        _store_write_in_flight.reset(token)


def client_config(**options: Any) -> Config:
    """A botocore client `Config` (built here: this is the one module importing botocore)."""
    return Config(**options)


@dataclass(frozen=True)
class StoredObject:
    """An object's bytes, the ETag they were read under, the id of the write that made
    them and when it was made (S3's whole-second `Last-Modified`)."""

    body: bytes
    etag: str
    write_id: str | None
    last_modified: datetime | None = None


@dataclass(frozen=True)
class ObjectHead:
    """An object version's ETag, version id and the id of the write that made it."""

    etag: str
    version_id: str | None
    write_id: str | None


@dataclass(frozen=True)
class ObjectVersion:
    """One version of an object, as `ListObjectVersions` lists it (newest first)."""

    version_id: str
    etag: str
    last_modified: datetime


def translate_client_error(  # noqa: PLR0911 - a table: one return per row
    exc: ClientError,
    *,
    key: str,
    etag: str | None = None,
    if_none_match: bool = False,
    write: bool = False,
) -> S3StoreError:
    """Map one botocore `ClientError` to the store's error for it.

    `etag` is the ETag a conditional request named (`If-Match`), `if_none_match`
    whether it was a create; both decide what 412 and 404 mean. For a `write`, an
    answer that can come after the write landed is `OutcomeUnknownError`.
    """
    error = exc.response.get("Error", {})
    meta = exc.response.get("ResponseMetadata", {})
    code = str(error.get("Code", "")) or None
    status = meta.get("HTTPStatusCode")
    request_id = meta.get("RequestId")
    detail = error.get("Message") or code or "no message"
    context: dict[str, Any] = {"key": key, "etag": etag, "code": code, "request_id": request_id}

    if status == 412 or code == "PreconditionFailed":
        if if_none_match:
            return AlreadyExistsError("the key already holds an object", **context)
        return ConflictError("the object changed since it was read (ETag mismatch)", **context)
    if code == RACING_CONDITIONAL_WRITES:
        return ConflictError("a concurrent conditional write raced this one", **context)
    if code in ("NoSuchKey", "404", "NotFound") or (status == 404 and code != "NoSuchBucket"):
        if etag is not None:
            return ConflictError("the object was deleted since it was read", **context)
        return NotFoundError("no object at this key", **context)
    throttled = code in _THROTTLING_CODES or status == 429
    server_error = code in _TRANSIENT_CODES or (isinstance(status, int) and status >= 500)
    if write and server_error and not throttled:
        return OutcomeUnknownError(f"S3 answered {status} {code}: the write may have landed",
                                   **context)
    transient = throttled or server_error
    return StorageError(
        f"S3 refused the request: {detail}", status=status, transient=transient, **context
    )


@contextmanager
def _translated(
    key: str, *, etag: str | None = None, if_none_match: bool = False, write: bool = False
) -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        raise translate_client_error(
            exc, key=key, etag=etag, if_none_match=if_none_match, write=write
        ) from exc
    except ConnectionError as exc:  # no connection: the request was never sent
        raise StorageError(
            f"could not reach S3: {type(exc).__name__}", key=key, etag=etag, transient=True
        ) from exc
    except (HTTPClientError, urllib3.exceptions.HTTPError) as exc:
        # Sent, then the answer was lost (closed, timed out). botocore wraps urllib3's
        # errors, but one escaped a body read in the soak, under load.
        if write:
            raise OutcomeUnknownError(
                f"the answer was lost ({type(exc).__name__}): the write may have landed",
                key=key, etag=etag,
            ) from exc
        raise StorageError(
            f"no answer from S3: {type(exc).__name__}", key=key, etag=etag, transient=True
        ) from exc
    except BotoCoreError as exc:
        raise StorageError(f"request failed: {type(exc).__name__}", key=key, etag=etag) from exc


class ObjectClient:
    """A bucket seen through a boto3 S3 client: reads, conditional writes, conditional deletes.

    `expected_bucket_owner`, when set, is sent as `ExpectedBucketOwner` on every request,
    so that a bucket that changed hands is refused (403) instead of written to.
    """

    def __init__(
        self, client: S3Client, bucket: str, *, expected_bucket_owner: str | None = None
    ) -> None:
        self.client = client
        self.bucket = bucket
        self._owner: dict[str, Any] = (
            {"ExpectedBucketOwner": expected_bucket_owner} if expected_bucket_owner else {}
        )
        for operation in ("PutObject", "DeleteObject"):
            # unique_id: registered once per client, however many stores share it.
            handler: Any = _veto_botocore_retry  # botocore's stubs expect handlers to return None
            client.meta.events.register_first(
                f"needs-retry.s3.{operation}", handler, unique_id=_VETO_ID + operation
            )

    def get(self, key: str, *, max_bytes: int) -> StoredObject:
        """Read an object. Raises `NotFoundError`, `DocumentTooLargeError`, `StorageError`."""
        with _translated(key):
            response = self.client.get_object(Bucket=self.bucket, Key=key, **self._owner)
            size = response.get("ContentLength", 0)
            body = response["Body"]
            try:
                if size > max_bytes:
                    raise DocumentTooLargeError(
                        f"stored document is {size} bytes, over the limit of {max_bytes}",
                        key=key, size=size, limit=max_bytes,
                    )
                data = body.read(max_bytes + 1)
            finally:
                body.close()
        if len(data) > max_bytes:
            raise DocumentTooLargeError(
                f"stored document is over the limit of {max_bytes} bytes",
                key=key, size=len(data), limit=max_bytes,
            )
        log.debug("GET %s -> %s (%d bytes)", key, response["ETag"], len(data))
        return StoredObject(
            body=data,
            etag=response["ETag"],
            write_id=response.get("Metadata", {}).get(WRITE_ID_METADATA),
            last_modified=response.get("LastModified"),
        )

    def head(self, key: str, *, version_id: str | None = None) -> ObjectHead:
        """The current object's (or one version's) ETag and write id.

        A read: botocore retries it. Raises `NotFoundError`, `StorageError`.
        """
        version: dict[str, Any] = {"VersionId": version_id} if version_id is not None else {}
        with _translated(key):
            response = self.client.head_object(
                Bucket=self.bucket, Key=key, **version, **self._owner
            )
        return ObjectHead(
            etag=response["ETag"],
            version_id=response.get("VersionId"),
            write_id=response.get("Metadata", {}).get(WRITE_ID_METADATA),
        )

    def versions(self, key: str, *, limit: int) -> tuple[list[ObjectVersion], bool]:
        """Up to `limit` versions of exactly `key`, newest first (delete markers left out),
        and whether that is all of them.

        On a bucket without versioning, only the current object (version id "null").
        """
        with _translated(key):
            response = self.client.list_object_versions(
                Bucket=self.bucket, Prefix=key, MaxKeys=limit, **self._owner
            )
        versions = [
            ObjectVersion(item["VersionId"], item["ETag"], item["LastModified"])
            for item in response.get("Versions", []) if item["Key"] == key
        ]
        return versions, not response.get("IsTruncated", False)

    def put(
        self,
        key: str,
        body: bytes,
        *,
        write_id: str,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        """Write an object stamped with `write_id`, conditionally; returns the new ETag.

        `if_match`: only replace the object with this ETag (`ConflictError` otherwise,
        also when it is gone). `if_none_match`: only create (`AlreadyExistsError`).
        Sent once (botocore does not retry it); a lost answer is `OutcomeUnknownError`.
        """
        condition: dict[str, Any] = {}
        if if_match is not None:
            condition["IfMatch"] = if_match
        if if_none_match:
            condition["IfNoneMatch"] = "*"
        with _translated(key, etag=if_match, if_none_match=if_none_match, write=True), \
                _without_botocore_retries():
            response = self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
                Metadata={WRITE_ID_METADATA: write_id},
                **condition,
                **self._owner,
            )
        log.debug("PUT %s if_match=%s create=%s -> %s", key, if_match, if_none_match,
                  response["ETag"])
        return response["ETag"]

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        """Delete an object; with `if_match`, only that version (`ConflictError` otherwise).

        A conditional delete is sent once, like `put`; a lost answer is `OutcomeUnknownError`.
        """
        if if_match is None:  # idempotent: botocore may retry it as it likes
            with _translated(key):
                self.client.delete_object(Bucket=self.bucket, Key=key, **self._owner)
        else:
            with _translated(key, etag=if_match, write=True), _without_botocore_retries():
                self.client.delete_object(
                    Bucket=self.bucket, Key=key, IfMatch=if_match, **self._owner
                )
        log.debug("DELETE %s if_match=%s", key, if_match)
