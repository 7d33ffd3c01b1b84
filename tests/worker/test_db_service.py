"""DBService: the upsert mutation on its own, then the documents on a strict LocalS3 —
reruns, old records, corrupt objects, hostile ids and the job record."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from s3store import AlreadyExistsError, CorruptDocumentError, InvalidKeyError, NotFoundError
from s3store.testing import LocalS3
from tests.worker.helpers import JobIds, put_raw, raw_bytes, stored_json, writes
from worker_integration import (
    DBService,
    ExecutionStep,
    IllegalTransitionError,
    JobStatus,
    UsageInfo,
)
from worker_integration.db_service import execution_steps_key, upsert_step

KEY = "c/jobs/j/execution_steps.json"


def _step(order: int, step_type: str = "ai_generation", **fields: Any) -> ExecutionStep:
    return ExecutionStep(step_order=order, step_type=step_type, step_name=f"step {order}",
                         **fields)


def _raw(order: int, step_type: str = "ai_generation", **fields: Any) -> dict[str, Any]:
    return {"step_order": order, "step_type": step_type, **fields}


# -- the mutation, pure --------------------------------------------------------------------


def test_upsert_adds_in_order_and_leaves_other_records_as_they_are() -> None:
    current = [_raw(1, legacy={"x": 1}), _raw(4), _raw(9, "webhook")]
    snapshot = copy.deepcopy(current)
    result = upsert_step(current, _step(5), key=KEY)
    assert [r["step_order"] for r in result] == [1, 4, 5, 9]
    assert [r for r in result if r["step_order"] != 5] == snapshot
    assert result[0] is current[0]  # the very record read, not a rebuilt one


def test_upsert_replaces_the_same_identity_and_drops_its_duplicates() -> None:
    current = [_raw(2, output="old"), _raw(3), _raw(2, output="older duplicate")]
    result = upsert_step(current, _step(2, output="new"), key=KEY)
    assert [(r["step_order"], r.get("output")) for r in result] == [(2, "new"), (3, None)]


def test_upsert_keeps_one_order_with_two_types_apart() -> None:
    result = upsert_step([_raw(3, "ai_generation")], _step(3, "webhook"), key=KEY)
    assert [(r["step_order"], r["step_type"]) for r in result] == [
        (3, "ai_generation"), (3, "webhook")]


def test_upsert_sorts_an_unsorted_list() -> None:
    result = upsert_step([_raw(7), _raw(2)], _step(4), key=KEY)
    assert [r["step_order"] for r in result] == [2, 4, 7]


@pytest.mark.parametrize("current", [
    {"steps": []}, "[]", 3, None, [1, 2], [{"step_type": "ai_generation"}],
    [{"step_order": "1", "step_type": "ai_generation"}], [_raw(1), ["nested"]],
    [{"step_order": 1.5, "step_type": "ai_generation"}], [{"step_order": 1, "step_type": ""}],
])
def test_upsert_refuses_what_is_not_an_array_of_steps(current: Any) -> None:
    with pytest.raises(CorruptDocumentError) as caught:
        upsert_step(current, _step(1), key=KEY)
    assert caught.value.key == KEY


# -- recording on LocalS3 ------------------------------------------------------------------


def test_record_and_read_back(db: DBService, ids: JobIds, local_s3: LocalS3) -> None:
    assert db.get_execution_steps(ids.c, ids.j) == []
    db.record_execution_step(ids.c, ids.j, _step(2))
    returned = db.record_execution_step(ids.c, ids.j, _step(1))
    assert [s.step_order for s in returned] == [1, 2]
    assert db.get_execution_steps(ids.c, ids.j) == returned
    stored = stored_json(local_s3, ids.steps_key)
    assert isinstance(stored, list)
    assert [r["step_order"] for r in stored] == [1, 2]
    head = local_s3.client().head_object(Bucket=local_s3.bucket, Key=ids.steps_key)
    assert head["ContentType"] == "application/json"


def test_rerun_replaces_never_duplicates(db: DBService, ids: JobIds) -> None:
    db.record_execution_step(ids.c, ids.j, _step(3, output="first run"))
    db.record_execution_step(ids.c, ids.j, _step(4))
    steps = db.record_execution_step(ids.c, ids.j, _step(3, output="rerun", success=False,
                                                         error="timeout"))
    assert [(s.step_order, s.output, s.success) for s in steps] == [
        (3, "rerun", False), (4, None, True)]


def test_an_identical_rerun_writes_nothing(db: DBService, ids: JobIds,
                                           local_s3: LocalS3) -> None:
    db.record_execution_step(ids.c, ids.j, _step(3))
    before = writes(local_s3)
    db.record_execution_step(ids.c, ids.j, _step(3))
    assert writes(local_s3) == before


OLD_RECORDS: list[dict[str, Any]] = [
    {"step_order": 0, "step_type": "form_submission", "input": {"email": "a@b.c"},
     "timestamp": "2024-10-01T08:00:00Z"},
    {"step_order": 1, "step_type": "ai_generation", "step_name": "Research",
     "output": "R" * 50, "success": True, "model": "gpt-4o",
     "usage_info": {"model": "gpt-4o", "input_tokens": 120, "output_tokens": 80,
                    "total_tokens": 200, "cost_usd": "0.0123", "service_type": "openai",
                    "provider_extra": {"tier": 2}},
     "timestamp": "2024-10-01T08:00:03Z",
     "response_details": {"finish_reason": "stop", "id": "resp_9", "latency": 1.5},
     "image_urls": [], "artifact_id": None, "custom_flag": True, "scores": [1, 2.5, None]},
]


def test_old_records_survive_an_update_of_another_step(db: DBService, ids: JobIds,
                                                        local_s3: LocalS3) -> None:
    put_raw(local_s3, ids.steps_key, json.dumps(OLD_RECORDS, indent=2).encode())
    before = stored_json(local_s3, ids.steps_key)
    db.record_execution_step(ids.c, ids.j, _step(2, usage_info=UsageInfo(cost_usd=0.5)))
    after = stored_json(local_s3, ids.steps_key)
    assert after[:2] == before  # decoded JSON, value for value
    assert after[1]["usage_info"]["cost_usd"] == "0.0123"  # still the old string
    # The other costs of the array are strings: the new one is written as one too.
    assert after[2]["usage_info"]["cost_usd"] == "0.5"
    old = db.get_execution_steps(ids.c, ids.j)[1]
    assert old.usage_info is not None
    assert old.usage_info.cost_usd == 0.0123
    assert old.extra["response_details"] == OLD_RECORDS[1]["response_details"]


def _new_output(step: ExecutionStep) -> ExecutionStep:
    return ExecutionStep.from_dict({**step.to_dict(), "output": "edited"})


def test_edit_rewrites_one_step_in_place_keeping_its_unknown_fields(
        db: DBService, ids: JobIds, local_s3: LocalS3) -> None:
    put_raw(local_s3, ids.steps_key, json.dumps(OLD_RECORDS).encode())
    db.record_execution_step(ids.c, ids.j, _step(2))
    edited = db.edit_execution_step(ids.c, ids.j, step_order=1, step_type="ai_generation",
                                    change=_new_output)
    assert edited.output == "edited"
    after = stored_json(local_s3, ids.steps_key)
    assert after[0] == OLD_RECORDS[0]
    expected = {**OLD_RECORDS[1], "output": "edited"}  # cost_usd: the array's string type
    assert {name: after[1][name] for name in expected} == expected
    assert [r["step_order"] for r in after] == [0, 1, 2]
    with pytest.raises(NotFoundError):
        db.edit_execution_step(ids.c, ids.j, step_order=7, step_type="ai_generation",
                               change=_new_output)
    with pytest.raises(ValueError, match="identity"):
        db.edit_execution_step(ids.c, ids.j, step_order=2, step_type="ai_generation",
                               change=lambda step: _step(3))


@pytest.mark.parametrize("body", [
    b'{"steps": []}', b"not json at all", b"[1, 2, 3]", b'[{"step_type": "webhook"}]',
    b"\xff\xfe[]", b'"[]"', b"", b'[{"step_order": 1, "step_type": "ai_generation"}, 7]',
])
def test_a_corrupt_object_is_reported_and_left_byte_identical(
        db: DBService, ids: JobIds, local_s3: LocalS3, body: bytes) -> None:
    put_raw(local_s3, ids.steps_key, body)
    before_writes = writes(local_s3)
    with pytest.raises(CorruptDocumentError) as caught:
        db.record_execution_step(ids.c, ids.j, _step(1))
    assert caught.value.key == ids.steps_key
    with pytest.raises(CorruptDocumentError):
        db.get_execution_steps(ids.c, ids.j)
    assert raw_bytes(local_s3, ids.steps_key) == body
    assert writes(local_s3) == before_writes


HOSTILE_IDS = ["../x", "a/b", "", "\n", "job\n", "é", "jöb", "x" * 129, ".", "..", "a b",
               "a\x00b", "%2F", "a.json", " ", "job_1/../../other"]


def _calls(db: DBService, customer_id: str, job_id: str) -> list[Callable[[], object]]:
    return [
        lambda: db.record_execution_step(customer_id, job_id, _step(1)),
        lambda: db.get_execution_steps(customer_id, job_id),
        lambda: db.edit_execution_step(customer_id, job_id, step_order=1,
                                       step_type="ai_generation", change=_new_output),
        lambda: db.create_job(customer_id, job_id),
        lambda: db.ensure_job(customer_id, job_id),
        lambda: db.get_job(customer_id, job_id),
        lambda: db.set_job_status(customer_id, job_id, JobStatus.PROCESSING),
        lambda: db.add_job_artifacts(customer_id, job_id, ["a"]),
    ]


def test_hostile_ids_are_refused_before_any_request(db: DBService, local_s3: LocalS3) -> None:
    before = len(local_s3.requests)
    for bad in HOSTILE_IDS:
        for customer_id, job_id in ((bad, "job_1"), ("cust_1", bad)):
            for call in _calls(db, customer_id, job_id):
                with pytest.raises(InvalidKeyError):
                    call()
    assert len(local_s3.requests) == before


def test_longest_valid_ids_are_accepted(db: DBService) -> None:
    customer_id, job_id = "C" * 128, "job-_09AZaz" + "j" * 117
    assert execution_steps_key(customer_id, job_id).endswith("/execution_steps.json")
    db.record_execution_step(customer_id, job_id, _step(1))
    assert len(db.get_execution_steps(customer_id, job_id)) == 1


# -- the job record ------------------------------------------------------------------------


def test_job_record_lifecycle(db: DBService, ids: JobIds, local_s3: LocalS3) -> None:
    job = db.create_job(ids.c, ids.j, at="t0")
    assert job.status is JobStatus.PENDING
    assert job.execution_steps_key == ids.steps_key
    with pytest.raises(AlreadyExistsError):
        db.create_job(ids.c, ids.j)
    db.set_job_status(ids.c, ids.j, JobStatus.PROCESSING, at="t1")
    db.add_job_artifacts(ids.c, ids.j, ["a1", "a2"], at="t2")
    done = db.set_job_status(ids.c, ids.j, JobStatus.COMPLETED, at="t3")
    assert (done.status, done.started_at, done.completed_at) == (JobStatus.COMPLETED, "t1", "t3")
    assert done.artifacts == ("a1", "a2")
    assert db.get_job(ids.c, ids.j) == done
    assert stored_json(local_s3, ids.job_key)["status"] == "completed"


def test_ensure_job_creates_once_and_then_returns_what_is_stored(
        db: DBService, ids: JobIds, local_s3: LocalS3) -> None:
    first = db.ensure_job(ids.c, ids.j, at="t0")
    db.set_job_status(ids.c, ids.j, JobStatus.PROCESSING, at="t1")
    before = writes(local_s3)
    again = db.ensure_job(ids.c, ids.j, at="t2")
    assert writes(local_s3) == before
    assert (first.status, again.status, again.created_at) == (
        JobStatus.PENDING, JobStatus.PROCESSING, "t0")


def test_job_status_cannot_go_backwards_and_nothing_is_written(
        db: DBService, ids: JobIds, local_s3: LocalS3) -> None:
    db.create_job(ids.c, ids.j)
    db.set_job_status(ids.c, ids.j, JobStatus.PROCESSING)
    db.set_job_status(ids.c, ids.j, JobStatus.COMPLETED)
    before, before_writes = raw_bytes(local_s3, ids.job_key), writes(local_s3)
    for status in (JobStatus.PENDING, JobStatus.PROCESSING, JobStatus.FAILED):
        with pytest.raises(IllegalTransitionError):
            db.set_job_status(ids.c, ids.j, status)
    assert raw_bytes(local_s3, ids.job_key) == before
    assert writes(local_s3) == before_writes


def test_job_record_keeps_unknown_fields_and_reports_corruption(
        db: DBService, ids: JobIds, local_s3: LocalS3) -> None:
    job = db.create_job(ids.c, ids.j, at="t0")
    put_raw(local_s3, ids.job_key, json.dumps({**job.to_dict(), "plan": {"tier": "pro"}}).encode())
    db.set_job_status(ids.c, ids.j, JobStatus.PROCESSING)
    assert stored_json(local_s3, ids.job_key)["plan"] == {"tier": "pro"}
    put_raw(local_s3, ids.job_key, b'{"status": "processing"}')
    with pytest.raises(CorruptDocumentError) as caught:
        db.set_job_status(ids.c, ids.j, JobStatus.COMPLETED)
    assert caught.value.key == ids.job_key
    assert raw_bytes(local_s3, ids.job_key) == b'{"status": "processing"}'


def test_updating_a_missing_job_is_not_found(db: DBService, ids: JobIds) -> None:
    with pytest.raises(NotFoundError):
        db.set_job_status(ids.c, ids.j, JobStatus.PROCESSING)
    with pytest.raises(NotFoundError):
        db.get_job(ids.c, ids.j)
