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

botocore retries transient failures itself (per its client's retry config) before
an error reaches this module; see `s3store.retry` for how that combines with the
store's own retries.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    ConnectTimeoutError,
    ReadTimeoutError,
)

from s3store.errors import (
    AlreadyExistsError,
    ConflictError,
    DocumentTooLargeError,
    NotFoundError,
    S3StoreError,
    StorageError,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["ObjectClient", "ObjectHead", "StoredObject", "translate_client_error"]

log = logging.getLogger("s3store")

_THROTTLING_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests"}
)
_TRANSIENT_CODES = frozenset({"RequestTimeout", "InternalError", "ServiceUnavailable"})


@dataclass(frozen=True)
class StoredObject:
    """An object's bytes and the ETag they were read under."""

    body: bytes
    etag: str


@dataclass(frozen=True)
class ObjectHead:
    """An object's ETag, size and user metadata, from `HeadObject`."""

    etag: str
    size: int
    metadata: Mapping[str, str]


def translate_client_error(
    exc: ClientError,
    *,
    key: str,
    etag: str | None = None,
    if_none_match: bool = False,
) -> S3StoreError:
    """Map one botocore `ClientError` to the store's error for it.

    `etag` is the ETag a conditional request named (`If-Match`), `if_none_match`
    whether it was a create; both decide what 412 and 404 mean.
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
    if code == "ConditionalRequestConflict" or (status == 409 and etag is not None):
        return ConflictError("a concurrent conditional write raced this one", **context)
    if code in ("NoSuchKey", "404", "NotFound") or (status == 404 and code != "NoSuchBucket"):
        if etag is not None:
            return ConflictError("the object was deleted since it was read", **context)
        return NotFoundError("no object at this key", **context)
    transient = (
        code in _THROTTLING_CODES
        or code in _TRANSIENT_CODES
        or (isinstance(status, int) and (status >= 500 or status == 429))
    )
    return StorageError(
        f"S3 refused the request: {detail}", status=status, transient=transient, **context
    )


@contextmanager
def _translated(
    key: str, *, etag: str | None = None, if_none_match: bool = False
) -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        raise translate_client_error(exc, key=key, etag=etag, if_none_match=if_none_match) from exc
    except (ConnectionError, ReadTimeoutError, ConnectTimeoutError) as exc:
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
        return StoredObject(body=data, etag=response["ETag"])

    def head(self, key: str) -> ObjectHead:
        """An object's ETag, size and metadata. Raises `NotFoundError`, `StorageError`."""
        with _translated(key):
            response = self.client.head_object(Bucket=self.bucket, Key=key, **self._owner)
        return ObjectHead(
            etag=response["ETag"],
            size=response.get("ContentLength", 0),
            metadata=response.get("Metadata", {}),
        )

    def put(
        self,
        key: str,
        body: bytes,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Write an object, conditionally; returns the new ETag.

        `if_match`: only replace the object with this ETag (`ConflictError` otherwise,
        also when it is gone). `if_none_match`: only create (`AlreadyExistsError`).
        """
        condition: dict[str, Any] = {}
        if if_match is not None:
            condition["IfMatch"] = if_match
        if if_none_match:
            condition["IfNoneMatch"] = "*"
        with _translated(key, etag=if_match, if_none_match=if_none_match):
            response = self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
                Metadata=dict(metadata or {}),
                **condition,
                **self._owner,
            )
        log.debug("PUT %s if_match=%s create=%s -> %s", key, if_match, if_none_match,
                  response["ETag"])
        return response["ETag"]

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        """Delete an object; with `if_match`, only that version (`ConflictError` otherwise)."""
        condition: dict[str, Any] = {"IfMatch": if_match} if if_match is not None else {}
        with _translated(key, etag=if_match):
            self.client.delete_object(Bucket=self.bucket, Key=key, **condition, **self._owner)
        log.debug("DELETE %s if_match=%s", key, if_match)
