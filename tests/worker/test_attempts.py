"""At-least-once delivery: each invocation of a step is an attempt, and a late older
attempt never replaces a newer one (issue: the worker as production runs it, defect 2).

The interleaving is forced with events, never with sleeps: the first delivery is held
inside its work while the retry runs to the end and its consumer reads its output.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from s3store.testing import LocalS3
from tests.worker.helpers import JobIds, db_for, stored_json
from worker_integration import (
    DBService,
    ExecutionStep,
    SimulatedExecutor,
    StepProcessor,
    StepRequest,
    StepResult,
    Workflow,
    WorkflowOrchestrator,
    WorkflowStep,
)
from worker_integration.db_service import upsert_step

TWO = Workflow.of([WorkflowStep(name="First"), WorkflowStep(name="Second", depends_on=(0,))])


@dataclass
class HeldThenFails:
    """Signals `running`, waits for `release`, then raises: a first delivery that times
    out in Lambda's eyes and fails long after its retry succeeded."""

    running: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def run(self, request: StepRequest) -> StepResult:
        self.running.set()
        assert self.release.wait(10)
        raise RuntimeError("the first delivery failed late")


@dataclass
class Counting:
    runs: int = 0
    inner: SimulatedExecutor = field(default_factory=SimulatedExecutor)

    def run(self, request: StepRequest) -> StepResult:
        self.runs += 1
        return self.inner.run(request)


def _start(db: DBService, ids: JobIds) -> None:
    WorkflowOrchestrator(db=db, executor=SimulatedExecutor()).start_job(ids.c, ids.j, TWO)


def test_a_late_first_attempt_never_replaces_its_retry(db: DBService,
                                                       local_s3: LocalS3) -> None:
    ids = JobIds.fresh()
    _start(db, ids)
    first = HeldThenFails()
    outcome: list[ExecutionStep] = []
    thread = threading.Thread(target=lambda: outcome.append(StepProcessor(
        db=db_for(local_s3), executor=first).process_step(ids.c, ids.j, TWO, 0,
                                                          attempt_id="req-1")))
    thread.start()
    assert first.running.wait(10)  # attempt 1 claimed and is inside its work
    retry = StepProcessor(db=db, executor=SimulatedExecutor()).process_step(
        ids.c, ids.j, TWO, 0, attempt_id="req-2")
    consumer = StepProcessor(db=db, executor=SimulatedExecutor()).process_step(
        ids.c, ids.j, TWO, 1)
    assert retry.success and retry.attempt == 2
    assert consumer.input["context_orders"] == [1]  # step 2 built on the retry's output
    first.release.set()
    thread.join(10)
    assert not thread.is_alive()
    stored = stored_json(local_s3, ids.steps_key)[0]
    assert (stored["success"], stored["attempt"], stored["attempt_id"]) == (True, 2, "req-2")
    assert stored["output"] == retry.output
    assert outcome[0].attempt_id == "req-2"  # the late attempt is told which record stays


def test_a_duplicate_delivery_after_success_does_not_run_again(db: DBService) -> None:
    ids = JobIds.fresh()
    _start(db, ids)
    executor = Counting()
    first = StepProcessor(db=db, executor=executor).process_step(ids.c, ids.j, TWO, 0,
                                                                 attempt_id="a")
    again = StepProcessor(db=db, executor=executor).process_step(ids.c, ids.j, TWO, 0,
                                                                 attempt_id="b")
    assert executor.runs == 1
    assert again == first
    # The duplicate claims nothing: a dependent never waits for an attempt that will
    # not record.
    assert db.get_job(ids.c, ids.j).attempts == {"1": 1}
    consumer = StepProcessor(db=db, executor=executor, dependency_timeout=0.0).process_step(
        ids.c, ids.j, TWO, 1)
    assert consumer.success and consumer.input["context_orders"] == [1]


@dataclass
class HeldThenSucceeds:
    """A rerun held inside its work until `release`, then succeeding."""

    running: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    inner: SimulatedExecutor = field(default_factory=SimulatedExecutor)

    def run(self, request: StepRequest) -> StepResult:
        self.running.set()
        assert self.release.wait(10)
        return self.inner.run(request)


def test_a_dependency_from_a_previous_run_does_not_count_while_its_rerun_is_in_flight(
        db: DBService, local_s3: LocalS3) -> None:
    """Step 1's first run failed; its rerun has claimed attempt 2 and is still working
    when step 2 looks for its dependency. Step 2 waits for the rerun's record and is
    built on its output, not on the previous run's failure."""
    ids = JobIds.fresh()
    _start(db, ids)
    failing = HeldThenFails()
    failing.release.set()
    first = StepProcessor(db=db, executor=failing).process_step(ids.c, ids.j, TWO, 0)
    assert not first.success and first.attempt == 1
    rerun = HeldThenSucceeds()
    thread = threading.Thread(target=lambda: StepProcessor(
        db=db_for(local_s3), executor=rerun).process_step(ids.c, ids.j, TWO, 0))
    thread.start()
    assert rerun.running.wait(10)  # attempt 2 claimed, not recorded

    polls: list[float] = []

    def sleep(seconds: float) -> None:  # step 2 is waiting: let the rerun finish
        polls.append(seconds)
        rerun.release.set()
        thread.join(10)

    consumer = StepProcessor(db=db, executor=SimulatedExecutor(), sleep=sleep,
                             dependency_timeout=30.0).process_step(ids.c, ids.j, TWO, 1)
    assert not thread.is_alive()
    assert polls  # it did wait: the failed attempt 1 was not taken for the dependency
    assert consumer.success and consumer.input["context_orders"] == [1]
    [step1, _] = db.get_execution_steps(ids.c, ids.j)
    assert (step1.success, step1.attempt) == (True, 2)


def test_a_newer_attempt_replaces_an_older_failure() -> None:
    failed = ExecutionStep(step_order=1, step_type="ai_generation", success=False,
                           error="boom", attempt=1)
    retried = ExecutionStep(step_order=1, step_type="ai_generation", output="ok", attempt=2)
    assert upsert_step([failed.to_dict()], retried, key="k")[0]["output"] == "ok"
    # ... and not the other way round, nor a later duplicate over a success:
    assert upsert_step([retried.to_dict()], failed, key="k")[0]["attempt"] == 2
    late = ExecutionStep(step_order=1, step_type="ai_generation", output="late", attempt=3)
    assert upsert_step([retried.to_dict()], late, key="k")[0]["output"] == "ok"
    # A record without an attempt (old writers, edits) replaces, as it always did.
    plain = ExecutionStep(step_order=1, step_type="ai_generation", output="edited")
    assert upsert_step([retried.to_dict()], plain, key="k")[0]["output"] == "edited"


def test_records_of_old_writers_keep_their_shape() -> None:
    old = {"step_order": 1, "step_type": "ai_generation", "output": "x"}
    record = ExecutionStep.from_dict(old).to_dict()
    assert "attempt" not in record and "attempt_id" not in record


def test_a_success_counts_for_its_dependents_while_a_duplicate_is_still_running(
        db: DBService, local_s3: LocalS3) -> None:
    """Two deliveries of step 1 both claimed (1, then 2) before either recorded; the
    first succeeds. Its success stays whatever the second records, so step 2 may be
    built on it at once: it does not wait for attempt 2 (it would wait in vain)."""
    ids = JobIds.fresh()
    _start(db, ids)
    first, second = HeldThenSucceeds(), HeldThenSucceeds()
    threads = [threading.Thread(target=lambda e=executor: StepProcessor(
        db=db_for(local_s3), executor=e).process_step(ids.c, ids.j, TWO, 0))
        for executor in (first, second)]
    threads[0].start()
    assert first.running.wait(10)
    threads[1].start()
    assert second.running.wait(10)  # attempt 2 claimed too
    first.release.set()
    threads[0].join(10)
    consumer = StepProcessor(db=db, executor=SimulatedExecutor(),
                             dependency_timeout=0.0).process_step(ids.c, ids.j, TWO, 1)
    second.release.set()
    threads[1].join(10)
    assert consumer.success and consumer.input["context_orders"] == [1]
    assert db.get_job(ids.c, ids.j).attempts == {"1": 2, "2": 1}
    assert db.get_execution_steps(ids.c, ids.j)[0].attempt == 1  # the first success stays


def test_a_success_is_final_and_a_failure_provisional_whatever_lands_first() -> None:
    """Two deliveries at once: attempt 2 fails fast, attempt 1 succeeds slowly. The
    success stays in either order of the writes (it used to depend on which landed)."""
    slow_success = ExecutionStep(step_order=1, step_type="ai_generation", output="ok",
                                 attempt=1)
    fast_failure = ExecutionStep(step_order=1, step_type="ai_generation", success=False,
                                 error="rate limited", attempt=2)
    for first, second in ((fast_failure, slow_success), (slow_success, fast_failure)):
        [stored] = upsert_step(upsert_step([], first, key="k"), second, key="k")
        assert (stored["success"], stored["attempt"]) == (True, 1)


def test_a_later_page_replaces_an_earlier_one_even_a_success() -> None:
    """A page's later attempt read the steps later: it is built from at least as much.
    An earlier attempt's page, landing late, never replaces it."""
    early = ExecutionStep(step_order=10, step_type="html_generation", output="from [2]",
                          attempt=1)
    late = ExecutionStep(step_order=10, step_type="html_generation", output="from [1, 2]",
                         attempt=2)
    assert upsert_step([early.to_dict()], late, key="k")[0]["output"] == "from [1, 2]"
    assert upsert_step([late.to_dict()], early, key="k")[0]["output"] == "from [1, 2]"
