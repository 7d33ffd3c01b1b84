"""One conditional write, stamped with a write id, and what happens when its answer is lost.

`ConditionalWriter.send()` sends a conditional `PutObject` once and, if the answer
was lost, resolves it (`s3store._resolve`). `write()` / `delete()` wrap that in the
retry policy for the store's single-shot operations (`create`, `replace`, `delete`):
a write that provably did not land is sent again; one that landed is a success; one
whose fate cannot be known is `OutcomeUnknownError` — never a false success, never a
false conflict, never a second application.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import tenacity

from s3store._errors import (
    AlreadyExistsError,
    ConflictError,
    NotFoundError,
    OutcomeUnknownError,
    S3StoreError,
    StorageError,
)
from s3store._figures import note
from s3store._objects import RACING_CONDITIONAL_WRITES, AnswerLost, ObjectClient, unsent
from s3store._resolve import Base, Landed, Outcome, Resolution, resolve
from s3store._retry import RetryPolicy, log_retry
from s3store._steps import Steps, retried

__all__ = ["Again", "ConditionalWriter", "LostWrites"]

log = logging.getLogger(__name__)

# The figure a resolution adds to (`s3store._figures.CallFigures`).
_RESOLVED = {Outcome.LANDED: "resolved_landed", Outcome.NOT_LANDED: "resolved_not_landed",
             Outcome.UNKNOWN: "unresolved"}


class Again(Exception):
    """Internal: this attempt did not land; the caller's loop runs again (after a wait)."""


@dataclass
class LostWrites:
    """The writes of one operation whose answers were lost: what each carried, and which
    of them are still open (not proven to have missed)."""

    sent: dict[str, Any] = field(default_factory=dict)
    open: set[str] = field(default_factory=set)
    # The base of a write sent whose answer has not been resolved yet (its resolution
    # failed, or its thread was interrupted): nothing may be sent before it is.
    unresolved: Base | None = None
    bases: dict[str, Base] = field(default_factory=dict)  # what each write conditioned on
    # The write that landed, what it carried, and whether its own answer said so (rather
    # than a resolution): set before anything else is done about it.
    landed: tuple[Landed, Any, bool] | None = None

    def __bool__(self) -> bool:
        return bool(self.sent)


class ConditionalWriter:
    """Sends conditional writes and resolves lost answers by write id.

    `resolve_lost_responses=False` switches resolution off (for negative controls and
    demonstrations only): a lost answer is then treated as a failed attempt and sent
    again, the way a plain retry would — which reports false conflicts and applies
    non-idempotent mutations twice.
    """

    def __init__(self, objects: ObjectClient, *, resolve_lost_responses: bool = True) -> None:
        # Every method is steps (`s3store._steps`): a front end makes their requests.
        self.objects = objects
        self.resolve_lost_responses = resolve_lost_responses

    def send(self, key: str, body: bytes, payload: Any, *, base: Base,
             lost: LostWrites,
             arguments: Mapping[str, Any] | None = None) -> Steps[Landed | Resolution]:
        """Send one conditional write of `body`; `payload` is what the caller wants back
        if this write turns out to be the one that landed (also found out later).
        `arguments`: the write options' `PutObject` parameters (None: the store's).

        Returns `Landed` when one of the operation's writes landed (maybe found after a
        lost answer), else the `Resolution` (NOT_LANDED or UNKNOWN) of this lost answer.
        Raises `ConflictError` (refused: another writer got in first), `Again` (refused
        before landing: throttled, unsent, 409), `StorageError` (permanent).
        """
        if lost.unresolved is not None:
            raise RuntimeError("a write was sent before an earlier lost answer was resolved")
        write_id = uuid.uuid4().hex
        note("attempts")
        # Recorded before sending: if this thread is interrupted mid-request, whoever
        # takes the operation over must resolve this write first.
        lost.sent[write_id] = payload
        lost.open.add(write_id)
        lost.bases[write_id] = base
        lost.unresolved = base
        try:
            result = yield from self.objects.put(key, body, write_id=write_id,
                                                 if_match=base.etag,
                                                 if_none_match=base.etag is None,
                                                 arguments=arguments)
        except AnswerLost as exc:
            note("lost_answers")
            if not self.resolve_lost_responses:
                self._answered(write_id, lost)
                raise Again from None
            log.debug("%s: answer lost (%s), resolving %s", key, exc.detail, write_id)
            result = None
        except S3StoreError:
            self._answered(write_id, lost)  # an answer came: this write did not land
            raise
        except BaseException as exc:  # a cancelled task, Ctrl-C
            if unsent(exc):
                self._answered(write_id, lost)  # it never left: nothing to resolve
            raise
        if result is None:
            # Resolved here, not in the `except`: an error the resolution raises would get
            # the internal `AnswerLost` as its `__context__`.
            return (yield from self.resolve_open(key, lost))
        landed = Landed(write_id, result.etag, result.version_id)
        # Recorded before anything else: a thread interrupted from here on leaves a round
        # whose write is known to have landed, not one that looks unsent.
        lost.landed = (landed, payload, True)
        self._answered(write_id, lost)
        return landed

    def resolve_open(self, key: str, lost: LostWrites) -> Steps[Landed | Resolution]:
        """Resolve the operation's unresolved lost answer (`lost.unresolved` is its base).

        Raises `StorageError` if S3 cannot be asked (the write then stays unresolved).
        """
        base = lost.unresolved
        if base is None:
            raise RuntimeError("no lost answer to resolve")
        resolution = yield from resolve(self.objects, key, ours=lost.sent, base=base)
        lost.unresolved = None
        note(_RESOLVED[resolution.outcome])
        log.debug("%s: lost answer resolved as %s %s", key, resolution.outcome.value,
                  resolution.reason)
        if resolution.landed is not None:
            lost.landed = (resolution.landed, lost.sent.get(resolution.landed.write_id), False)
            return resolution.landed
        if resolution.outcome is Outcome.NOT_LANDED:  # none of those sent against this base
            lost.open -= {wid for wid, sent_on in lost.bases.items() if sent_on is base}
        return resolution

    @staticmethod
    def _answered(write_id: str, lost: LostWrites) -> None:
        lost.sent.pop(write_id, None)
        lost.open.discard(write_id)
        lost.bases.pop(write_id, None)
        lost.unresolved = None

    def landed_after_refusal(self, key: str, lost: LostWrites) -> Steps[Landed | None]:
        """After a 412 / 404 that followed a lost answer: is one of ours the current object?
        (An earlier write of this operation that landed makes its resend fail.)"""
        if not lost:
            return None
        try:
            head = yield from self.objects.head(key)
        except NotFoundError:
            return None
        if head.write_id is not None and head.write_id in lost.sent:
            landed = Landed(head.write_id, head.etag, head.version_id)
            lost.landed = (landed, lost.sent[head.write_id], False)
            return landed
        return None

    def write(self, key: str, body: bytes, *, base: Base, retry: RetryPolicy,
              arguments: Mapping[str, Any] | None = None,
              ends_at: float | None = None) -> Steps[Landed]:
        """A single conditional write, sent again (with the same `arguments`, as `send`
        takes them) while it provably did not land, until `retry` or `ends_at`
        (`time.monotonic()`) gives up.

        Raises `AlreadyExistsError` (a create) / `ConflictError`, `OutcomeUnknownError`,
        `StorageError`.
        """
        lost = LostWrites()
        refused: type[ConflictError] = AlreadyExistsError if base.etag is None else ConflictError

        def attempt() -> Steps[Landed]:
            try:
                if lost.unresolved is not None:  # an earlier resolution failed: it comes first
                    outcome = yield from self.resolve_open(key, lost)
                else:
                    outcome = yield from self.send(key, body, None, base=base, lost=lost,
                                                   arguments=arguments)
            except ConflictError as exc:
                note("conflicts")
                if exc.code == RACING_CONDITIONAL_WRITES:
                    raise Again from exc  # 409: nothing landed; S3 asks for a retry
                landed = yield from self.landed_after_refusal(key, lost)
                if landed is not None:
                    return landed
                raise
            except StorageError as exc:
                if exc.transient:
                    raise Again from exc
                raise
            if isinstance(outcome, Landed):
                return outcome
            if outcome.outcome is Outcome.NOT_LANDED and outcome.base_is_current:
                raise Again
            if outcome.outcome is Outcome.NOT_LANDED:
                raise refused("the key changed since (found after a lost answer): this "
                              "write did not land", key=key, etag=base.etag)
            raise OutcomeUnknownError(f"the answer was lost and nobody can tell whether this "
                                      f"write landed: {outcome.reason}", key=key, etag=base.etag)

        landed: Landed = yield from self._retrying(key, attempt, retry, lost, ends_at=ends_at,
                                                   operation="write")
        return landed

    def delete(self, key: str, *, base: Base, retry: RetryPolicy,
               ends_at: float | None = None) -> Steps[None]:
        """A conditional delete, sent again while it provably did not happen.

        Raises `ConflictError`, `OutcomeUnknownError`, `StorageError`.
        """
        lost = LostWrites()

        def attempt() -> Steps[None]:
            try:
                if lost.unresolved is None:
                    lost.open.add("delete")
                    lost.unresolved = base
                    note("attempts")
                    try:
                        yield from self.objects.delete(key, if_match=base.etag)
                    except BaseException as exc:
                        if unsent(exc):
                            self._answered("delete", lost)  # it never left
                        raise
                    self._answered("delete", lost)
                    return
            except AnswerLost as exc:
                note("lost_answers")
                lost.sent["delete"] = None
                if not self.resolve_lost_responses:
                    self._answered("delete", lost)
                    raise Again from exc
            except ConflictError as exc:
                note("conflicts")
                self._answered("delete", lost)
                if exc.code == RACING_CONDITIONAL_WRITES:
                    raise Again from exc
                raise
            except StorageError as exc:
                self._answered("delete", lost)
                if exc.transient:
                    raise Again from exc
                raise
            yield from self._resolve_delete(key, base, lost)

        yield from self._retrying(key, attempt, retry, lost, ends_at=ends_at,
                                  operation="delete")

    def _resolve_delete(self, key: str, base: Base, lost: LostWrites) -> Steps[None]:
        """What became of a conditional delete whose answer was lost: sent again (`Again`)
        only if the object is provably still the version to delete."""
        try:
            head = yield from self.objects.head(key)
        except NotFoundError:
            # Gone: by this delete, or by another writer's (which this one's, had it
            # not landed, would then have failed on). Nobody can tell which.
            lost.unresolved = None
            note("unresolved")
            raise _gone_unknown(key, base) from None
        except StorageError as exc:
            if exc.transient:
                raise Again from exc  # still unresolved: resolved first next attempt
            raise
        if base.identifies(head):
            note("resolved_not_landed")
            self._answered("delete", lost)  # resolved: nothing open, nothing unresolved
            raise Again  # provably still the version to delete: send again
        note("unresolved")
        raise OutcomeUnknownError("the answer to a delete was lost and the object has "
                                  "changed since (or cannot be told from the one named)",
                                  key=key, etag=base.etag)

    @staticmethod
    def _retrying(key: str, attempt: Callable[[], Steps[Any]], retry: RetryPolicy,
                  lost: LostWrites, *, ends_at: float | None, operation: str) -> Steps[Any]:
        try:
            return (yield from retried(retry.retrying(
                Again, ends_at=ends_at, before_sleep=log_retry(operation, key)), attempt))
        except tenacity.RetryError as exc:
            attempts = exc.last_attempt.attempt_number
            log.warning("%s %s: gave up after %d attempts (the retry policy's budget is "
                        "used up)", operation, key, attempts)
            last = exc.last_attempt.exception()
            refusal = last.__cause__ if last is not None else None
            if lost.open:
                error: S3StoreError = OutcomeUnknownError(
                    f"gave up after {attempts} attempts; an earlier answer was lost, so the "
                    "write may have landed", key=key)
            elif isinstance(refusal, StorageError | ConflictError):
                error = refusal  # the last refusal, as S3 gave it
            else:
                error = StorageError(f"gave up after {attempts} attempts: every one was "
                                     "refused before landing", key=key, transient=True)
        except S3StoreError as exc:
            if lost.open and not isinstance(exc, OutcomeUnknownError | ConflictError):
                raise OutcomeUnknownError(
                    "an answer was lost and the store could not ask S3 about it",
                    key=key) from exc
            raise
        # Raised here, not in the `except`: there it would get tenacity's `RetryError`, and
        # through it the internal `Again`, as its `__context__` (`from None` only hides it).
        raise error


def _gone_unknown(key: str, base: Base) -> OutcomeUnknownError:
    return OutcomeUnknownError("the answer to a delete was lost and the object is gone: by "
                               "this delete or another writer's, nobody can tell", key=key,
                               etag=base.etag)
