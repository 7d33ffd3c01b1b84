"""Records as the frontend reads them: the fields the incident report lists, in every
record the worker writes, and one type of `usage_info.cost_usd` across the array — also
when other writers' records, stored before, hold it as a decimal string."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from s3store.testing import LocalS3
from tests.worker.helpers import JobIds, db_for, stored_json
from worker_integration import (
    ExecutionStep,
    SimulatedExecutor,
    UsageInfo,
    WorkflowOrchestrator,
)
from worker_integration.db_service import upsert_step
from worker_integration.demo.run import DEMO_WORKFLOW

# What the frontend reads of a step (the report's "Expected Behavior"), and of its usage.
FRONTEND_FIELDS = ("step_order", "step_type", "duration_ms", "usage_info", "artifact_id",
                   "output", "started_at", "completed_at")


def _old_record(order: int, cost: Any) -> dict[str, Any]:
    """A record of the old worker, in the shape the report lists (cost as it stored it)."""
    return {"step_order": order, "step_type": "ai_generation", "step_name": f"Step {order}",
            "duration_ms": 1200, "artifact_id": f"art_old_{order}", "output": "old",
            "usage_info": {"model": "gpt-4o", "total_tokens": 300, "cost_usd": cost},
            "started_at": "2025-01-31T09:00:00Z", "completed_at": "2025-01-31T09:00:01Z"}


def _costs(records: list[dict[str, Any]]) -> list[Any]:
    return [r["usage_info"]["cost_usd"] for r in records if r.get("usage_info")]


def test_every_record_the_worker_writes_has_the_fields_the_frontend_reads(
        local_s3: LocalS3) -> None:
    ids = JobIds.fresh()
    db = db_for(local_s3)
    WorkflowOrchestrator(db=db, executor=SimulatedExecutor()).run_job(ids.c, ids.j,
                                                                      DEMO_WORKFLOW)
    records = stored_json(local_s3, ids.steps_key)
    assert len(records) == 10
    for record in records:
        assert set(FRONTEND_FIELDS) <= set(record), record["step_order"]
        assert isinstance(record["step_order"], int) and isinstance(record["step_type"], str)
        assert isinstance(record["duration_ms"], int) and record["duration_ms"] >= 0
        for name in ("started_at", "completed_at"):
            assert datetime.fromisoformat(record[name]).tzinfo is not None
        assert record["output"] is not None
        if record["step_type"] != "webhook":  # a webhook has no model: no usage, no artifact
            assert isinstance(record["artifact_id"], str)
            usage = record["usage_info"]
            assert isinstance(usage["total_tokens"], int)
            assert isinstance(usage["cost_usd"], float)
    assert {type(cost) for cost in _costs(records)} == {float}


def test_next_to_old_records_with_string_costs_new_ones_are_written_as_strings(
        local_s3: LocalS3) -> None:
    """The old worker stored `cost_usd` as a decimal string: the steps this worker adds
    to that job write theirs the same way, so the column has one type."""
    ids = JobIds.fresh()
    client = local_s3.client()
    old = [_old_record(1, "0.0123"), _old_record(2, "0.004")]
    client.put_object(Bucket=local_s3.bucket, Key=ids.steps_key, Body=json.dumps(old).encode())
    db = db_for(local_s3)
    usage = UsageInfo(model="gpt-4o", input_tokens=10, output_tokens=20, cost_usd=6.1e-05)
    db.record_execution_step(ids.c, ids.j, ExecutionStep(
        step_order=3, step_type="ai_generation", output="new", usage_info=usage))
    records = stored_json(local_s3, ids.steps_key)
    assert records[:2] == old  # the old records exactly as stored
    assert _costs(records) == ["0.0123", "0.004", "0.000061"]
    parsed = db.get_execution_steps(ids.c, ids.j)[2]
    assert parsed.usage_info is not None and parsed.usage_info.cost_usd == 6.1e-05
    assert Decimal(records[2]["usage_info"]["cost_usd"]) == Decimal("0.000061")


@pytest.mark.parametrize("others", [
    [],                                                      # a new job
    [_old_record(1, 0.01)],                                  # numbers already
    [_old_record(1, "0.01"), _old_record(2, 0.02)],          # mixed: numbers win
], ids=["alone", "numbers", "mixed"])
def test_otherwise_costs_are_written_as_numbers(others: list[dict[str, Any]]) -> None:
    usage = UsageInfo(model="m", input_tokens=1, output_tokens=1, cost_usd=0.5)
    step = ExecutionStep(step_order=3, step_type="ai_generation", usage_info=usage)
    [written] = [r for r in upsert_step(others, step, key="k") if r["step_order"] == 3]
    assert written["usage_info"]["cost_usd"] == 0.5


def test_a_record_without_a_cost_is_left_without_one() -> None:
    step = ExecutionStep(step_order=3, step_type="webhook")
    [written] = [r for r in upsert_step([_old_record(1, "0.01")], step, key="k")
                 if r["step_order"] == 3]
    assert written["usage_info"] is None


def test_the_record_replaced_does_not_keep_the_array_mixed() -> None:
    """Only the record being replaced has a number: the new one follows the others."""
    usage = UsageInfo(model="m", input_tokens=1, output_tokens=1, cost_usd=0.25)
    step = ExecutionStep(step_order=2, step_type="ai_generation", usage_info=usage)
    records = upsert_step([_old_record(1, "0.0123"), _old_record(2, 0.1)], step, key="k")
    assert _costs(records) == ["0.0123", "0.25"]
    alone = upsert_step([_old_record(2, "0.1")], step, key="k")  # an edit of an old record
    assert _costs(alone) == ["0.25"]
