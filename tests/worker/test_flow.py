"""The worker's flow on a strict LocalS3: steps, dependencies, failures, completion —
and the incident's stale-list case, with the old code as negative control."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from s3store import CorruptDocumentError
from s3store.testing import LocalS3
from tests.worker.helpers import (
    NINE_INDEPENDENT_STEPS,
    FailingExecutor,
    FakeTime,
    JobIds,
    db_for,
    put_raw,
    target_for,
)
from worker_integration import (
    DBService,
    DependencyTimeoutError,
    InProcessInvoker,
    JobCompletionService,
    JobStatus,
    SimulatedExecutor,
    StepProcessor,
    ThreadInvoker,
    Workflow,
    WorkflowOrchestrator,
    WorkflowStep,
)
from worker_integration.demo.legacy import LegacyHtmlInvocation, LegacyStepInvocation
from worker_integration.demo.report import verdict_of
from worker_integration.services.execution_step_manager import (
    form_submission_record,
    workflow_step_request,
)
from worker_integration.services.step_processor import execute_step

DEPENDENT = Workflow.of([
    WorkflowStep(name="Research"),
    WorkflowStep(name="Angle", depends_on=(0,)),
    WorkflowStep(name="Facts"),
    WorkflowStep(name="Draft", depends_on=(1, 2)),
    WorkflowStep(name="Notify", step_type="webhook", depends_on=(3,)),
])


def _record_workflow_steps(db: DBService, ids: JobIds, workflow: Workflow,
                           indexes: range | list[int]) -> None:
    processor = StepProcessor(db=db, executor=SimulatedExecutor())
    for index in indexes:
        processor.process_step(ids.c, ids.j, workflow, index)


# -- steps ---------------------------------------------------------------------------------


def test_a_failing_executor_becomes_a_failed_record() -> None:
    time = FakeTime()
    request = workflow_step_request(NINE_INDEPENDENT_STEPS, 2, customer_id="c", job_id="j",
                                    context={})
    record = execute_step(FailingExecutor(frozenset({"Step 3"})), request, clock=time.clock,
                          monotonic=time.monotonic)
    assert (record.step_order, record.success, record.output) == (3, False, None)
    assert record.error == "RuntimeError: upstream model refused step 'Step 3'"
    assert record.started_at == record.completed_at == "2025-01-31T09:00:00.000+00:00"
    assert record.duration_ms == 0


def test_step_order_is_the_workflow_index_plus_one(db: DBService, ids: JobIds) -> None:
    _record_workflow_steps(db, ids, NINE_INDEPENDENT_STEPS, [8, 0, 4])
    steps = db.get_execution_steps(ids.c, ids.j)
    assert [(s.step_order, s.step_type, s.step_name) for s in steps] == [
        (1, "ai_generation", "Step 1"), (5, "ai_generation", "Step 5"),
        (9, "webhook", "Step 9")]


def test_a_step_waits_for_its_dependencies_records(db: DBService, ids: JobIds) -> None:
    time = FakeTime()
    polls: list[float] = []

    def sleep_while_research_lands(seconds: float) -> None:
        polls.append(seconds)  # meanwhile, another invocation records step 1
        _record_workflow_steps(db, ids, DEPENDENT, [0])
        time.sleep(seconds)

    processor = StepProcessor(db=db, executor=SimulatedExecutor(), clock=time.clock,
                              monotonic=time.monotonic, sleep=sleep_while_research_lands,
                              poll_interval=0.5)
    record = processor.process_step(ids.c, ids.j, DEPENDENT, 1)
    assert polls == [0.5]
    assert record.success
    assert record.input == {"instructions": "", "context_orders": [1]}


def test_a_dependency_that_never_lands_fails_the_step_and_the_job_goes_on(
        db: DBService, ids: JobIds) -> None:
    time = FakeTime()
    processor = StepProcessor(db=db, executor=SimulatedExecutor(), clock=time.clock,
                              monotonic=time.monotonic, sleep=time.sleep,
                              dependency_timeout=2.0, poll_interval=0.5)
    with pytest.raises(DependencyTimeoutError) as caught:
        processor.wait_for_steps(ids.c, ids.j, [1])
    assert caught.value.missing == (1,)
    record = processor.process_step(ids.c, ids.j, DEPENDENT, 1)
    assert not record.success
    assert record.error is not None
    assert record.error.startswith("DependencyTimeoutError: steps [1] were not recorded")
    assert [s.identity for s in db.get_execution_steps(ids.c, ids.j)] == [(2, "ai_generation")]


def test_run_job_in_one_process_records_every_step_even_a_failing_one(
        db: DBService, ids: JobIds) -> None:
    orchestrator = WorkflowOrchestrator(db=db, executor=FailingExecutor(frozenset({"Step 4"})))
    job = orchestrator.run_job(ids.c, ids.j, NINE_INDEPENDENT_STEPS)
    steps = db.get_execution_steps(ids.c, ids.j)
    assert verdict_of(NINE_INDEPENDENT_STEPS, steps).line() == "10/10 execution steps stored"
    assert [s.step_order for s in steps if not s.success] == [4]
    assert job.status is JobStatus.COMPLETED
    assert set(job.artifacts) == {s.artifact_id for s in steps if s.artifact_id}
    assert len(job.artifacts) == 8  # seven AI steps that succeeded, and the page


def test_run_job_marks_the_job_failed_when_steps_cannot_be_recorded(
        db: DBService, ids: JobIds, local_s3: LocalS3) -> None:
    put_raw(local_s3, ids.steps_key, b'{"not": "a list"}')
    orchestrator = WorkflowOrchestrator(db=db, executor=SimulatedExecutor())
    with pytest.raises(CorruptDocumentError):
        orchestrator.run_job(ids.c, ids.j, NINE_INDEPENDENT_STEPS)
    job = db.get_job(ids.c, ids.j)
    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert job.error.startswith("CorruptDocumentError")


@pytest.mark.parametrize(("invoker", "count"), [(InProcessInvoker(), 1),
                                               (ThreadInvoker(workers=16), 2)],
                         ids=["in-process", "threads"])
def test_run_jobs_honours_dependencies(local_s3: LocalS3,
                                       invoker: InProcessInvoker | ThreadInvoker,
                                       count: int) -> None:
    db = db_for(local_s3)
    jobs = [(ids.c, ids.j) for ids in (JobIds.fresh() for _ in range(count))]
    orchestrator = WorkflowOrchestrator(db=db, executor=SimulatedExecutor())
    records = orchestrator.run_jobs(jobs, DEPENDENT, target=target_for(local_s3),
                                    invoker=invoker)
    assert [job.status for job in records] == [JobStatus.COMPLETED] * count
    for customer_id, job_id in jobs:
        steps = {s.step_order: s for s in db.get_execution_steps(customer_id, job_id)}
        assert verdict_of(DEPENDENT, list(steps.values())).complete
        for index, step in enumerate(DEPENDENT.steps):
            record = steps[index + 1]
            orders = [d + 1 for d in step.depends_on]
            assert record.input["context_orders"] == orders
            for order in orders:  # it started only once its dependencies were done
                assert _at(record.started_at) >= _at(steps[order].completed_at)


def _at(timestamp: str | None) -> datetime:
    assert timestamp is not None
    return datetime.fromisoformat(timestamp)


# -- the incident's stale list -------------------------------------------------------------


def test_completion_after_the_steps_keeps_them_and_takes_its_order_from_the_workflow(
        db: DBService, ids: JobIds, local_s3: LocalS3) -> None:
    _record_workflow_steps(db, ids, NINE_INDEPENDENT_STEPS, range(9))
    fresh = db_for(local_s3)  # another invocation: nothing in memory, no list handed over
    page = JobCompletionService(db=fresh, executor=SimulatedExecutor()).generate_html(
        ids.c, ids.j, NINE_INDEPENDENT_STEPS)
    assert (page.step_order, page.step_type) == (10, "html_generation")
    assert page.input["context_orders"] == list(range(1, 10))
    steps = db.get_execution_steps(ids.c, ids.j)
    assert verdict_of(NINE_INDEPENDENT_STEPS, steps).line() == "10/10 execution steps stored"


def test_completion_that_finds_steps_missing_waits_then_records_nothing(
        db: DBService, ids: JobIds) -> None:
    # The worst stale list: completion runs while S3 holds one step of nine. The old
    # code (and this one before the completion gate) built the page from it and
    # recorded success; now the page waits for every workflow step, then gives up.
    _record_workflow_steps(db, ids, NINE_INDEPENDENT_STEPS, [0])
    time = FakeTime()
    service = JobCompletionService(db=db, executor=SimulatedExecutor(), dependency_timeout=5,
                                   poll_interval=1, monotonic=time.monotonic, sleep=time.sleep)
    with pytest.raises(DependencyTimeoutError) as caught:
        service.generate_html(ids.c, ids.j, NINE_INDEPENDENT_STEPS)
    assert caught.value.missing == tuple(range(2, 10))
    assert [s.identity for s in db.get_execution_steps(ids.c, ids.j)] == [(1, "ai_generation")]
    _record_workflow_steps(db, ids, NINE_INDEPENDENT_STEPS, range(1, 9))
    page = service.generate_html(ids.c, ids.j, NINE_INDEPENDENT_STEPS)
    assert page.step_order == 10  # len(workflow_steps) + 1, not len(list) + 1
    assert page.input["context_orders"] == list(range(1, 10))
    steps = db.get_execution_steps(ids.c, ids.j)
    assert verdict_of(NINE_INDEPENDENT_STEPS, steps).complete
    assert [s.step_order for s in steps] == list(range(1, 11))


def test_negative_control_the_old_completion_with_an_empty_list_erases_the_steps(
        db: DBService, ids: JobIds, local_s3: LocalS3) -> None:
    _record_workflow_steps(db, ids, NINE_INDEPENDENT_STEPS, range(9))
    LegacyHtmlInvocation(target=target_for(local_s3), executor=SimulatedExecutor(),
                         customer_id=ids.c, job_id=ids.j, workflow=NINE_INDEPENDENT_STEPS,
                         execution_steps=())()
    steps = db.get_execution_steps(ids.c, ids.j)
    # Exactly the incident: html_generation alone, at step_order 1.
    assert [s.identity for s in steps] == [(1, "html_generation")]
    verdict = verdict_of(NINE_INDEPENDENT_STEPS, steps)
    assert verdict.lost == tuple(range(1, 11))
    assert verdict.misplaced == ((1, "html_generation"),)


def test_negative_control_the_old_rerun_duplicates(db: DBService, ids: JobIds,
                                                   local_s3: LocalS3) -> None:
    for _ in range(2):
        LegacyStepInvocation(target=target_for(local_s3), executor=SimulatedExecutor(),
                             customer_id=ids.c, job_id=ids.j,
                             workflow=NINE_INDEPENDENT_STEPS, index=2)()
    stored = json.loads(local_s3.client().get_object(
        Bucket=local_s3.bucket, Key=ids.steps_key)["Body"].read())
    assert [r["step_order"] for r in stored] == [3, 3]  # the new path: one record (see races)


def test_a_form_submission_is_order_zero_and_sorts_first(db: DBService, ids: JobIds) -> None:
    _record_workflow_steps(db, ids, NINE_INDEPENDENT_STEPS, [1])
    db.record_execution_step(ids.c, ids.j, form_submission_record({"email": "a@b.c"}, at="t0"))
    steps = db.get_execution_steps(ids.c, ids.j)
    assert [s.identity for s in steps] == [(0, "form_submission"), (2, "ai_generation")]
