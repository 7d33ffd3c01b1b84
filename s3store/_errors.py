"""The errors s3store raises, one tree, named by cause.

```
S3StoreError
├── NotFoundError                       the key holds no object
├── ConflictError                       a conditional write or delete lost: the object changed
│   └── AlreadyExistsError              a create found the key taken
├── RetriesExhaustedError               update() gave up after its retry policy ran out
├── OutcomeUnknownError                 a write's answer was lost and could not be resolved
├── CorruptDocumentError                stored bytes are not valid JSON / not the expected shape
├── DocumentTooLargeError               a document over the store's max_document_bytes
├── InvalidKeyError (+ ValueError)      a key or id that must not be used
├── InvalidValueError (+ ValueError)    a value JSON cannot hold (NaN, set, datetime, ...)
│   └── NoneResultError                 an update()'s mutation returned None
├── InvalidOptionsError (+ ValueError)  a write option S3 would refuse (names the option)
├── ConditionalWritesUnsupportedError   the endpoint ignores If-Match / If-None-Match
└── StorageError                        anything else S3 answered (code, request id)
```

Every error carries the ``key`` it is about, and ``etag``, ``code`` (the S3 error
code) and ``request_id`` where they apply. The errors about the caller's own
arguments are also ``ValueError``s, so that ``except ValueError`` catches them as it
would any bad argument. No error's ``__cause__`` / ``__context__`` chain holds the
store's internal signals (a retry, a lost answer): only S3's answers and the network's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from s3store._core import Document
    from s3store._figures import CallFigures

__all__ = [
    "AlreadyExistsError",
    "ConditionalWritesUnsupportedError",
    "ConflictError",
    "CorruptDocumentError",
    "DocumentTooLargeError",
    "InvalidKeyError",
    "InvalidOptionsError",
    "InvalidValueError",
    "NoneResultError",
    "NotFoundError",
    "OutcomeUnknownError",
    "RetriesExhaustedError",
    "S3StoreError",
    "StorageError",
]

_SHOWN_KEY_CHARS: Final = 64  # of a refused key, in an error's text


class S3StoreError(Exception):
    """Base of every error s3store raises.

    `figures`: what the call that raised it took (`s3store.CallFigures`: requests,
    attempts, conflicts, lost answers...), set by the store as the call ends.
    """

    figures: CallFigures | None = None

    def __init__(
        self,
        message: str,
        *,
        key: str | None,
        etag: str | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.key = key
        self.etag = etag
        self.code = code
        self.request_id = request_id

    def __str__(self) -> str:
        details = [f"key={self._shown_key()}"]
        if self.etag is not None:
            details.append(f"etag={self.etag}")
        if self.code is not None:
            details.append(f"code={self.code}")
        if self.request_id is not None:
            details.append(f"request_id={self.request_id}")
        return f"{self.message} ({', '.join(details)})"

    def _shown_key(self) -> str:
        return repr(self.key)

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only fields defeat BaseException's default (args-only) reduce: rebuild
        # from every attribute, so that errors copy (one per caller of a failed round)
        # and pickle (across a ProcessPoolExecutor) whole.
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


def _rebuild(cls: type[S3StoreError], message: str, state: dict[str, Any]) -> S3StoreError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class NotFoundError(S3StoreError):
    """The key holds no object."""


class ConflictError(S3StoreError):
    """A conditional write or delete lost: the object is not the version it named.

    `create()`, `replace()` and `delete()` do not read the key after a refusal (that would
    cost a request every caller pays): `get()` it for the current document. `update()`
    re-reads by itself, and gives up with `RetriesExhaustedError`, which carries the
    document it read last.
    """


class AlreadyExistsError(ConflictError):
    """A create (If-None-Match: *) found the key already taken."""


class RetriesExhaustedError(S3StoreError):
    """update() kept meeting conflicts until its RetryPolicy gave up.

    `attempts` and `elapsed` (seconds) are what it spent. `current`: the document the store
    last read at the key (a `Document`, its own copy for each caller), the one the last
    attempt's mutation was applied to; None if no attempt read one (or it did not decode).
    """

    current: Document[Any] | None = None

    def __init__(self, message: str, *, key: str, attempts: int, elapsed: float) -> None:
        super().__init__(message, key=key)
        self.attempts = attempts
        self.elapsed = elapsed


class OutcomeUnknownError(S3StoreError):
    """A write's answer was lost (5xx, timeout, dropped connection) and the store could
    not find out whether it landed: it may be in S3, or not. Never a false success.

    Raised when the resolving `HeadObject` failed too, when another writer's version
    replaced the object before it could be checked (for `create`/`replace`/`delete`,
    which cannot re-apply), or when the retry policy ran out while the last attempt's
    outcome was still open.
    """


class CorruptDocumentError(S3StoreError):
    """The stored bytes are not valid JSON or not the expected shape; they are left untouched."""


class DocumentTooLargeError(S3StoreError):
    """A document (stored, or about to be written) is over the store's max_document_bytes."""

    def __init__(self, message: str, *, key: str, size: int, limit: int) -> None:
        super().__init__(message, key=key)
        self.size = size
        self.limit = limit


class InvalidKeyError(S3StoreError, ValueError):
    """A key or id that must not be used; refused before any request is sent.

    ``key`` is what the caller gave, unchanged, when it is a string (control characters,
    a lone surrogate, 2,000 characters and all); None when it is not a string, whose
    type and ``repr`` the message shows instead. ``str()`` shows the key escaped
    (``repr``) and cut to its first 64 characters, so that it is safe to print and log.
    """

    def __init__(self, message: str, *, key: object) -> None:
        if isinstance(key, str):
            super().__init__(message, key=key)
        else:
            super().__init__(f"{message} (got {type(key).__name__}: {_shown(key)})", key=None)

    def _shown_key(self) -> str:
        if self.key is not None and len(self.key) > _SHOWN_KEY_CHARS:
            return f"{self.key[:_SHOWN_KEY_CHARS]!r}... ({len(self.key)} characters)"
        return repr(self.key)


class InvalidValueError(S3StoreError, ValueError):
    """A value JSON cannot hold (NaN, infinity, set, bytes, datetime...); nothing was sent."""


class NoneResultError(InvalidValueError):
    """An `update()`'s mutation returned None: nothing was written.

    A mutation that changes the value in place and forgets to `return` it returns None;
    storing that would erase the document. Pass `allow_none=True` when null is meant.
    """


class InvalidOptionsError(S3StoreError, ValueError):
    """A `WriteOptions` field S3 would refuse, or with which the store could not read its
    documents back; refused when the options are made, before any request.

    ``option`` names the field (``key`` is None: options belong to no one key).
    """

    def __init__(self, message: str, *, option: str) -> None:
        super().__init__(message, key=None)
        self.option = option

    def __str__(self) -> str:
        return self.message  # it names the option; there is no key to show


class ConditionalWritesUnsupportedError(S3StoreError):
    """The endpoint accepted a write whose If-Match / If-None-Match should have failed."""


class StorageError(S3StoreError):
    """Anything else from S3 or the network, with the S3 error code and request id.

    ``transient`` is true for throttling, 5xx, timeouts and connection errors that
    botocore's own retries did not overcome; false for errors no retry can fix
    (``AccessDenied``, ``NoSuchBucket``...).
    """

    def __init__(
        self,
        message: str,
        *,
        key: str | None,
        etag: str | None = None,
        code: str | None = None,
        request_id: str | None = None,
        status: int | None = None,
        transient: bool = False,
    ) -> None:
        super().__init__(message, key=key, etag=etag, code=code, request_id=request_id)
        self.status = status
        self.transient = transient


def _shown(value: object) -> str:
    """`repr(value)`, cut short; never raises (it is for an error's text)."""
    try:
        text = repr(value)
    except Exception:  # a caller's object whose __repr__ fails: its type must do
        return f"<{type(value).__name__} object>"
    return text if len(text) <= _SHOWN_KEY_CHARS else text[:_SHOWN_KEY_CHARS] + "..."
