"""Builds execution-step records and the requests they answer.

Orders come from the workflow — workflow step *i* is `i + 1`, `html_generation` is
`len(workflow.steps) + 1`, a form submission is 0 — never from the length of a list.
This module builds values only; it neither reads nor writes storage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from worker_integration.executor import StepRequest, StepResult
from worker_integration.models import ExecutionStep, StepType
from worker_integration.workflow import Workflow

__all__ = [
    "StepTiming",
    "form_submission_record",
    "html_generation_request",
    "step_record",
    "workflow_step_request",
]


@dataclass(frozen=True, kw_only=True)
class StepTiming:
    """When a step ran (ISO 8601 strings) and how long it took."""

    started_at: str
    completed_at: str
    duration_ms: int


def workflow_step_request(workflow: Workflow, index: int, *, customer_id: str, job_id: str,
                          context: Mapping[int, Any]) -> StepRequest:
    """The request for workflow step `index` (0-based): its `step_order` is `index + 1`.

    `context` maps the orders of the steps it depends on to their outputs.
    Raises `IndexError` for an index outside the workflow.
    """
    order = workflow.step_order(index)
    step = workflow.steps[index]
    return StepRequest(customer_id=customer_id, job_id=job_id,
                       step_order=order, step_type=step.step_type,
                       step_name=step.name, model=step.model, instructions=step.instructions,
                       context=dict(context), settings=dict(step.settings))


def html_generation_request(workflow: Workflow, *, customer_id: str, job_id: str,
                            context: Mapping[int, Any], model: str | None = None) -> StepRequest:
    """The request for `html_generation`, at `step_order = len(workflow.steps) + 1`.

    `context` maps workflow step orders to their outputs (what the page is built from).
    """
    return StepRequest(customer_id=customer_id, job_id=job_id,
                       step_order=workflow.html_generation_order,
                       step_type=StepType.HTML_GENERATION.value, step_name="HTML generation",
                       model=model, instructions="Render the lead magnet as HTML.",
                       context=dict(context))


def step_record(request: StepRequest, *, timing: StepTiming, result: StepResult | None = None,
                error: str | None = None) -> ExecutionStep:
    """The record of `request`: successful with `result`, or failed with `error`.

    The record's `input` says what the step was given (its instructions and the
    orders of the outputs it built on), not the outputs themselves. Raises
    `ValueError` unless exactly one of `result` and `error` is given.
    """
    if (result is None) == (error is None):
        raise ValueError("a step record needs either a result or an error")
    step_input = {"instructions": request.instructions, "context_orders": sorted(request.context)}
    common: dict[str, Any] = {
        "step_order": request.step_order, "step_type": request.step_type,
        "step_name": request.step_name, "input": step_input,
        "started_at": timing.started_at, "completed_at": timing.completed_at,
        "duration_ms": timing.duration_ms,
    }
    if result is None:
        return ExecutionStep(**common, success=False, model=request.model, error=error)
    return ExecutionStep(**common, success=True, output=result.output,
                         model=result.model or request.model, usage_info=result.usage,
                         artifact_id=result.artifact_id, image_urls=result.image_urls)


def form_submission_record(submission: Mapping[str, Any], *, at: str) -> ExecutionStep:
    """The record of the form a job started from, at `step_order` 0."""
    return ExecutionStep(step_order=0, step_type=StepType.FORM_SUBMISSION.value,
                         step_name="Form submission", input=dict(submission),
                         output=dict(submission), success=True, started_at=at,
                         completed_at=at, duration_ms=0)
