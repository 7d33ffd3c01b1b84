"""Security: hostile customer and job ids never make `DBService` touch a key outside
`{customer_id}/jobs/{job_id}/`: each is refused before any request, or every request it
leads to stays under that prefix (the store's own security: `tests/store/test_security.py`).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import TYPE_CHECKING

from s3store import InvalidKeyError, JsonStore, RetryPolicy, S3StoreError
from s3store.testing import LocalS3
from worker_integration import DBService, ExecutionStep, JobStatus

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

NO_WAIT = RetryPolicy(max_attempts=5, base_delay=0.0, max_delay=0.0, deadline=None,
                      sleep=lambda _seconds: None)


def _all_keys(client: S3Client, bucket: str) -> set[str]:
    paginator = client.get_paginator("list_objects_v2")
    return {item["Key"] for page in paginator.paginate(Bucket=bucket)
            for item in page.get("Contents", [])}


# -- ids cannot make a key escape its job's prefix -----------------------------------------

HOSTILE_IDS = [
    "../other", "..", ".", "a/../../b", "a/b", "/abs", "", " ", "%2e%2e", "%2F", "a\\b",
    "\u2215", "a\u2215b", "\uff0f", "\u2044", "\u29f8", "\uff0e\uff0e",
    "a\x00b", "\x00", "job\n", "\r\n", "\t", "\x1b[2J", "x" * 129, "x" * 10_000,
    "jöb", "\u0430dmin", "job_1\u200b", "a.json", "*", "?", "#", "~",
]
ACCEPTED_CONTROLS = ["cust_ok", "job-ok", "-", "_", "X" * 128]
"""Ids that are valid, so that the "accepted" branch of the check runs for real."""


def _dbservice_calls(db: DBService, customer_id: str,
                     job_id: str) -> list[Callable[[], object]]:
    step = ExecutionStep(step_order=1, step_type="ai_generation")
    return [
        lambda: db.record_execution_step(customer_id, job_id, step),
        lambda: db.get_execution_steps(customer_id, job_id),
        lambda: db.edit_execution_step(customer_id, job_id, step_order=1,
                                       step_type="ai_generation", change=lambda s: s),
        lambda: db.create_job(customer_id, job_id),
        lambda: db.get_job(customer_id, job_id),
        lambda: db.set_job_status(customer_id, job_id, JobStatus.PROCESSING),
        lambda: db.add_job_artifacts(customer_id, job_id, ["artifact"]),
    ]


def _stays_under(key: str, prefix: str) -> bool:
    return (key.startswith(prefix) and posixpath.normpath(key) == key
            and not any(segment in ("", ".", "..") for segment in key.split("/")))


def test_hostile_ids_never_make_a_key_escape_the_jobs_prefix(local_s3: LocalS3) -> None:
    db = DBService(JsonStore(local_s3.client(), local_s3.bucket, retry=NO_WAIT))
    admin = local_s3.client()
    keys_before = _all_keys(admin, local_s3.bucket)
    refused, accepted = 0, 0
    pairs = [(bad, "job_1") for bad in HOSTILE_IDS] + [("cust_1", bad) for bad in HOSTILE_IDS]
    pairs += [(ok, "job_1") for ok in ACCEPTED_CONTROLS] + [("cust_1", ok)
                                                            for ok in ACCEPTED_CONTROLS]
    for customer_id, job_id in pairs:
        prefix = f"{customer_id}/jobs/{job_id}/"
        for call in _dbservice_calls(db, customer_id, job_id):
            start = len(local_s3.requests)
            try:
                call()
            except InvalidKeyError:
                refused += 1
                assert len(local_s3.requests) == start, (customer_id, job_id)
                continue
            except S3StoreError:
                pass  # e.g. NotFoundError for a job not created yet: the request was sent
            accepted += 1
            sent = local_s3.requests[start:]
            assert sent, (customer_id, job_id)
            assert all(_stays_under(r.key, prefix) for r in sent), (prefix, sent)
    assert refused == 2 * len(HOSTILE_IDS) * 7  # every hostile id, every method
    assert accepted == 2 * len(ACCEPTED_CONTROLS) * 7
    new_keys = _all_keys(admin, local_s3.bucket) - keys_before
    allowed = [f"{c}/jobs/{j}/" for c, j in pairs
               if c not in HOSTILE_IDS and j not in HOSTILE_IDS]
    assert new_keys
    assert all(any(_stays_under(key, prefix) for prefix in allowed) for key in new_keys)
