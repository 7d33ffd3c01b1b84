"""A workflow: the ordered steps a job runs, and which earlier steps each one needs.

Workflow step *i* (0-based) is recorded with `step_order = i + 1`; `html_generation`
comes after the last one, at `len(steps) + 1`. Both come from here, never from the
length of a list read from storage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from worker_integration.models import StepType

__all__ = ["WORKFLOW_STEP_TYPES", "Workflow", "WorkflowStep"]

WORKFLOW_STEP_TYPES = frozenset({StepType.AI_GENERATION.value, StepType.WEBHOOK.value})
"""The step types a workflow step can have."""


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
