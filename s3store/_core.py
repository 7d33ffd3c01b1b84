"""The store's one decision core: JSON documents in S3, replaced only under the ETag they
were read with, as steps that do no I/O (`s3store._steps`), which `JsonStore` (threads)
and `AsyncJsonStore` (asyncio) perform.

`update()` is the compare-and-swap loop: read the value and its ETag, apply the
caller's mutation to a private copy, write with `If-Match: <etag>` (or
`If-None-Match: *` for a new key), and on conflict re-read and re-apply, until the
`RetryPolicy` gives up. A write that another writer got in first is never
silently lost: either it lands on top of that writer's data or it is retried.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Final, Generic, TypedDict, TypeVar

import tenacity

from s3store._cache import Cached, DocumentCache, FirstTouch
from s3store._codec import JSON_CODEC, Codec, decode, encode
from s3store._commit import (
    NO_DEFAULT,
    Applied,
    GroupCommit,
    Pending,
    apply_mutations,
    clone_error,
)
from s3store._errors import (
    ConditionalWritesUnsupportedError,
    ConflictError,
    CorruptDocumentError,
    DocumentTooLargeError,
    InvalidKeyError,
    InvalidValueError,
    NotFoundError,
    OutcomeUnknownError,
    RetriesExhaustedError,
    S3StoreError,
    StorageError,
)
from s3store._figures import (
    CallFigures,
    OnCall,
    Recorder,
    StoreCounters,
    Totals,
    note,
    recording,
)
from s3store._objects import (
    RACING_CONDITIONAL_WRITES,
    KeyListing,
    ObjectClient,
    StoredObject,
    VersionListing,
)
from s3store._options import WriteOptions, put_arguments
from s3store._probe import PUT_CHECKS, ProbeReport, Verdict, probe, run_checks
from s3store._resolve import Base, Landed, Outcome, Resolution
from s3store._retry import RetryPolicy, log_retry
from s3store._steps import Steps, retried
from s3store._writer import Again, ConditionalWriter, LostWrites

__all__ = ["DEFAULT_CACHE_SIZE", "DEFAULT_MAX_DOCUMENT_BYTES", "MAX_KEY_BYTES", "Document",
           "StoreCore", "StoreOptions", "check_key"]

log = logging.getLogger(__name__)

DEFAULT_MAX_DOCUMENT_BYTES: Final = 8 * 1024 * 1024
"""Documents over 8 MiB are refused, when read and when written."""

MAX_KEY_BYTES: Final = 1024
"""Keys over 1024 UTF-8 bytes (S3's own limit) are refused before any request."""


DEFAULT_CACHE_SIZE: Final = 1024
"""Documents a store remembers (value and ETag) to skip the GET of its next update."""


class _Nothing:
    def __repr__(self) -> str:
        return "<nothing>"


_NOTHING: Any = _Nothing()
_WRONG_GUESS: Final = _Nothing()


class _Handover:
    """The value a round's last successful mutation returned, for that mutation's caller
    alone (nobody else was given it), taken at most once. Once taken nothing here holds it:
    a round's bookkeeping is a reference cycle (callers and attempts refer to each other),
    which would otherwise keep a large document's objects alive until a garbage collection."""

    __slots__ = ("_value", "by")

    def __init__(self, applied: Applied) -> None:
        self.by = applied.by
        self._value = [applied.value] if applied.by is not None else []

    def take(self, pending: Pending) -> Any:
        """The value, if `pending` is its caller and it is still here; else `_NOTHING`."""
        return self._value.pop() if pending is self.by and self._value else _NOTHING


_NO_HANDOVER: Final = _Handover(Applied(None))


@dataclass(frozen=True)
class _Attempt:
    """What one write of a round held: its bytes, each caller's mutation error, and the
    value of its last successful mutation, for that caller."""

    body: bytes
    errors: dict[Pending, BaseException | None]
    handover: _Handover = _NO_HANDOVER


@dataclass(frozen=True)
class _Left(StoredObject):
    """The document a round left, with the value its last successful mutation returned:
    that caller is answered with the value itself, the others with copies decoded from
    `body`."""

    handover: _Handover = _NO_HANDOVER


@dataclass
class _Round:
    """One round's bookkeeping across its attempts (and across a hand-over)."""

    lost: LostWrites = field(default_factory=LostWrites)
    fresh: bool = False  # read S3 rather than trust the cache
    resume: Any = _NOTHING  # a document a resolution proved current: start from it
    started: float = field(default_factory=time.monotonic)
    recorder: Recorder = field(default_factory=lambda: Recorder(Totals()))
    callers: int = 0  # the most callers any attempt held
    options: WriteOptions | None = None  # what every write of the round is sent with
    read: Any = _NOTHING  # what the round last read from S3 (None: no object), to report
    attempts: int = 0  # across its leaders: a handed-over round goes on counting


V = TypeVar("V")
W = TypeVar("W")  # an update's result, which may differ from what it was given
V_co = TypeVar("V_co", covariant=True)


@dataclass(frozen=True)
class Document(Generic[V_co]):
    """A JSON value as stored at `key`, and the ETag it was read or written under.

    Generic in the value's type: `update()`, `create()` and `replace()` give the type their
    mutation or value has (`Document[list[Step]]` from a `list[Step] -> list[Step]`
    mutation), `get()` gives `Document[Any]` (nothing checks what S3 holds but the codec).
    """

    key: str
    value: V_co
    etag: str
    figures: CallFigures | None = field(default=None, compare=False, repr=False)
    """What the call that gave this document took (`s3store._figures`)."""


@dataclass(eq=False)
class _Call:
    """One call of the store while it runs: its figures, as they are recorded."""

    operation: str
    key: str
    recorder: Recorder
    started: float  # time.monotonic()
    callers: int = 1
    figures: CallFigures | None = None

    def answer(self, document: Document[V]) -> Document[V]:
        return replace(document, figures=self.figures)


def check_key(key: str) -> None:
    """Refuse keys that S3 would take but that no document should have.

    Raises `InvalidKeyError` for an empty key, one over 1024 UTF-8 bytes, one that is not
    valid Unicode (a lone surrogate), control characters, a leading `/`, or `.` / `..` /
    empty path segments.
    """
    # The error's `key` is the key as given (its text shows it escaped and cut short).
    if not isinstance(key, str):
        raise InvalidKeyError("key must be a string", key=key)
    if not key:
        raise InvalidKeyError("key must not be empty", key=key)
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no request could carry it
        raise InvalidKeyError("key is not valid Unicode (it holds a lone surrogate)",
                              key=key) from None
    if len(encoded) > MAX_KEY_BYTES:
        raise InvalidKeyError(f"key is {len(encoded)} UTF-8 bytes, over the limit of "
                              f"{MAX_KEY_BYTES}", key=key)
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key):
        raise InvalidKeyError("key contains control characters", key=key)
    if any(segment in ("", ".", "..") for segment in key.split("/")):
        raise InvalidKeyError("key has an empty, '.' or '..' path segment", key=key)


class StoreOptions(TypedDict, total=False):
    """A store's options, as `JsonStore` and `AsyncJsonStore` take them (`JsonStore`'s
    docstring says what each does; `StoreCore.__init__` holds their defaults)."""

    retry: RetryPolicy | None
    max_document_bytes: int
    expected_bucket_owner: str | None
    cache_size: int
    group_commit: bool
    resolve_lost_responses: bool
    write_options: WriteOptions | None
    on_call: OnCall | None
    codec: Codec[Any]


class StoreCore:
    """What `JsonStore` and `AsyncJsonStore` decide, once, as steps (`s3store._steps`):
    every operation of theirs is a method here that yields the requests, sleeps and waits
    it needs and returns its answer; the front ends only perform them (`JsonStore` with a
    blocking boto3 client, `s3store.aio.AsyncJsonStore` with aiobotocore on an event loop).
    The options are `JsonStore`'s (its docstring says what each does); `group` is how
    concurrent `update()` callers of one key wait for their round (threads by default),
    `identity` who the running caller is (its thread, or its task)."""

    def __init__(
        self,
        bucket: str,
        *,
        retry: RetryPolicy | None = None,
        max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
        expected_bucket_owner: str | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
        group_commit: bool = True,
        resolve_lost_responses: bool = True,
        write_options: WriteOptions | None = None,
        on_call: OnCall | None = None,
        codec: Codec[Any] = JSON_CODEC,
        group: Callable[[], GroupCommit] = GroupCommit,
        identity: Callable[[], Any] = threading.get_ident,
    ) -> None:
        _check_codec(codec)
        self.codec = codec
        self.bucket = bucket
        self.retry = retry if retry is not None else RetryPolicy()
        self.max_document_bytes = max_document_bytes
        self.write_options = _checked_options(write_options) or WriteOptions()
        self._objects = ObjectClient(bucket, expected_bucket_owner=expected_bucket_owner,
                                     put_arguments=put_arguments(self.write_options))
        self._writer = ConditionalWriter(
            self._objects, resolve_lost_responses=resolve_lost_responses
        )
        self._cache = DocumentCache(cache_size)
        self._first_touch = FirstTouch() if cache_size > 0 else None
        self._group = group() if group_commit else None
        self._identity = identity
        self._totals = Totals()
        self._on_call = on_call

    def counters(self) -> StoreCounters:
        """What this store's calls have sent, seen and written so far (`StoreCounters`)."""
        return self._totals.snapshot()

    def _get_steps(self, key: str, codec: Codec[Any] | None) -> Steps[Document[Any]]:
        """`get()`."""
        with self._call("get", key) as call:
            check_key(key)
            codec = self._codec_for(codec)
            stored = yield from self._objects.get(key, max_bytes=self.max_document_bytes)
            document = Document(key, decode(key, stored.body, etag=stored.etag,
                                            codec=codec), stored.etag)
            self._cache.read(key, _cached(stored))
        return call.answer(document)

    def _create_steps(self, key: str, value: V, *, options: WriteOptions | None,
                     retry: RetryPolicy | None, deadline: float | None,
                     codec: Codec[V] | None) -> Steps[Document[V]]:
        """`create()`."""
        with self._call("create", key) as call:
            check_key(key)
            body = self._encode(key, value, self._codec_for(codec))
            arguments = self._put_arguments(options)
            self._cache.discard(key)
            policy, ends_at = self._limits(call, retry, deadline)
            landed = yield from self._writer.write(key, body, base=Base(None), retry=policy,
                                                   arguments=arguments, ends_at=ends_at)
            call.recorder.landed()
            self._cache.wrote(key, Cached(body, landed.etag, landed.write_id, landed.version_id))
        return call.answer(Document(key, value, landed.etag))

    def _replace_steps(self, key: str, value: V, *, etag: str, options: WriteOptions | None,
                      retry: RetryPolicy | None, deadline: float | None,
                      codec: Codec[V] | None) -> Steps[Document[V]]:
        """`replace()`."""
        with self._call("replace", key) as call:
            check_key(key)
            body = self._encode(key, value, self._codec_for(codec))
            base = self._base_for(key, etag)
            arguments = self._put_arguments(options)
            self._cache.discard(key)
            policy, ends_at = self._limits(call, retry, deadline)
            landed = yield from self._writer.write(key, body, base=base, retry=policy,
                                                   arguments=arguments, ends_at=ends_at)
            call.recorder.landed()
            self._cache.wrote(key, Cached(body, landed.etag, landed.write_id, landed.version_id))
        return call.answer(Document(key, value, landed.etag))

    def _update_steps(
        self, key: str, mutate: Callable[[V], W], *, default: V, idempotent: bool,
        allow_none: bool, options: WriteOptions | None, retry: RetryPolicy | None,
        deadline: float | None, codec: Codec[V] | None,
    ) -> Steps[Document[W]]:
        """`update()`."""
        with self._call("update", key) as call:
            check_key(key)
            policy, ends_at = self._limits(call, retry, deadline)
            pending = Pending(mutate, default, idempotent, allow_none, owner=self._identity(),
                              options=self.write_options.merged(_checked_options(options)),
                              codec=self._codec_for(codec), retry=policy, ends_at=ends_at,
                              started=call.started)
            try:
                if self._group is None:
                    yield from self._commit(key, [pending])
                else:
                    yield from self._group.submit(key, pending,
                                                  lambda batch: self._commit(key, batch),
                                                  expired=lambda p: self._expired(key, p))
            except _HandOver:  # this caller's deadline came first: the others carry the round
                pass
            finally:
                if isinstance(pending.round, _Round):  # the round's figures are the caller's
                    call.recorder = pending.figures or pending.round.recorder.snapshot(
                        wrote=pending.error is None)
                    call.callers = pending.round.callers
            document: Document[W] = pending.outcome()
        return call.answer(document)

    def _delete_steps(self, key: str, *, etag: str | None, retry: RetryPolicy | None,
                     deadline: float | None) -> Steps[None]:
        """`delete()`."""
        with self._call("delete", key) as call:
            check_key(key)
            policy, ends_at = self._limits(call, retry, deadline)
            if etag is None:
                self._cache.discard(key)
                yield from self._objects.delete(key)
            else:
                base = self._base_for(key, etag)
                self._cache.discard(key)
                yield from self._writer.delete(key, base=base, retry=policy, ends_at=ends_at)
            call.recorder.landed()

    def _key_listing(self, prefix: str, page_size: int) -> KeyListing:
        """`keys()`, page by page."""
        return self._objects.keys(prefix, page_size=page_size)

    def _version_listing(self, key: str, page_size: int) -> VersionListing:
        """`versions()`, page by page."""
        check_key(key)
        return self._objects.versions(key, page_size=page_size)

    def _versioning_steps(self) -> Steps[str]:
        """`versioning()`."""
        return (yield from self._objects.versioning_status())

    def _probe_steps(self, prefix: str) -> Steps[ProbeReport]:
        """`probe()`."""
        check_key(f"{prefix}.s3store-probe/{uuid.uuid4().hex}.json")
        return (yield from probe(self._objects, prefix=prefix))

    def _verify_steps(self, prefix: str) -> Steps[None]:
        """`verify_conditional_writes()`."""
        check_key(f"{prefix}.s3store-probe/{uuid.uuid4().hex}.json")
        checks = yield from run_checks(self._objects, PUT_CHECKS, prefix=prefix)
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

    @contextmanager
    def _call(self, operation: str, key: str) -> Iterator[_Call]:
        """Record one call's figures; give them to its document or error, the store's
        totals and the `on_call` hook."""
        call = _Call(operation, key, Recorder(self._totals), time.monotonic())
        try:
            with recording(call.recorder):
                yield call
        except BaseException as exc:
            self._finish(call, exc)  # outside the recording: the hook's requests are its own
            raise
        self._finish(call, None)

    def _finish(self, call: _Call, error: BaseException | None) -> None:
        call.figures = call.recorder.figures(call.operation, call.key, started=call.started,
                                             callers=call.callers, error=error)
        self._totals.add("calls")
        if error is not None:
            self._totals.add("errors")
            if isinstance(error, S3StoreError):
                error.figures = call.figures
        if self._on_call is not None:
            try:
                self._on_call(call.figures)
            except Exception:  # a metrics hook must never turn an answer into an error
                log.warning("the on_call hook failed for %s %s", call.operation, call.key,
                            exc_info=True)

    def _limits(self, call: _Call, retry: RetryPolicy | None,
                deadline: float | None) -> tuple[RetryPolicy, float | None]:
        """The call's retry policy, and when (`time.monotonic()`) it stops retrying."""
        if retry is None:
            retry = self.retry
        elif not isinstance(retry, RetryPolicy):
            raise TypeError(f"retry must be a RetryPolicy, not {type(retry).__name__}")
        if deadline is not None and not (isinstance(deadline, int | float) and deadline > 0):
            raise ValueError(f"deadline must be a positive number of seconds, not {deadline!r}")
        return retry, retry.ends_at(call.started, deadline)

    def _encode(self, key: str, value: Any, codec: Codec[Any] | None = None) -> bytes:
        return encode(key, value, max_bytes=self.max_document_bytes,
                      codec=self.codec if codec is None else codec)

    def _codec_for(self, codec: Codec[Any] | None) -> Codec[Any]:
        """A call's codec: its own, or the store's."""
        if codec is None:
            return self.codec
        _check_codec(codec)
        return codec

    def _unchanged(self, key: str, stored: StoredObject | None, applied: Applied) -> bool:
        """Does the round's result hold the stored value (so that nothing is written)?

        Judged on bytes: the same bytes, or the same as the stored value written again by
        the codec that wrote the result. That re-encoding (a decode and an encode of the
        whole document) is skipped when the stored bytes are already a codec's own — the
        object carries a store's write id — since an equal value then gives equal bytes.
        A codec that writes a value's bytes otherwise than the store that wrote them did
        (floats in `OrjsonCodec` after `JsonCodec`) may thus write an equal value once."""
        body = stored.body if stored is not None else None
        if applied.body == body:
            return True
        if stored is None or applied.body is None or stored.write_id is not None:
            return False
        return applied.body == self._reencoded(key, stored.body, stored.etag, applied.codec)

    def _reencoded(self, key: str, body: bytes, etag: str | None,
                   codec: Codec[Any]) -> bytes | None:
        """The stored document as `codec` would write it; None if it cannot be (another
        writer stored what decodes but does not encode: `1e400`, a lone surrogate, or what
        grows past the size limit), so that no new value can equal it."""
        try:
            return encode(key, decode(key, body, etag=etag, codec=codec),
                          max_bytes=self.max_document_bytes, codec=codec)
        except (InvalidValueError, DocumentTooLargeError):
            return None

    def _put_arguments(self, options: WriteOptions | None) -> dict[str, Any] | None:
        """The `PutObject` parameters of a write with the store's options and `options`
        over them (None: the store's own, which its `ObjectClient` sends)."""
        merged = self.write_options.merged(_checked_options(options))
        return None if merged is self.write_options else put_arguments(merged)

    def _base_for(self, key: str, etag: str) -> Base:
        """The version a caller's `etag` names, with the identity this store observed
        for it (a write id, a version id) when it knows one."""
        known = self._cache.peek(key)
        if known is not None and known.etag == etag:
            return Base(etag, known.write_id, known.version_id)
        return Base(etag)

    def _read(self, key: str) -> Steps[StoredObject | None]:
        try:
            stored = yield from self._objects.get(key, max_bytes=self.max_document_bytes)
        except NotFoundError:
            return None
        self._cache.read(key, _cached(stored))
        return stored

    def _commit(self, key: str, batch: list[Pending]) -> Steps[None]:
        """Write one round: every pending mutation applied, one conditional write,
        retried under the policy; settles each `Pending` that has not left. Raises only
        a `BaseException` (the round then stays on its callers, to be carried on)."""
        carried = next((p.round for p in batch if isinstance(p.round, _Round)), None)
        # Every caller of a round has equal options (`GroupCommit` groups them so).
        round_ = carried if carried is not None else _Round(
            options=batch[0].options, recorder=Recorder(self._totals), started=time.monotonic())
        for pending in batch:
            pending.round = round_
        members = [p for p in batch if not p.left]
        round_.callers = max(round_.callers, len(members))
        policy: RetryPolicy = next((p.retry for p in members if p.retry is not None),
                                   self.retry)
        retrying = policy.retrying(
            (ConflictError, Again), ends_at=lambda: _ends_at(members),
            stop=lambda retry_state: self._stop(key, members, round_, retry_state),
            before_sleep=log_retry("update", key))
        try:
            with recording(round_.recorder):
                stored = yield from retried(retrying,
                                            lambda: self._commit_once(key, members, round_))
        except tenacity.RetryError as exc:
            self._settle(members, key=key, error=self._gave_up(key, round_, exc.last_attempt))
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

    def _stop(self, key: str, members: list[Pending], round_: _Round, state: Any) -> bool:
        """Whether the round stops retrying: when every caller still in it has used up its
        attempts or reached its deadline. Callers who have, while others go on, are
        answered now and left out of the round's later attempts."""
        now, attempts = time.monotonic(), round_.attempts
        active = [p for p in members if not (p.left or p.settled)]
        done = [p for p in active if attempts >= (p.retry or self.retry).max_attempts
                or (p.ends_at is not None and now >= p.ends_at)]
        if not done or len(done) == len(active):
            return bool(done) or not active
        self._settle(done, key=key, error=self._gave_up(key, round_, state.outcome, final=False))
        for pending in done:  # its figures as of now, not the rest of the round's
            pending.figures = round_.recorder.snapshot(wrote=False)
        if self._group is not None:
            self._group.wake(key)  # followers answered now need not wait for the round
            if any(p.owner == self._identity() for p in done):
                raise _HandOver  # the leader's own deadline: the others carry the round on
        return False

    @staticmethod
    def _expired(key: str, pending: Pending) -> BaseException:
        """The error of a caller whose deadline passed while it was queued behind another
        round: nothing of it was sent."""
        started = pending.started if pending.started is not None else pending.ends_at
        waited = time.monotonic() - (started or 0.0)  # since its call started
        return RetriesExhaustedError(
            "the deadline passed while this update waited for another round of the key: "
            "nothing of it was sent", key=key, attempts=0, elapsed=max(0.0, waited))

    def _gave_up(self, key: str, round_: _Round, last_attempt: Any, *,
                 final: bool = True) -> BaseException:
        """The error of callers whose retries are used up: `OutcomeUnknownError` if one of
        the round's writes may have landed (its answer was lost), else
        `RetriesExhaustedError` with the document the round last read; caused by the last
        refusal."""
        attempts = round_.attempts
        elapsed = time.monotonic() - round_.started
        if round_.lost.open and final:
            for _ in round_.lost.open:
                round_.recorder.note("unresolved")  # the round ends with its answer lost
        if round_.lost.open:
            error: BaseException = OutcomeUnknownError(
                f"gave up after {attempts} attempts in {elapsed:.2f}s; an answer was lost on "
                "the way, so this update may have landed", key=key)
        else:
            error = RetriesExhaustedError(
                f"gave up after {attempts} attempts in {elapsed:.2f}s of conflicting or "
                "failed writes", key=key, attempts=attempts, elapsed=elapsed)
            error.current = self._current(key, round_.read)
        log.warning("update %s: gave up after %d attempts in %.2fs (%s): the retry policy's "
                    "budget or the call's deadline is used up", key, attempts, elapsed,
                    type(error).__name__)
        last = last_attempt.exception()
        error.__cause__ = last.__cause__ if isinstance(last, Again) else last
        return error

    def _current(self, key: str, read: Any) -> Document[Any] | None:
        """The document a round last read, for its error (None: none read, or corrupt)."""
        if not isinstance(read, StoredObject):
            return None
        try:
            return Document(key, decode(key, read.body, etag=read.etag, codec=self.codec),
                            read.etag)
        except CorruptDocumentError:
            return None

    def _commit_once(self, key: str, batch: list[Pending],
                     round_: _Round) -> Steps[StoredObject | None]:
        """One attempt at a round; the document it leaves (None: nothing to write).

        An attempt that starts from a guess (what this store last knew, or that an unseen
        key is new) and finds it wrong goes on from a fresh read within the same attempt:
        a wrong guess costs a request, never one of the caller's attempts.
        """
        round_.attempts += 1
        members = [p for p in batch if not (p.left or p.settled)]
        settled = yield from self._what_came_before(key, members, round_)
        if not isinstance(settled, _Nothing):
            return settled
        members = [p for p in members if not p.settled]
        if not members:
            return None
        if round_.resume is not _NOTHING:
            stored, guessed = round_.resume, False  # proven current by a resolution
            round_.resume = _NOTHING
        else:
            stored, guessed = yield from self._starting_point(key, members, round_)
        if guessed:
            outcome = yield from self._write(key, members, round_, stored, guessed=True)
            if not isinstance(outcome, _Nothing):
                return outcome
            round_.fresh = True
            stored = yield from self._read_fresh(key)
        round_.read = stored
        outcome = yield from self._write(key, members, round_, stored, guessed=False)
        return None if isinstance(outcome, _Nothing) else outcome  # only guesses are wrong

    def _what_came_before(self, key: str, members: list[Pending],
                          round_: _Round) -> Steps[StoredObject | _Nothing | None]:
        """Settle what earlier attempts left — maybe in another thread, interrupted: a
        write known to have landed, an answer still to resolve, callers to be told
        "unknown". `_NOTHING` if the attempt goes on."""
        if round_.lost.landed is not None:
            return self._landed(key, members, round_)
        if not members:
            return None
        if round_.lost.unresolved is not None:
            try:
                found = yield from self._writer.resolve_open(key, round_.lost)
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
               stored: StoredObject | None, *,
               guessed: bool) -> Steps[StoredObject | _Nothing | None]:
        """Apply the round's mutations to `stored` and write the result conditionally.

        Returns the document left, or `_WRONG_GUESS` when a guessed starting point proved
        stale. Raises `ConflictError` / `Again` for the retry loop, `S3StoreError`.
        """
        applied = apply_mutations(key, stored.body if stored is not None else None, members,
                                  max_bytes=self.max_document_bytes,
                                  etag=stored.etag if stored is not None else None,
                                  me=self._identity())
        new_body = applied.body
        unchanged = self._unchanged(key, stored, applied)
        if guessed and (unchanged or any(p.error for p in members)):
            return _WRONG_GUESS  # judged on what may be stale: judge it again, fresh
        if new_body is None:
            return None  # every mutation failed on a missing document: nothing to write
        if unchanged and stored is not None:
            log.debug("update %s: unchanged, nothing written", key)
            return _Left(stored.body, stored.etag, stored.write_id, stored.version_id,
                         handover=_Handover(applied))
        guessed_new = guessed and stored is None
        base = (Base(None) if stored is None
                else Base(stored.etag, stored.write_id, stored.version_id))
        # What this write holds: if its answer is lost and it is found later, each
        # caller is answered as this write did for it.
        payload = _Attempt(new_body, {p: p.error for p in members}, _Handover(applied))
        try:
            outcome = yield from self._writer.send(key, new_body, payload, base=base,
                                                   lost=round_.lost,
                                                   arguments=self._put_arguments(round_.options))
        except ConflictError as exc:
            note("conflicts")
            if exc.code == RACING_CONDITIONAL_WRITES:
                raise Again from exc  # 409: nothing landed
            landed = yield from self._writer.landed_after_refusal(key, round_.lost)
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
        round_.recorder.landed()
        for pending in members:
            pending.error = written.errors.get(pending, pending.error)
        if answered:
            self._cache.wrote(key, Cached(written.body, landed.etag, landed.write_id,
                                          landed.version_id))
        else:
            self._cache.distrust(key)  # found after a lost answer: maybe no longer current
        return _Left(written.body, landed.etag, landed.write_id, landed.version_id,
                     handover=written.handover)

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

    def _read_fresh(self, key: str) -> Steps[StoredObject | None]:
        first_touch = not self._cache.knows(key)
        stored = yield from self._read(key)
        if first_touch and self._first_touch is not None:
            self._first_touch.saw(new=stored is None)
        return stored

    def _starting_point(self, key: str, batch: list[Pending],
                        round_: _Round) -> Steps[tuple[StoredObject | None, bool]]:
        """The document a round starts from, and whether that is only a guess (what
        this store last knew, or that an unseen key is new) rather than a fresh read."""
        if not round_.fresh:
            cached = self._cache.get(key)
            if cached is not None:
                return StoredObject(cached.body, cached.etag, cached.write_id,
                                    cached.version_id), True
            if self._guess_new(key, batch):
                return None, True
        return (yield from self._read_fresh(key)), False

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
                    try:
                        pending.result = Document(key, _value_for(pending, stored, key),
                                                  stored.etag)
                    except CorruptDocumentError as exc:  # its codec cannot read another's
                        pending.error = exc
            pending.settled = True


class _HandOver(BaseException):
    """Internal: a round's leader reached its deadline while others of the round go on;
    it leaves the round to them (group commit's hand-over) and answers its own caller."""


def _check_codec(codec: Any) -> None:
    if not (callable(getattr(codec, "encode", None))
            and callable(getattr(codec, "decode", None))):
        raise TypeError(f"codec must have encode() and decode(), like s3store.JsonCodec: "
                        f"{codec!r} has not")


def _checked_options(options: WriteOptions | None) -> WriteOptions | None:
    if options is not None and not isinstance(options, WriteOptions):
        raise TypeError(f"write options must be WriteOptions, not {type(options).__name__}")
    return options


def _ends_at(members: list[Pending]) -> float | None:
    """When the first of a round's callers still in it stops retrying (None: never)."""
    ends = [p.ends_at for p in members
            if p.ends_at is not None and not (p.left or p.settled)]
    return min(ends) if ends else None


def _value_for(pending: Pending, stored: StoredObject, key: str) -> Any:
    """The round's value for one of its callers, a copy of its own: the value its own
    mutation returned if that made the round's document (one decode fewer: nobody else
    was given it), else decoded from the document's bytes with the caller's codec."""
    value = stored.handover.take(pending) if isinstance(stored, _Left) else _NOTHING
    if value is not _NOTHING:
        return value
    return decode(key, stored.body, etag=stored.etag, codec=pending.codec)


def _cached(stored: StoredObject) -> Cached:
    return Cached(stored.body, stored.etag, stored.write_id, stored.version_id)


def _could_not_tell(error: S3StoreError) -> bool:
    """Did this error leave a probe check undecided (a transient failure, a 409 race where
    the server judged nothing), so that running it again may decide it?"""
    if isinstance(error, ConflictError):
        return error.code == RACING_CONDITIONAL_WRITES
    return isinstance(error, StorageError) and error.transient
