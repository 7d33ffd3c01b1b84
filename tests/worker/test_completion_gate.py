"""The completion gate and the job's independence (issue: the worker as production runs it).

A job is completed only when every record it must hold is stored; the page waits for
every workflow step; a job says when it starts what a complete job holds; one job's
failure in a batch is that job's alone; waits refuse values that never expire or spin;
a job record holding `null` is corrupt, not absent. Each test failed on the code before.
"""

from __future__ import annotations

import math

import pytest

from s3store import CorruptDocumentError
from s3store.testing import LocalS3
from tests.worker.helpers import (
    NINE_INDEPENDENT_STEPS,
    FakeTime,
    JobIds,
    put_raw,
    raw_bytes,
    stored_json,
    target_for,
)
from worker_integration import (
    DBService,
    IncompleteJobError,
    InProcessInvoker,
    JobCompletionService,
    JobStatus,
    SimulatedExecutor,
    StepProcessor,
    Workflow,
    WorkflowOrchestrator,
    WorkflowStep,
)
from worker_integration.services.job_completion_service import expected_steps

_DEPENDENT = Workflow.of([WorkflowStep(name="First"),
                          WorkflowStep(name="Second", depends_on=(0,))])


def _orchestrator(db: DBService) -> WorkflowOrchestrator:
    return WorkflowOrchestrator(db=db, executor=SimulatedExecutor(), dependency_timeout=0)


def test_a_job_with_steps_missing_is_never_completed(db: DBService, ids: JobIds) -> None:
    _orchestrator(db).start_job(ids.c, ids.j, NINE_INDEPENDENT_STEPS)
    StepProcessor(db=db, executor=SimulatedExecutor()).process_step(
        ids.c, ids.j, NINE_INDEPENDENT_STEPS, 0)
    service = JobCompletionService(db=db, executor=SimulatedExecutor())
    with pytest.raises(IncompleteJobError) as caught:
        service.finalize_job(ids.c, ids.j)
    assert [order for order, _ in caught.value.missing] == list(range(2, 11))
    assert "9 of 10 records are not stored" in str(caught.value)
    job = db.get_job(ids.c, ids.j)
    assert job.status is JobStatus.PROCESSING
    assert job.artifacts == ()  # nothing written at all


def test_a_job_without_expected_steps_and_no_workflow_cannot_be_told_complete(
        db: DBService, ids: JobIds) -> None:
    db.ensure_job(ids.c, ids.j)  # an old record: no expected_steps
    db.set_job_status(ids.c, ids.j, JobStatus.PROCESSING)
    service = JobCompletionService(db=db, executor=SimulatedExecutor())
    with pytest.raises(IncompleteJobError, match="cannot tell"):
        service.finalize_job(ids.c, ids.j)
    with pytest.raises(IncompleteJobError):  # with the workflow: judged against it
        service.finalize_job(ids.c, ids.j, NINE_INDEPENDENT_STEPS)
    assert db.get_job(ids.c, ids.j).status is JobStatus.PROCESSING


def test_a_started_job_records_what_a_complete_job_holds(db: DBService, ids: JobIds,
                                                          local_s3: LocalS3) -> None:
    _orchestrator(db).start_job(ids.c, ids.j, NINE_INDEPENDENT_STEPS)
    stored = stored_json(local_s3, ids.job_key)
    assert stored["expected_steps"] == [
        {"step_order": order, "step_type": step_type}
        for order, step_type in expected_steps(NINE_INDEPENDENT_STEPS)]
    assert db.get_job(ids.c, ids.j).expected_steps == tuple(
        expected_steps(NINE_INDEPENDENT_STEPS))
    # Starting again (a redelivery) keeps it; another workflow is refused.
    _orchestrator(db).start_job(ids.c, ids.j, NINE_INDEPENDENT_STEPS)
    with pytest.raises(ValueError, match="was started expecting"):
        db.ensure_job(ids.c, ids.j, expected=[(1, "ai_generation")])


def test_run_job_completes_with_every_record(db: DBService, ids: JobIds) -> None:
    job = _orchestrator(db).run_job(ids.c, ids.j, NINE_INDEPENDENT_STEPS)
    assert job.status is JobStatus.COMPLETED
    assert len(db.get_execution_steps(ids.c, ids.j)) == 10


def test_one_corrupt_job_fails_only_itself_in_a_batch(db: DBService, local_s3: LocalS3) -> None:
    good, bad = JobIds.fresh(), JobIds.fresh()
    put_raw(local_s3, bad.steps_key, b'{"not": "an array"}')
    records = _orchestrator(db).run_jobs([(good.c, good.j), (bad.c, bad.j)],
                                         NINE_INDEPENDENT_STEPS, target=target_for(local_s3),
                                         invoker=InProcessInvoker())
    assert [r.status for r in records] == [JobStatus.COMPLETED, JobStatus.FAILED]
    assert records[1].error is not None and "CorruptDocumentError" in records[1].error
    assert len(db.get_execution_steps(good.c, good.j)) == 10
    assert raw_bytes(local_s3, bad.steps_key) == b'{"not": "an array"}'  # untouched


@pytest.mark.parametrize(("timeout", "poll"), [(math.nan, 0.05), (math.inf, 0.05), (-1, 0.05),
                                               (60, 0), (60, math.nan), (60, -0.1)])
def test_waits_refuse_a_timeout_that_never_expires_or_a_poll_that_spins(
        db: DBService, timeout: float, poll: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        StepProcessor(db=db, executor=SimulatedExecutor(), dependency_timeout=timeout,
                      poll_interval=poll)
    with pytest.raises(ValueError, match="finite"):
        JobCompletionService(db=db, executor=SimulatedExecutor(), dependency_timeout=timeout,
                             poll_interval=poll)


def test_a_dependency_wait_of_zero_checks_once(db: DBService, ids: JobIds) -> None:
    time = FakeTime()
    processor = StepProcessor(db=db, executor=SimulatedExecutor(), dependency_timeout=0,
                              monotonic=time.monotonic, sleep=time.sleep)
    record = processor.process_step(ids.c, ids.j, _DEPENDENT, 1)
    assert not record.success and record.error is not None
    assert "DependencyTimeoutError" in record.error and time.ticks == 0


@pytest.mark.parametrize("body", [b"null", b"[]", b'"job"'])
def test_ensure_job_refuses_a_record_that_is_not_one(db: DBService, ids: JobIds,
                                                     local_s3: LocalS3, body: bytes) -> None:
    put_raw(local_s3, ids.job_key, body)
    with pytest.raises(CorruptDocumentError) as caught:
        db.ensure_job(ids.c, ids.j)
    assert caught.value.key == ids.job_key
    assert raw_bytes(local_s3, ids.job_key) == body
