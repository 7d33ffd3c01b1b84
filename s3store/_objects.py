"""Conditional S3 object requests, and the one place botocore's errors become ours.

This is the only module that imports botocore (with `s3store._sent`, its table of
which transport errors prove a request unsent). It sends `GetObject`, `HeadObject`,
conditional `PutObject` and conditional `DeleteObject`, lists versions, and
translates every `ClientError` / `BotoCoreError` into the `s3store._errors` tree:

| S3 answer                                     | error                                 |
|-----------------------------------------------|---------------------------------------|
| 412 `PreconditionFailed` (`If-None-Match: *`) | `AlreadyExistsError`                  |
| 412 `PreconditionFailed` (`If-Match`)         | `ConflictError`                       |
| 404 `NoSuchKey` on an `If-Match` write/delete | `ConflictError` (the object is gone)  |
| 404 `NoSuchKey` / `404` on a read             | `NotFoundError`                       |
| 409 `ConditionalRequestConflict`              | `ConflictError` (re-read and retry)   |
| 501 `NotImplemented` (an unsupported header) | `StorageError(transient=False)`       |
| 503 `SlowDown`, other 5xx, throttling codes,  | `StorageError(transient=True)`        |
| connection errors, read/connect timeouts      |                                       |
| `AccessDenied`, `NoSuchBucket`, anything else | `StorageError(transient=False)`       |

Writes (`put`, conditional `delete`) differ in two ways:

- botocore never retries them: a retry of a conditional write whose first answer
  was lost sees 412 although the write landed. A `needs-retry` handler registered
  first on the client takes the first answer of a store write away from botocore's
  retry handlers when one of them could retry it (a 5xx, a throttle, an exception):
  it raises, so that no later handler runs — none retries, none charges the
  client's retry quota (a handler that answered "no retry" would still let
  botocore's standard handler charge it, and botocore before 1.43.3 read such an
  answer as "retry after 0 s"). Every other request of the client keeps botocore's
  retries as configured. The store retries its writes itself (see `s3store._retry`).
- an answer that may come after the write landed — a 5xx other than 503 `SlowDown`
  or 501, a transport error that does not prove the request unsent
  (`s3store._sent`) — raises the private `AnswerLost`: the store then decides what
  became of the write (`s3store._resolve`) and only it raises `OutcomeUnknownError`.
"""

from __future__ import annotations

import concurrent.futures
import functools
import http.client
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar

import botocore.session
import urllib3.exceptions
from botocore.compat import HAS_CRT
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from s3store._errors import (
    AlreadyExistsError,
    ConflictError,
    DocumentTooLargeError,
    NotFoundError,
    S3StoreError,
    StorageError,
)
from s3store._figures import count_request
from s3store._sent import request_may_have_been_sent

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "RACING_CONDITIONAL_WRITES",
    "REPEATED_LISTING",
    "UNORDERED_LISTING",
    "WRITE_ID_METADATA",
    "AnswerLost",
    "ObjectClient",
    "ObjectHead",
    "ObjectVersion",
    "PutResult",
    "StoredObject",
    "checksum_algorithms",
    "client_config",
    "translate_client_error",
]

log = logging.getLogger(__name__)

_THROTTLING_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests"}
)
_TRANSIENT_CODES = frozenset({"RequestTimeout", "InternalError", "ServiceUnavailable"})

RACING_CONDITIONAL_WRITES = "ConditionalRequestConflict"
"""S3's 409 code when conditional writes to one key race: nothing landed, retry."""

REPEATED_LISTING = "RepeatedListingPage"
"""`StorageError.code` when a server's listing repeats a page (it would loop forever)."""

UNORDERED_LISTING = "UnorderedListing"
"""`StorageError.code` when a server lists keys out of key order."""

WRITE_ID_METADATA = "s3store-write-id"
"""User-metadata key of the unique id stamped on every write (`x-amz-meta-s3store-write-id`)."""

_UNVERSIONED = "null"  # S3's version id of an object written while versioning was off

_TRANSPORT_ERRORS = (HTTPClientError, BotoConnectionError, urllib3.exceptions.HTTPError, OSError,
                     http.client.HTTPException, concurrent.futures.CancelledError)
"""What the network did (transient), unlike a refused signature or parameter."""

_T = TypeVar("_T")

_HANDLER_ID = "s3store._store-writes-answer-to-the-store"
_store_write_in_flight: ContextVar[bool] = ContextVar("s3store_write_in_flight", default=False)


class AnswerLost(Exception):
    """Internal: a write was sent and its answer lost; it may have landed.

    Raised by `ObjectClient.put` / `.delete`; never leaves the store, which resolves it
    and, where nobody can tell, raises the public `OutcomeUnknownError`.
    """

    def __init__(self, detail: str, *, key: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.key = key


class _FirstAnswer(Exception):
    """Internal: the first answer to a store write, taken from botocore's retry handlers."""

    def __init__(self, parsed: dict[str, Any] | None, caught: BaseException | None) -> None:
        super().__init__("the answer to a store write")
        self.parsed = parsed
        self.caught = caught


def _take_store_write_answer(
    response: Any = None, caught_exception: BaseException | None = None, **_: Any
) -> None:
    """`needs-retry` handler, first on the client: a store write's retryable answer is raised
    past botocore's own handlers (none of them runs, so none retries or charges quota)."""
    if not _store_write_in_flight.get():
        return
    if caught_exception is not None:
        raise _FirstAnswer(None, caught_exception)
    if response is not None:
        http, parsed = response
        if http.status_code >= 500 or http.status_code == 429:
            raise _FirstAnswer(parsed, None)


def _store_write(send: Callable[..., _T]) -> Callable[..., _T]:
    """`send` (a client method) as a store write: a first answer taken from botocore's
    retry handlers is raised as botocore would have raised it — after the `except` that
    caught the `_FirstAnswer`, not in it, so that the internal `_FirstAnswer` is in no
    error's `__context__`."""

    def sent(**params: Any) -> _T:
        token = _store_write_in_flight.set(True)
        try:
            return send(**params)
        except _FirstAnswer as answer:
            first = answer
        finally:
            _store_write_in_flight.reset(token)
        if first.caught is not None:
            raise first.caught
        raise ClientError(first.parsed or {}, "store write")  # type: ignore[arg-type]

    return sent


def client_config(**options: Any) -> Config:
    """A botocore client `Config` (built here: this is the one module importing botocore)."""
    return Config(**options)


_CRT_CHECKSUMS: Final = frozenset({"CRC32C", "CRC64NVME", "XXHASH64", "XXHASH3", "XXHASH128"})


@functools.cache
def checksum_algorithms() -> frozenset[str]:
    """The `PutObject` `ChecksumAlgorithm`s this botocore computes: its S3 model's names
    (1.35 has no CRC64NVME), less those that need awscrt when it is not installed."""
    model = botocore.session.get_session().get_service_model("s3")
    shape = model.operation_model("PutObject").input_shape
    member = shape.members.get("ChecksumAlgorithm") if shape is not None else None
    names = frozenset(getattr(member, "enum", None) or ())
    return names if HAS_CRT else names - _CRT_CHECKSUMS


@dataclass(frozen=True)
class StoredObject:
    """An object's bytes, the ETag they were read under, the id of the write that made
    them, and its version id (None on a bucket that never had versioning)."""

    body: bytes
    etag: str
    write_id: str | None
    version_id: str | None = None


@dataclass(frozen=True)
class ObjectHead:
    """An object version's ETag, version id and the id of the write that made it."""

    etag: str
    version_id: str | None
    write_id: str | None


@dataclass(frozen=True)
class ObjectVersion:
    """One version of an object (not a delete marker), as `ListObjectVersions` lists it."""

    version_id: str
    etag: str
    last_modified: datetime


@dataclass(frozen=True)
class PutResult:
    """What a landed `PutObject` answered: the new ETag, and its version id if any."""

    etag: str
    version_id: str | None


def _version_id(value: Any) -> str | None:
    return str(value) if value else None


def translate_client_error(  # noqa: PLR0911 - a table: one return per row
    exc: ClientError,
    *,
    key: str,
    etag: str | None = None,
    if_none_match: bool = False,
    header: str | None = None,
) -> S3StoreError:
    """Map one botocore `ClientError` to the store's error for it.

    `etag` is the ETag a conditional request named (`If-Match`), `if_none_match`
    whether it was a create; both decide what 412 and 404 mean. `header` names the
    conditional header sent, for a 501 (a server that does not implement it).
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
    if status == 501 or code == "NotImplemented":
        server_named = str(error.get("Header") or "")
        named = (header if header and (not server_named or header.startswith(server_named))
                 else f"{server_named} (sent with {header})" if server_named and header
                 else server_named or header or "a header of this request")
        return StorageError(
            f"the endpoint does not implement {named} ({detail}): it cannot be used for this",
            status=status, transient=False, **context)
    throttled = code in _THROTTLING_CODES or status == 429
    server_error = code in _TRANSIENT_CODES or (isinstance(status, int) and status >= 500)
    return StorageError(
        f"S3 refused the request: {detail}", status=status, transient=throttled or server_error,
        **context,
    )


def _may_have_landed(exc: ClientError) -> bool:
    """Can this error answer come after the write was applied (a 5xx but 501 and SlowDown)?"""
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code = exc.response.get("Error", {}).get("Code")
    if status == 501 or code == "NotImplemented" or code in _THROTTLING_CODES:
        return False
    return (isinstance(status, int) and status >= 500) or code in _TRANSIENT_CODES - {
        "RequestTimeout"}  # S3's RequestTimeout (400): the body never fully arrived


@contextmanager
def _translated(
    key: str, *, etag: str | None = None, if_none_match: bool = False, write: bool = False,
    header: str | None = None,
) -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        if write and _may_have_landed(exc):
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            raise AnswerLost(f"S3 answered {status} "
                             f"{exc.response.get('Error', {}).get('Code')}", key=key) from exc
        raise translate_client_error(
            exc, key=key, etag=etag, if_none_match=if_none_match, header=header
        ) from exc
    except S3StoreError:
        raise  # already ours (a document over the limit, found while reading)
    except Exception as exc:
        # Anything else from below: botocore's errors, urllib3's (an error answer's body
        # read is outside botocore's wrapping), http.client's, a CancelledError. Only some
        # classes prove that the request never left (s3store._sent).
        sent = request_may_have_been_sent(exc)
        if write and sent:
            raise AnswerLost(f"the answer was lost ({type(exc).__name__})", key=key) from exc
        # The network's fault is transient; a refused signature or parameter is not.
        transport = isinstance(exc, _TRANSPORT_ERRORS)
        raise StorageError(
            f"{'no answer from' if sent else 'could not reach'} S3: {type(exc).__name__}",
            key=key, etag=etag, transient=transport,
        ) from exc


class ObjectClient:
    """A bucket seen through a boto3 S3 client: reads, conditional writes, conditional deletes.

    It registers one `needs-retry` handler and one `before-send` counter on the client
    (once per client, however many stores share it); both act only on the store's own
    requests, never on the caller's. `expected_bucket_owner`,
    when set, is sent as `ExpectedBucketOwner` on every request, so that a bucket that
    changed hands is refused (403) instead of written to. `put_arguments` are the
    `PutObject` parameters of a `put` that names none (the store's write options: the
    probe's writes must pass the bucket's policy too).
    """

    def __init__(
        self, client: S3Client, bucket: str, *, expected_bucket_owner: str | None = None,
        put_arguments: Mapping[str, Any] | None = None,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.put_arguments: Mapping[str, Any] = dict(put_arguments or {})
        self._owner: dict[str, Any] = (
            {"ExpectedBucketOwner": expected_bucket_owner} if expected_bucket_owner else {}
        )
        for operation in ("PutObject", "DeleteObject"):
            handler: Any = _take_store_write_answer  # botocore's stubs expect handlers -> None
            client.meta.events.register_first(
                f"needs-retry.s3.{operation}", handler, unique_id=_HANDLER_ID + operation
            )
        # Each request botocore is about to send (one a stub or another handler answers
        # instead included; one whose handler raises not), only while a store call runs in
        # the thread (`s3store._figures`).
        counter: Any = count_request
        client.meta.events.register_last("before-send.s3", counter,
                                         unique_id=_HANDLER_ID + "count")

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
            version_id=_version_id(response.get("VersionId")),
        )

    def head(self, key: str, *, version_id: str | None = None) -> ObjectHead:
        """The current object's (or one version's) ETag, version id and write id.

        A read: botocore retries it. Raises `NotFoundError`, `StorageError`.
        """
        version: dict[str, Any] = {"VersionId": version_id} if version_id is not None else {}
        with _translated(key):
            response = self.client.head_object(
                Bucket=self.bucket, Key=key, **version, **self._owner
            )
        return ObjectHead(
            etag=response["ETag"],
            version_id=_version_id(response.get("VersionId")),
            write_id=response.get("Metadata", {}).get(WRITE_ID_METADATA),
        )

    def versioning_enabled(self, key: str) -> bool:
        """Does the bucket keep every version now (versioning `Enabled`, not `Suspended`)?

        Asked anew each time (versioning can be suspended at any moment). Raises
        `StorageError` (e.g. `AccessDenied` without `s3:GetBucketVersioning`).
        """
        return self.versioning_status(key) == "Enabled"

    def versioning_status(self, key: str = "") -> str:
        """The bucket's versioning: "Enabled", "Suspended", or "off" (never enabled).

        Raises `StorageError` (`key` names what it was asked for, in the error).
        """
        with _translated(key):
            response = self.client.get_bucket_versioning(Bucket=self.bucket, **self._owner)
        return str(response.get("Status") or "off")

    def versions(self, key: str, *, page_size: int = 100) -> Iterator[ObjectVersion]:
        """Every version of exactly `key` (delete markers left out), newest first, page by page.

        Raises `StorageError` — code `RepeatedListingPage` when the server repeats a page
        or a version (some S3-compatible servers loop) — rather than walking forever.
        """
        seen: set[str] = set()
        pages = self._pages(self.client.list_object_versions, "ListObjectVersions", key,
                            _VERSION_MARKERS,
                            Prefix=key, MaxKeys=page_size)
        for response in pages:
            for item in response.get("Versions", []):
                if item["Key"] != key:
                    if item["Key"] > key:
                        return  # listed in key order: past ours, nothing more of it
                    continue
                version_id = str(item.get("VersionId") or _UNVERSIONED)
                if version_id in seen:
                    raise _repeated(key, f"version {version_id} listed twice",
                                    "ListObjectVersions")
                seen.add(version_id)
                yield ObjectVersion(version_id, item["ETag"], item["LastModified"])

    def keys(self, prefix: str = "", *, page_size: int = 1000) -> Iterator[str]:
        """Every key under `prefix`, in key order, page by page (`ListObjectsV2`).

        Raises `StorageError` — code `RepeatedListingPage` when the server repeats a page
        or a key (it would loop) rather than walking forever, `UnorderedListing` when it
        lists keys out of key order (callers here rely on the order).
        """
        last: str | None = None
        firsts: set[str] = set()  # each page's first key: a page served again starts so
        pages = self._pages(self.client.list_objects_v2, "ListObjectsV2", prefix, _KEY_MARKERS,
                            Prefix=prefix, MaxKeys=page_size)
        for response in pages:
            for n, item in enumerate(response.get("Contents", [])):
                key = item["Key"]
                if last is not None and key <= last:
                    if key == last or key in firsts:
                        raise _repeated(prefix, f"key {key!r} listed again after {last!r}",
                                        "ListObjectsV2")
                    raise StorageError(
                        f"the server lists keys out of order ({key!r} after {last!r}); this "
                        "walk needs S3's key order (directory buckets list unordered)",
                        key=prefix, code=UNORDERED_LISTING, transient=False)
                if n == 0:
                    firsts.add(key)
                last = key
                yield key

    def _pages(self, list_page: Callable[..., Any], operation: str, key: str,
               markers: tuple[tuple[str, str], ...], **params: Any) -> Iterator[Any]:
        """The pages of one listing; `markers` pairs each field naming the next page in
        an answer with the parameter that asks for it. A page asked for twice (or a
        truncated page naming none) is the server looping: `StorageError`."""
        asked: dict[str, str] = {}
        seen: set[tuple[str, ...]] = set()
        while True:
            with _translated(key):
                response = list_page(Bucket=self.bucket, **params, **asked, **self._owner)
            yield response
            if not response.get("IsTruncated"):
                return
            following = tuple(str(response.get(field) or "") for field, _ in markers)
            if following in seen or not any(following):
                raise _repeated(key, f"the page after {following} was asked for twice"
                                if following in seen else "a truncated page names no next page",
                                operation)
            seen.add(following)
            asked = {param: value for (_, param), value in zip(markers, following, strict=True)
                     if value}

    def put(
        self,
        key: str,
        body: bytes,
        *,
        write_id: str,
        if_match: str | None = None,
        if_none_match: bool = False,
        arguments: Mapping[str, Any] | None = None,
    ) -> PutResult:
        """Write an object stamped with `write_id`, conditionally.

        `if_match`: only replace the object with this ETag (`ConflictError` otherwise,
        also when it is gone). `if_none_match`: only create (`AlreadyExistsError`).
        `arguments`: more `PutObject` parameters (`s3store._options.put_arguments`; None:
        `self.put_arguments`); their `Metadata` is sent beside the write id.
        Sent once (botocore does not retry it); a lost answer is the private `AnswerLost`.
        """
        extra = dict(self.put_arguments if arguments is None else arguments)
        metadata = {**extra.pop("Metadata", {}), WRITE_ID_METADATA: write_id}
        extra.setdefault("ContentType", "application/json")
        condition: dict[str, Any] = {}
        if if_match is not None:
            condition["IfMatch"] = if_match
        if if_none_match:
            condition["IfNoneMatch"] = "*"
        header = ("If-None-Match on PutObject" if if_none_match
                  else "If-Match on PutObject" if if_match else None)
        with _translated(key, etag=if_match, if_none_match=if_none_match, write=True,
                         header=header):
            response = _store_write(self.client.put_object)(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                Metadata=metadata,
                **extra,
                **condition,
                **self._owner,
            )
        log.debug("PUT %s if_match=%s create=%s -> %s", key, if_match, if_none_match,
                  response["ETag"])
        return PutResult(response["ETag"], _version_id(response.get("VersionId")))

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        """Delete an object; with `if_match`, only that version (`ConflictError` otherwise).

        A conditional delete is sent once, like `put`; a lost answer is `AnswerLost`.
        """
        if if_match is None:  # idempotent: botocore may retry it as it likes
            with _translated(key):
                self.client.delete_object(Bucket=self.bucket, Key=key, **self._owner)
        else:
            with _translated(key, etag=if_match, write=True,
                             header="If-Match on DeleteObject"):
                _store_write(self.client.delete_object)(
                    Bucket=self.bucket, Key=key, IfMatch=if_match, **self._owner
                )
        log.debug("DELETE %s if_match=%s", key, if_match)


_VERSION_MARKERS: Final = (("NextKeyMarker", "KeyMarker"),
                           ("NextVersionIdMarker", "VersionIdMarker"))
_KEY_MARKERS: Final = (("NextContinuationToken", "ContinuationToken"),)


def _repeated(key: str, what: str, operation: str) -> StorageError:
    return StorageError(f"the server's {operation} loops: {what}", key=key,
                        code=REPEATED_LISTING, transient=False)
