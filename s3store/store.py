"""`JsonStore`: JSON documents in S3, replaced only under the ETag they were read with.

`update()` is the compare-and-swap loop: read the value and its ETag, apply the
caller's mutation to a private copy, write with `If-Match: <etag>` (or
`If-None-Match: *` for a new key), and on conflict re-read and re-apply, until the
`RetryPolicy` gives up. A write that another writer got in first is never
silently lost: either it lands on top of that writer's data or it is retried.
"""

from __future__ import annotations

import copy
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import tenacity

from s3store.cache import Cached, DocumentCache, FirstTouch
from s3store.codec import decode, encode
from s3store.commit import NO_DEFAULT, GroupCommit, Pending, apply_mutations
from s3store.errors import (
    AlreadyExistsError,
    ConditionalWritesUnsupportedError,
    ConflictError,
    InvalidKeyError,
    NotFoundError,
    OutcomeUnknownError,
    RetriesExhaustedError,
    S3StoreError,
)
from s3store.objects import ObjectClient, StoredObject
from s3store.resolve import Base, Landed
from s3store.retry import RetryPolicy
from s3store.writer import ConditionalWriter, LostWrites, TryAgain

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["DEFAULT_CACHE_SIZE", "DEFAULT_MAX_DOCUMENT_BYTES", "Document", "JsonStore"]

log = logging.getLogger("s3store")

DEFAULT_MAX_DOCUMENT_BYTES: Final = 8 * 1024 * 1024
"""Documents over 8 MiB are refused, when read and when written."""

_MAX_KEY_BYTES: Final = 1024  # S3's own limit on a key


DEFAULT_CACHE_SIZE: Final = 1024
"""Documents a store remembers (value and ETag) to skip the GET of its next update."""


@dataclass
class _Round:
    """One round's bookkeeping across its attempts."""

    lost: LostWrites = field(default_factory=LostWrites)
    fresh: bool = False  # read S3 rather than trust the cache


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
    with every request.

    `cache_size` documents (default 1024, at most 64 MiB in all; 0 turns it off)
    are remembered after the store's own writes, so that the next `update()` of a
    key writes without reading first (see `s3store.cache`). `group_commit` (default
    on) makes concurrent `update()`s of one key through this store share rounds of
    one write each (see `s3store.commit`). `resolve_lost_responses=False` is for
    negative controls only (see `s3store.writer.ConditionalWriter`).
    """

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        *,
        retry: RetryPolicy | None = None,
        max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
        expected_bucket_owner: str | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
        group_commit: bool = True,
        resolve_lost_responses: bool = True,
    ) -> None:
        self.bucket = bucket
        self.retry = retry if retry is not None else RetryPolicy()
        self.max_document_bytes = max_document_bytes
        self._objects = ObjectClient(client, bucket, expected_bucket_owner=expected_bucket_owner)
        self._writer = ConditionalWriter(
            self._objects, resolve_lost_responses=resolve_lost_responses
        )
        self._cache = DocumentCache(cache_size)
        self._first_touch = FirstTouch() if cache_size > 0 else None
        self._group = GroupCommit() if group_commit else None

    def get(self, key: str) -> Document:
        """The document at `key`, read now.

        Raises `NotFoundError`, `CorruptDocumentError`, `DocumentTooLargeError`,
        `InvalidKeyError`, `StorageError`.
        """
        check_key(key)
        stored = self._objects.get(key, max_bytes=self.max_document_bytes)
        document = Document(key, decode(key, stored.body, etag=stored.etag), stored.etag)
        self._cache.read(key, Cached(stored.body, stored.etag, stored.write_id))
        return document

    def create(self, key: str, value: Any) -> Document:
        """Store `value` at `key` only if the key is free (`If-None-Match: *`).

        Raises `AlreadyExistsError`, `OutcomeUnknownError`, `InvalidValueError`,
        `DocumentTooLargeError`, `InvalidKeyError`, `StorageError`.
        """
        check_key(key)
        body = self._encode(key, value)
        self._cache.discard(key)
        etag = self._writer.write(key, body, value, base=Base(None), retry=self.retry)
        self._cache.wrote(key, Cached(body, etag, None))
        return Document(key, value, etag)

    def replace(self, key: str, value: Any, *, etag: str) -> Document:
        """Store `value` at `key` only if the object there still has `etag` (`If-Match`).

        Raises `ConflictError` (the object changed or was deleted), `OutcomeUnknownError`,
        `InvalidValueError`, `DocumentTooLargeError`, `InvalidKeyError`, `StorageError`.
        """
        check_key(key)
        body = self._encode(key, value)
        self._cache.discard(key)
        new_etag = self._writer.write(key, body, value, base=Base(etag), retry=self.retry)
        self._cache.wrote(key, Cached(body, new_etag, None))
        return Document(key, value, new_etag)

    def update(
        self, key: str, mutate: Callable[[Any], Any], *, default: Any = NO_DEFAULT
    ) -> Document:
        """Apply `mutate` to the document at `key` and store the result, without losing
        any concurrent write.

        `mutate(value) -> new_value` gets a private copy of the current value (it may
        change it in place and return it) and may run more than once: it must not
        have side effects. If the key is missing, `mutate` gets a copy of `default`
        and the result is created with `If-None-Match: *`; without a default,
        `NotFoundError`. A result equal to the current value writes nothing.

        Concurrent calls for one key through this store may share a round: their
        mutations are applied in turn, written once, and each caller gets that
        round's document (which holds its own mutation, and possibly others').

        Exactly once: when a write's answer is lost, the store finds out by its write
        id whether it landed. Only if another writer replaced it before that could be
        checked (and the bucket keeps no versions to look in) is `mutate` applied again
        on the new value — so for exactly-once effects in that case, `mutate` must be
        idempotent (an upsert by id, not a blind append).

        Raises whatever `mutate` raises (nothing of it is written), `RetriesExhaustedError`
        when conflicts outlast the retry policy, `OutcomeUnknownError` when a lost
        answer could not be resolved, `CorruptDocumentError`, `InvalidValueError`,
        `DocumentTooLargeError`, `InvalidKeyError`, `StorageError`.
        """
        check_key(key)
        pending = Pending(mutate, default)
        if self._group is None:
            self._commit(key, [pending])
        else:
            self._group.submit(key, pending, lambda batch: self._commit(key, batch))
        document: Document = pending.outcome()
        return document

    def delete(self, key: str, *, etag: str | None = None) -> None:
        """Delete the object at `key`; with `etag`, only if it is still that version.

        Without `etag`, deleting a missing key is not an error (as in S3). With it,
        `ConflictError` if the object changed or is gone. Raises `OutcomeUnknownError`,
        `InvalidKeyError`, `StorageError`.
        """
        check_key(key)
        self._cache.discard(key)
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
            stored = self._objects.get(key, max_bytes=self.max_document_bytes)
        except NotFoundError:
            return None
        self._cache.read(key, Cached(stored.body, stored.etag, stored.write_id))
        return stored

    def _commit(self, key: str, batch: list[Pending]) -> None:
        """Write one round: every pending mutation applied, one conditional write,
        retried under the policy; settles each `Pending` (never raises)."""
        started = time.monotonic()
        round_ = _Round()
        lost = round_.lost
        try:
            stored: StoredObject | None = self.retry.retrying((ConflictError, TryAgain))(
                self._commit_once, key, batch, round_)
        except tenacity.RetryError as exc:
            attempts = exc.last_attempt.attempt_number
            elapsed = time.monotonic() - started
            cause = exc.last_attempt.exception()
            if lost:
                error: S3StoreError = OutcomeUnknownError(
                    f"gave up after {attempts} attempts; an answer was lost on the way, so "
                    "this update may have landed", key=key)
            else:
                error = RetriesExhaustedError(
                    f"gave up after {attempts} attempts in {elapsed:.2f}s of conflicting or "
                    "failed writes", key=key, attempts=attempts, elapsed=elapsed)
            error.__cause__ = cause
            self._settle(batch, key=key, error=error)
        except S3StoreError as exc:
            if lost and not isinstance(exc, OutcomeUnknownError):
                unknown = OutcomeUnknownError(
                    "an answer was lost and the store could not ask S3 about it", key=key)
                unknown.__cause__ = exc
                exc = unknown
            self._settle(batch, key=key, error=exc)
        else:
            self._settle(batch, key=key, stored=stored)

    def _commit_once(self, key: str, batch: list[Pending],
                     round_: _Round) -> StoredObject | None:
        """One attempt at a round; the document it leaves (None: nothing to write)."""
        lost = round_.lost
        stored, guessed = self._starting_point(key, batch, round_)
        guessed_new = guessed and stored is None
        body = stored.body if stored is not None else None
        etag = stored.etag if stored is not None else None
        new_body = apply_mutations(key, body, batch, encode=lambda v: self._encode(key, v),
                                   etag=etag)
        unchanged = new_body == body or (
            body is not None and new_body is not None
            and new_body == self._encode(key, decode(key, body, etag=etag)))
        if guessed and (unchanged or any(p.error for p in batch)):
            # Judged on what this store last knew, which may be stale: judge it fresh
            # (without counting it against the cache: nothing proved it stale).
            round_.fresh = True
            raise TryAgain
        if new_body is None:
            return None  # every mutation failed on a missing document: nothing to write
        if unchanged and stored is not None:
            log.debug("update %s: unchanged, nothing written", key)
            return stored
        base = (Base(None) if stored is None
                else Base(stored.etag, stored.write_id, stored.last_modified))
        # What this attempt writes, and which mutations it holds: if its answer is lost
        # and a later attempt finds it landed, each caller is answered as it wrote.
        attempt = (new_body, [pending.error for pending in batch])
        try:
            outcome = self._writer.send(key, new_body, attempt, base=base, lost=lost)
        except ConflictError:
            self._cache.distrust(key)  # someone else wrote: what we knew is stale
            if guessed_new and self._first_touch is not None:
                self._first_touch.saw(new=False, weight=2)
                round_.fresh = True
            raise
        if not isinstance(outcome, Landed):
            self._cache.distrust(key)
            raise TryAgain  # did not land, or nobody can tell: re-read and re-apply
        if guessed_new and self._first_touch is not None:
            self._first_touch.saw(new=True)
        written, errors = lost.values.get(outcome.write_id, attempt)
        for pending, error in zip(batch, errors, strict=True):
            pending.error = error
        if outcome.write_id in lost.values:
            self._cache.distrust(key)  # found after a lost answer: maybe no longer current
        else:
            self._cache.wrote(key, Cached(written, outcome.etag, outcome.write_id))
        log.debug("update %s: %s -> %s (%d mutations)", key, base.etag, outcome.etag, len(batch))
        return StoredObject(written, outcome.etag, outcome.write_id)

    def _starting_point(self, key: str, batch: list[Pending],
                        round_: _Round) -> tuple[StoredObject | None, bool]:
        """The document a round starts from, and whether that is only a guess (what
        this store last knew, or that an unseen key is new) rather than a fresh read."""
        if not round_.fresh:
            cached = self._cache.get(key)
            if cached is not None:
                return StoredObject(cached.body, cached.etag, cached.write_id), True
            if self._guess_new(key, batch):
                return None, True
        first_touch = not self._cache.knows(key)
        stored = self._read(key)
        if first_touch and self._first_touch is not None:
            self._first_touch.saw(new=stored is None)
        return stored, False

    def _guess_new(self, key: str, batch: list[Pending]) -> bool:
        """Write `key` without reading it: unseen, every caller has a default, and this
        store's unseen keys have lately been new (see `s3store.cache.FirstTouch`)."""
        return (self._first_touch is not None and self._first_touch.likely_new()
                and not self._cache.knows(key)
                and all(pending.default is not NO_DEFAULT for pending in batch))

    @staticmethod
    def _settle(batch: list[Pending], *, key: str, stored: StoredObject | None = None,
                error: S3StoreError | None = None) -> None:
        for pending in batch:
            if pending.error is not None:
                continue  # its own mutation failed: that is its answer
            if error is not None:
                pending.error = error if len(batch) == 1 else _clone(error)
            elif stored is not None:  # each caller gets its own copy of the round's value
                pending.result = Document(key, decode(key, stored.body, etag=stored.etag),
                                          stored.etag)


def _clone(error: S3StoreError) -> S3StoreError:
    """A copy of a round's error for one of its callers (exceptions are raised per thread)."""
    clone = copy.copy(error)
    clone.__cause__ = error.__cause__
    return clone
