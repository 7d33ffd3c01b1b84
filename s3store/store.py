"""`JsonStore`: JSON documents in S3, replaced only under the ETag they were read with.

`update()` is the compare-and-swap loop: read the value and its ETag, apply the
caller's mutation to a private copy, write with `If-Match: <etag>` (or
`If-None-Match: *` for a new key), and on conflict re-read and re-apply, until the
`RetryPolicy` gives up. A write that another writer got in first is never
silently lost: either it lands on top of that writer's data or it is retried.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import tenacity

from s3store.codec import decode, encode
from s3store.errors import (
    AlreadyExistsError,
    ConditionalWritesUnsupportedError,
    ConflictError,
    InvalidKeyError,
    NotFoundError,
    OutcomeUnknownError,
    RetriesExhaustedError,
    StorageError,
)
from s3store.objects import ObjectClient, StoredObject
from s3store.resolve import Base, Landed
from s3store.retry import RetryPolicy
from s3store.writer import ConditionalWriter, LostWrites, TryAgain

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["DEFAULT_MAX_DOCUMENT_BYTES", "Document", "JsonStore"]

log = logging.getLogger("s3store")

DEFAULT_MAX_DOCUMENT_BYTES: Final = 8 * 1024 * 1024
"""Documents over 8 MiB are refused, when read and when written."""

_MAX_KEY_BYTES: Final = 1024  # S3's own limit on a key


class _Missing:
    def __repr__(self) -> str:
        return "<no default>"


_NO_DEFAULT: Final = _Missing()


@dataclass(frozen=True)
class Document:
    """A JSON value as stored at `key`, and the ETag it was read or written under."""

    key: str
    value: Any
    etag: str


def check_key(key: str) -> None:
    """Refuse keys that S3 would take but that no document should have.

    Raises `InvalidKeyError` for an empty key, one over 1024 UTF-8 bytes, control
    characters, a leading `/`, or `.` / `..` / empty path segments.
    """
    if not isinstance(key, str) or not key:
        raise InvalidKeyError("key must be a non-empty string", key=repr(key))
    if len(key.encode("utf-8", "surrogatepass")) > _MAX_KEY_BYTES:
        raise InvalidKeyError(f"key is over {_MAX_KEY_BYTES} bytes", key=key[:64] + "...")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key):
        raise InvalidKeyError("key contains control characters", key=key)
    if any(segment in ("", ".", "..") for segment in key.split("/")):
        raise InvalidKeyError("key has an empty, '.' or '..' path segment", key=key)


class JsonStore:
    """JSON documents in one S3 bucket, with optimistic concurrency.

    `client` is a boto3 S3 client (its retry config governs retries of reads; the
    store retries its own writes, see `s3store.retry`). `retry` bounds how often a
    write is retried and `update()` re-reads after a conflict. `max_document_bytes`
    bounds documents read and written. `expected_bucket_owner`, when set, is sent
    with every request. `resolve_lost_responses=False` is for negative controls only
    (see `s3store.writer.ConditionalWriter`).
    """

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        *,
        retry: RetryPolicy | None = None,
        max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
        expected_bucket_owner: str | None = None,
        resolve_lost_responses: bool = True,
    ) -> None:
        self.bucket = bucket
        self.retry = retry if retry is not None else RetryPolicy()
        self.max_document_bytes = max_document_bytes
        self._objects = ObjectClient(client, bucket, expected_bucket_owner=expected_bucket_owner)
        self._writer = ConditionalWriter(
            self._objects, resolve_lost_responses=resolve_lost_responses
        )

    def get(self, key: str) -> Document:
        """The document at `key`, read now.

        Raises `NotFoundError`, `CorruptDocumentError`, `DocumentTooLargeError`,
        `InvalidKeyError`, `StorageError`.
        """
        check_key(key)
        stored = self._objects.get(key, max_bytes=self.max_document_bytes)
        return Document(key, decode(key, stored.body, etag=stored.etag), stored.etag)

    def create(self, key: str, value: Any) -> Document:
        """Store `value` at `key` only if the key is free (`If-None-Match: *`).

        Raises `AlreadyExistsError`, `OutcomeUnknownError`, `InvalidValueError`,
        `DocumentTooLargeError`, `InvalidKeyError`, `StorageError`.
        """
        check_key(key)
        body = self._encode(key, value)
        etag = self._writer.write(key, body, value, base=Base(None), retry=self.retry)
        return Document(key, value, etag)

    def replace(self, key: str, value: Any, *, etag: str) -> Document:
        """Store `value` at `key` only if the object there still has `etag` (`If-Match`).

        Raises `ConflictError` (the object changed or was deleted), `OutcomeUnknownError`,
        `InvalidValueError`, `DocumentTooLargeError`, `InvalidKeyError`, `StorageError`.
        """
        check_key(key)
        body = self._encode(key, value)
        new_etag = self._writer.write(key, body, value, base=Base(etag), retry=self.retry)
        return Document(key, value, new_etag)

    def update(
        self, key: str, mutate: Callable[[Any], Any], *, default: Any = _NO_DEFAULT
    ) -> Document:
        """Apply `mutate` to the document at `key` and store the result, without losing
        any concurrent write.

        `mutate(value) -> new_value` gets a private copy of the current value (it may
        change it in place and return it) and may run more than once: it must not
        have side effects. If the key is missing, `mutate` gets a copy of `default`
        and the result is created with `If-None-Match: *`; without a default,
        `NotFoundError`. A result equal to the current value writes nothing.

        Exactly once: when a write's answer is lost, the store finds out by its write
        id whether it landed. Only if another writer replaced it before that could be
        checked (and the bucket keeps no versions to look in) is `mutate` applied again
        on the new value — so for exactly-once effects in that case, `mutate` must be
        idempotent (an upsert by id, not a blind append).

        Raises whatever `mutate` raises (nothing is written), `RetriesExhaustedError`
        when conflicts outlast the retry policy, `OutcomeUnknownError` when a lost
        answer could not be resolved, `CorruptDocumentError`, `InvalidValueError`,
        `DocumentTooLargeError`, `InvalidKeyError`, `StorageError`.
        """
        check_key(key)
        started = time.monotonic()
        lost = LostWrites()
        retrying = self.retry.retrying((ConflictError, TryAgain))
        try:
            document: Document = retrying(self._update_once, key, mutate, default, lost)
        except tenacity.RetryError as exc:
            attempts = exc.last_attempt.attempt_number
            elapsed = time.monotonic() - started
            cause = exc.last_attempt.exception()
            if lost:
                raise OutcomeUnknownError(
                    f"gave up after {attempts} attempts; an answer was lost on the way, so "
                    "this update may have landed", key=key) from cause
            raise RetriesExhaustedError(
                f"gave up after {attempts} attempts in {elapsed:.2f}s of conflicting or "
                "failed writes", key=key, attempts=attempts, elapsed=elapsed,
            ) from cause
        except StorageError as exc:
            if lost and not isinstance(exc, OutcomeUnknownError):
                raise OutcomeUnknownError(
                    "an answer was lost and the store could not ask S3 about it",
                    key=key) from exc
            raise
        return document

    def delete(self, key: str, *, etag: str | None = None) -> None:
        """Delete the object at `key`; with `etag`, only if it is still that version.

        Without `etag`, deleting a missing key is not an error (as in S3). With it,
        `ConflictError` if the object changed or is gone. Raises `OutcomeUnknownError`,
        `InvalidKeyError`, `StorageError`.
        """
        check_key(key)
        if etag is None:
            self._objects.delete(key)
        else:
            self._writer.delete(key, etag=etag, retry=self.retry)

    def verify_conditional_writes(self, *, prefix: str = "") -> None:
        """Check that the endpoint honours `If-None-Match: *` and `If-Match` on `PutObject`.

        Writes a probe object under `{prefix}.s3store-probe/`, attempts writes that a
        conforming endpoint must refuse, and deletes the probe whatever happens.
        Raises `ConditionalWritesUnsupportedError` if such a write was accepted.
        """
        key = f"{prefix}.s3store-probe/{uuid.uuid4().hex}.json"
        check_key(key)
        probe = uuid.uuid4().hex
        etag = self._objects.put(key, b'{"probe":1}', write_id=probe, if_none_match=True)
        try:
            try:
                self._objects.put(key, b'{"probe":2}', write_id=probe, if_none_match=True)
            except AlreadyExistsError:
                pass
            else:
                raise ConditionalWritesUnsupportedError(
                    "the endpoint accepted If-None-Match: * on an existing key", key=key
                )
            wrong_etag = '"' + "0" * 32 + '"'
            try:
                self._objects.put(key, b'{"probe":3}', write_id=probe, if_match=wrong_etag)
            except ConflictError:
                pass
            else:
                raise ConditionalWritesUnsupportedError(
                    "the endpoint accepted If-Match with an ETag the object does not have",
                    key=key, etag=wrong_etag,
                )
            self._objects.put(key, b'{"probe":4}', write_id=probe, if_match=etag)
        finally:
            self._objects.delete(key)

    # -- internals -------------------------------------------------------------

    def _encode(self, key: str, value: Any) -> bytes:
        return encode(key, value, max_bytes=self.max_document_bytes)

    def _read(self, key: str) -> StoredObject | None:
        try:
            return self._objects.get(key, max_bytes=self.max_document_bytes)
        except NotFoundError:
            return None

    def _update_once(
        self, key: str, mutate: Callable[[Any], Any], default: Any, lost: LostWrites
    ) -> Document:
        stored = self._read(key)
        if stored is None:
            if default is _NO_DEFAULT:
                raise NotFoundError("no document to update and no default given", key=key)
            value = mutate(decode(key, self._encode(key, default)))
            body = self._encode(key, value)
            base = Base(None)
        else:
            value = mutate(decode(key, stored.body, etag=stored.etag))
            body = self._encode(key, value)
            if body == stored.body or body == self._encode(key, decode(key, stored.body)):
                log.debug("update %s: unchanged, nothing written", key)
                return Document(key, value, stored.etag)
            base = Base(stored.etag, stored.write_id, stored.last_modified)
        outcome = self._writer.send(key, body, value, base=base, lost=lost)
        if isinstance(outcome, Landed):
            log.debug("update %s: %s -> %s", key, base.etag, outcome.etag)
            return Document(key, lost.values.get(outcome.write_id, value), outcome.etag)
        raise TryAgain  # did not land, or nobody can tell: re-read and re-apply
