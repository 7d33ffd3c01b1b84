"""Runs jobs: every workflow step, then `html_generation`, then finalisation.

Two ways, with the same records at the end:

- `run_job` — one process, the steps in order.
- `run_jobs` — every workflow step of every job as an independent invocation
  (threads or processes, sharing only S3), then each job's `html_generation` as
  an invocation, then finalisation here. Steps wait for their dependencies' records
  in S3; one job's failure is that job's alone.

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
    Invoker,
    Isolated,
    ReportCallback,
    S3Target,
    StepInvocation,
)
from worker_integration.job_record import JobRecord, JobStatus
from worker_integration.services.job_completion_service import (
    IncompleteJobError,
    JobCompletionService,
    expected_steps,
)
from worker_integration.services.step_processor import StepProcessor
from worker_integration.workflow import Workflow

__all__ = ["JobRef", "WorkflowOrchestrator"]

log = logging.getLogger(__name__)

JobRef = tuple[str, str]
"""A job as `(customer_id, job_id)`."""


@dataclass(frozen=True, kw_only=True)
class WorkflowOrchestrator:
    """Runs jobs' workflows on a `DBService` with an `Executor`."""

    db: DBService
    executor: Executor
    dependency_timeout: float = 60.0
    clock: Clock = utc_now

    def start_job(self, customer_id: str, job_id: str,
                  workflow: Workflow | None = None) -> JobRecord:
        """Create the job record if there is none, and mark the job processing.

        With `workflow`, the record says which records the complete job holds
        (`expected_steps`), what finalisation and `audit` check against. Raises
        `IllegalTransitionError` if the job already finished, `ValueError` if it was
        started with another workflow, and the store's errors.
        """
        expected = None if workflow is None else expected_steps(workflow)
        self.db.ensure_job(customer_id, job_id, at=iso(self.clock()), expected=expected)
        return self.db.set_job_status(customer_id, job_id, JobStatus.PROCESSING,
                                      at=iso(self.clock()))

    def _completion(self) -> JobCompletionService:
        return JobCompletionService(db=self.db, executor=self.executor, clock=self.clock,
                                    dependency_timeout=self.dependency_timeout)

    def run_job(self, customer_id: str, job_id: str, workflow: Workflow) -> JobRecord:
        """Run the whole job in this process, steps in order; return the final job record.

        A failing step is recorded as failed and the job goes on. If recording
        fails (storage errors) or the job is not complete at the end
        (`IncompleteJobError`), the job is marked failed and the error re-raised.
        """
        self.start_job(customer_id, job_id, workflow)
        processor = StepProcessor(db=self.db, executor=self.executor,
                                  dependency_timeout=self.dependency_timeout, clock=self.clock)
        completion = self._completion()
        try:
            for index in range(len(workflow.steps)):
                processor.process_step(customer_id, job_id, workflow, index)
            completion.generate_html(customer_id, job_id, workflow)
            return completion.finalize_job(customer_id, job_id, workflow)
        except Exception as exc:
            self._mark_failed(customer_id, job_id, exc)
            raise

    def run_jobs(self, jobs: Sequence[JobRef], workflow: Workflow, *, target: S3Target,
                 invoker: Invoker, on_report: ReportCallback | None = None) -> list[JobRecord]:
        """Run several jobs at once, each step an independent invocation on `invoker`.

        The workflow steps of all jobs run as one batch (each job's steps in
        workflow order, so dependencies are started first), then the `html_generation`
        of every job whose steps all ran as a second batch, then each of those is
        finalised here. Jobs are independent: an invocation that raises (a step that
        could not be recorded, a corrupt document) or a job found incomplete marks
        that job failed, and only it. Returns the final job records, in the order of
        `jobs`; raises only when a job record itself cannot be read or written.
        """
        for customer_id, job_id in jobs:
            self.start_job(customer_id, job_id, workflow)
        failed: dict[JobRef, str] = {}

        def run(invocations: list[StepInvocation] | list[HtmlInvocation]) -> None:
            for report in invoker.run([Isolated(i) for i in invocations], on_report=on_report):
                if report.raised:
                    failed.setdefault((report.customer_id, report.job_id),
                                      report.error or "invocation failed")

        run([StepInvocation(target=target, executor=self.executor, customer_id=customer_id,
                            job_id=job_id, workflow=workflow, index=index,
                            dependency_timeout=self.dependency_timeout)
             for customer_id, job_id in jobs for index in range(len(workflow.steps))])
        run([HtmlInvocation(target=target, executor=self.executor, customer_id=customer_id,
                            job_id=job_id, workflow=workflow,
                            dependency_timeout=self.dependency_timeout)
             for customer_id, job_id in jobs if (customer_id, job_id) not in failed])
        completion = self._completion()
        records = []
        for customer_id, job_id in jobs:
            if (customer_id, job_id) not in failed:
                try:
                    records.append(completion.finalize_job(customer_id, job_id, workflow))
                    continue
                except IncompleteJobError as exc:
                    failed[(customer_id, job_id)] = f"{type(exc).__name__}: {exc}"
            records.append(self.db.set_job_status(
                customer_id, job_id, JobStatus.FAILED, error=failed[(customer_id, job_id)],
                at=iso(self.clock())))
        return records

    def _mark_failed(self, customer_id: str, job_id: str, exc: Exception) -> None:
        try:
            self.db.set_job_status(customer_id, job_id, JobStatus.FAILED,
                                   error=f"{type(exc).__name__}: {exc}", at=iso(self.clock()))
        except Exception:  # the original error is the one to raise
            log.debug("could not mark job %s/%s failed", customer_id, job_id, exc_info=True)
