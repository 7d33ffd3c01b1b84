"""The Lambda entry points, called as Lambda calls them: `handler(event, context)`, one
invocation per step, concurrently, and with one step delivered twice."""

from __future__ import annotations

import itertools
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import tenacity

from s3store import NotFoundError, RetryPolicy
from s3store.testing import LocalS3
from tests.worker.helpers import NINE_INDEPENDENT_STEPS, JobIds, db_for, stored_json
from worker_integration import (
    DependencyTimeoutError,
    ExecutionStep,
    JobStatus,
    SimulatedExecutor,
    StepRequest,
    StepResult,
    Workflow,
    WorkflowStep,
)
from worker_integration.demo.run import DEMO_WORKFLOW
from worker_integration.lambda_handler import (
    Handlers,
    InvalidEventError,
    InvocationTimeError,
    _Until,
)
from worker_integration.services.job_completion_service import JobCompletionService
from worker_integration.services.step_processor import StepProcessor

_IDS = itertools.count(1)


@dataclass
class FakeContext:
    """Lambda's context: a fresh request id per invocation, the time left."""

    remaining_ms: int = 300_000
    aws_request_id: str = field(default_factory=lambda: f"req-{next(_IDS)}")

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass
class Counting:
    """Counts the steps it runs (per step order), each a simulated call."""

    inner: SimulatedExecutor = field(default_factory=lambda: SimulatedExecutor(delay=0.02))
    runs: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, request: StepRequest) -> StepResult:
        with self.lock:
            self.runs[request.step_order] = self.runs.get(request.step_order, 0) + 1
        return self.inner.run(request)


@pytest.fixture
def workflows(tmp_path: Path) -> Path:
    (tmp_path / "nine.json").write_text(json.dumps(NINE_INDEPENDENT_STEPS.to_definition()))
    (tmp_path / "demo.json").write_text(json.dumps(DEMO_WORKFLOW.to_definition()))
    return tmp_path


def _handlers(s3: LocalS3, workflows: Path, executor: Any = None, **options: Any) -> Handlers:
    options.setdefault("poll_interval", 0.02)
    return Handlers(client=s3.client(), bucket=s3.bucket, workflows=workflows,
                    executor=executor or Counting(),
                    retry=RetryPolicy(max_attempts=500, base_delay=0.001, max_delay=0.02),
                    **options)


def _event(ids: JobIds, workflow: str = "demo", **fields: Any) -> dict[str, Any]:
    return {"customer_id": ids.c, "job_id": ids.j, "workflow": workflow, **fields}


def _nine_steps_run(s3: LocalS3, workflows: Path,
                    steps: int) -> tuple[JobIds, Counting, Handlers]:
    """A "nine" job started, its first `steps` steps run one after another."""
    ids = JobIds.fresh()
    executor = Counting()
    handlers = _handlers(s3, workflows, executor)
    handlers.start(_event(ids, "nine"), FakeContext())
    for index in range(steps):
        handlers.step(_event(ids, "nine", step_index=index), FakeContext())
    return ids, executor, handlers


def test_the_incidents_job_as_concurrent_invocations_one_delivered_twice(
        local_s3: LocalS3, workflows: Path) -> None:
    """Nine step invocations at once, step 4 delivered twice at the same time, the fan-in
    by whichever step records last: the job completes with exactly its ten records."""
    ids = JobIds.fresh()
    executor = Counting()
    handlers = _handlers(local_s3, workflows, executor)
    started = handlers.start(_event(ids), FakeContext())
    assert started == {"customer_id": ids.c, "job_id": ids.j, "status": "processing",
                       "expected_steps": 10}
    assert handlers.start(_event(ids), FakeContext()) == started  # delivered twice: the same
    events = [_event(ids, step_index=index) for index in [*range(9), 3]]
    with ThreadPoolExecutor(max_workers=len(events)) as pool:
        results = list(pool.map(lambda e: handlers.step(e, FakeContext()), events))

    steps = db_for(local_s3).get_execution_steps(ids.c, ids.j)
    assert [s.identity for s in steps] == list(DEMO_WORKFLOW.expected_steps)
    assert all(s.success for s in steps)
    job = db_for(local_s3).get_job(ids.c, ids.j)
    assert job.status is JobStatus.COMPLETED
    assert any(r["job_status"] == "completed" for r in results)  # someone fanned in
    assert all(r["success"] for r in results)
    # The duplicate either found the step recorded and ran nothing, or ran as a newer
    # attempt: the first success stays (consumers may have read it). Never two records.
    step4 = steps[3]
    assert step4.attempt is not None and step4.attempt <= job.attempts["4"]
    assert executor.runs[4] == job.attempts["4"]
    # The page runs once per fan-in: two steps recording last at the same moment may both
    # fan in (at least once; see the next test), each as a claimed attempt.
    html = DEMO_WORKFLOW.html_generation_order
    assert executor.runs[html] == job.attempts[str(html)] >= 1
    assert all(executor.runs[order] == 1 for order in executor.runs if order not in (4, html))
    deliveries = [r for r in results if r["step_order"] == 4]
    assert {r["attempt_id"] for r in deliveries} == {step4.attempt_id}  # told what stays


def test_a_late_duplicate_after_success_runs_nothing(local_s3: LocalS3,
                                                     workflows: Path) -> None:
    ids = JobIds.fresh()
    executor = Counting()
    handlers = _handlers(local_s3, workflows, executor)
    handlers.start(_event(ids, "nine"), FakeContext())
    first = handlers.step(_event(ids, "nine", step_index=0), FakeContext())
    body = stored_json(local_s3, ids.steps_key)
    again = handlers.step(_event(ids, "nine", step_index=0), FakeContext())
    assert executor.runs == {1: 1}
    assert again == first
    assert stored_json(local_s3, ids.steps_key) == body


def test_without_fan_in_the_orchestrator_runs_html_and_the_gate_holds(
        local_s3: LocalS3, workflows: Path) -> None:
    ids = JobIds.fresh()
    handlers = _handlers(local_s3, workflows)
    handlers.start(_event(ids, "nine"), FakeContext())
    for index in range(8):
        result = handlers.step(_event(ids, "nine", step_index=index, fan_in=False),
                               FakeContext())
        assert (result["all_steps_recorded"], result["job_status"]) == (False, None)
    # Step 9 is missing: the page waits out the invocation's time, the job stays open.
    with pytest.raises(DependencyTimeoutError):
        _handlers(local_s3, workflows, safety_margin=1.0).html(
            _event(ids, "nine"), FakeContext(remaining_ms=1_100))
    assert db_for(local_s3).get_job(ids.c, ids.j).status is JobStatus.PROCESSING
    last = handlers.step(_event(ids, "nine", step_index=8, fan_in=False), FakeContext())
    assert (last["all_steps_recorded"], last["job_status"]) == (True, None)
    assert handlers.html(_event(ids, "nine"), FakeContext()) == {
        "customer_id": ids.c, "job_id": ids.j, "job_status": "completed"}
    assert [s.step_order for s in db_for(local_s3).get_execution_steps(ids.c, ids.j)] == (
        list(range(1, 11)))


def test_without_waiting_a_step_whose_dependencies_are_missing_returns_at_once(
        local_s3: LocalS3, workflows: Path) -> None:
    """`"wait": false`: no billed idle time. The step is neither claimed nor run until
    its dependencies are recorded; then it runs as usual."""
    ids = JobIds.fresh()
    executor = Counting()
    handlers = _handlers(local_s3, workflows, executor, sleep=_never_sleeps)
    handlers.start(_event(ids), FakeContext())
    offer_angle = _event(ids, step_index=3, wait=False)  # depends on steps 0 and 2
    handlers.step(_event(ids, step_index=0), FakeContext())
    writes = [r for r in local_s3.requests if r.method == "PUT"]
    assert handlers.step(offer_angle, FakeContext()) == {
        "customer_id": ids.c, "job_id": ids.j, "step_order": 4,
        "status": "dependencies_not_recorded", "missing": [3]}
    assert [r for r in local_s3.requests if r.method == "PUT"] == writes  # nothing written
    assert "4" not in db_for(local_s3).get_job(ids.c, ids.j).attempts
    handlers.step(_event(ids, step_index=2), FakeContext())
    done = handlers.step(offer_angle, FakeContext())
    assert (done["status"], done["success"], done["attempt"]) == ("recorded", True, 1)
    assert executor.runs == {1: 1, 3: 1, 4: 1}


def test_without_waiting_a_duplicate_of_a_recorded_step_is_answered_by_its_record(
        local_s3: LocalS3, workflows: Path) -> None:
    """A step already recorded is answered by its record, even while one of its
    dependencies has a rerun in flight (it used to report the dependency missing)."""
    ids = JobIds.fresh()
    failing = Counting(inner=SimulatedExecutor(fail_steps=frozenset({"Pain points"})))
    handlers = _handlers(local_s3, workflows, failing, sleep=_never_sleeps)
    handlers.start(_event(ids), FakeContext())
    for index in (0, 2, 3):  # "Pain points" (order 3) fails; order 4 is built without it
        handlers.step(_event(ids, step_index=index), FakeContext())
    db_for(local_s3).claim_attempt(ids.c, ids.j, 3)  # a rerun of order 3 is in flight
    again = handlers.step(_event(ids, step_index=3, wait=False), FakeContext())
    assert (again["status"], again["success"], again["attempt"]) == ("recorded", True, 1)


def _never_sleeps(seconds: float) -> None:
    raise AssertionError(f"a handler slept {seconds}s")


BAD_EVENTS: dict[str, tuple[Any, str]] = {
    "not-an-object": (["cust"], "event"),
    "unknown-field": ({"customer_id": "c", "job_id": "j", "workflow": "nine",
                       "step_index": 0, "workflow_pickle": "..."}, "workflow_pickle"),
    "hostile-customer": ({"customer_id": "../x", "job_id": "j", "workflow": "nine",
                          "step_index": 0}, "customer_id"),
    "job-not-a-string": ({"customer_id": "c", "job_id": 7, "workflow": "nine",
                          "step_index": 0}, "job_id"),
    "no-step-index": ({"customer_id": "c", "job_id": "j", "workflow": "nine"}, "step_index"),
    "negative-step-index": ({"customer_id": "c", "job_id": "j", "workflow": "nine",
                             "step_index": -1}, "step_index"),
    "bool-step-index": ({"customer_id": "c", "job_id": "j", "workflow": "nine",
                         "step_index": True}, "step_index"),
    "step-index-past-the-workflow": ({"customer_id": "c", "job_id": "j", "workflow": "nine",
                                      "step_index": 9}, "step_index"),
    "workflow-a-path": ({"customer_id": "c", "job_id": "j", "workflow": "../nine",
                         "step_index": 0}, "workflow"),
    "unknown-workflow": ({"customer_id": "c", "job_id": "j", "workflow": "other",
                          "step_index": 0}, "workflow"),
    "empty-attempt-id": ({"customer_id": "c", "job_id": "j", "workflow": "nine",
                          "step_index": 0, "attempt_id": ""}, "attempt_id"),
    "fan-in-a-string": ({"customer_id": "c", "job_id": "j", "workflow": "nine",
                         "step_index": 0, "fan_in": "no"}, "fan_in"),
    "wait-a-number": ({"customer_id": "c", "job_id": "j", "workflow": "nine",
                       "step_index": 0, "wait": 0}, "wait"),
}


@pytest.mark.parametrize(("event", "where"), BAD_EVENTS.values(), ids=BAD_EVENTS.keys())
def test_a_bad_event_is_refused_before_any_request(local_s3: LocalS3, workflows: Path,
                                                   event: Any, where: str) -> None:
    handlers = _handlers(local_s3, workflows)
    before = len(local_s3.requests)
    with pytest.raises(InvalidEventError) as caught:
        handlers.step(event, FakeContext())
    assert caught.value.field == where
    assert len(local_s3.requests) == before


def test_start_and_html_events_take_no_step_index(local_s3: LocalS3, workflows: Path) -> None:
    handlers = _handlers(local_s3, workflows)
    event = {"customer_id": "c", "job_id": "j", "workflow": "nine", "step_index": 0}
    for handler in (handlers.start, handlers.html):
        with pytest.raises(InvalidEventError) as caught:
            handler(event, FakeContext())
        assert caught.value.field == "step_index"


def test_the_time_left_is_the_stores_deadline_and_too_little_starts_nothing(
        local_s3: LocalS3, workflows: Path) -> None:
    handlers = _handlers(local_s3, workflows, safety_margin=2.0)
    ids = JobIds.fresh()
    before = len(local_s3.requests)
    with pytest.raises(InvocationTimeError):
        handlers.step(_event(ids, "nine", step_index=0), FakeContext(remaining_ms=1_999))
    assert len(local_s3.requests) == before


def test_from_environment_needs_a_bucket(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="S3STORE_BUCKET"):
        Handlers.from_environment(executor=SimulatedExecutor(), environ={})
    handlers = Handlers.from_environment(executor=SimulatedExecutor(), environ={
        "S3STORE_BUCKET": "b", "WORKER_WORKFLOWS": str(tmp_path),
        "AWS_DEFAULT_REGION": "us-east-1"})
    assert (handlers.bucket, handlers.workflows) == ("b", tmp_path)


# -- found by review: at-least-once delivery of the fan-in and of start -------------------

TWO = Workflow.of([WorkflowStep(name="A", model="m"), WorkflowStep(name="B", model="m")])


@dataclass
class FirstAFailsFirstPageHeld:
    """Step A fails once; the first page is held inside its work until `release`."""

    inner: SimulatedExecutor = field(default_factory=SimulatedExecutor)
    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    a_runs: int = 0
    pages: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, request: StepRequest) -> StepResult:
        with self.lock:
            if request.step_name == "A":
                self.a_runs += 1
                if self.a_runs == 1:
                    raise RuntimeError("transient model error")
            first_page = request.step_type == "html_generation" and self.pages == 0
            self.pages += request.step_type == "html_generation"
        if first_page:
            self.entered.set()
            assert self.release.wait(10)
        return self.inner.run(request)


@pytest.fixture
def two(workflows: Path) -> Path:
    (workflows / "two.json").write_text(json.dumps(TWO.to_definition()))
    return workflows


def test_a_slow_fan_in_never_replaces_the_page_of_a_later_one(local_s3: LocalS3,
                                                               two: Path) -> None:
    """B's fan-in builds the page while A has failed; A's retry succeeds and its own fan-in
    writes the page with A. B's page, landing last, used to replace it: the completed
    job's page left out a step that succeeded. The later attempt's page stays."""
    ids = JobIds.fresh()
    executor = FirstAFailsFirstPageHeld()
    handlers = _handlers(local_s3, two, executor)
    handlers.start(_event(ids, "two"), FakeContext())
    assert not handlers.step(_event(ids, "two", step_index=0), FakeContext())["success"]
    slow: list[dict[str, Any]] = []
    thread = threading.Thread(target=lambda: slow.append(
        handlers.step(_event(ids, "two", step_index=1), FakeContext())))
    thread.start()
    assert executor.entered.wait(10)  # B's fan-in is building its page, A failed
    retry = handlers.step(_event(ids, "two", step_index=0), FakeContext())
    assert (retry["success"], retry["job_status"]) == (True, "completed")
    executor.release.set()
    thread.join(10)
    page = db_for(local_s3).get_execution_steps(ids.c, ids.j)[-1]
    assert page.step_type == "html_generation"
    assert page.input["context_orders"] == [1, 2]
    assert slow[0]["job_status"] == "completed"


def test_a_delivery_after_completion_runs_nothing(local_s3: LocalS3, workflows: Path) -> None:
    ids, executor, handlers = _nine_steps_run(local_s3, workflows, 9)
    assert executor.runs[10] == 1
    job = db_for(local_s3).get_job(ids.c, ids.j)
    body = stored_json(local_s3, ids.steps_key)
    late = [handlers.step(_event(ids, "nine", step_index=8), FakeContext()),
            handlers.html(_event(ids, "nine"), FakeContext()),
            handlers.start(_event(ids, "nine"), FakeContext())]  # a late start too
    assert [r.get("job_status", r.get("status")) for r in late] == ["completed"] * 3
    assert executor.runs[10] == 1  # the page was not generated again
    assert stored_json(local_s3, ids.steps_key) == body
    assert db_for(local_s3).get_job(ids.c, ids.j) == job


def test_the_fan_in_uses_the_rule_of_the_pages_wait(local_s3: LocalS3, two: Path) -> None:
    """A failed step whose rerun has claimed a newer attempt, or a record of another type
    at a step's order, is not "recorded": the last step does not fan in (it used to, and
    then idled its whole time waiting for the page's dependencies)."""
    ids = JobIds.fresh()
    handlers = _handlers(local_s3, two, FirstAFailsFirstPageHeld(), sleep=_never_sleeps)
    db = db_for(local_s3)
    handlers.start(_event(ids, "two"), FakeContext())
    handlers.step(_event(ids, "two", step_index=0), FakeContext())  # A fails
    db.claim_attempt(ids.c, ids.j, 1)  # its rerun is in flight
    result = handlers.step(_event(ids, "two", step_index=1), FakeContext())
    assert (result["all_steps_recorded"], result["job_status"]) == (False, None)

    other = JobIds.fresh()
    handlers.start(_event(other, "two"), FakeContext())
    db.record_execution_step(other.c, other.j, ExecutionStep(
        step_order=1, step_type="html_generation", output="<html/>"))  # the incident's
    result = handlers.step(_event(other, "two", step_index=1), FakeContext())
    assert (result["all_steps_recorded"], result["job_status"]) == (False, None)


def test_a_job_started_before_expected_steps_is_finalised_with_the_events_workflow(
        local_s3: LocalS3, workflows: Path) -> None:
    ids = JobIds.fresh()
    db = db_for(local_s3)
    db.create_job(ids.c, ids.j)  # a record without expected_steps
    db.set_job_status(ids.c, ids.j, JobStatus.PROCESSING)
    handlers = _handlers(local_s3, workflows)
    results = [handlers.step(_event(ids, "nine", step_index=i), FakeContext())
               for i in range(9)]
    assert results[-1]["job_status"] == "completed"


def test_an_event_naming_another_workflow_than_the_jobs_is_refused(
        local_s3: LocalS3, two: Path) -> None:
    """A definition redeployed mid-job, a misrouted event: its records would be the
    incident's shape (html at another order). Refused, nothing written."""
    ids = JobIds.fresh()
    handlers = _handlers(local_s3, two)
    handlers.start(_event(ids, "nine"), FakeContext())
    for handler, event in ((handlers.step, _event(ids, "two", step_index=0)),
                           (handlers.html, _event(ids, "two"))):
        with pytest.raises(InvalidEventError) as caught:
            handler(event, FakeContext())
        assert caught.value.field == "workflow"
    assert db_for(local_s3).get_execution_steps(ids.c, ids.j) == []


def test_a_step_of_a_job_never_started_is_refused_before_it_runs(
        local_s3: LocalS3, workflows: Path) -> None:
    executor = Counting()
    with pytest.raises(NotFoundError):
        _handlers(local_s3, workflows, executor).step(
            _event(JobIds.fresh(), "nine", step_index=0), FakeContext())
    assert executor.runs == {}


def test_every_store_call_of_an_invocation_stops_at_its_end() -> None:
    """One deadline for the invocation, not one per call: a policy whose end has passed
    makes one attempt, however many it allows and however long its own deadline."""
    calls: list[int] = []

    def always_conflicts() -> None:
        calls.append(1)
        raise ValueError("conflict")

    policy = _Until.of(RetryPolicy(max_attempts=100, base_delay=0.0, max_delay=0.0,
                                   deadline=60.0), time.monotonic() - 1.0)
    with pytest.raises(tenacity.RetryError):
        policy.retrying(ValueError)(always_conflicts)
    assert len(calls) == 1
    later = _Until.of(RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0),
                      time.monotonic() + 3600)
    with pytest.raises(tenacity.RetryError):
        later.retrying(ValueError)(always_conflicts)
    assert len(calls) == 4  # the policy's own limits still hold


def test_two_steps_fanning_in_at_once_both_page_as_claimed_attempts_and_one_page_stays(
        local_s3: LocalS3, workflows: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The last two steps record at the same moment, both find every step recorded, and
    both fan in while the job is still processing (forced with barriers). The fan-in is
    at least once, never lost: each runs the page as an attempt it claimed, one page
    record stays (the newest attempt's), the job completes once. This is why the
    concurrent-invocations test counts the page's runs by its claimed attempts."""
    ids, executor, handlers = _nine_steps_run(local_s3, workflows, 7)
    recorded, paging = threading.Barrier(2, timeout=30), threading.Barrier(2, timeout=30)
    real_process = StepProcessor.process_step
    real_page = JobCompletionService.generate_html

    def process_then_meet(self: Any, *args: Any, **kwargs: Any) -> Any:
        record = real_process(self, *args, **kwargs)
        recorded.wait()  # both recorded before either looks at the job
        return record

    def meet_then_page(self: Any, *args: Any, **kwargs: Any) -> Any:
        paging.wait()  # both found the job processing
        return real_page(self, *args, **kwargs)

    monkeypatch.setattr(StepProcessor, "process_step", process_then_meet)
    monkeypatch.setattr(JobCompletionService, "generate_html", meet_then_page)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda i: handlers.step(_event(ids, "nine", step_index=i),
                                                        FakeContext()), [7, 8]))
    html = NINE_INDEPENDENT_STEPS.html_generation_order
    job = db_for(local_s3).get_job(ids.c, ids.j)
    steps = db_for(local_s3).get_execution_steps(ids.c, ids.j)
    assert [r["job_status"] for r in results] == ["completed", "completed"]
    assert job.status is JobStatus.COMPLETED
    assert executor.runs[html] == 2 == job.attempts[str(html)]
    pages = [s for s in steps if s.step_order == html]
    assert len(pages) == 1 and pages[0].attempt == 2 and pages[0].success
    assert [s.identity for s in steps] == list(NINE_INDEPENDENT_STEPS.expected_steps)
