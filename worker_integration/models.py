"""The execution-step record and its usage: `ExecutionStep`, `UsageInfo`, `StepType`.

Both are frozen dataclasses built with keyword arguments, validated on
construction, and converted with `to_dict()` / `from_dict()`. Fields this code does
not know (older records carry `timestamp`, `response_details`, ...) are kept in
`extra` and written back untouched. Invalid values raise `InvalidRecordError`, a
`ValueError` naming the field. The job record is in `worker_integration.job_record`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Self

from worker_integration.errors import WorkerError

__all__ = ["ExecutionStep", "InvalidRecordError", "StepType", "UsageInfo", "parse_cost_usd"]


class InvalidRecordError(WorkerError, ValueError):
    """A record or one of its fields does not validate; `field` names it."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class StepType(StrEnum):
    """The step types the worker writes. Stored records may carry other strings."""

    FORM_SUBMISSION = "form_submission"  # always step_order 0
    AI_GENERATION = "ai_generation"
    WEBHOOK = "webhook"
    HTML_GENERATION = "html_generation"
    FINAL_OUTPUT = "final_output"


_KNOWN_TYPES: Final = frozenset(t.value for t in StepType)
_USAGE_FIELDS: Final = frozenset({"model", "input_tokens", "output_tokens", "total_tokens",
                                  "cost_usd", "service_type"})
_STEP_FIELDS: Final = frozenset({
    "step_order", "step_type", "step_name", "input", "output", "success", "model",
    "usage_info", "artifact_id", "image_urls", "duration_ms", "started_at", "completed_at",
    "error", "attempt", "attempt_id",
})


# -- field checks: each returns the value or raises InvalidRecordError ---------------------


def check_int(value: Any, name: str, *, minimum: int = 0) -> int:
    """`value` if it is an int (not a bool) >= `minimum`; else `InvalidRecordError`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRecordError(f"must be an integer, got {type(value).__name__}", field=name)
    if value < minimum:
        raise InvalidRecordError(f"must be at least {minimum}, got {value}", field=name)
    return value


def check_optional_str(value: Any, name: str) -> str | None:
    """`value` if it is a string or None; else `InvalidRecordError`."""
    if value is not None and not isinstance(value, str):
        raise InvalidRecordError(f"must be a string or null, got {type(value).__name__}",
                                 field=name)
    return value


def check_mapping(value: Any, name: str) -> Mapping[str, Any]:
    """`value` if it is a JSON object (a mapping); else `InvalidRecordError`."""
    if not isinstance(value, Mapping):
        raise InvalidRecordError(f"must be a JSON object, got {type(value).__name__}", field=name)
    return value


def check_extra(extra: Any, known: frozenset[str], name: str) -> None:
    """Refuse an `extra` that is not a mapping or repeats a known field."""
    check_mapping(extra, name)
    clash = sorted(set(extra) & known)
    if clash:
        raise InvalidRecordError(f"repeats known fields {clash}", field=name)


def _optional_number(value: Any, name: str) -> int | float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRecordError(f"must be a number or null, got {type(value).__name__}",
                                 field=name)
    if not math.isfinite(value) or value < 0:
        raise InvalidRecordError(f"must be a finite number >= 0, got {value!r}", field=name)
    return value


def parse_cost_usd(value: Any) -> float:
    """A cost in US dollars from a number or a decimal string (older records: `"0.0123"`).

    Raises `InvalidRecordError` for anything else, NaN, infinities and negative costs.
    """
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise InvalidRecordError(f"not a decimal number: {value!r}",
                                     field="usage_info.cost_usd") from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        raise InvalidRecordError(
            f"must be a number or a decimal string, got {type(value).__name__}",
            field="usage_info.cost_usd")
    if not math.isfinite(number) or number < 0:
        raise InvalidRecordError(f"must be a finite number >= 0, got {value!r}",
                                 field="usage_info.cost_usd")
    return number


# -- UsageInfo -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class UsageInfo:
    """What a step cost: tokens and dollars. `cost_usd` is always written as a number.

    Raises `InvalidRecordError` for negative or non-integer token counts, or a bad cost.
    """

    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = 0.0
    service_type: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_optional_str(self.model, "usage_info.model")
        check_int(self.input_tokens, "usage_info.input_tokens")
        check_int(self.output_tokens, "usage_info.output_tokens")
        check_int(self.total_tokens, "usage_info.total_tokens")
        object.__setattr__(self, "cost_usd", parse_cost_usd(self.cost_usd))
        check_optional_str(self.service_type, "usage_info.service_type")
        check_extra(self.extra, _USAGE_FIELDS, "usage_info.extra")

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        """Parse a stored `usage_info` object; a missing `total_tokens` is input + output.

        `cost_usd` may be a number or a decimal string. Raises `InvalidRecordError`.
        """
        data = check_mapping(data, "usage_info")
        input_tokens = check_int(data.get("input_tokens", 0), "usage_info.input_tokens")
        output_tokens = check_int(data.get("output_tokens", 0), "usage_info.output_tokens")
        total = data.get("total_tokens")
        return cls(
            model=data.get("model"),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            total_tokens=input_tokens + output_tokens if total is None else total,
            cost_usd=data.get("cost_usd", 0.0),
            service_type=data.get("service_type"),
            extra={k: v for k, v in data.items() if k not in _USAGE_FIELDS},
        )

    def to_dict(self) -> dict[str, Any]:
        """The stored form: known fields, then the unknown ones as they were read."""
        return {
            "model": self.model,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
            "cost_usd": self.cost_usd,
            "service_type": self.service_type,
            **copy.deepcopy(dict(self.extra)),
        }


# -- ExecutionStep -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ExecutionStep:
    """One step's execution record, as the readers of a job's steps expect it.

    Its identity is `(step_order, step_type)`: `form_submission` is order 0, workflow
    step *i* is order *i + 1*, `html_generation` follows the last workflow step.
    `input` and `output` are any JSON values. `attempt` (the number the invocation
    claimed) and `attempt_id` (its id) say which attempt wrote it; both are written
    only when known. Raises `InvalidRecordError` for a
    negative or non-integer order, an empty type, a `form_submission` not at order 0
    (or another known type at order 0), and fields of the wrong type.
    """

    step_order: int
    step_type: str
    step_name: str | None = None
    input: Any = None
    output: Any = None
    success: bool = True
    model: str | None = None
    usage_info: UsageInfo | None = None
    artifact_id: str | None = None
    image_urls: tuple[str, ...] = ()
    duration_ms: int | float | None = None
    started_at: str | None = None
    completed_at: str | None = None
    error: str | None = None
    attempt: int | None = None
    attempt_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_int(self.step_order, "step_order")
        if self.attempt is not None:
            check_int(self.attempt, "attempt")
        check_optional_str(self.attempt_id, "attempt_id")
        if not isinstance(self.step_type, str) or not self.step_type:
            raise InvalidRecordError("must be a non-empty string", field="step_type")
        object.__setattr__(self, "step_type", str(self.step_type))  # a StepType -> its value
        if self.step_type in _KNOWN_TYPES and (
                (self.step_type == StepType.FORM_SUBMISSION) != (self.step_order == 0)):
            raise InvalidRecordError(
                f"{self.step_type!r} cannot have step_order {self.step_order} "
                "(form_submission is order 0, and only it)", field="step_order")
        check_optional_str(self.step_name, "step_name")
        if not isinstance(self.success, bool):
            raise InvalidRecordError("must be true or false", field="success")
        for name in ("model", "artifact_id", "started_at", "completed_at", "error"):
            check_optional_str(getattr(self, name), name)
        if self.usage_info is not None and not isinstance(self.usage_info, UsageInfo):
            raise InvalidRecordError("must be a UsageInfo or None", field="usage_info")
        if isinstance(self.image_urls, str) or not all(
                isinstance(url, str) for url in self.image_urls):
            raise InvalidRecordError("must be a list of strings", field="image_urls")
        object.__setattr__(self, "image_urls", tuple(self.image_urls))
        _optional_number(self.duration_ms, "duration_ms")
        check_extra(self.extra, _STEP_FIELDS, "extra")

    @property
    def identity(self) -> tuple[int, str]:
        """`(step_order, step_type)`: recording a step with the same identity replaces it."""
        return (self.step_order, self.step_type)

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        """Parse a stored step record, keeping unknown fields in `extra`.

        Missing optional fields take their defaults; a missing `success` is true.
        Raises `InvalidRecordError`.
        """
        data = check_mapping(data, "step")
        if "step_order" not in data or "step_type" not in data:
            raise InvalidRecordError("a step needs step_order and step_type", field="step")
        usage = data.get("usage_info")
        image_urls = data.get("image_urls") or []
        if not isinstance(image_urls, list):
            raise InvalidRecordError("must be a list of strings", field="image_urls")
        return cls(
            step_order=data["step_order"],
            step_type=data["step_type"],
            step_name=data.get("step_name"),
            input=copy.deepcopy(data.get("input")),
            output=copy.deepcopy(data.get("output")),
            success=data.get("success", True),
            model=data.get("model"),
            usage_info=None if usage is None else UsageInfo.from_dict(usage),
            artifact_id=data.get("artifact_id"),
            image_urls=tuple(image_urls),
            duration_ms=data.get("duration_ms"),
            started_at=data.get("started_at"),
            completed_at=data.get("completed_at"),
            error=data.get("error"),
            attempt=data.get("attempt"),
            attempt_id=data.get("attempt_id"),
            extra={k: copy.deepcopy(v) for k, v in data.items() if k not in _STEP_FIELDS},
        )

    @classmethod
    def from_stored(cls, data: Any) -> tuple[Self, tuple[str, ...]]:
        """Parse a stored record leniently: `(step, unreadable)`.

        Another writer's record (an old worker, the frontend) may hold values this
        code would never write: `cost_usd: null`, `started_at` as epoch seconds, an
        `error` object, `duration_ms: "1200"`, `step_order: 2.0`. Each field that does
        not validate is left out of the parsed step (its default instead) and named in
        `unreadable`; the stored record itself is never changed by reading it. Only an
        identity that cannot be read (no integral `step_order` >= 0, no `step_type`
        string) raises `InvalidRecordError`: such a record cannot be told apart.
        """
        try:
            return cls.from_dict(data), ()
        except InvalidRecordError:
            pass
        fixed = dict(check_mapping(data, "step"))
        order = fixed.get("step_order")
        if isinstance(order, float) and order.is_integer():
            fixed["step_order"] = int(order)
        unreadable: list[str] = []
        for _ in range(len(fixed) + len(_USAGE_FIELDS) + 1):
            try:
                return cls.from_dict(fixed), tuple(unreadable)
            except InvalidRecordError as exc:
                name = exc.field or "step"
                top, _, sub = name.partition(".")
                if top in ("step", "step_order", "step_type") or top not in fixed:
                    raise
                unreadable.append(str(exc))
                if sub and isinstance(fixed[top], Mapping) and sub in fixed[top]:
                    fixed[top] = {k: v for k, v in fixed[top].items() if k != sub}
                else:
                    del fixed[top]
        raise InvalidRecordError("too many unreadable fields", field="step")  # pragma: no cover

    def to_dict(self) -> dict[str, Any]:
        """The stored form (a fresh dict): known fields, then unknown ones as they were read."""
        return {
            "step_order": self.step_order,
            "step_type": self.step_type,
            "step_name": self.step_name,
            "input": copy.deepcopy(self.input),
            "output": copy.deepcopy(self.output),
            "success": self.success,
            "model": self.model,
            "usage_info": None if self.usage_info is None else self.usage_info.to_dict(),
            "artifact_id": self.artifact_id,
            "image_urls": list(self.image_urls),
            "duration_ms": self.duration_ms,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "error": self.error,
            # Written only when known: records of old writers stay as they were read.
            **({} if self.attempt is None else {"attempt": self.attempt}),
            **({} if self.attempt_id is None else {"attempt_id": self.attempt_id}),
            **copy.deepcopy(dict(self.extra)),
        }
