"""Pure logic: the records' validation and round trips, cost parsing, the job lifecycle,
workflows and the simulated executor."""

from __future__ import annotations

import json
from typing import Any

import pytest

import worker_integration
from worker_integration import (
    ExecutionStep,
    IllegalTransitionError,
    InvalidRecordError,
    JobRecord,
    JobStatus,
    SimulatedExecutor,
    SimulatedStepError,
    StepRequest,
    StepType,
    UsageInfo,
    Workflow,
    WorkflowStep,
)
from worker_integration.models import parse_cost_usd

OLD_RECORD: dict[str, Any] = {
    "step_order": 3,
    "step_type": "ai_generation",
    "step_name": "Pain points",
    "output": "…",
    "success": True,
    "usage_info": {"model": "gpt-4o", "input_tokens": 10, "output_tokens": 5,
                   "total_tokens": 15, "cost_usd": "0.0123", "service_type": "openai",
                   "cached_tokens": 2},
    "timestamp": "2024-11-02T10:00:00Z",
    "response_details": {"finish_reason": "stop", "id": "resp_1"},
}


def test_package_exports_what_it_lists() -> None:
    for name in worker_integration.__all__:
        assert hasattr(worker_integration, name), name


# -- cost_usd ------------------------------------------------------------------------------


@pytest.mark.parametrize(("stored", "expected"), [
    ("0.0123", 0.0123), (" 0.5 ", 0.5), ("0", 0.0), (0.0123, 0.0123), (2, 2.0), ("1e-4", 1e-4),
])
def test_cost_usd_reads_strings_and_numbers(stored: Any, expected: float) -> None:
    assert parse_cost_usd(stored) == expected
    assert isinstance(parse_cost_usd(stored), float)


@pytest.mark.parametrize("stored", ["abc", "", "nan", "inf", "-0.1", -1, True, None, [1]])
def test_cost_usd_refuses_what_is_not_a_cost(stored: Any) -> None:
    with pytest.raises(InvalidRecordError, match="cost_usd"):
        parse_cost_usd(stored)


def test_usage_info_writes_cost_as_a_number_and_keeps_unknown_fields() -> None:
    usage = UsageInfo.from_dict(OLD_RECORD["usage_info"])
    assert usage.cost_usd == 0.0123
    assert usage.extra == {"cached_tokens": 2}
    assert usage.to_dict() == {**OLD_RECORD["usage_info"], "cost_usd": 0.0123}
    assert json.dumps(usage.to_dict()["cost_usd"]) == "0.0123"


def test_usage_info_total_defaults_to_input_plus_output() -> None:
    assert UsageInfo.from_dict({"input_tokens": 7, "output_tokens": 3}).total_tokens == 10


@pytest.mark.parametrize("bad", [{"input_tokens": -1}, {"output_tokens": 1.5},
                                 {"total_tokens": "9"}, {"model": 4}])
def test_usage_info_refuses_bad_fields(bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidRecordError):
        UsageInfo.from_dict(bad)


# -- ExecutionStep -------------------------------------------------------------------------


def test_old_record_round_trips_with_its_unknown_fields() -> None:
    step = ExecutionStep.from_dict(OLD_RECORD)
    assert step.identity == (3, "ai_generation")
    assert step.extra == {"timestamp": "2024-11-02T10:00:00Z",
                          "response_details": {"finish_reason": "stop", "id": "resp_1"}}
    written = step.to_dict()
    for name, value in OLD_RECORD.items():
        if name != "usage_info":
            assert written[name] == value, name
    assert written["usage_info"]["cost_usd"] == 0.0123
    assert ExecutionStep.from_dict(written) == step


def test_step_type_enum_is_stored_as_its_value() -> None:
    step = ExecutionStep(step_order=10, step_type=StepType.HTML_GENERATION)
    assert json.dumps(step.to_dict()["step_type"]) == '"html_generation"'
    assert type(step.step_type) is str


def test_to_dict_is_a_fresh_copy() -> None:
    step = ExecutionStep(step_order=1, step_type="ai_generation", input={"a": [1]})
    step.to_dict()["input"]["a"].append(2)
    assert step.input == {"a": [1]}


@pytest.mark.parametrize(("fields", "field"), [
    ({"step_order": -1, "step_type": "ai_generation"}, "step_order"),
    ({"step_order": True, "step_type": "ai_generation"}, "step_order"),
    ({"step_order": "1", "step_type": "ai_generation"}, "step_order"),
    ({"step_order": 1, "step_type": ""}, "step_type"),
    ({"step_order": 3, "step_type": "form_submission"}, "step_order"),
    ({"step_order": 0, "step_type": "html_generation"}, "step_order"),
    ({"step_order": 1, "step_type": "ai_generation", "success": "yes"}, "success"),
    ({"step_order": 1, "step_type": "ai_generation", "image_urls": "http://x"}, "image_urls"),
    ({"step_order": 1, "step_type": "ai_generation", "duration_ms": -5}, "duration_ms"),
    ({"step_order": 1, "step_type": "ai_generation", "error": 3}, "error"),
    ({"step_order": 1, "step_type": "ai_generation", "usage_info": "free"}, "usage_info"),
])
def test_invalid_records_name_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRecordError) as caught:
        ExecutionStep.from_dict(fields)
    assert caught.value.field is not None
    assert caught.value.field.startswith(field)


def test_a_record_needs_order_and_type() -> None:
    with pytest.raises(InvalidRecordError, match="step_order and step_type"):
        ExecutionStep.from_dict({"step_order": 1})
    with pytest.raises(InvalidRecordError, match="JSON object"):
        ExecutionStep.from_dict([1])


def test_extra_cannot_shadow_a_known_field() -> None:
    with pytest.raises(InvalidRecordError, match="repeats known fields"):
        ExecutionStep(step_order=1, step_type="ai_generation", extra={"output": "x"})


def test_unknown_step_types_from_older_code_are_read() -> None:
    step = ExecutionStep.from_dict({"step_order": 2, "step_type": "workflow_step"})
    assert step.identity == (2, "workflow_step")


# -- the job record ------------------------------------------------------------------------


def _job(**changes: Any) -> JobRecord:
    fields: dict[str, Any] = {"customer_id": "c", "job_id": "j", "created_at": "t0",
                              "updated_at": "t0", "execution_steps_key": "c/jobs/j/x.json"}
    return JobRecord(**{**fields, **changes})


def test_job_moves_forward_and_records_when() -> None:
    job = _job().transition(JobStatus.PROCESSING, at="t1")
    assert (job.status, job.started_at, job.updated_at) == (JobStatus.PROCESSING, "t1", "t1")
    done = job.transition(JobStatus.COMPLETED, at="t2")
    assert (done.status, done.completed_at, done.error) == (JobStatus.COMPLETED, "t2", None)
    failed = job.transition(JobStatus.FAILED, at="t3", error="boom")
    assert (failed.status, failed.completed_at, failed.error) == (JobStatus.FAILED, "t3", "boom")
    assert _job().transition(JobStatus.FAILED, at="t1").status is JobStatus.FAILED


def test_same_status_is_a_no_op() -> None:
    job = _job(status="processing")
    assert job.transition(JobStatus.PROCESSING, at="later") is job


@pytest.mark.parametrize(("current", "requested"), [
    ("processing", "pending"), ("completed", "processing"), ("completed", "pending"),
    ("completed", "failed"), ("failed", "completed"), ("failed", "processing"),
    ("pending", "completed"),
])
def test_job_status_never_goes_backwards(current: str, requested: str) -> None:
    with pytest.raises(IllegalTransitionError) as caught:
        _job(status=current).transition(JobStatus(requested), at="t9")
    assert (caught.value.current, caught.value.requested) == (current, requested)


def test_job_round_trips_and_keeps_unknown_fields() -> None:
    job = _job(artifacts=("a1",), extra={"plan": "pro"})
    assert JobRecord.from_dict(job.to_dict()) == job
    assert job.to_dict()["plan"] == "pro"
    assert job.with_artifacts(("a1", "a2", "a2"), at="t5").artifacts == ("a1", "a2")
    assert job.with_artifacts(("a1",), at="t5") is job


@pytest.mark.parametrize("bad", [{"status": "done"}, {"job_id": ""}, {"artifacts": "a1"},
                                 {"error": 5}])
def test_invalid_job_records(bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidRecordError):
        JobRecord.from_dict({**_job().to_dict(), **bad})


def test_job_record_needs_its_fields() -> None:
    with pytest.raises(InvalidRecordError, match="missing fields"):
        JobRecord.from_dict({"customer_id": "c"})


# -- workflows -----------------------------------------------------------------------------


def test_orders_come_from_the_workflow() -> None:
    workflow = Workflow.of([WorkflowStep(name=f"s{n}") for n in range(9)])
    assert [workflow.step_order(i) for i in range(9)] == list(range(1, 10))
    assert workflow.html_generation_order == 10
    with pytest.raises(IndexError):
        workflow.step_order(9)


@pytest.mark.parametrize("depends_on", [(1,), (2,), (-1,), (5,)])
def test_dependencies_point_only_backwards(depends_on: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="may depend only on earlier steps"):
        Workflow.of([WorkflowStep(name="a"), WorkflowStep(name="b", depends_on=depends_on)])


def test_workflow_refuses_empty_and_unknown_types() -> None:
    with pytest.raises(ValueError, match="at least one step"):
        Workflow.of([])
    with pytest.raises(ValueError, match="step_type"):
        WorkflowStep(name="x", step_type="html_generation")


# -- the simulated executor ----------------------------------------------------------------


def _request(**changes: Any) -> StepRequest:
    fields: dict[str, Any] = {"customer_id": "c", "job_id": "j", "step_order": 2,
                              "step_type": "ai_generation", "step_name": "Outline",
                              "model": "gpt-4o", "context": {1: "earlier"}}
    return StepRequest(**{**fields, **changes})


def test_simulated_executor_says_so_and_is_deterministic() -> None:
    assert "SIMULATED" in (SimulatedExecutor.__doc__ or "")
    slept: list[float] = []
    executor = SimulatedExecutor(delay=0.25, sleep=slept.append)
    first, second = executor.run(_request()), executor.run(_request())
    assert first == second
    assert slept == [0.25, 0.25]
    assert first.usage is not None
    assert first.usage.total_tokens == first.usage.input_tokens + first.usage.output_tokens > 0
    assert first.usage.cost_usd > 0
    assert first.artifact_id is not None
    assert executor.run(_request(step_name="Other")).output != first.output


def test_simulated_webhook_has_no_usage_and_failures_raise() -> None:
    webhook = SimulatedExecutor().run(_request(step_type="webhook"))
    assert webhook.usage is None
    assert webhook.artifact_id is None
    with pytest.raises(SimulatedStepError, match="Outline"):
        SimulatedExecutor(fail_steps=frozenset({"Outline"})).run(_request())
