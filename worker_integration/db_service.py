"""`DBService`: the worker's documents in S3 — the one module that knows keys and shapes.

```
{customer_id}/jobs/{job_id}/execution_steps.json   a bare JSON array of step records,
                                                   sorted by step_order (what readers expect)
{customer_id}/jobs/{job_id}/job.json               the job record, a JSON object
```

Every write is one `JsonStore.update()` (read, apply a pure mutation, write with
`If-Match`, re-read and re-apply on conflict), so a concurrent writer's record is
never lost, and nothing here ever writes a list it was handed: there is no "save
the steps" method. Every mutation is idempotent (an upsert by identity, a status
that is already reached, artifacts added once), so re-applying one is harmless.

Ids are checked before any request: 1 to 128 ASCII letters, digits, `_` or `-`;
anything else raises `s3store.InvalidKeyError`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any, Final

from s3store import (
    AlreadyExistsError,
    CorruptDocumentError,
    InvalidKeyError,
    InvalidValueError,
    JsonStore,
    NotFoundError,
)
from worker_integration.clock import iso, utc_now
from worker_integration.job_record import JobRecord, JobStatus, StepIdentity
from worker_integration.models import ExecutionStep, InvalidRecordError, StepType

__all__ = [
    "DBService",
    "check_id",
    "edit_step",
    "execution_steps_key",
    "job_key",
    "parse_steps",
    "stays_against",
    "upsert_step",
]

log = logging.getLogger(__name__)

_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,128}")


def check_id(name: str, value: Any) -> str:
    """`value` if it is a safe id (1-128 ASCII letters, digits, `_`, `-`).

    Raises `InvalidKeyError` otherwise (`../x`, `a/b`, empty, control characters,
    non-ASCII, over-long, not a string), whose `key` is the refused id as given (None
    if it is not a string).
    """
    if not isinstance(value, str) or _ID.fullmatch(value) is None:
        raise InvalidKeyError(f"{name} must be 1-128 ASCII letters, digits, '_' or '-'",
                              key=value)
    return value


def execution_steps_key(customer_id: str, job_id: str) -> str:
    """The key of a job's execution steps. Raises `InvalidKeyError` for a bad id."""
    return (f"{check_id('customer_id', customer_id)}/jobs/{check_id('job_id', job_id)}"
            "/execution_steps.json")


def job_key(customer_id: str, job_id: str) -> str:
    """The key of a job's record. Raises `InvalidKeyError` for a bad id."""
    return f"{check_id('customer_id', customer_id)}/jobs/{check_id('job_id', job_id)}/job.json"


# -- the pure mutations and parsers (unit-tested on their own) -----------------------------


def _checked_records(value: Any, *, key: str) -> list[dict[str, Any]]:
    """The stored array itself, after checking that every record has a readable identity
    (other writers' fields this code would not write are carried as they are)."""
    if not isinstance(value, list):
        raise CorruptDocumentError(
            f"execution steps must be a JSON array, found {type(value).__name__}", key=key)
    for position, record in enumerate(value):
        try:
            ExecutionStep.from_stored(record)
        except InvalidRecordError as exc:
            raise CorruptDocumentError(
                f"execution step at position {position} is invalid: {exc}", key=key) from exc
    return value


def parse_steps(value: Any, *, key: str) -> list[ExecutionStep]:
    """The step records in a stored value, in stored order, read leniently.

    A field of a record that does not validate is left out of its parsed step and
    logged at WARNING with the key (`ExecutionStep.from_stored`); the stored record
    is not changed. Raises `CorruptDocumentError` (with `key`) if the value is not a
    JSON array of objects with a readable `(step_order, step_type)`.
    """
    steps = []
    for record in _checked_records(value, key=key):
        step, unreadable = ExecutionStep.from_stored(record)
        if unreadable:
            log.warning("%s: step (%s, %s) has fields this code cannot read, left as "
                        "stored: %s", key, step.step_order, step.step_type,
                        "; ".join(unreadable))
        steps.append(step)
    return steps


def upsert_step(current: Any, step: ExecutionStep, *, key: str) -> list[dict[str, Any]]:
    """The mutation behind `record_execution_step`: `current` with `step` upserted.

    The record with the same `(step_order, step_type)` is replaced where it stood
    (any later duplicate of it is dropped) unless it stays (`stays_against`: an
    older attempt never replaces a newer one, nor a later delivery a success);
    otherwise the record is added. The
    result is sorted by `step_order` (a stable sort: records of one order keep
    their relative order). Every other record is the very object read, untouched.
    `usage_info.cost_usd` is written as a number, or as a decimal string when every
    other cost in the array is one (one type across the array for its readers).
    Raises `CorruptDocumentError` if `current` is not an array of valid steps.
    """
    records = _checked_records(current, key=key)
    new_record = _in_the_arrays_cost_type(step.to_dict(), records)
    result: list[dict[str, Any]] = []
    placed = False
    for record in records:
        if (record["step_order"], record["step_type"]) != step.identity:
            result.append(record)
        elif not placed:
            result.append(record if stays_against(record, step) else new_record)
            placed = True
    if not placed:
        result.append(new_record)
    result.sort(key=lambda record: int(record["step_order"]))
    return result


def _in_the_arrays_cost_type(record: dict[str, Any],
                             others: list[dict[str, Any]]) -> dict[str, Any]:
    """`record` with its `usage_info.cost_usd` written as the array's other records hold
    theirs: a decimal string if every other cost in the array is one (an old writer's
    convention; the record it replaces counts only when no other has a cost), so that a
    reader summing the column never meets two types; else the number."""
    usage = record.get("usage_info")
    if not isinstance(usage, dict) or not isinstance(usage.get("cost_usd"), float | int):
        return record
    identity = (record["step_order"], record["step_type"])
    by_replaced: list[Any] = []
    costs: list[Any] = []
    for other in others:
        if isinstance(other.get("usage_info"), dict) and "cost_usd" in other["usage_info"]:
            same = (other["step_order"], other["step_type"]) == identity
            (by_replaced if same else costs).append(other["usage_info"]["cost_usd"])
    costs = costs or by_replaced  # the record replaced counts only when it is alone
    if not costs or not all(isinstance(cost, str) for cost in costs):
        return record
    text = format(Decimal(repr(float(usage["cost_usd"]))), "f")
    return {**record, "usage_info": {**usage, "cost_usd": text}}


def stays_against(stored: dict[str, Any], step: ExecutionStep) -> bool:
    """Whether the `stored` record of `step`'s identity stays when `step` is recorded.

    A record without an attempt number (an old writer, an edit) replaces, as always.
    Otherwise a success is final and a failure provisional: a success replaces a failure
    of any attempt, and a failure never replaces a success. Among records that both
    succeeded or both failed, a later attempt replaces an earlier one, and an earlier one
    never replaces a later one (a late first delivery never overwrites its retry) — but
    a successful workflow step is not replaced by a later success either (a duplicate
    delivery: the success the step's consumers may already have read stays). An
    `html_generation` is: its later attempt read the steps later, so its page is built
    from at least as much. A record of the same attempt replaces (the same invocation
    again).
    """
    if step.attempt is None:
        return False
    held = stored.get("attempt")
    held = held if isinstance(held, int) and not isinstance(held, bool) else 0
    stored_success = stored.get("success") is True
    if stored_success != step.success:
        return stored_success  # a success is final, a failure provisional
    if held > step.attempt:
        return True
    page = step.step_type == StepType.HTML_GENERATION.value
    return held < step.attempt and stored_success and not page


def edit_step(current: Any, *, step_order: int, step_type: str,
              change: Callable[[ExecutionStep], ExecutionStep], key: str) -> list[dict[str, Any]]:
    """The mutation behind `edit_execution_step`: one record rewritten by `change`.

    `change` gets the stored record (unknown fields in `extra`) and returns the new
    one, which must keep its identity. Raises `NotFoundError` if there is no such
    record, `InvalidValueError` if `change` returned something else than a step,
    `ValueError` if it altered the identity, `CorruptDocumentError` as `upsert_step`.
    """
    for record in _checked_records(current, key=key):
        if (record["step_order"], record["step_type"]) == (step_order, step_type):
            edited = change(ExecutionStep.from_stored(record)[0])
            if not isinstance(edited, ExecutionStep):
                raise InvalidValueError(
                    f"an edit must return an ExecutionStep, not {type(edited).__name__}",
                    key=key)
            if edited.identity != (step_order, step_type):
                raise ValueError(f"an edit cannot change a step's identity "
                                 f"({step_order}, {step_type!r}) -> {edited.identity}")
            return upsert_step(current, edited, key=key)
    raise NotFoundError(f"no execution step ({step_order}, {step_type!r})", key=key)


def _job_from(value: Any, *, key: str) -> JobRecord:
    try:
        return JobRecord.from_dict(value)
    except InvalidRecordError as exc:
        raise CorruptDocumentError(f"job record is invalid: {exc}", key=key) from exc


# -- the service ---------------------------------------------------------------------------


class DBService:
    """The worker's execution steps and job records, on a `JsonStore`."""

    def __init__(self, store: JsonStore) -> None:
        self.store = store

    # -- execution steps --

    def record_execution_step(self, customer_id: str, job_id: str,
                              step: ExecutionStep) -> list[ExecutionStep]:
        """Upsert `step` by `(step_order, step_type)` in one compare-and-swap; return the list.

        Records written concurrently by anyone else stay, with their fields exactly
        as stored. The upsert is idempotent: applying it twice (the store may, after
        a lost answer) or calling again after `OutcomeUnknownError` is safe. Raises
        `InvalidKeyError` (before any request), `CorruptDocumentError` (the stored
        object is not an array of valid steps — it is left as it is),
        `RetriesExhaustedError`, `OutcomeUnknownError`, `StorageError`.
        """
        key = execution_steps_key(customer_id, job_id)
        document = self.store.update(key, lambda value: upsert_step(value, step, key=key),
                                     default=[], idempotent=True)
        log.debug("recorded step (%d, %s) at %s", step.step_order, step.step_type, key)
        return parse_steps(document.value, key=key)

    def edit_execution_step(self, customer_id: str, job_id: str, *, step_order: int,
                            step_type: str,
                            change: Callable[[ExecutionStep], ExecutionStep]) -> ExecutionStep:
        """Rewrite one stored step in place (the edit endpoint), in one compare-and-swap.

        `change` must be pure (it may run more than once) and keep the identity.
        Raises `NotFoundError` (no such step or no document), `ValueError`, and the
        errors of `record_execution_step`.
        """
        key = execution_steps_key(customer_id, job_id)
        document = self.store.update(key, lambda value: edit_step(
            value, step_order=step_order, step_type=step_type, change=change, key=key))
        return next(step for step in parse_steps(document.value, key=key)
                    if step.identity == (step_order, step_type))

    def get_execution_steps(self, customer_id: str, job_id: str) -> list[ExecutionStep]:
        """The job's stored steps, sorted by `step_order`; an empty list if none are stored.

        Raises `InvalidKeyError`, `CorruptDocumentError`, `StorageError`.
        """
        key = execution_steps_key(customer_id, job_id)
        try:
            value = self.store.get(key).value
        except NotFoundError:
            return []
        return sorted(parse_steps(value, key=key), key=lambda step: step.step_order)

    # -- the job record --

    def claim_attempt(self, customer_id: str, job_id: str, step_order: int) -> int:
        """Claim the next attempt of step `step_order` in the job record; return its number.

        Claims are ordered by the compare-and-swap: a later invocation always gets a
        larger number. Re-applied after a lost answer, a claim skips a number, which
        orders it no differently. Raises `NotFoundError` without a job record,
        `CorruptDocumentError`, and the store's errors.
        """
        key = job_key(customer_id, job_id)
        document = self.store.update(
            key, lambda value: _job_from(value, key=key).claimed(step_order).to_dict(),
            idempotent=True)
        return _job_from(document.value, key=key).attempts[str(step_order)]

    def create_job(self, customer_id: str, job_id: str, *, at: str | None = None) -> JobRecord:
        """Store a new `pending` job record. Raises `AlreadyExistsError`, `InvalidKeyError`,
        `StorageError`."""
        now = at or iso(utc_now())
        record = JobRecord(customer_id=customer_id, job_id=job_id, created_at=now,
                           updated_at=now,
                           execution_steps_key=execution_steps_key(customer_id, job_id))
        self.store.create(job_key(customer_id, job_id), record.to_dict())
        return record

    def ensure_job(self, customer_id: str, job_id: str, *, at: str | None = None,
                   expected: Sequence[StepIdentity] | None = None) -> JobRecord:
        """The job record, created `pending` first if there is none (idempotent).

        `expected` is every record the complete job holds (`expected_steps`); a
        record without them gets them, one with them keeps them (other ones raise
        `ValueError`, nothing written). Unlike `create_job`, safe to repeat, and safe
        after a lost answer. A stored record that is not a job record (`null`
        included) raises `CorruptDocumentError` and is left as it is. Raises
        `InvalidKeyError`, and the store's errors.
        """
        now = at or iso(utc_now())
        key = job_key(customer_id, job_id)
        wanted = None if expected is None else tuple((int(o), str(t)) for o, t in expected)

        def adopt(value: Any) -> Any:
            job = _job_from(value, key=key)
            return value if wanted is None else job.expecting(wanted).to_dict()

        for _ in range(2):  # the record, or (absent) a new one; a creator racing us: read it
            try:
                document = self.store.update(key, adopt, idempotent=True)
                return _job_from(document.value, key=key)
            except NotFoundError:
                pass
            fresh = JobRecord(customer_id=customer_id, job_id=job_id, created_at=now,
                              updated_at=now, expected_steps=wanted,
                              execution_steps_key=execution_steps_key(customer_id, job_id))
            try:
                self.store.create(key, fresh.to_dict())
                return fresh
            except AlreadyExistsError:
                continue
        raise AlreadyExistsError("the job record was created and deleted while it was "
                                 "being ensured", key=key)

    def get_job(self, customer_id: str, job_id: str) -> JobRecord:
        """The stored job record. Raises `NotFoundError`, `CorruptDocumentError`,
        `InvalidKeyError`, `StorageError`."""
        key = job_key(customer_id, job_id)
        return _job_from(self.store.get(key).value, key=key)

    def set_job_status(self, customer_id: str, job_id: str, status: JobStatus, *,
                       error: str | None = None, at: str | None = None) -> JobRecord:
        """Move the job to `status` in one compare-and-swap (same status: no write).

        Raises `IllegalTransitionError` (nothing written) for a move backwards,
        `NotFoundError` if there is no job record, and the store's errors.
        """
        now = at or iso(utc_now())
        return self._update_job(customer_id, job_id,
                                lambda job: job.transition(status, at=now, error=error))

    def add_job_artifacts(self, customer_id: str, job_id: str, artifact_ids: Iterable[str], *,
                          at: str | None = None) -> JobRecord:
        """Add artifact ids to the job record (each once) in one compare-and-swap.

        Raises `NotFoundError` if there is no job record, and the store's errors.
        """
        ids, now = tuple(artifact_ids), at or iso(utc_now())
        return self._update_job(customer_id, job_id,
                                lambda job: job.with_artifacts(ids, at=now))

    def _update_job(self, customer_id: str, job_id: str,
                    change: Callable[[JobRecord], JobRecord]) -> JobRecord:
        # Both changes (a status transition, artifacts added once each, with one `at`)
        # leave a record that already holds them as it is: idempotent.
        key = job_key(customer_id, job_id)
        document = self.store.update(
            key, lambda value: change(_job_from(value, key=key)).to_dict(), idempotent=True)
        log.debug("updated job record %s", key)
        return _job_from(document.value, key=key)
