"""Runs one workflow step and records it: one invocation's whole job.

A step first waits until the steps it depends on are recorded in S3 (polling
through the store, with a bounded wait), then runs its executor, then records
itself with `DBService.record_execution_step` — an upsert under compare-and-swap,
so steps running anywhere at the same time never erase each other. A failing
executor is recorded as `success: false` with its error, and the job goes on.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any

from s3store import NotFoundError
from worker_integration.clock import Clock, iso, utc_now
from worker_integration.db_service import DBService
from worker_integration.errors import WorkerError
from worker_integration.executor import Executor, StepRequest
from worker_integration.models import ExecutionStep
from worker_integration.services.execution_step_manager import (
    StepTiming,
    step_record,
    workflow_step_request,
)
from worker_integration.workflow import WORKFLOW_STEP_TYPES, Workflow

__all__ = ["DependencyTimeoutError", "StepProcessor", "check_wait", "execute_step",
           "wait_for_records"]

log = logging.getLogger(__name__)


class DependencyTimeoutError(WorkerError, TimeoutError):
    """The steps a step depends on were not all recorded within the wait allowed."""

    def __init__(self, missing: Collection[int], waited: float) -> None:
        super().__init__(f"steps {sorted(missing)} were not recorded within {waited:.1f}s")
        self.missing = tuple(sorted(missing))
        self.waited = waited


def execute_step(executor: Executor, request: StepRequest, *, clock: Clock = utc_now,
                 monotonic: Callable[[], float] = time.monotonic) -> ExecutionStep:
    """Run `request` on `executor` and return its record (not yet stored).

    Whatever the executor raises becomes a failed record with the error's type and
    message; nothing is raised.
    """
    started_at, started = iso(clock()), monotonic()
    try:
        result = executor.run(request)
    except Exception as exc:  # any failure of a step's work is recorded, as before
        error: str | None = f"{type(exc).__name__}: {exc}"
        result = None
    else:
        error = None
    timing = StepTiming(started_at=started_at, completed_at=iso(clock()),
                        duration_ms=round((monotonic() - started) * 1000))
    log.debug("step (%d, %s) ran in %d ms, success=%s", request.step_order,
              request.step_type, timing.duration_ms, error is None)
    return step_record(request, timing=timing, result=result, error=error)


@dataclass(frozen=True, kw_only=True)
class StepProcessor:
    """Processes workflow steps of a job on a `DBService` with an `Executor`.

    `dependency_timeout` bounds the wait for dependencies (seconds), polling every
    `poll_interval`; `clock`, `monotonic` and `sleep` are injectable for tests.
    """

    db: DBService
    executor: Executor
    dependency_timeout: float = 60.0
    poll_interval: float = 0.05
    clock: Clock = utc_now
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def process_step(self, customer_id: str, job_id: str, workflow: Workflow, index: int, *,
                     attempt_id: str | None = None) -> ExecutionStep:
        """Run workflow step `index` (0-based) and record it at `step_order = index + 1`.

        Each call is an attempt: it claims the next attempt number in the job record
        (`DBService.claim_attempt`) and records it with it and `attempt_id` (the
        invocation's id, e.g. Lambda's request id), so that a late older attempt never
        replaces a newer one. If a successful record of the step is already stored (a
        duplicate delivery), that record is returned: nothing runs and nothing is
        claimed. A job without a record has no attempt order: the step is recorded
        without one (logged).
        If its dependencies are not all recorded within `dependency_timeout`, the
        step is recorded as failed with that error. Returns the record that stays
        stored. Raises `IndexError` for a bad index, and the errors of
        `DBService.record_execution_step` (a step that cannot be recorded fails).
        """
        order = workflow.step_order(index)
        identity = (order, workflow.steps[index].step_type)
        done = next((step for step in self.db.get_execution_steps(customer_id, job_id)
                     if step.identity == identity and step.success), None)
        if done is not None:
            # Checked before claiming: a delivery that does not run claims nothing, so
            # the step's dependents never wait for an attempt that will not record.
            log.info("step %d of %s/%s is already recorded: this delivery does not run it "
                     "again", order, customer_id, job_id)
            return done
        try:
            attempt: int | None = self.db.claim_attempt(customer_id, job_id, order)
        except NotFoundError:
            attempt = None
            log.warning("job %s/%s has no job record: step %d is recorded without an "
                        "attempt number (a late attempt may replace it)", customer_id, job_id,
                        order)
        context: dict[int, Any] = {}
        waiting_error: str | None = None
        try:
            context = self.wait_for_steps(customer_id, job_id,
                                          workflow.dependency_orders(index))
        except DependencyTimeoutError as exc:
            waiting_error = f"{type(exc).__name__}: {exc}"
        request = workflow_step_request(workflow, index, customer_id=customer_id,
                                        job_id=job_id, context=context)
        if waiting_error is not None:
            now = iso(self.clock())
            record = step_record(request, error=waiting_error,
                                 timing=StepTiming(started_at=now, completed_at=now,
                                                   duration_ms=0))
        else:
            record = execute_step(self.executor, request, clock=self.clock,
                                  monotonic=self.monotonic)
        record = replace(record, attempt=attempt, attempt_id=attempt_id)
        stored = self.db.record_execution_step(customer_id, job_id, record)
        return next(step for step in stored if step.identity == identity)

    def __post_init__(self) -> None:
        check_wait(self.dependency_timeout, self.poll_interval)

    def wait_for_steps(self, customer_id: str, job_id: str,
                       orders: Collection[int]) -> dict[int, Any]:
        """Wait until workflow steps `orders` are recorded; return their outputs by order.

        See `wait_for_records`, with this processor's timeout, clock and sleep.
        """
        recorded = wait_for_records(self.db, customer_id, job_id, orders,
                                    timeout=self.dependency_timeout,
                                    poll_interval=self.poll_interval,
                                    monotonic=self.monotonic, sleep=self.sleep)
        return {order: step.output for order, step in recorded.items() if step.success}


def check_wait(timeout: float, poll_interval: float) -> None:
    """Raise `ValueError` unless `timeout` is finite and >= 0 and `poll_interval` finite
    and > 0 (NaN would never expire, 0 would poll S3 in a busy loop)."""
    if not (isinstance(timeout, int | float) and math.isfinite(timeout) and timeout >= 0):
        raise ValueError(f"the dependency timeout must be a finite number of seconds >= 0, "
                         f"got {timeout!r}")
    if not (isinstance(poll_interval, int | float) and math.isfinite(poll_interval)
            and poll_interval > 0):
        raise ValueError(f"the poll interval must be a finite number of seconds > 0, "
                         f"got {poll_interval!r}")


def wait_for_records(db: DBService, customer_id: str, job_id: str, orders: Collection[int], *,
                     timeout: float, poll_interval: float,
                     monotonic: Callable[[], float] = time.monotonic,
                     sleep: Callable[[float], None] = time.sleep) -> dict[int, ExecutionStep]:
    """Wait until workflow steps `orders` are recorded; return their records by order.

    A recorded step counts as done. A failed record does not while a newer attempt of
    the step has been claimed in the job record since (`JobRecord.attempts`): that rerun
    is in flight, its record will replace the failure, and the dependents must be built
    on it, never on the previous run's. (A success stays whatever later attempts record,
    so it always counts.) Polls
    the stored steps (and the job record) every `poll_interval` seconds. Raises
    `DependencyTimeoutError` after `timeout` seconds, and the errors of
    `DBService.get_execution_steps` and `DBService.get_job`.
    """
    check_wait(timeout, poll_interval)
    wanted = set(orders)
    started = monotonic()
    while True:
        recorded = {step.step_order: step for step in
                    db.get_execution_steps(customer_id, job_id)
                    if step.step_order in wanted and step.step_type in WORKFLOW_STEP_TYPES}
        if any(not step.success for step in recorded.values()):  # a success always counts
            claimed = _claimed_attempts(db, customer_id, job_id)
            recorded = {order: step for order, step in recorded.items()
                        if step.success or (step.attempt or 0) >= claimed.get(str(order), 0)}
        missing = wanted - recorded.keys()
        if not missing:
            return recorded
        waited = monotonic() - started
        if waited >= timeout:
            raise DependencyTimeoutError(missing, waited)
        sleep(poll_interval)


def _claimed_attempts(db: DBService, customer_id: str, job_id: str) -> Mapping[str, int]:
    """The last attempt claimed per step order (none for a job without a record)."""
    try:
        return db.get_job(customer_id, job_id).attempts
    except NotFoundError:
        return {}
