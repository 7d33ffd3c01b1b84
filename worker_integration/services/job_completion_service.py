"""The end of a job: `html_generation`, then finalisation.

This is where the incident struck: the old code appended `html_generation` to the
list it was handed (often empty), computed its order as `len(list) + 1` and saved
the whole list, erasing steps 1-9. Here the order comes from the workflow
(`len(workflow.steps) + 1`), the stored steps are read only to build the page,
and the record is upserted on its own, so whatever the workflow steps wrote stays.

It is also the completion gate: the page waits until every workflow step is
recorded, and a job is marked completed only when every record it must hold (the
job record's `expected_steps`) is stored — never with steps missing, the incident's
"completed but no data".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from s3store import NotFoundError
from worker_integration.clock import Clock, iso, utc_now
from worker_integration.db_service import DBService
from worker_integration.errors import WorkerError
from worker_integration.executor import Executor
from worker_integration.job_record import JobRecord, JobStatus, StepIdentity
from worker_integration.models import ExecutionStep
from worker_integration.services.execution_step_manager import html_generation_request
from worker_integration.services.step_processor import check_wait, execute_step, wait_for_records
from worker_integration.workflow import Workflow

__all__ = ["IncompleteJobError", "JobCompletionService", "expected_steps", "missing_steps"]

log = logging.getLogger(__name__)


class IncompleteJobError(WorkerError, RuntimeError):
    """A job cannot be finalised: records it must hold are not stored (`missing`), or
    nobody can tell which records it must hold (`missing` is empty then)."""

    def __init__(self, customer_id: str, job_id: str, missing: Sequence[StepIdentity],
                 message: str) -> None:
        super().__init__(f"job {customer_id}/{job_id}: {message}")
        self.customer_id = customer_id
        self.job_id = job_id
        self.missing = tuple(missing)


def expected_steps(workflow: Workflow) -> list[tuple[int, str]]:
    """The `(step_order, step_type)` of every record a finished job has
    (`Workflow.expected_steps`)."""
    return list(workflow.expected_steps)


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
    dependency_timeout: float = 60.0
    poll_interval: float = 0.05
    clock: Clock = utc_now
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        check_wait(self.dependency_timeout, self.poll_interval)

    def generate_html(self, customer_id: str, job_id: str, workflow: Workflow) -> ExecutionStep:
        """Build the page from the workflow's stored outputs; record it at
        `len(workflow.steps) + 1`.

        The page waits (`dependency_timeout`) until every workflow step is recorded
        (a failed one counts, its output left out), so that it is never built from
        part of the job. Each call is an attempt (claimed in the job record, as for a
        workflow step): a page of a later attempt, built from a later read, replaces an
        earlier one, and an earlier one landing late never replaces it. A failing
        executor records `success: false`. Returns the record that stays. Raises
        `DependencyTimeoutError` (nothing recorded) if steps are still missing, and the
        errors of `DBService.record_execution_step`.
        """
        try:  # claimed before the steps are read: a later attempt's page sees as much
            attempt: int | None = self.db.claim_attempt(customer_id, job_id,
                                                        workflow.html_generation_order)
        except NotFoundError:
            attempt = None  # no job record: the page is recorded without an attempt
        recorded = wait_for_records(self.db, customer_id, job_id,
                                    [workflow.step_order(i) for i in range(len(workflow.steps))],
                                    timeout=self.dependency_timeout,
                                    poll_interval=self.poll_interval,
                                    monotonic=self.monotonic, sleep=self.sleep)
        context = {order: step.output for order, step in recorded.items() if step.success}
        request = html_generation_request(workflow, customer_id=customer_id, job_id=job_id,
                                          context=context, model=self.html_model)
        record = replace(execute_step(self.executor, request, clock=self.clock,
                                      monotonic=self.monotonic), attempt=attempt)
        stored = self.db.record_execution_step(customer_id, job_id, record)
        return next(step for step in stored if step.identity == record.identity)

    def finalize_job(self, customer_id: str, job_id: str,
                     workflow: Workflow | None = None) -> JobRecord:
        """Mark the job completed, with its steps' artifacts — only if every record it
        must hold is stored.

        What it must hold is the job record's `expected_steps` (written when the job
        started), else `workflow`'s. A job already completed stays as it is. Raises
        `IncompleteJobError` (nothing written) when records are missing or when
        neither tells what is expected, `IllegalTransitionError` if the job is
        pending or failed, `NotFoundError` without a job record, and the store's
        errors.
        """
        job = self.db.get_job(customer_id, job_id)
        if job.status is JobStatus.COMPLETED:
            return job
        expected = job.expected_steps
        if expected is None and workflow is not None:
            expected = tuple(expected_steps(workflow))
        if expected is None:
            raise IncompleteJobError(customer_id, job_id, (), (
                "the job record does not say which steps a complete job holds, and no "
                "workflow was given: cannot tell whether it is complete"))
        steps = self.db.get_execution_steps(customer_id, job_id)
        present = {step.identity for step in steps}
        missing = [identity for identity in expected if identity not in present]
        if missing:
            raise IncompleteJobError(customer_id, job_id, missing, (
                f"{len(missing)} of {len(expected)} records are not stored "
                f"({', '.join(f'{o} {t}' for o, t in missing)}): not completed"))
        artifacts = [step.artifact_id for step in steps if step.artifact_id]
        now = iso(self.clock())
        self.db.add_job_artifacts(customer_id, job_id, artifacts, at=now)
        job = self.db.set_job_status(customer_id, job_id, JobStatus.COMPLETED, at=now)
        log.debug("job %s/%s completed with %d steps", customer_id, job_id, len(steps))
        return job
