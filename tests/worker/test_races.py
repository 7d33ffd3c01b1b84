"""Independent invocations in threads, all inside their window at once — and the old code
on the same harness, which loses records there.

`BarrierExecutor` holds every step's work until all of them are in it: each step
has done what its code does before the work (the old path: loaded the list) and
none has written yet. No sleeps, no timing: the window is open for all of them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence

import pytest

from s3store.testing import FaultPlan, LocalS3
from tests.worker.helpers import (
    NINE_INDEPENDENT_STEPS,
    BarrierExecutor,
    JobIds,
    db_for,
    stored_json,
    target_for,
)
from worker_integration import (
    ExecutionStep,
    IncompleteJobError,
    JobCompletionService,
    JobStatus,
    SimulatedExecutor,
    ThreadInvoker,
)
from worker_integration.demo.legacy import LegacyStepInvocation
from worker_integration.demo.report import verdict_of
from worker_integration.invocations import HtmlInvocation, Invocation, StepInvocation


@pytest.fixture(scope="module")
def local_s3() -> Iterator[LocalS3]:
    """One server (with a little network-like latency); each test has its own job ids."""
    with LocalS3(faults=FaultPlan(latency=0.005)) as s3:
        yield s3


def _conflicts(s3: LocalS3) -> int:
    return sum(1 for r in s3.requests if r.method == "PUT" and r.status == 412)


def _run_together(invocations: Sequence[Invocation]) -> None:
    ThreadInvoker(workers=len(invocations)).run(invocations)


def _steps(s3: LocalS3, ids: JobIds, indexes: Sequence[int], *, legacy: bool = False,
           barrier: threading.Barrier, max_attempts: int = 3) -> list[Invocation]:
    executor = BarrierExecutor(barrier)
    kind = LegacyStepInvocation if legacy else StepInvocation
    target = target_for(s3, max_attempts=max_attempts)
    return [kind(target=target, executor=executor, customer_id=ids.c, job_id=ids.j,
                 workflow=NINE_INDEPENDENT_STEPS, index=index) for index in indexes]


def test_nine_steps_in_their_window_at_once_all_stay(local_s3: LocalS3) -> None:
    ids, conflicts_before = JobIds.fresh(), _conflicts(local_s3)
    _run_together(_steps(local_s3, ids, range(9), barrier=threading.Barrier(9, timeout=60)))
    HtmlInvocation(target=target_for(local_s3), executor=SimulatedExecutor(),
                   customer_id=ids.c, job_id=ids.j, workflow=NINE_INDEPENDENT_STEPS)()
    steps = db_for(local_s3).get_execution_steps(ids.c, ids.j)
    assert verdict_of(NINE_INDEPENDENT_STEPS, steps).line() == "10/10 execution steps stored"
    assert _conflicts(local_s3) > conflicts_before  # the writers did collide; CAS resolved it


def test_negative_control_the_old_path_in_the_same_window_keeps_one_of_nine(
        local_s3: LocalS3) -> None:
    ids = JobIds.fresh()
    _run_together(_steps(local_s3, ids, range(9), legacy=True,
                         barrier=threading.Barrier(9, timeout=60)))
    stored = stored_json(local_s3, ids.steps_key)
    assert len(stored) == 1  # every step loaded [] and overwrote: eight records lost


def test_reruns_racing_the_other_steps_lose_nothing_and_never_duplicate(
        local_s3: LocalS3) -> None:
    ids = JobIds.fresh()
    barrier = threading.Barrier(12, timeout=60)
    first = _steps(local_s3, ids, range(9), barrier=barrier)
    reruns = _steps(local_s3, ids, [1, 4, 8], barrier=barrier)
    _run_together([*first[:3], *reruns, *first[3:]])
    steps = db_for(local_s3).get_execution_steps(ids.c, ids.j)
    assert [s.identity for s in steps] == [
        (order, "webhook" if order == 9 else "ai_generation") for order in range(1, 10)]


def test_negative_control_old_reruns_in_the_same_window_lose_records(
        local_s3: LocalS3) -> None:
    ids = JobIds.fresh()
    barrier = threading.Barrier(12, timeout=60)
    first = _steps(local_s3, ids, range(9), legacy=True, barrier=barrier)
    reruns = _steps(local_s3, ids, [1, 4, 8], legacy=True, barrier=barrier)
    _run_together([*first[:3], *reruns, *first[3:]])
    assert len(stored_json(local_s3, ids.steps_key)) == 1


def test_an_edit_racing_new_steps_keeps_both(local_s3: LocalS3) -> None:
    ids = JobIds.fresh()
    db = db_for(local_s3)
    db.record_execution_step(ids.c, ids.j, ExecutionStep(step_order=1,
                                                         step_type="ai_generation"))
    barrier = threading.Barrier(9, timeout=60)

    def edit() -> None:
        barrier.wait()
        db_for(local_s3).edit_execution_step(
            ids.c, ids.j, step_order=1, step_type="ai_generation",
            change=lambda step: ExecutionStep.from_dict({**step.to_dict(), "output": "edited"}))

    editor = threading.Thread(target=edit)
    editor.start()
    _run_together(_steps(local_s3, ids, range(1, 9), barrier=barrier))
    editor.join()
    steps = db.get_execution_steps(ids.c, ids.j)
    assert [s.step_order for s in steps] == list(range(1, 10))
    assert steps[0].output == "edited"


# -- under faults --------------------------------------------------------------------------

FAULTS = FaultPlan(seed=7, latency=0.005, slow_down=0.05, error_before_write=0.05,
                   conditional_conflict=0.05, error_after_write=0.05, drop_after_write=0.05)


@pytest.fixture(scope="module")
def faulty_s3() -> Iterator[LocalS3]:
    """A server that throttles, fails, and loses answers after writes that landed."""
    with LocalS3(faults=FAULTS) as s3:
        yield s3


def test_nine_steps_under_faults_all_stay(faulty_s3: LocalS3) -> None:
    ids = JobIds.fresh()
    # Lost answers for sure (the plan's random ones may miss, under threads), then the plan.
    faulty_s3.inject("error_after_write")
    faulty_s3.inject("drop_after_write")
    _run_together(_steps(faulty_s3, ids, range(9), max_attempts=10,
                         barrier=threading.Barrier(9, timeout=60)))
    HtmlInvocation(target=target_for(faulty_s3, max_attempts=10), executor=SimulatedExecutor(),
                   customer_id=ids.c, job_id=ids.j, workflow=NINE_INDEPENDENT_STEPS)()
    faulty_s3.set_faults(FaultPlan())
    steps = db_for(faulty_s3).get_execution_steps(ids.c, ids.j)
    faulty_s3.set_faults(FAULTS)
    assert verdict_of(NINE_INDEPENDENT_STEPS, steps).line() == "10/10 execution steps stored"
    injected = faulty_s3.stats()["faults"]
    assert injected.get("error_after_write", 0) + injected.get("drop_after_write", 0) > 0


def test_negative_control_the_old_path_under_the_same_faults(faulty_s3: LocalS3) -> None:
    ids = JobIds.fresh()
    _run_together(_steps(faulty_s3, ids, range(9), legacy=True, max_attempts=10,
                         barrier=threading.Barrier(9, timeout=60)))
    faulty_s3.set_faults(FaultPlan())
    stored = stored_json(faulty_s3, ids.steps_key)
    faulty_s3.set_faults(FAULTS)
    assert len(stored) == 1


# -- the job record ------------------------------------------------------------------------


def test_concurrent_job_record_updates_lose_nothing(local_s3: LocalS3) -> None:
    ids, conflicts_before = JobIds.fresh(), _conflicts(local_s3)
    db = db_for(local_s3)
    db.create_job(ids.c, ids.j)
    db.set_job_status(ids.c, ids.j, JobStatus.PROCESSING)
    barrier = threading.Barrier(10, timeout=60)

    def add(n: int) -> None:
        mine = db_for(local_s3)
        barrier.wait()
        mine.set_job_status(ids.c, ids.j, JobStatus.PROCESSING)  # a no-op for all of them
        mine.add_job_artifacts(ids.c, ids.j, [f"art_{n:02d}"])

    threads = [threading.Thread(target=add, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    job = db.get_job(ids.c, ids.j)
    assert sorted(job.artifacts) == [f"art_{n:02d}" for n in range(10)]
    assert job.status is JobStatus.PROCESSING
    assert _conflicts(local_s3) > conflicts_before
    # No step is stored and the record names none it expects: never "completed".
    with pytest.raises(IncompleteJobError):
        JobCompletionService(db=db, executor=SimulatedExecutor()).finalize_job(ids.c, ids.j)
    assert db.get_job(ids.c, ids.j).status is JobStatus.PROCESSING


def test_negative_control_naive_job_record_updates_lose_artifacts(local_s3: LocalS3) -> None:
    ids = JobIds.fresh()
    db_for(local_s3).create_job(ids.c, ids.j)
    barrier = threading.Barrier(10, timeout=60)

    def naive_add(n: int) -> None:
        client = local_s3.client()
        record = json.loads(client.get_object(Bucket=local_s3.bucket,
                                              Key=ids.job_key)["Body"].read())
        barrier.wait()  # everyone has read; now everyone writes what it read, plus its own
        record["artifacts"].append(f"art_{n:02d}")
        client.put_object(Bucket=local_s3.bucket, Key=ids.job_key,
                          Body=json.dumps(record).encode())

    threads = [threading.Thread(target=naive_add, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(stored_json(local_s3, ids.job_key)["artifacts"]) == 1
