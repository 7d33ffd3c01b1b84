"""Old records read leniently (issue: the worker as production runs it, defect 3).

Valid JSON that the frontend reads, in shapes this code never writes, must not block
the job: records other than the one being written are carried exactly as stored, and
a field this code cannot read is reported (WARNING), not fatal. This test failed on
the previous code: every later upsert raised CorruptDocumentError.
"""

from __future__ import annotations

import json
import logging

import pytest

from s3store import JsonStore
from s3store.testing import LocalS3
from tests.worker.helpers import NINE_INDEPENDENT_STEPS, JobIds, db_for, put_raw, stored_json
from worker_integration import ExecutionStep, InvalidRecordError, SimulatedExecutor, StepProcessor
from worker_integration.tools.audit import audit_job
from worker_integration.tools.job_listing import list_jobs

OLD = {"step_order": 2.0, "step_type": "ai_generation", "step_name": "Step 2",
       "output": "from the old worker", "started_at": 1733130000, "duration_ms": "1200",
       "error": {"message": "retried"},
       "usage_info": {"model": "gpt-4o", "cost_usd": None, "input_tokens": None,
                      "output_tokens": 12}}


def test_an_old_record_the_models_refuse_does_not_block_the_job(
        local_s3: LocalS3, caplog: pytest.LogCaptureFixture) -> None:
    ids = JobIds.fresh()
    put_raw(local_s3, ids.steps_key, json.dumps([OLD]).encode())
    db = db_for(local_s3)
    with caplog.at_level(logging.WARNING, logger="worker_integration"):
        StepProcessor(db=db, executor=SimulatedExecutor()).process_step(
            ids.c, ids.j, NINE_INDEPENDENT_STEPS, 0)
    stored = stored_json(local_s3, ids.steps_key)
    assert [r["step_order"] for r in stored] == [1, 2.0]
    assert stored[1] == OLD  # carried exactly as it was
    steps = db.get_execution_steps(ids.c, ids.j)
    old = steps[1]
    assert (old.identity, old.output, old.step_name) == ((2, "ai_generation"),
                                                         "from the old worker", "Step 2")
    assert old.started_at is None and old.duration_ms is None and old.error is None
    assert old.usage_info is not None and old.usage_info.output_tokens == 12
    warned = " ".join(r.getMessage() for r in caplog.records)
    for name in ("started_at", "duration_ms", "error", "usage_info.cost_usd",
                 "usage_info.input_tokens"):
        assert name in warned
    job = next(iter(list_jobs(JsonStore(local_s3.client(), local_s3.bucket),
                              prefix=f"{ids.c}/")))
    kinds = {f.kind for f in audit_job(JsonStore(local_s3.client(), local_s3.bucket),
                                       job).findings}
    assert "corrupt" not in kinds


@pytest.mark.parametrize("record", [
    {"step_order": 1.5, "step_type": "ai_generation"},
    {"step_order": -1, "step_type": "ai_generation"},
    {"step_order": 1},
    "a string",
])
def test_a_record_without_a_readable_identity_is_still_refused(record: object) -> None:
    with pytest.raises(InvalidRecordError):
        ExecutionStep.from_stored(record)
