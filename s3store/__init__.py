"""s3store: JSON documents in Amazon S3 with optimistic concurrency.

Read, modify, `PutObject` with `If-Match: <etag>`; on conflict re-read and re-apply.
"""

from s3store._errors import (
    AlreadyExistsError,
    ConditionalWritesUnsupportedError,
    ConflictError,
    CorruptDocumentError,
    DocumentTooLargeError,
    InvalidKeyError,
    InvalidValueError,
    NoneResultError,
    NotFoundError,
    OutcomeUnknownError,
    RetriesExhaustedError,
    S3StoreError,
    StorageError,
)
from s3store._objects import REPEATED_LISTING, ObjectVersion
from s3store._retry import RetryPolicy
from s3store._store import DEFAULT_MAX_DOCUMENT_BYTES, Document, JsonStore

__all__ = [
    "DEFAULT_MAX_DOCUMENT_BYTES",
    "REPEATED_LISTING",
    "AlreadyExistsError",
    "ConditionalWritesUnsupportedError",
    "ConflictError",
    "CorruptDocumentError",
    "Document",
    "DocumentTooLargeError",
    "InvalidKeyError",
    "InvalidValueError",
    "JsonStore",
    "NoneResultError",
    "NotFoundError",
    "ObjectVersion",
    "OutcomeUnknownError",
    "RetriesExhaustedError",
    "RetryPolicy",
    "S3StoreError",
    "StorageError",
]
