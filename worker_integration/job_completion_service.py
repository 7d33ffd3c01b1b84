"""The end of a job: `html_generation`, then finalisation.

This is where the incident struck: the old code appended `html_generation` to the
list it was handed (often empty), computed its order as `len(list) + 1` and saved
the whole list, erasing steps 1-9. Here the order comes from the workflow
(`len(workflow.steps) + 1`), the stored steps are read only to build the page,
and the record is upserted on its own, so whatever the workflow steps wrote stays.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from worker_integration.clock import Clock, iso, utc_now
from worker_integration.db_service import DBService
from worker_integration.execution_step_manager import html_generation_request
from worker_integration.executor import Executor
from worker_integration.job_record import JobRecord, JobStatus
from worker_integration.models import ExecutionStep, StepType
from worker_integration.step_processor import execute_step
from worker_integration.workflow import WORKFLOW_STEP_TYPES, Workflow

__all__ = ["JobCompletionService", "expected_steps", "missing_steps"]

log = logging.getLogger("worker_integration")


def expected_steps(workflow: Workflow) -> list[tuple[int, str]]:
    """The `(step_order, step_type)` of every record a finished job has."""
    return [(workflow.step_order(i), step.step_type) for i, step in enumerate(workflow.steps)] + [
        (workflow.html_generation_order, StepType.HTML_GENERATION.value)]


def missing_steps(workflow: Workflow, steps: Sequence[ExecutionStep]) -> list[int]:
    """The orders of the records a finished job should have but `steps` lacks."""
    present = {step.identity for step in steps}
    return [order for order, step_type in expected_steps(workflow)
            if (order, step_type) not in present]


@dataclass(frozen=True, kw_only=True)
class JobCompletionService:
    """Generates a job's HTML from its stored steps, and finalises the job record."""

    db: DBService
    executor: Executor
    html_model: str | None = "gpt-4o-mini"
    clock: Clock = utc_now
    monotonic: Callable[[], float] = time.monotonic

    def generate_html(self, customer_id: str, job_id: str, workflow: Workflow) -> ExecutionStep:
        """Build the page from the stored workflow outputs; record it at
        `len(workflow.steps) + 1`.

        Steps not recorded yet are simply not in the page; nothing they write later
        is lost. A failing executor records `success: false`. Returns the record.
        Raises the errors of `DBService.record_execution_step`.
        """
        stored = self.db.get_execution_steps(customer_id, job_id)
        context = {step.step_order: step.output for step in stored
                   if step.success and step.step_type in WORKFLOW_STEP_TYPES
                   and 1 <= step.step_order <= len(workflow.steps)}
        request = html_generation_request(workflow, customer_id=customer_id, job_id=job_id,
                                          context=context, model=self.html_model)
        record = execute_step(self.executor, request, clock=self.clock, monotonic=self.monotonic)
        self.db.record_execution_step(customer_id, job_id, record)
        return record

    def finalize_job(self, customer_id: str, job_id: str) -> JobRecord:
        """Add the stored steps' artifacts to the job record and mark it completed.

        A job already completed stays as it is. Raises `IllegalTransitionError` if
        the job is pending or failed, `NotFoundError` without a job record, and the
        store's errors.
        """
        steps = self.db.get_execution_steps(customer_id, job_id)
        artifacts = [step.artifact_id for step in steps if step.artifact_id]
        now = iso(self.clock())
        self.db.add_job_artifacts(customer_id, job_id, artifacts, at=now)
        job = self.db.set_job_status(customer_id, job_id, JobStatus.COMPLETED, at=now)
        log.debug("job %s/%s completed with %d steps", customer_id, job_id, len(steps))
        return job
