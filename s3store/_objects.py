"""Conditional S3 object requests, and the one place botocore's errors become ours.

This is the only module that imports botocore (with `s3store._sent`, its table of
which transport errors prove a request unsent). `ObjectClient` says which requests to
make — `GetObject`, `HeadObject`, conditional `PutObject` and conditional `DeleteObject`,
version and key listings — and what their answers mean, as steps that do no I/O
(`s3store._steps`); `send` makes one with a blocking boto3 client (`s3store.aio` with
aiobotocore), and `translated` turns every `ClientError` / `BotoCoreError` (and what the
transport raises below botocore) into the `s3store._errors` tree:

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
import inspect
import logging
from collections.abc import Generator, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final, Protocol, TypeVar

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
from s3store._steps import Answer, Request, Steps, resolved

__all__ = [
    "RACING_CONDITIONAL_WRITES",
    "REPEATED_LISTING",
    "UNORDERED_LISTING",
    "WRITE_ID_METADATA",
    "AnswerLost",
    "KeyListing",
    "Listing",
    "ObjectClient",
    "ObjectHead",
    "ObjectVersion",
    "PutResult",
    "StoredObject",
    "VersionListing",
    "check_size",
    "checksum_algorithms",
    "client_config",
    "exchange",
    "first_answer",
    "prepare_client",
    "send",
    "store_write",
    "translate_client_error",
    "translated",
    "unsent",
    "writing",
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

_HANDLER_ID = "s3store._store-writes-answer-to-the-store"
_store_write_in_flight: ContextVar[bool] = ContextVar("s3store_write_in_flight", default=False)


class AnswerLost(Exception):
    """Internal: a write was sent and its answer lost; it may have landed.

    Raised for `ObjectClient.put` / `.delete`; never leaves the store, which resolves it
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


class _Flight:
    """A store write being made: whether botocore got as far as sending it (`before-send`)."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = False


_flight: ContextVar[_Flight | None] = ContextVar("s3store_flight", default=None)

_UNSENT = "s3store_unsent"  # set on a BaseException that interrupted a write never sent


def unsent(error: BaseException) -> bool:
    """Did `error` (a `BaseException` out of a store write: a cancelled task, Ctrl-C) stop
    the write before botocore sent it? Then it provably did not land."""
    return bool(getattr(error, _UNSENT, False))


def _mark_left(**_: Any) -> None:
    """`before-send` handler: the store write in flight in this thread or task is sent."""
    flight = _flight.get()
    if flight is not None:
        flight.left = True


@contextmanager
def store_write(request: Request) -> Iterator[_Flight]:
    """While a front end makes `request`: if it is a store write, the `needs-retry` handler
    takes its first retryable answer from botocore (`_FirstAnswer`, for `first_answer` to
    raise after the `except` that caught it, not in it, so that the internal `_FirstAnswer`
    is in no error's `__context__`), and `before-send` marks it sent (`_Flight.left`)."""
    flight = _Flight()
    token = _store_write_in_flight.set(request.write)
    sent = _flight.set(flight if request.write else None)
    try:
        yield flight
    finally:
        _flight.reset(sent)
        _store_write_in_flight.reset(token)


def writing() -> bool:
    """Is a store write being sent in this thread or task (`store_write`)?"""
    return _store_write_in_flight.get()


def first_answer(answer: _FirstAnswer) -> BaseException:
    """The error botocore would have raised for a store write's first answer."""
    if answer.caught is not None:
        return answer.caught
    return ClientError(answer.parsed or {}, "store write")  # type: ignore[arg-type]


def check_size(request: Request, response: Mapping[str, Any]) -> None:
    """Refuse a body over the request's limit before reading it (`ContentLength`)."""
    size = response.get("ContentLength", 0)
    limit = request.body_limit
    if limit is not None and size > limit:
        raise DocumentTooLargeError(f"stored document is {size} bytes, over the limit of {limit}",
                                    key=request.key, size=size, limit=limit)


def exchange(client: Any, request: Request) -> Generator[Any, Any, Answer]:
    """Make `request` with `client`, its errors translated into the store's: this yields
    each client call's result (`client.put_object(...)`, `body.read(n)`) and is sent back
    its outcome — the same value with boto3 (`send`), the awaited one with aiobotocore,
    whose calls are coroutines (`s3store.aio`)."""
    with translated(request):
        try:
            with store_write(request) as flight:
                response = yield getattr(client, request.operation)(**request.params)
        except _FirstAnswer as answer:
            first = answer
        except BaseException as exc:  # a cancelled task, Ctrl-C: goes on as it is...
            if request.write and not flight.left and not isinstance(exc, Exception):
                setattr(exc, _UNSENT, True)  # ...saying whether the write never left
            raise
        else:
            if request.body_limit is None:
                return Answer(response)
            stream = response["Body"]
            try:
                check_size(request, response)
                return Answer(response, (yield from _read(stream, request.body_limit + 1)))
            finally:
                closed = stream.close()  # aiobotocore's httpx body closes as a coroutine
                if inspect.isawaitable(closed):
                    yield closed
        raise first_answer(first)


def _read(stream: Any, most: int) -> Generator[Any, Any, bytes]:
    """Up to `most` bytes of a body, to its end: a read of aiohttp's body gives what has
    arrived so far, not all that was asked for (urllib3's reads it all)."""
    chunks: list[bytes] = []
    left = most
    while left > 0:
        chunk: bytes = yield stream.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def send(client: Any, request: Request) -> Answer:
    """Make `request` with a blocking boto3 client (`JsonStore`'s front end)."""
    return resolved(exchange(client, request))


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
def translated(request: Request) -> Iterator[None]:
    """Translate what making `request` raises into the store's errors (`AnswerLost` for a
    store write's answer that may have come after it landed)."""
    key, etag = request.key, request.etag
    try:
        yield
    except ClientError as exc:
        if request.write and _may_have_landed(exc):
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            raise AnswerLost(f"S3 answered {status} "
                             f"{exc.response.get('Error', {}).get('Code')}", key=key) from exc
        raise translate_client_error(
            exc, key=key, etag=etag, if_none_match=request.if_none_match, header=request.header
        ) from exc
    except S3StoreError:
        raise  # already ours (a document over the limit, found while reading)
    except Exception as exc:
        # Anything else from below: botocore's errors, urllib3's (an error answer's body
        # read is outside botocore's wrapping), http.client's, aiohttp's, a CancelledError of
        # concurrent.futures (asyncio's is a BaseException: it goes on as it is). Only some
        # classes prove that the request never left (s3store._sent).
        sent = request_may_have_been_sent(exc)
        if request.write and sent:
            raise AnswerLost(f"the answer was lost ({type(exc).__name__})", key=key) from exc
        # The network's fault is transient; a refused signature or parameter is not.
        transport = isinstance(exc, _TRANSPORT_ERRORS)
        raise StorageError(
            f"{'no answer from' if sent else 'could not reach'} S3: {type(exc).__name__}",
            key=key, etag=etag, transient=transport,
        ) from exc


def prepare_client(client: Any) -> None:
    """Register the store's two handlers on `client` (boto3's or aiobotocore's; once per
    client, however many stores share it): one `needs-retry` handler that takes a store
    write's first retryable answer from botocore's retry handlers, and one `before-send`
    counter. Both act only on the store's own requests, never on the caller's."""
    for operation in ("PutObject", "DeleteObject"):
        handler: Any = _take_store_write_answer  # botocore's stubs expect handlers -> None
        client.meta.events.register_first(
            f"needs-retry.s3.{operation}", handler, unique_id=_HANDLER_ID + operation
        )
    # Each request botocore is about to send (one a stub or another handler answers
    # instead included; one whose handler raises not), only while a store call runs in
    # the thread or task (`s3store._figures`).
    counter: Any = count_request
    client.meta.events.register_last("before-send.s3", counter, unique_id=_HANDLER_ID + "count")
    # First of the write's before-send handlers: whatever the others do (answer it, raise,
    # send it some way of their own), the write counts as sent from here on.
    for operation in ("PutObject", "DeleteObject"):
        marker: Any = _mark_left
        client.meta.events.register_first(f"before-send.s3.{operation}", marker,
                                          unique_id=_HANDLER_ID + "left" + operation)


class ObjectClient:
    """A bucket's reads, conditional writes and conditional deletes, as steps
    (`s3store._steps`): each method yields the `Request` to make and returns what its
    answer means. It sends nothing itself: a front end makes the requests (`send` here,
    `s3store.aio` on an event loop), and `prepare_client` readies its client.

    `expected_bucket_owner`, when set, is sent as `ExpectedBucketOwner` on every request,
    so that a bucket that changed hands is refused (403) instead of written to.
    `put_arguments` are the `PutObject` parameters of a `put` that names none (the store's
    write options: the probe's writes must pass the bucket's policy too).
    """

    def __init__(
        self, bucket: str, *, expected_bucket_owner: str | None = None,
        put_arguments: Mapping[str, Any] | None = None,
    ) -> None:
        self.bucket = bucket
        self.put_arguments: Mapping[str, Any] = dict(put_arguments or {})
        self._owner: dict[str, Any] = (
            {"ExpectedBucketOwner": expected_bucket_owner} if expected_bucket_owner else {}
        )

    def _request(self, operation: str, key: str, params: Mapping[str, Any],
                 **reading: Any) -> Request:
        return Request(operation, {"Bucket": self.bucket, **params, **self._owner}, key,
                       **reading)

    def get(self, key: str, *, max_bytes: int) -> Steps[StoredObject]:
        """Read an object. Raises `NotFoundError`, `DocumentTooLargeError`, `StorageError`."""
        answer: Answer = yield self._request("get_object", key, {"Key": key},
                                             body_limit=max_bytes)
        response, data = answer.response, answer.body or b""
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

    def head(self, key: str, *, version_id: str | None = None) -> Steps[ObjectHead]:
        """The current object's (or one version's) ETag, version id and write id.

        A read: botocore retries it. Raises `NotFoundError`, `StorageError`.
        """
        version: dict[str, Any] = {"VersionId": version_id} if version_id is not None else {}
        answer: Answer = yield self._request("head_object", key, {"Key": key, **version})
        response = answer.response
        return ObjectHead(
            etag=response["ETag"],
            version_id=_version_id(response.get("VersionId")),
            write_id=response.get("Metadata", {}).get(WRITE_ID_METADATA),
        )

    def versioning_enabled(self, key: str) -> Steps[bool]:
        """Does the bucket keep every version now (versioning `Enabled`, not `Suspended`)?

        Asked anew each time (versioning can be suspended at any moment). Raises
        `StorageError` (e.g. `AccessDenied` without `s3:GetBucketVersioning`).
        """
        return (yield from self.versioning_status(key)) == "Enabled"

    def versioning_status(self, key: str = "") -> Steps[str]:
        """The bucket's versioning: "Enabled", "Suspended", or "off" (never enabled).

        Raises `StorageError` (`key` names what it was asked for, in the error).
        """
        answer: Answer = yield self._request("get_bucket_versioning", key, {})
        return str(answer.response.get("Status") or "off")

    def versions(self, key: str, *, page_size: int = 100) -> VersionListing:
        """Every version of exactly `key` (delete markers left out), newest first, page by
        page (`VersionListing.page`)."""
        return VersionListing(self._request("list_object_versions", key,
                                            {"Prefix": key, "MaxKeys": page_size}))

    def keys(self, prefix: str = "", *, page_size: int = 1000) -> KeyListing:
        """Every key under `prefix`, in key order, page by page (`KeyListing.page`)."""
        return KeyListing(self._request("list_objects_v2", prefix,
                                        {"Prefix": prefix, "MaxKeys": page_size}))

    def put(
        self,
        key: str,
        body: bytes,
        *,
        write_id: str,
        if_match: str | None = None,
        if_none_match: bool = False,
        arguments: Mapping[str, Any] | None = None,
    ) -> Steps[PutResult]:
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
        answer: Answer = yield self._request(
            "put_object", key, {"Key": key, "Body": body, "Metadata": metadata, **extra,
                                **condition},
            etag=if_match, if_none_match=if_none_match, write=True, header=header)
        response = answer.response
        log.debug("PUT %s if_match=%s create=%s -> %s", key, if_match, if_none_match,
                  response["ETag"])
        return PutResult(response["ETag"], _version_id(response.get("VersionId")))

    def delete(self, key: str, *, if_match: str | None = None) -> Steps[None]:
        """Delete an object; with `if_match`, only that version (`ConflictError` otherwise).

        A conditional delete is sent once, like `put`; a lost answer is `AnswerLost`.
        Without `if_match` it is idempotent: botocore may retry it as it likes.
        """
        if if_match is None:
            yield self._request("delete_object", key, {"Key": key})
        else:
            yield self._request("delete_object", key, {"Key": key, "IfMatch": if_match},
                                etag=if_match, write=True, header="If-Match on DeleteObject")
        log.debug("DELETE %s if_match=%s", key, if_match)


T = TypeVar("T")


class Listing(Protocol[T]):
    """A listing read a page at a time: `page()` is the steps of the next page's items
    (None: no more)."""

    def page(self) -> Steps[list[T] | None]: ...


class _Pages:
    """The pages of one listing, asked for one at a time; `_MARKERS` pairs each field
    naming the next page in an answer with the parameter that asks for it. A page asked
    for twice (or a truncated page naming none) is the server looping: `StorageError`."""

    _MARKERS: tuple[tuple[str, str], ...] = ()
    _OPERATION = ""

    def __init__(self, request: Request) -> None:
        self._request = request
        self._asked: dict[str, str] = {}
        self._seen: set[tuple[str, ...]] = set()
        self._done = False
        self._loop: StorageError | None = None

    def _next(self) -> Steps[Mapping[str, Any] | None]:
        """The next page's answer (None: the listing is over). A loop found in a page (its
        markers, a key or version listed again) is raised when the page after it is asked
        for: the items before it still count."""
        if self._loop is not None:
            loop, self._loop, self._done = self._loop, None, True
            raise loop
        if self._done:
            return None
        request = self._request
        answer: Answer = yield replace(request, params={**request.params, **self._asked})
        response = answer.response
        if not response.get("IsTruncated"):
            self._done = True
            return response
        following = tuple(str(response.get(name) or "") for name, _ in self._MARKERS)
        if following in self._seen or not any(following):
            self._loop = _repeated(request.key, f"the page after {following} was asked for "
                                   "twice" if following in self._seen
                                   else "a truncated page names no next page", self._OPERATION)
            return response
        self._seen.add(following)
        self._asked = {param: value
                       for (_, param), value in zip(self._MARKERS, following, strict=True)
                       if value}
        return response


class VersionListing(_Pages):
    """`ObjectClient.versions`: raises `StorageError` — code `RepeatedListingPage` when the
    server repeats a page or a version (some S3-compatible servers loop) — rather than
    walking forever."""

    _MARKERS = (("NextKeyMarker", "KeyMarker"), ("NextVersionIdMarker", "VersionIdMarker"))
    _OPERATION = "ListObjectVersions"

    def __init__(self, request: Request) -> None:
        super().__init__(request)
        self._versions: set[str] = set()

    def page(self) -> Steps[list[ObjectVersion] | None]:
        """The next page's versions of the key (None: no more)."""
        key = self._request.key
        response = yield from self._next()
        if response is None:
            return None
        versions: list[ObjectVersion] = []
        for item in response.get("Versions", []):
            if item["Key"] != key:
                if item["Key"] > key:
                    self._done = True  # listed in key order: past ours, nothing more of it
                    break
                continue
            version_id = str(item.get("VersionId") or _UNVERSIONED)
            if version_id in self._versions:  # the versions before it still count
                self._loop = _repeated(key, f"version {version_id} listed twice",
                                       self._OPERATION)
                break
            self._versions.add(version_id)
            versions.append(ObjectVersion(version_id, item["ETag"], item["LastModified"]))
        return versions


class KeyListing(_Pages):
    """`ObjectClient.keys`: raises `StorageError` — code `RepeatedListingPage` when the
    server repeats a page or a key (it would loop) rather than walking forever,
    `UnorderedListing` when it lists keys out of key order (callers here rely on it)."""

    _MARKERS = (("NextContinuationToken", "ContinuationToken"),)
    _OPERATION = "ListObjectsV2"

    def __init__(self, request: Request) -> None:
        super().__init__(request)
        self._last: str | None = None
        self._firsts: set[str] = set()  # each page's first key: a page served again starts so

    def page(self) -> Steps[list[str] | None]:
        """The next page's keys (None: no more)."""
        response = yield from self._next()
        if response is None:
            return None
        keys: list[str] = []
        for n, item in enumerate(response.get("Contents", [])):
            key, last = item["Key"], self._last
            if last is not None and key <= last:  # the keys before it still count
                self._loop = (
                    _repeated(self._request.key, f"key {key!r} listed again after {last!r}",
                              self._OPERATION) if key == last or key in self._firsts
                    else StorageError(
                        f"the server lists keys out of order ({key!r} after {last!r}); this "
                        "walk needs S3's key order (directory buckets list unordered)",
                        key=self._request.key, code=UNORDERED_LISTING, transient=False))
                break
            if n == 0:
                self._firsts.add(key)
            self._last = key
            keys.append(key)
        return keys


def _repeated(key: str, what: str, operation: str) -> StorageError:
    return StorageError(f"the server's {operation} loops: {what}", key=key,
                        code=REPEATED_LISTING, transient=False)
