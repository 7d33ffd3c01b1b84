"""The incident as a regression test: many jobs, each of nine workflow steps recorded
by independent spawned processes, then html_generation — and the old code path on the
same pool and server, which loses records.

The steps' simulated work takes 0.1 s; the pool's processes all start before any
work is handed out, and each job's steps are handed out together, so several steps
of one job are always inside their window at once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from s3store.testing import FaultPlan, LocalS3
from tests.worker.helpers import NINE_INDEPENDENT_STEPS, JobIds, db_for, target_for
from worker_integration import (
    InvocationReport,
    JobStatus,
    ProcessInvoker,
    SimulatedExecutor,
    WorkflowOrchestrator,
)
from worker_integration.demo.legacy import run_legacy_jobs
from worker_integration.demo.report import verdict_of

JOBS = 6
EXECUTOR = SimulatedExecutor(delay=0.1)


@pytest.fixture(scope="module")
def local_s3() -> Iterator[LocalS3]:
    with LocalS3(faults=FaultPlan(latency=0.005)) as s3:
        yield s3


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessInvoker]:
    with ProcessInvoker(5) as invoker:
        yield invoker


def _jobs(count: int = JOBS) -> list[tuple[str, str]]:
    return [(ids.c, ids.j) for ids in (JobIds.fresh() for _ in range(count))]


def test_every_job_keeps_its_ten_records(local_s3: LocalS3, pool: ProcessInvoker) -> None:
    jobs, reports = _jobs(), list[InvocationReport]()
    conflicts_before = sum(1 for r in local_s3.requests if r.status == 412)
    db = db_for(local_s3)
    records = WorkflowOrchestrator(db=db, executor=EXECUTOR).run_jobs(
        jobs, NINE_INDEPENDENT_STEPS, target=target_for(local_s3), invoker=pool,
        on_report=reports.append)
    assert len(reports) == JOBS * 10
    assert all(r.success for r in reports)
    for (customer_id, job_id), job in zip(jobs, records, strict=True):
        steps = db.get_execution_steps(customer_id, job_id)
        assert [s.identity for s in steps] == [
            *((order, "ai_generation") for order in range(1, 9)),
            (9, "webhook"), (10, "html_generation")]
        assert job.status is JobStatus.COMPLETED
        assert len(job.artifacts) == 9  # eight AI steps and the page
    # The invocations did write over each other's versions; every conflict was retried.
    assert sum(1 for r in local_s3.requests if r.status == 412) > conflicts_before


def test_negative_control_the_old_path_loses_records(local_s3: LocalS3,
                                                     pool: ProcessInvoker) -> None:
    db = db_for(local_s3)
    # With the bug report's fix (reload before appending): the steps still erase each other.
    jobs = _jobs()
    run_legacy_jobs(jobs, NINE_INDEPENDENT_STEPS, target=target_for(local_s3),
                    executor=EXECUTOR, invoker=pool, reload=True)
    lost = [verdict_of(NINE_INDEPENDENT_STEPS, db.get_execution_steps(c, j)).lost
            for c, j in jobs]
    assert sum(len(orders) for orders in lost) >= 1, "the old path lost nothing on this harness"
    # As in the incident (html_generation appended to the empty list it was handed):
    # each job ends with html_generation alone, at step_order 1.
    jobs = _jobs(2)
    run_legacy_jobs(jobs, NINE_INDEPENDENT_STEPS, target=target_for(local_s3),
                    executor=EXECUTOR, invoker=pool, reload=False)
    for customer_id, job_id in jobs:
        steps = db.get_execution_steps(customer_id, job_id)
        assert [s.identity for s in steps] == [(1, "html_generation")]
