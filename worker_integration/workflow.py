"""A workflow: the ordered steps a job runs, and which earlier steps each one needs.

Workflow step *i* (0-based) is recorded with `step_order = i + 1`; `html_generation`
comes after the last one, at `len(steps) + 1`. Both come from here, never from the
length of a list read from storage.

A workflow is kept as a JSON definition (`Workflow.from_definition`, `load_workflow`),
so that an invocation names the workflow rather than carrying it:

    {"steps": [{"name": "Audience research", "step_type": "ai_generation",
                "model": "gpt-4o", "instructions": "", "depends_on": [],
                "settings": {}}, ...]}

Only `name` is required in a step; the others default as in `WorkflowStep`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from worker_integration.errors import WorkerError
from worker_integration.models import StepType

__all__ = ["WORKFLOWS", "WORKFLOW_STEP_TYPES", "InvalidWorkflowError", "Workflow",
           "WorkflowStep", "load_workflow", "named_workflow"]

WORKFLOW_STEP_TYPES = frozenset({StepType.AI_GENERATION.value, StepType.WEBHOOK.value})
"""The step types a workflow step can have."""

WORKFLOWS: Final = Path(__file__).with_name("workflows")
"""Where the workflows shipped with the package are defined (`{name}.json`)."""
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_STEP_FIELDS: Final = ("name", "step_type", "model", "instructions", "depends_on", "settings")


class InvalidWorkflowError(WorkerError, ValueError):
    """A workflow definition that cannot be used; `where` names the file or the field."""

    def __init__(self, message: str, *, where: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where


@dataclass(frozen=True, kw_only=True)
class WorkflowStep:
    """One step of a workflow: what it does, with which model, and what it needs first.

    `depends_on` holds the 0-based indexes of earlier steps whose outputs this step
    uses. Raises `ValueError` for an empty name or an unknown step type.
    """

    name: str
    step_type: str = StepType.AI_GENERATION.value
    model: str | None = None
    instructions: str = ""
    depends_on: tuple[int, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a workflow step needs a name")
        object.__setattr__(self, "step_type", str(self.step_type))
        if self.step_type not in WORKFLOW_STEP_TYPES:
            raise ValueError(f"workflow step {self.name!r}: step_type must be one of "
                             f"{sorted(WORKFLOW_STEP_TYPES)}, got {self.step_type!r}")
        object.__setattr__(self, "depends_on", tuple(self.depends_on))


@dataclass(frozen=True)
class Workflow:
    """The steps of a job, in order. Dependencies point only backwards.

    Raises `ValueError` for an empty workflow or a dependency on the step itself,
    a later step or a missing one (so the step order is always a valid schedule).
    """

    steps: tuple[WorkflowStep, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))
        if not self.steps:
            raise ValueError("a workflow needs at least one step")
        for index, step in enumerate(self.steps):
            for dependency in step.depends_on:
                if isinstance(dependency, bool) or not 0 <= dependency < index:
                    raise ValueError(f"step {index} ({step.name!r}) may depend only on "
                                     f"earlier steps 0..{index - 1}, not on {dependency!r}")

    @classmethod
    def of(cls, steps: Sequence[WorkflowStep]) -> Workflow:
        """A workflow of `steps`. Raises `ValueError` as the constructor."""
        return cls(tuple(steps))

    @classmethod
    def from_definition(cls, data: Any, *, where: str = "workflow") -> Workflow:
        """The workflow a JSON definition describes (see the module's docstring).

        Raises `InvalidWorkflowError` naming the field for a wrong shape, an unknown
        field, or what the constructors refuse.
        """
        if not isinstance(data, Mapping) or set(data) != {"steps"}:
            raise InvalidWorkflowError('must be an object {"steps": [...]}', where=where)
        steps = data["steps"]
        if not isinstance(steps, list) or not steps:
            raise InvalidWorkflowError("must be a non-empty list", where=f"{where}.steps")
        built = []
        for index, step in enumerate(steps):
            at = f"{where}.steps[{index}]"
            if not isinstance(step, Mapping) or "name" not in step:
                raise InvalidWorkflowError('must be an object with a "name"', where=at)
            unknown = sorted(set(step) - set(_STEP_FIELDS))
            if unknown:
                raise InvalidWorkflowError(f"unknown fields {unknown}", where=at)
            fields = dict(step)
            for name, kind in (("name", str), ("step_type", str), ("instructions", str),
                               ("depends_on", list), ("settings", Mapping)):
                if name in fields and not isinstance(fields[name], kind):
                    raise InvalidWorkflowError(f"must be a {kind.__name__}",
                                               where=f"{at}.{name}")
            if fields.get("model") is not None and not isinstance(fields["model"], str):
                raise InvalidWorkflowError("must be a string or null", where=f"{at}.model")
            if any(isinstance(d, bool) or not isinstance(d, int)
                   for d in fields.get("depends_on", [])):
                raise InvalidWorkflowError("must be a list of step indexes",
                                           where=f"{at}.depends_on")
            try:
                built.append(WorkflowStep(**fields))
            except ValueError as exc:
                raise InvalidWorkflowError(str(exc), where=at) from None
        try:
            return cls(tuple(built))
        except ValueError as exc:
            raise InvalidWorkflowError(str(exc), where=where) from None

    def to_definition(self) -> dict[str, Any]:
        """The JSON definition of this workflow (`from_definition` reads it back)."""
        return {"steps": [{"name": step.name, "step_type": step.step_type,
                           "model": step.model, "instructions": step.instructions,
                           "depends_on": list(step.depends_on),
                           "settings": dict(step.settings)} for step in self.steps]}

    @property
    def expected_steps(self) -> tuple[tuple[int, str], ...]:
        """The `(step_order, step_type)` of every record a finished job holds: each
        workflow step, then `html_generation`."""
        return (*((self.step_order(i), step.step_type) for i, step in enumerate(self.steps)),
                (self.html_generation_order, StepType.HTML_GENERATION.value))

    def step_order(self, index: int) -> int:
        """The `step_order` of workflow step `index`: `index + 1`. Raises `IndexError`."""
        if not 0 <= index < len(self.steps):
            raise IndexError(f"workflow has no step {index}")
        return index + 1

    @property
    def html_generation_order(self) -> int:
        """The `step_order` of `html_generation`: right after the last workflow step."""
        return len(self.steps) + 1

    def dependency_orders(self, index: int) -> tuple[int, ...]:
        """The `step_order`s that workflow step `index` waits for."""
        return tuple(self.step_order(d) for d in self.steps[index].depends_on)


def load_workflow(path: str | Path) -> Workflow:
    """The workflow defined in the JSON file at `path`. Raises `InvalidWorkflowError`
    (naming the file) if it cannot be read or is not a valid definition."""
    where = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidWorkflowError(f"cannot read a JSON workflow definition: {exc}",
                                   where=where) from None
    return Workflow.from_definition(data, where=where)


def named_workflow(name: str, *, directory: str | Path = WORKFLOWS) -> Workflow:
    """The workflow defined in `{directory}/{name}.json`: what an invocation names.

    `name` is letters, digits, `_` and `-` (never a path). Raises `InvalidWorkflowError`
    for another name, a missing file or an invalid definition.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidWorkflowError("a workflow name is 1-64 letters, digits, '_' or '-' "
                                   "(starting with a letter or digit)", where=repr(name))
    return load_workflow(Path(directory) / f"{name}.json")
