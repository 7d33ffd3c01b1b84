"""The job record: status, timestamps, artifacts and where the job's steps are stored.

A job moves `pending -> processing -> completed | failed` (or `pending -> failed`)
and never back: `JobRecord.transition()` raises `IllegalTransitionError` for any
other move. Like the step records, unknown fields are kept in `extra`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Final, Self

from worker_integration.errors import WorkerError
from worker_integration.models import (
    InvalidRecordError,
    check_extra,
    check_mapping,
    check_optional_str,
)

__all__ = ["IllegalTransitionError", "JobRecord", "JobStatus", "StepIdentity"]


class JobStatus(StrEnum):
    """A job's lifecycle: `pending -> processing -> completed | failed`."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class IllegalTransitionError(WorkerError, ValueError):
    """A job status change the lifecycle forbids (it would go backwards)."""

    def __init__(self, current: JobStatus, requested: JobStatus) -> None:
        super().__init__(f"job status cannot go from {current.value!r} to {requested.value!r}")
        self.current = current
        self.requested = requested


_NEXT: Final[Mapping[JobStatus, frozenset[JobStatus]]] = {
    JobStatus.PENDING: frozenset({JobStatus.PROCESSING, JobStatus.FAILED}),
    JobStatus.PROCESSING: frozenset({JobStatus.COMPLETED, JobStatus.FAILED}),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset(),
}
_REQUIRED: Final = ("customer_id", "job_id", "status", "created_at", "updated_at",
                    "execution_steps_key")
_JOB_FIELDS: Final = frozenset(_REQUIRED) | {"started_at", "completed_at", "error", "artifacts",
                                             "expected_steps", "attempts"}

StepIdentity = tuple[int, str]
"""A step record's identity: `(step_order, step_type)`."""


def _parse_expected(value: Any) -> tuple[StepIdentity, ...] | None:
    """The stored `expected_steps` (a list of `{"step_order", "step_type"}`), or None."""
    if value is None:
        return None
    if not isinstance(value, list | tuple):
        raise InvalidRecordError("must be a list of {step_order, step_type}",
                                 field="expected_steps")
    parsed = []
    for item in value:
        if isinstance(item, Mapping):
            order, step_type = item.get("step_order"), item.get("step_type")
        elif isinstance(item, tuple) and len(item) == 2:
            order, step_type = item
        else:
            raise InvalidRecordError("must be a list of {step_order, step_type}",
                                     field="expected_steps")
        if (isinstance(order, bool) or not isinstance(order, int) or order < 0
                or not isinstance(step_type, str) or not step_type):
            raise InvalidRecordError(f"not a step identity: {item!r}", field="expected_steps")
        parsed.append((order, step_type))
    if len(set(parsed)) != len(parsed):
        raise InvalidRecordError("names a step twice", field="expected_steps")
    return tuple(parsed)


@dataclass(frozen=True, kw_only=True)
class JobRecord:
    """A job: its status, when it moved, its artifacts, and the key of its steps.

    `expected_steps` is what the job holds once complete: the identity of every
    record, written when the job starts (`None` on records written before it
    existed: then nobody can tell from the record whether the job is complete).
    `attempts` holds, per step order (a string key), the number of the last attempt
    claimed for it: each invocation of a step claims the next one.
    Timestamps are ISO 8601 strings. Raises `InvalidRecordError` on invalid fields.
    """

    customer_id: str
    job_id: str
    status: JobStatus = JobStatus.PENDING
    created_at: str
    updated_at: str
    started_at: str | None = None
    completed_at: str | None = None
    error: str | None = None
    artifacts: tuple[str, ...] = ()
    execution_steps_key: str
    expected_steps: tuple[StepIdentity, ...] | None = None
    attempts: Mapping[str, int] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("customer_id", "job_id", "created_at", "updated_at",
                     "execution_steps_key"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise InvalidRecordError("must be a non-empty string", field=name)
        try:
            object.__setattr__(self, "status", JobStatus(self.status))
        except ValueError:
            raise InvalidRecordError(f"unknown status {self.status!r}", field="status") from None
        for name in ("started_at", "completed_at", "error"):
            check_optional_str(getattr(self, name), name)
        if isinstance(self.artifacts, str) or not all(
                isinstance(a, str) for a in self.artifacts):
            raise InvalidRecordError("must be a list of strings", field="artifacts")
        object.__setattr__(self, "artifacts", tuple(self.artifacts))
        object.__setattr__(self, "expected_steps", _parse_expected(self.expected_steps))
        if not isinstance(self.attempts, Mapping) or not all(
                isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v > 0
                for k, v in self.attempts.items()):
            raise InvalidRecordError("must map step orders to attempt numbers > 0",
                                     field="attempts")
        object.__setattr__(self, "attempts", dict(self.attempts))
        check_extra(self.extra, _JOB_FIELDS, "extra")

    def transition(self, status: JobStatus, *, at: str, error: str | None = None) -> JobRecord:
        """This record moved to `status` at time `at` (with `error` when it failed).

        Moving to the status it already has returns `self` unchanged, so that
        independent invocations may each say "processing". Raises
        `IllegalTransitionError` for a move the lifecycle does not allow.
        """
        status = JobStatus(status)
        if status == self.status:
            return self
        if status not in _NEXT[self.status]:
            raise IllegalTransitionError(self.status, JobStatus(status))
        changes: dict[str, Any] = {"status": status, "updated_at": at}
        if status is JobStatus.PROCESSING:
            changes["started_at"] = at
        else:
            changes["completed_at"] = at
        if status is JobStatus.FAILED:
            changes["error"] = error
        return replace(self, **changes)

    def with_artifacts(self, artifact_ids: tuple[str, ...], *, at: str) -> JobRecord:
        """This record with `artifact_ids` added, each once, after those it has."""
        new = tuple(a for a in dict.fromkeys(artifact_ids) if a not in self.artifacts)
        if not new:
            return self
        return replace(self, artifacts=self.artifacts + new, updated_at=at)

    def claimed(self, step_order: int) -> JobRecord:
        """This record with the next attempt of step `step_order` claimed (`attempts`)."""
        attempts = dict(self.attempts)
        attempts[str(step_order)] = attempts.get(str(step_order), 0) + 1
        return replace(self, attempts=attempts)

    def expecting(self, expected: tuple[StepIdentity, ...]) -> JobRecord:
        """This record with `expected_steps` set; one that has them keeps its own.

        Raises `ValueError` if the record already expects other steps (the job was
        started with another workflow).
        """
        if self.expected_steps is None:
            return replace(self, expected_steps=expected)
        if tuple(self.expected_steps) != tuple(expected):
            raise ValueError(f"job {self.customer_id}/{self.job_id} was started expecting "
                             f"{list(self.expected_steps)}, not {list(expected)}")
        return self

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        """Parse a stored job record, keeping unknown fields. Raises `InvalidRecordError`."""
        data = check_mapping(data, "job")
        missing = [name for name in _REQUIRED if name not in data]
        if missing:
            raise InvalidRecordError(f"missing fields {missing}", field="job")
        artifacts = data.get("artifacts") or []
        if not isinstance(artifacts, list):
            raise InvalidRecordError("must be a list of strings", field="artifacts")
        known = {k: v for k, v in data.items() if k in _JOB_FIELDS and k != "artifacts"}
        return cls(**known, artifacts=tuple(artifacts),
                   extra={k: v for k, v in data.items() if k not in _JOB_FIELDS})

    def to_dict(self) -> dict[str, Any]:
        """The stored form: known fields, then the unknown ones as they were read."""
        return {
            "customer_id": self.customer_id,
            "job_id": self.job_id,
            "status": self.status.value,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "error": self.error,
            "artifacts": list(self.artifacts),
            "execution_steps_key": self.execution_steps_key,
            **({} if self.expected_steps is None else {"expected_steps": [
                {"step_order": order, "step_type": step_type}
                for order, step_type in self.expected_steps]}),
            **({"attempts": dict(self.attempts)} if self.attempts else {}),
            **self.extra,
        }
