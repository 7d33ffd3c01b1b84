"""Runs jobs: every workflow step, then `html_generation`, then finalisation.

Two ways, with the same records at the end:

- `run_job` — one process, the steps in order.
- `run_jobs` — every workflow step of every job as an independent invocation
  (threads or processes, sharing only S3), then each job's `html_generation` as
  an invocation, then finalisation here. Steps wait for their dependencies' records
  in S3.

Nothing passes a list of steps from one stage to the next: each stage upserts its
own record, and reads what others recorded from S3 when it needs it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from worker_integration.clock import Clock, iso, utc_now
from worker_integration.db_service import DBService
from worker_integration.executor import Executor
from worker_integration.invocations import (
    HtmlInvocation,
    Invocation,
    Invoker,
    ReportCallback,
    S3Target,
    StepInvocation,
)
from worker_integration.job_completion_service import JobCompletionService
from worker_integration.job_record import JobRecord, JobStatus
from worker_integration.step_processor import StepProcessor
from worker_integration.workflow import Workflow

__all__ = ["JobRef", "WorkflowOrchestrator"]

log = logging.getLogger("worker_integration")

JobRef = tuple[str, str]
"""A job as `(customer_id, job_id)`."""


@dataclass(frozen=True, kw_only=True)
class WorkflowOrchestrator:
    """Runs jobs' workflows on a `DBService` with an `Executor`."""

    db: DBService
    executor: Executor
    dependency_timeout: float = 60.0
    clock: Clock = utc_now

    def start_job(self, customer_id: str, job_id: str) -> JobRecord:
        """Create the job record if there is none, and mark the job processing.

        Raises `IllegalTransitionError` if the job already finished, and the
        store's errors.
        """
        self.db.ensure_job(customer_id, job_id, at=iso(self.clock()))
        return self.db.set_job_status(customer_id, job_id, JobStatus.PROCESSING,
                                      at=iso(self.clock()))

    def run_job(self, customer_id: str, job_id: str, workflow: Workflow) -> JobRecord:
        """Run the whole job in this process, steps in order; return the final job record.

        A failing step is recorded as failed and the job goes on. If recording
        fails (storage errors), the job is marked failed and the error re-raised.
        """
        self.start_job(customer_id, job_id)
        processor = StepProcessor(db=self.db, executor=self.executor,
                                  dependency_timeout=self.dependency_timeout, clock=self.clock)
        completion = JobCompletionService(db=self.db, executor=self.executor, clock=self.clock)
        try:
            for index in range(len(workflow.steps)):
                processor.process_step(customer_id, job_id, workflow, index)
            completion.generate_html(customer_id, job_id, workflow)
            return completion.finalize_job(customer_id, job_id)
        except Exception as exc:
            self._mark_failed([(customer_id, job_id)], exc)
            raise

    def run_jobs(self, jobs: Sequence[JobRef], workflow: Workflow, *, target: S3Target,
                 invoker: Invoker, on_report: ReportCallback | None = None) -> list[JobRecord]:
        """Run several jobs at once, each step an independent invocation on `invoker`.

        The workflow steps of all jobs run as one batch (each job's steps in
        workflow order, so dependencies are started first), then every job's
        `html_generation` as a second batch, then each job is finalised here.
        Returns the final job records, in the order of `jobs`. If an invocation
        raises, the unfinished jobs are marked failed and the error re-raised.
        """
        for customer_id, job_id in jobs:
            self.start_job(customer_id, job_id)
        steps: list[Invocation] = [
            StepInvocation(target=target, executor=self.executor, customer_id=customer_id,
                           job_id=job_id, workflow=workflow, index=index,
                           dependency_timeout=self.dependency_timeout)
            for customer_id, job_id in jobs for index in range(len(workflow.steps))
        ]
        pages: list[Invocation] = [
            HtmlInvocation(target=target, executor=self.executor, customer_id=customer_id,
                           job_id=job_id, workflow=workflow)
            for customer_id, job_id in jobs
        ]
        completion = JobCompletionService(db=self.db, executor=self.executor, clock=self.clock)
        try:
            invoker.run(steps, on_report=on_report)
            invoker.run(pages, on_report=on_report)
            return [completion.finalize_job(customer_id, job_id) for customer_id, job_id in jobs]
        except Exception as exc:
            self._mark_failed(jobs, exc)
            raise

    def _mark_failed(self, jobs: Sequence[JobRef], exc: Exception) -> None:
        for customer_id, job_id in jobs:
            try:
                self.db.set_job_status(customer_id, job_id, JobStatus.FAILED,
                                       error=f"{type(exc).__name__}: {exc}",
                                       at=iso(self.clock()))
            except Exception:  # the original error is the one to raise
                log.debug("could not mark job %s/%s failed", customer_id, job_id,
                          exc_info=True)
