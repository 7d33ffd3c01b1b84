"""One conditional write, stamped with a write id, and what happens when its answer is lost.

`ConditionalWriter.send()` sends a conditional `PutObject` once and, if the answer
was lost, resolves it (`s3store.resolve`). `write()` / `delete()` wrap that in the
retry policy for the store's single-shot operations (`create`, `replace`, `delete`):
a write that clearly did not land is sent again; one that landed is a success; one
whose fate cannot be known is `OutcomeUnknownError` — never a false success, never a
false conflict.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import tenacity

from s3store.errors import ConflictError, NotFoundError, OutcomeUnknownError, StorageError
from s3store.objects import RACING_CONDITIONAL_WRITES, ObjectClient
from s3store.resolve import Base, Landed, Outcome, Resolution, resolve
from s3store.retry import RetryPolicy

__all__ = ["ConditionalWriter", "LostWrites", "TryAgain"]

log = logging.getLogger("s3store")


class TryAgain(Exception):
    """Internal: this attempt did not land (or nobody knows); the caller's loop runs again."""


@dataclass
class LostWrites:
    """The write ids of one operation whose answers were lost, with what each wrote."""

    values: dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.values)


class ConditionalWriter:
    """Sends conditional writes and resolves lost answers by write id.

    `resolve_lost_responses=False` switches resolution off (for negative controls and
    demonstrations only): a lost answer is then treated as a failed attempt and sent
    again, the way a plain retry would — which reports false conflicts and applies
    non-idempotent mutations twice.
    """

    def __init__(self, objects: ObjectClient, *, resolve_lost_responses: bool = True) -> None:
        self.objects = objects
        self.resolve_lost_responses = resolve_lost_responses

    def send(self, key: str, body: bytes, value: Any, *, base: Base,
             lost: LostWrites) -> Landed | Resolution:
        """Send one conditional write of `body` (which encodes `value`).

        Returns `Landed` when it landed (also when found out after a lost answer), else
        the `Resolution` of a lost answer. Raises `ConflictError` (clearly lost to
        another writer), `TryAgain` (clearly did not land: throttled, not sent),
        `StorageError` (permanent), and `StorageError` from a resolving request.
        """
        write_id = uuid.uuid4().hex

        def put() -> str:
            return self.objects.put(key, body, write_id=write_id, if_match=base.etag,
                                    if_none_match=base.etag is None)

        etag = self._send_once(put, lost, write_id, value)
        if etag is not None:
            return Landed(write_id, etag)
        resolution = resolve(self.objects, key, ours=lost.values, base=base)
        log.debug("PUT %s: lost answer of %s resolved as %s", key, sorted(lost.values),
                  resolution.outcome.value)
        if resolution.landed is not None:
            return resolution.landed
        return resolution

    def write(self, key: str, body: bytes, value: Any, *, base: Base,
              retry: RetryPolicy) -> str:
        """A single conditional write, sent again while it clearly did not land.

        Returns the new ETag. Raises `ConflictError` / `AlreadyExistsError`,
        `OutcomeUnknownError`, `StorageError`.
        """
        lost = LostWrites()

        def attempt() -> str:
            outcome = self.send(key, body, value, base=base, lost=lost)
            if isinstance(outcome, Landed):
                return outcome.etag
            if outcome.outcome is Outcome.NOT_LANDED and outcome.base_is_current:
                raise TryAgain
            if outcome.outcome is Outcome.NOT_LANDED:
                raise ConflictError("the object changed since it was read (found after a "
                                    "lost answer)", key=key, etag=base.etag)
            raise OutcomeUnknownError("the answer was lost and another write replaced the "
                                      "object: this write may or may not have landed",
                                      key=key, etag=base.etag)

        etag: str = self._retrying(key, attempt, retry, lost)
        return etag

    def delete(self, key: str, *, etag: str, retry: RetryPolicy) -> None:
        """A conditional delete, sent again while it clearly did not happen.

        Raises `ConflictError`, `OutcomeUnknownError`, `StorageError`.
        """
        lost = LostWrites()

        def attempt() -> None:
            def delete() -> str:
                self.objects.delete(key, if_match=etag)
                return etag

            if self._send_once(delete, lost, "delete", None) is not None:
                return
            try:
                head = self.objects.head(key)
            except NotFoundError:
                return  # gone, as asked
            if head.etag == etag:
                raise TryAgain
            raise OutcomeUnknownError("the answer to a delete was lost and the object has "
                                      "changed since", key=key, etag=etag)

        self._retrying(key, attempt, retry, lost)

    def _send_once(self, request: Callable[[], str], lost: LostWrites, lost_id: str,
                   value: Any) -> str | None:
        """Send a conditional write once: its ETag, or None when its answer was lost or
        a conflict may be an earlier lost write of ours (then it must be resolved).

        Raises `TryAgain` (clearly did not land: throttled, unsent, 409), `ConflictError`
        (clearly lost to another writer), `StorageError` (permanent).
        """
        try:
            return request()
        except OutcomeUnknownError as exc:
            lost.values[lost_id] = value
            if not self.resolve_lost_responses:
                raise TryAgain from exc
            log.debug("%s: answer lost, resolving %s", exc.key, lost_id)
        except ConflictError as exc:
            if exc.code == RACING_CONDITIONAL_WRITES:
                raise TryAgain from exc  # 409: nothing landed; S3 asks for a retry
            # After a lost answer, a 412 may be our own earlier write having landed.
            if not lost or not self.resolve_lost_responses:
                raise
        except StorageError as exc:
            if exc.transient:
                raise TryAgain from exc
            raise
        return None

    @staticmethod
    def _retrying(key: str, attempt: Any, retry: RetryPolicy, lost: LostWrites) -> Any:
        try:
            return retry.retrying(TryAgain)(attempt)
        except tenacity.RetryError as exc:
            cause = exc.last_attempt.exception()
            attempts = exc.last_attempt.attempt_number
            if lost:
                raise OutcomeUnknownError(
                    f"gave up after {attempts} attempts; an earlier answer was lost, so the "
                    "write may have landed", key=key) from cause
            # Only a transient failure (TryAgain's cause) can exhaust a single write here.
            raise (cause.__cause__ if cause is not None and cause.__cause__ else exc) from None
        except StorageError as exc:
            if lost and not isinstance(exc, OutcomeUnknownError):
                raise OutcomeUnknownError(
                    "an answer was lost and the store could not ask S3 about it",
                    key=key) from exc
            raise
