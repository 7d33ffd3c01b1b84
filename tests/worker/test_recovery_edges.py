"""Recovery edges that the earlier suite let through: the order of versions it reads, and
a document deleted between recovery's read and its write (never re-created)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from s3store import JsonStore, NotFoundError
from s3store.testing import LocalS3
from tests.hooks import act_before
from worker_integration.db_service import execution_steps_key
from worker_integration.tools import recovery

CUSTOMER, JOB = "cust_1", "job_1"
KEY = execution_steps_key(CUSTOMER, JOB)


def step(order: int) -> dict[str, object]:
    return {"step_order": order, "step_type": "ai_generation", "output": f"out {order}"}


@pytest.fixture
def s3() -> Iterator[LocalS3]:
    with LocalS3(versioning=True) as local:
        yield local


def test_versions_are_read_oldest_first(s3: LocalS3) -> None:
    store = JsonStore(s3.client(), s3.bucket)
    def adding(order: int) -> Callable[[list[Any]], list[Any]]:
        return lambda steps: [*steps, step(order)]

    for order in range(1, 5):
        store.update(KEY, adding(order), default=[])
    client = s3.client()
    versions = recovery.read_versions(JsonStore(client, s3.bucket), client, KEY, page_size=2)
    assert [len(v.records or ()) for v in versions] == [1, 2, 3, 4]
    assert [v.last_modified for v in versions] == sorted(v.last_modified for v in versions)


def test_a_document_deleted_between_the_read_and_the_write_is_not_recreated(
        s3: LocalS3) -> None:
    client = s3.client()
    store = JsonStore(client, s3.bucket)
    store.update(KEY, lambda steps: [*steps, step(1), step(2)], default=[])
    store.update(KEY, lambda steps: [steps[1]])  # step 1 lost, as in the incident
    raw = s3.client()
    act_before(client, "PutObject", lambda _: raw.delete_object(Bucket=s3.bucket, Key=KEY))
    with pytest.raises(NotFoundError):
        recovery.recover_job(store, client, CUSTOMER, JOB, apply=True)
    with pytest.raises(NotFoundError):
        store.get(KEY)  # the delete stays done
