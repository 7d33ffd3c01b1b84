"""Bad input at the worker's level gets a clear, typed error naming the key or id, and
changes nothing (the store's own bad input: `tests/store/test_bad_input.py`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, cast

import pytest

from s3store import InvalidKeyError, InvalidValueError, JsonStore, RetryPolicy
from s3store.testing import LocalS3
from tests.helpers import stored_or_none, writes_accepted
from worker_integration import DBService, ExecutionStep

NO_WAIT = RetryPolicy(max_attempts=5, base_delay=0.0, max_delay=0.0, deadline=None,
                      sleep=lambda _seconds: None)


@pytest.mark.parametrize("change", [lambda step: None, lambda step: step.to_dict()],
                         ids=["returns-None", "returns-a-dict"])
def test_a_worker_edit_returning_no_step_raises_and_nothing_is_written(
        local_s3: LocalS3, change: Callable[[ExecutionStep], Any]) -> None:
    """At worker level the caller's mutation is `edit_execution_step`'s `change`. A
    `change` that returns something other than an `ExecutionStep` is an
    `InvalidValueError` naming the steps' key, and writes nothing."""
    client = local_s3.client()
    db = DBService(JsonStore(local_s3.client(), local_s3.bucket, retry=NO_WAIT))
    customer_id, job_id = "cust_edit", f"job_{uuid.uuid4().hex[:12]}"
    db.record_execution_step(customer_id, job_id,
                             ExecutionStep(step_order=1, step_type="ai_generation"))
    steps_key = f"{customer_id}/jobs/{job_id}/execution_steps.json"
    before = stored_or_none(client, local_s3.bucket, steps_key)
    writes = writes_accepted(local_s3)
    with pytest.raises(InvalidValueError) as caught:
        db.edit_execution_step(customer_id, job_id, step_order=1, step_type="ai_generation",
                               change=cast(Callable[[ExecutionStep], ExecutionStep], change))
    assert caught.value.key == steps_key
    assert writes_accepted(local_s3) == writes
    assert stored_or_none(client, local_s3.bucket, steps_key) == before


WORKER_BAD_IDS = ["a/b", "..", "", "x" * 129, "job\n", "job\x00", "jöb", "\u2215"]


@pytest.mark.parametrize("bad_id", WORKER_BAD_IDS,
                         ids=[f"bad-id-{n}" for n in range(len(WORKER_BAD_IDS))])
def test_worker_id_errors_name_the_refused_id(local_s3: LocalS3, bad_id: str) -> None:
    """Complements test_hostile_ids_are_refused_before_any_request (which checks every
    DBService method sends nothing): the error names the id it refused."""
    db = DBService(JsonStore(local_s3.client(), local_s3.bucket, retry=NO_WAIT))
    step = ExecutionStep(step_order=1, step_type="ai_generation")
    requests = len(local_s3.requests)
    for customer_id, job_id in ((bad_id, "job_1"), ("cust_1", bad_id)):
        with pytest.raises(InvalidKeyError) as on_record:
            db.record_execution_step(customer_id, job_id, step)
        with pytest.raises(InvalidKeyError) as on_get:
            db.get_execution_steps(customer_id, job_id)
        for caught in (on_record, on_get):
            assert caught.value.key == bad_id  # as given: not a repr, not cut short
            assert repr(bad_id)[:40] in str(caught.value)
    assert len(local_s3.requests) == requests
