"""Tenant boundaries and ids the tools cannot address (issue: the worker as production
runs it, defects 7 and 8): `--prefix cust_1` is that customer and not `cust_10`; a job
document with a legacy id (`acme.com`) is reported as not checked, never skipped
silently; one oversized document does not stop `recover --prefix`."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator

import pytest

import s3store.cli.context
from s3store import JsonStore
from s3store.testing import LocalS3
from tests.cli_harness import fake_aws, run_on
from tests.worker.helpers import NINE_INDEPENDENT_STEPS, db_for, put_raw
from worker_integration import SimulatedExecutor, WorkflowOrchestrator
from worker_integration.db_service import execution_steps_key
from worker_integration.tools.job_listing import list_jobs


@pytest.fixture(autouse=True)
def _aws(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_aws(monkeypatch)


@pytest.fixture(scope="module")
def versioned() -> Iterator[LocalS3]:
    with LocalS3(versioning=True) as s3:
        yield s3


def _tenant() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


def _complete_job(s3: LocalS3, customer_id: str, job_id: str) -> None:
    WorkflowOrchestrator(db=db_for(s3), executor=SimulatedExecutor()).run_job(
        customer_id, job_id, NINE_INDEPENDENT_STEPS)


def test_a_prefix_ends_at_the_tenant_boundary(capsys: pytest.CaptureFixture[str],
                                              versioned: LocalS3) -> None:
    base = _tenant()
    _complete_job(versioned, f"{base}_1", "job_a")
    _complete_job(versioned, f"{base}_10", "job_b")
    store = JsonStore(versioned.client(), versioned.bucket)
    assert [j.customer_id for j in list_jobs(store, prefix=f"{base}_1")] == [f"{base}_1"]
    assert len(list(list_jobs(store, prefix=f"{base}_1/"))) == 1
    assert len(list(list_jobs(store, prefix=base))) == 0  # not a whole tenant id
    audit = run_on(capsys, versioned, "audit", "--prefix", f"{base}_1", "--json").json()
    assert audit["jobs_checked"] == 1
    recover = run_on(capsys, versioned, "recover", "--prefix", f"{base}_1", "--json").json()
    assert [job["customer_id"] for job in recover["jobs"]] == [f"{base}_1"]


def test_a_job_with_a_legacy_id_is_reported_not_skipped(capsys: pytest.CaptureFixture[str],
                                                         versioned: LocalS3) -> None:
    base = _tenant()
    legacy = f"{base}/jobs/acme.com/execution_steps.json"
    put_raw(versioned, legacy, b"[]")
    _complete_job(versioned, base, "job_ok")
    text = run_on(capsys, versioned, "audit", "--prefix", base)
    assert text.code == 1
    assert f"NOT checked: 1 job document(s) whose ids this tool cannot address: {legacy}" \
        in text.out
    audit = run_on(capsys, versioned, "audit", "--prefix", base, "--json")
    assert (audit.code, audit.json()["skipped_keys"], audit.json()["jobs_checked"]) == (
        1, [legacy], 1)
    recover = run_on(capsys, versioned, "recover", "--prefix", base, "--json")
    assert recover.code == 1
    statuses = {job["key"]: job["status"] for job in recover.json()["jobs"]}
    assert statuses[legacy] == "skipped"


def test_recover_by_prefix_goes_on_past_an_oversized_document(
        capsys: pytest.CaptureFixture[str], versioned: LocalS3,
        monkeypatch: pytest.MonkeyPatch) -> None:
    base = _tenant()
    _complete_job(versioned, base, "job_a")
    _complete_job(versioned, base, "job_b")
    big = execution_steps_key(base, "job_a")
    put_raw(versioned, big, b"[" + b" " * 40000 + b"]")
    monkeypatch.setattr(s3store.cli.context, "JsonStore",
                        functools.partial(JsonStore, max_document_bytes=30000))
    result = run_on(capsys, versioned, "recover", "--prefix", base, "--json")
    assert result.code == 1
    jobs = {job["job_id"]: job for job in result.json()["jobs"]}
    assert jobs["job_a"]["status"] == "corrupt" and "unreadable" in jobs["job_a"]["problem"]
    assert jobs["job_b"]["status"] == "nothing_to_restore"
