"""s3store: JSON documents in Amazon S3 with optimistic concurrency.

Read, modify, `PutObject` with `If-Match: <etag>`; on conflict re-read and re-apply.
"""

from s3store._cache import CACHE_MAX_BYTES, FIRST_TOUCH_SCORE_LIMIT, FIRST_TOUCH_THRESHOLD
from s3store._codec import JSON_CODEC, Codec, JsonCodec, MsgspecCodec, OrjsonCodec
from s3store._core import (
    DEFAULT_CACHE_SIZE,
    DEFAULT_MAX_DOCUMENT_BYTES,
    MAX_KEY_BYTES,
    Document,
)
from s3store._errors import (
    AlreadyExistsError,
    ConditionalWritesUnsupportedError,
    ConflictError,
    CorruptDocumentError,
    DocumentTooLargeError,
    InvalidKeyError,
    InvalidOptionsError,
    InvalidValueError,
    NoneResultError,
    NotFoundError,
    OutcomeUnknownError,
    RetriesExhaustedError,
    S3StoreError,
    StorageError,
)
from s3store._figures import CallFigures, StoreCounters
from s3store._objects import REPEATED_LISTING, ObjectVersion
from s3store._options import WriteOptions
from s3store._resolve import VERSION_SEARCH_LIMIT
from s3store._retry import DEFAULT_DEADLINE, RetryPolicy
from s3store._store import JsonStore

__version__ = "0.1.0"  # the one place of truth: pyproject.toml reads it

__all__ = [
    "CACHE_MAX_BYTES",
    "DEFAULT_CACHE_SIZE",
    "DEFAULT_DEADLINE",
    "DEFAULT_MAX_DOCUMENT_BYTES",
    "FIRST_TOUCH_SCORE_LIMIT",
    "FIRST_TOUCH_THRESHOLD",
    "JSON_CODEC",
    "MAX_KEY_BYTES",
    "REPEATED_LISTING",
    "VERSION_SEARCH_LIMIT",
    "AlreadyExistsError",
    "CallFigures",
    "Codec",
    "ConditionalWritesUnsupportedError",
    "ConflictError",
    "CorruptDocumentError",
    "Document",
    "DocumentTooLargeError",
    "InvalidKeyError",
    "InvalidOptionsError",
    "InvalidValueError",
    "JsonCodec",
    "JsonStore",
    "MsgspecCodec",
    "NoneResultError",
    "NotFoundError",
    "ObjectVersion",
    "OrjsonCodec",
    "OutcomeUnknownError",
    "RetriesExhaustedError",
    "RetryPolicy",
    "S3StoreError",
    "StorageError",
    "StoreCounters",
    "WriteOptions",
]
