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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import tenacity

from s3store._cache import Cached, DocumentCache, FirstTouch
from s3store._codec import decode, encode
from s3store._commit import NO_DEFAULT, GroupCommit, Pending, apply_mutations, clone_error
from s3store._errors import (
    ConditionalWritesUnsupportedError,
    ConflictError,
    DocumentTooLargeError,
    InvalidKeyError,
    InvalidValueError,
    NotFoundError,
    OutcomeUnknownError,
    RetriesExhaustedError,
    S3StoreError,
    StorageError,
)
from s3store._objects import (
    RACING_CONDITIONAL_WRITES,
    ObjectClient,
    ObjectVersion,
    StoredObject,
)
from s3store._probe import PUT_CHECKS, ProbeReport, Verdict, probe, run_checks
from s3store._resolve import Base, Landed, Outcome, Resolution
from s3store._retry import RetryPolicy
from s3store._writer import Again, ConditionalWriter, LostWrites

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["DEFAULT_CACHE_SIZE", "DEFAULT_MAX_DOCUMENT_BYTES", "Document", "JsonStore"]

log = logging.getLogger(__name__)

DEFAULT_MAX_DOCUMENT_BYTES: Final = 8 * 1024 * 1024
"""Documents over 8 MiB are refused, when read and when written."""

_MAX_KEY_BYTES: Final = 1024  # S3's own limit on a key


DEFAULT_CACHE_SIZE: Final = 1024
"""Documents a store remembers (value and ETag) to skip the GET of its next update."""


class _Nothing:
    def __repr__(self) -> str:
        return "<nothing>"


_NOTHING: Any = _Nothing()
_WRONG_GUESS: Final = _Nothing()


@dataclass(frozen=True)
class _Attempt:
    """What one write of a round held: its bytes, and each caller's mutation error."""

    body: bytes
    errors: dict[Pending, BaseException | None]


@dataclass
class _Round:
    """One round's bookkeeping across its attempts (and across a hand-over)."""

    lost: LostWrites = field(default_factory=LostWrites)
    fresh: bool = False  # read S3 rather than trust the cache
    resume: Any = _NOTHING  # a document a resolution proved current: start from it
    started: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Document:
    """A JSON value as stored at `key`, and the ETag it was read or written under."""

    key: str
    value: Any
    etag: str


def check_key(key: str) -> None:
    """Refuse keys that S3 would take but that no document should have.

    Raises `InvalidKeyError` for an empty key, one over 1024 UTF-8 bytes, one that is not
    valid Unicode (a lone surrogate), control characters, a leading `/`, or `.` / `..` /
    empty path segments.
    """
    if not isinstance(key, str) or not key:
        raise InvalidKeyError("key must be a non-empty string", key=repr(key))
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no request could carry it
        raise InvalidKeyError("key is not valid Unicode (it holds a lone surrogate)",
                              key=key.encode("utf-8", "backslashreplace").decode()) from None
    if len(encoded) > _MAX_KEY_BYTES:
        raise InvalidKeyError(f"key is over {_MAX_KEY_BYTES} bytes", key=key[:64] + "...")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key):
        raise InvalidKeyError("key contains control characters", key=key)
    if any(segment in ("", ".", "..") for segment in key.split("/")):
        raise InvalidKeyError("key has an empty, '.' or '..' path segment", key=key)


class JsonStore:
    """JSON documents in one S3 bucket, with optimistic concurrency.

    `client` is a boto3 S3 client (its retry config governs retries of reads; the
    store retries its own writes, see `s3store._retry`). `retry` bounds how often a
    write is retried and `update()` re-reads after a conflict. `max_document_bytes`
    bounds documents read and written. `expected_bucket_owner`, when set, is sent
    with every request.

    `cache_size` documents (default 1024, at most 64 MiB in all; 0 turns it off)
    are remembered after the store's own writes, so that the next `update()` of a
    key writes without reading first (see `s3store._cache`). `group_commit` (default
    on) makes concurrent `update()`s of one key through this store share rounds of
    one write each (see `s3store._commit`). `resolve_lost_responses=False` is for
    negative controls only (see `s3store._writer.ConditionalWriter`).
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
        self._cache.read(key, _cached(stored))
        return document

    def create(self, key: str, value: Any) -> Document:
        """Store `value` at `key` only if the key is free (`If-None-Match: *`).

        Raises `AlreadyExistsError`, `OutcomeUnknownError` (the answer was lost and
        nobody can tell whether it landed: on a bucket without versioning, a create
        whose answer was lost and whose key is still free is one, since another
        writer may have deleted it since), `InvalidValueError`,
        `DocumentTooLargeError`, `InvalidKeyError`, `StorageError`.
        """
        check_key(key)
        body = self._encode(key, value)
        self._cache.discard(key)
        landed = self._writer.write(key, body, base=Base(None), retry=self.retry)
        self._cache.wrote(key, Cached(body, landed.etag, landed.write_id, landed.version_id))
        return Document(key, value, landed.etag)

    def replace(self, key: str, value: Any, *, etag: str) -> Document:
        """Store `value` at `key` only if the object there still has `etag` (`If-Match`).

        Raises `ConflictError` (the object changed or was deleted), `OutcomeUnknownError`
        (the answer was lost and nobody can tell whether it landed: without versions,
        an object that still has `etag` proves nothing unless this store knows which
        write made it), `InvalidValueError`, `DocumentTooLargeError`, `InvalidKeyError`,
        `StorageError`.
        """
        check_key(key)
        body = self._encode(key, value)
        base = self._base_for(key, etag)
        self._cache.discard(key)
        landed = self._writer.write(key, body, base=base, retry=self.retry)
        self._cache.wrote(key, Cached(body, landed.etag, landed.write_id, landed.version_id))
        return Document(key, value, landed.etag)

    def update(
        self, key: str, mutate: Callable[[Any], Any], *, default: Any = NO_DEFAULT,
        idempotent: bool = False, allow_none: bool = False,
    ) -> Document:
        """Apply `mutate` to the document at `key` and store the result, without losing
        any concurrent write.

        `mutate(value) -> new_value` gets a private copy of the current value (it may
        change it in place, and must then return it) and may run more than once: it must
        not have side effects. A mutation that returns None is refused with
        `NoneResultError` and nothing is written (a forgotten `return` would otherwise
        erase the document), unless `allow_none=True` says that null is meant. If the key
        is missing, `mutate` gets a copy of `default` and the result is created with
        `If-None-Match: *`; without a default, `NotFoundError`. A result equal to the
        current value writes nothing.

        Concurrent calls for one key through this store may share a round: their
        mutations are applied in turn, written once, and each caller gets that
        round's document (which holds its own mutation, and possibly others').

        Exactly once: when a write's answer is lost, the store looks for proof of what
        became of it (`s3store._resolve`): it landed (success), it did not (re-read and
        re-apply), or nobody can tell — then `OutcomeUnknownError`, unless the caller
        declared `idempotent=True` (applying `mutate` again to a value that already
        holds its effect changes nothing, like an upsert by id): then it is applied
        again, so the effect is there at least once.

        Raises whatever `mutate` raises (nothing of it is written), `NoneResultError`,
        `RetriesExhaustedError`
        when conflicts outlast the retry policy, `OutcomeUnknownError`,
        `CorruptDocumentError`, `InvalidValueError`, `DocumentTooLargeError`,
        `InvalidKeyError`, `StorageError`.
        """
        check_key(key)
        pending = Pending(mutate, default, idempotent, allow_none)
        if self._group is None:
            self._commit(key, [pending])
        else:
            self._group.submit(key, pending, lambda batch: self._commit(key, batch))
        document: Document = pending.outcome()
        return document

    def delete(self, key: str, *, etag: str | None = None) -> None:
        """Delete the object at `key`; with `etag`, only if it is still that version.

        Without `etag`, deleting a missing key is not an error (as in S3). With it,
        `ConflictError` if the object changed or is gone, and `OutcomeUnknownError`
        when the answer was lost and nobody can tell whether this delete happened.
        Raises `InvalidKeyError`, `StorageError` (a 501 from a server that does not
        implement conditional deletes is one, naming the header).
        """
        check_key(key)
        if etag is None:
            self._cache.discard(key)
            self._objects.delete(key)
        else:
            base = self._base_for(key, etag)
            self._cache.discard(key)
            self._writer.delete(key, base=base, retry=self.retry)

    def keys(self, prefix: str = "", *, page_size: int = 1000) -> Iterator[str]:
        """Every key under `prefix`, in key order (`ListObjectsV2`, `page_size` keys a
        request), as the listing goes.

        A server whose listing repeats a page or a key raises `StorageError` with code
        `RepeatedListingPage` instead of looping; other failures are `StorageError` too.
        """
        return self._objects.keys(prefix, page_size=page_size)

    def versions(self, key: str, *, page_size: int = 1000) -> Iterator[ObjectVersion]:
        """Every version of exactly `key`, newest first, delete markers left out (on a
        bucket that never had versioning, the one object, version id "null").

        Raises `InvalidKeyError`, and `StorageError` as `keys()` does (a repeated page or
        version id is `RepeatedListingPage`).
        """
        check_key(key)
        return self._objects.versions(key, page_size=page_size)

    def versioning(self) -> str:
        """The bucket's versioning: "Enabled", "Suspended" or "off" (never enabled).

        With "Enabled", a lost answer can always be resolved from the versions and
        `s3store recover` can read older versions. Raises `StorageError` (e.g.
        `AccessDenied` without `s3:GetBucketVersioning`).
        """
        return self._objects.versioning_status()

    def probe(self, *, prefix: str = "") -> ProbeReport:
        """What this endpoint honours, check by check (`s3store._probe`; `s3store probe`
        prints it): each check on its own object under `{prefix}.s3store-probe/`, deleted
        afterwards (on a versioned bucket its versions and a delete marker remain).

        Never raises for a check: each has its verdict. Raises `InvalidKeyError` for a
        prefix no key can have.
        """
        check_key(f"{prefix}.s3store-probe/{uuid.uuid4().hex}.json")
        return probe(self._objects, prefix=prefix)

    def verify_conditional_writes(self, *, prefix: str = "") -> None:
        """Check that the endpoint honours `If-None-Match: *` and `If-Match` on `PutObject`
        (the put checks of `probe()`, each on its own object under
        `{prefix}.s3store-probe/`, deleted afterwards).

        Raises `ConditionalWritesUnsupportedError` if a write that had to be refused was
        accepted (whatever the other checks found); `StorageError` if the endpoint refuses
        what it had to accept or does not implement a header (permanent), or a check
        could not tell (transient after a lost answer or a 409 race: run it again).
        """
        check_key(f"{prefix}.s3store-probe/{uuid.uuid4().hex}.json")
        checks = run_checks(self._objects, PUT_CHECKS, prefix=prefix)
        for check in checks:
            if check.verdict is Verdict.IGNORED:
                raise ConditionalWritesUnsupportedError(check.detail, key=check.key)
        for check in checks:
            if check.verdict in (Verdict.REFUSED, Verdict.NOT_SUPPORTED):
                raise StorageError(f"{check.name}: {check.detail}", key=check.key,
                                   code=check.code)
        for check in checks:
            if check.verdict is Verdict.ERROR:
                if check.error is not None and not _could_not_tell(check.error):
                    raise check.error
                raise StorageError(f"{check.name} could not be checked ({check.detail}): "
                                   "run it again", key=check.key, code=check.code,
                                   transient=True) from check.error

    # -- internals -------------------------------------------------------------

    def _encode(self, key: str, value: Any) -> bytes:
        return encode(key, value, max_bytes=self.max_document_bytes)

    def _reencoded(self, key: str, body: bytes, etag: str | None) -> bytes | None:
        """The stored document as this store would write it; None if it cannot be (another
        writer stored what decodes but does not encode: `1e400`, a lone surrogate, or what
        grows past the size limit), so that no new value can equal it."""
        try:
            return self._encode(key, decode(key, body, etag=etag))
        except (InvalidValueError, DocumentTooLargeError):
            return None

    def _base_for(self, key: str, etag: str) -> Base:
        """The version a caller's `etag` names, with the identity this store observed
        for it (a write id, a version id) when it knows one."""
        known = self._cache.peek(key)
        if known is not None and known.etag == etag:
            return Base(etag, known.write_id, known.version_id)
        return Base(etag)

    def _read(self, key: str) -> StoredObject | None:
        try:
            stored = self._objects.get(key, max_bytes=self.max_document_bytes)
        except NotFoundError:
            return None
        self._cache.read(key, _cached(stored))
        return stored

    def _commit(self, key: str, batch: list[Pending]) -> None:
        """Write one round: every pending mutation applied, one conditional write,
        retried under the policy; settles each `Pending` that has not left. Raises only
        a `BaseException` (the round then stays on its callers, to be carried on)."""
        carried = next((p.round for p in batch if isinstance(p.round, _Round)), None)
        round_ = carried if carried is not None else _Round()
        for pending in batch:
            pending.round = round_
        members = [p for p in batch if not p.left]
        try:
            stored = self.retry.retrying((ConflictError, Again))(
                self._commit_once, key, members, round_)
        except tenacity.RetryError as exc:
            attempts = exc.last_attempt.attempt_number
            elapsed = time.monotonic() - round_.started
            if round_.lost.open:
                error: BaseException = OutcomeUnknownError(
                    f"gave up after {attempts} attempts; an answer was lost on the way, so "
                    "this update may have landed", key=key)
            else:
                error = RetriesExhaustedError(
                    f"gave up after {attempts} attempts in {elapsed:.2f}s of conflicting or "
                    "failed writes", key=key, attempts=attempts, elapsed=elapsed)
            last = exc.last_attempt.exception()
            error.__cause__ = last.__cause__ if isinstance(last, Again) else last
            self._settle(members, key=key, error=error)
        except S3StoreError as exc:
            error = exc
            if round_.lost.open and not isinstance(exc, OutcomeUnknownError):
                error = OutcomeUnknownError(
                    "an answer was lost and the store could not ask S3 about it", key=key)
                error.__cause__ = exc
            self._settle(members, key=key, error=error)
        except Exception as exc:
            self._settle(members, key=key, error=exc)
        else:
            self._settle(members, key=key, stored=stored)

    def _commit_once(self, key: str, batch: list[Pending],
                     round_: _Round) -> StoredObject | None:
        """One attempt at a round; the document it leaves (None: nothing to write).

        An attempt that starts from a guess (what this store last knew, or that an unseen
        key is new) and finds it wrong goes on from a fresh read within the same attempt:
        a wrong guess costs a request, never one of the caller's attempts.
        """
        members = [p for p in batch if not (p.left or p.settled)]
        settled = self._what_came_before(key, members, round_)
        if not isinstance(settled, _Nothing):
            return settled
        members = [p for p in members if not p.settled]
        if not members:
            return None
        if round_.resume is not _NOTHING:
            stored, guessed = round_.resume, False  # proven current by a resolution
            round_.resume = _NOTHING
        else:
            stored, guessed = self._starting_point(key, members, round_)
        if guessed:
            outcome = self._write(key, members, round_, stored, guessed=True)
            if not isinstance(outcome, _Nothing):
                return outcome
            round_.fresh = True
            stored = self._read_fresh(key)
        outcome = self._write(key, members, round_, stored, guessed=False)
        return None if isinstance(outcome, _Nothing) else outcome  # only guesses are wrong

    def _what_came_before(self, key: str, members: list[Pending],
                          round_: _Round) -> StoredObject | _Nothing | None:
        """Settle what earlier attempts left — maybe in another thread, interrupted: a
        write known to have landed, an answer still to resolve, callers to be told
        "unknown". `_NOTHING` if the attempt goes on."""
        if round_.lost.landed is not None:
            return self._landed(key, members, round_)
        if not members:
            return None
        if round_.lost.unresolved is not None:
            try:
                found = self._writer.resolve_open(key, round_.lost)
            except StorageError as exc:
                if exc.transient:
                    raise Again from exc
                raise
            if isinstance(found, Landed):
                return self._landed(key, members, round_)
            self._lost(key, members, round_, _NOTHING, found)
            return None
        # Whoever was answered "unknown" stays so, even if the thread that decided it was
        # interrupted before it could say so.
        self._answer_unknowns(key, members, round_, "an earlier write of this round")
        nothing: _Nothing = _NOTHING
        return nothing

    def _write(self, key: str, members: list[Pending], round_: _Round,
               stored: StoredObject | None, *, guessed: bool) -> StoredObject | _Nothing | None:
        """Apply the round's mutations to `stored` and write the result conditionally.

        Returns the document left, or `_WRONG_GUESS` when a guessed starting point proved
        stale. Raises `ConflictError` / `Again` for the retry loop, `S3StoreError`.
        """
        body = stored.body if stored is not None else None
        etag = stored.etag if stored is not None else None
        new_body = apply_mutations(key, body, members, encode=lambda v: self._encode(key, v),
                                   etag=etag)
        unchanged = new_body == body or (
            body is not None and new_body is not None
            and new_body == self._reencoded(key, body, etag))
        if guessed and (unchanged or any(p.error for p in members)):
            return _WRONG_GUESS  # judged on what may be stale: judge it again, fresh
        if new_body is None:
            return None  # every mutation failed on a missing document: nothing to write
        if unchanged and stored is not None:
            log.debug("update %s: unchanged, nothing written", key)
            return stored
        guessed_new = guessed and stored is None
        base = (Base(None) if stored is None
                else Base(stored.etag, stored.write_id, stored.version_id))
        # What this write holds: if its answer is lost and it is found later, each
        # caller is answered as this write did for it.
        payload = _Attempt(new_body, {p: p.error for p in members})
        try:
            outcome = self._writer.send(key, new_body, payload, base=base, lost=round_.lost)
        except ConflictError as exc:
            if exc.code == RACING_CONDITIONAL_WRITES:
                raise Again from exc  # 409: nothing landed
            landed = self._writer.landed_after_refusal(key, round_.lost)
            if landed is None:
                self._cache.distrust(key)  # someone else wrote: what we knew is stale
                if guessed:
                    if guessed_new and self._first_touch is not None:
                        self._first_touch.saw(new=False, weight=2)
                    return _WRONG_GUESS
                raise
            outcome = landed
        except StorageError as exc:
            if exc.transient:
                raise Again from exc  # refused before landing (throttled, unsent)
            raise
        if isinstance(outcome, Resolution):
            self._lost(key, members, round_, stored, outcome)
            return None  # every caller answered (the outcome is unknown to them)
        if guessed_new and self._first_touch is not None:
            self._first_touch.saw(new=True)
        log.debug("update %s: %s -> %s (%d mutations)", key, base.etag, outcome.etag,
                  len(members))
        return self._landed(key, members, round_)

    def _landed(self, key: str, members: list[Pending], round_: _Round) -> StoredObject:
        """One of the round's writes landed (`round_.lost.landed`, recorded the moment it
        was known): each caller is answered as that write did."""
        record = round_.lost.landed
        if record is None or not isinstance(record[1], _Attempt):
            raise RuntimeError(f"update {key}: a landed write without what it carried")
        landed, written, answered = record
        for pending in members:
            pending.error = written.errors.get(pending, pending.error)
        if answered:
            self._cache.wrote(key, Cached(written.body, landed.etag, landed.write_id,
                                          landed.version_id))
        else:
            self._cache.distrust(key)  # found after a lost answer: maybe no longer current
        return StoredObject(written.body, landed.etag, landed.write_id, landed.version_id)

    def _lost(self, key: str, members: list[Pending], round_: _Round,
              stored: Any, resolution: Resolution) -> None:
        """A lost answer that did not land, or that nobody can tell about."""
        self._cache.distrust(key)
        if resolution.outcome is Outcome.NOT_LANDED:
            if resolution.base_is_current and stored is not _NOTHING:
                round_.resume = stored  # still the base: write again without reading
            else:
                round_.fresh = True
            raise Again
        unsure = self._answer_unknowns(key, members, round_, resolution.reason)
        if unsure:
            log.warning("update %s: a lost answer could not be resolved (%s); %d caller(s) "
                        "told the outcome is unknown", key, resolution.reason, unsure)
        if all(p.settled or p.error is not None for p in members):
            return None  # nobody left whose mutation may be applied again
        round_.fresh = True
        raise Again  # the rest declared themselves idempotent: re-read and re-apply

    @staticmethod
    def _answer_unknowns(key: str, members: list[Pending], round_: _Round, reason: str) -> int:
        """Answer `OutcomeUnknownError` to every caller whose mutation is in a write still
        open (its answer lost, not proven to have missed) and who did not declare it
        idempotent: it must never be applied again. How many were answered."""
        answered = 0
        for write_id in round_.lost.open:
            written = round_.lost.sent.get(write_id)
            if not isinstance(written, _Attempt):
                continue
            for pending in members:
                if (pending in written.errors and written.errors[pending] is None
                        and not (pending.idempotent or pending.settled)):
                    pending.error = OutcomeUnknownError(
                        f"the answer was lost and nobody can tell whether this update "
                        f"landed: {reason}", key=key)
                    pending.settled = True
                    answered += 1
        return answered

    def _read_fresh(self, key: str) -> StoredObject | None:
        first_touch = not self._cache.knows(key)
        stored = self._read(key)
        if first_touch and self._first_touch is not None:
            self._first_touch.saw(new=stored is None)
        return stored

    def _starting_point(self, key: str, batch: list[Pending],
                        round_: _Round) -> tuple[StoredObject | None, bool]:
        """The document a round starts from, and whether that is only a guess (what
        this store last knew, or that an unseen key is new) rather than a fresh read."""
        if not round_.fresh:
            cached = self._cache.get(key)
            if cached is not None:
                return StoredObject(cached.body, cached.etag, cached.write_id,
                                    cached.version_id), True
            if self._guess_new(key, batch):
                return None, True
        return self._read_fresh(key), False

    def _guess_new(self, key: str, batch: list[Pending]) -> bool:
        """Write `key` without reading it: unseen, every caller has a default, and this
        store's unseen keys have lately been new (see `s3store._cache.FirstTouch`)."""
        return (self._first_touch is not None and self._first_touch.likely_new()
                and not self._cache.knows(key)
                and all(pending.default is not NO_DEFAULT for pending in batch))

    @staticmethod
    def _settle(batch: list[Pending], *, key: str, stored: StoredObject | None = None,
                error: BaseException | None = None) -> None:
        for pending in batch:
            if pending.settled:
                continue
            if pending.error is None:  # its own mutation failing is its own answer
                if error is not None:
                    pending.error = error if len(batch) == 1 else clone_error(error)
                elif stored is not None:  # each caller gets its own copy of the round's value
                    pending.result = Document(key, decode(key, stored.body, etag=stored.etag),
                                              stored.etag)
            pending.settled = True


def _cached(stored: StoredObject) -> Cached:
    return Cached(stored.body, stored.etag, stored.write_id, stored.version_id)


def _could_not_tell(error: S3StoreError) -> bool:
    """Did this error leave a probe check undecided (a transient failure, a 409 race where
    the server judged nothing), so that running it again may decide it?"""
    if isinstance(error, ConflictError):
        return error.code == RACING_CONDITIONAL_WRITES
    return isinstance(error, StorageError) and error.transient
