"""Listings that loop (LocalStack's `ListObjectVersions` with small pages): the worker's
walks — `recover`, `audit --prefix`, `recover --prefix` — end with a clear error naming the
server's fault, after a handful of requests, instead of walking forever (the store's own
walks: `tests/store/test_looping_listings.py`).

`FaultPlan(cycle_listings=True)` makes `LocalS3` answer a listing's third page with its
first, so markers come back in a cycle: m1, m2, m1, m2...
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from s3store.testing import FaultPlan, LocalS3
from tests.cli_harness import fake_aws, run_on
from tests.helpers import listing_requests
from tests.worker.helpers import JobIds, db_for
from worker_integration import ExecutionStep


@pytest.fixture(autouse=True)
def _aws(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_aws(monkeypatch)


@pytest.fixture
def looping() -> Iterator[LocalS3]:
    with LocalS3(versioning=True) as s3:
        yield s3


def versioned_job(s3: LocalS3, steps: int) -> JobIds:
    """A job whose steps document has one version per recorded step."""
    ids = JobIds.fresh()
    db = db_for(s3)
    for order in range(1, steps + 1):
        db.record_execution_step(ids.c, ids.j, ExecutionStep(step_order=order,
                                                             step_type="ai_generation"))
    return ids


def test_recover_on_a_cycling_version_listing_ends_with_a_clear_error(
        capsys: pytest.CaptureFixture[str], looping: LocalS3) -> None:
    ids = versioned_job(looping, 4)
    looping.set_faults(FaultPlan(cycle_listings=True))
    looping.clear_requests()
    result = run_on(capsys, looping, "recover", ids.c, ids.j, "--page-size", "1")
    assert result.code == 2
    assert "ListObjectVersions loops" in result.err
    assert listing_requests(looping) <= 5


@pytest.mark.parametrize("command", ["audit", "recover"])
def test_a_prefix_walk_on_a_cycling_key_listing_ends_with_a_clear_error(
        capsys: pytest.CaptureFixture[str], looping: LocalS3, command: str) -> None:
    jobs = [versioned_job(looping, 1) for _ in range(4)]
    looping.set_faults(FaultPlan(cycle_listings=True))
    looping.clear_requests()
    prefix = jobs[0].c[:0]  # every job: each has its own customer id
    result = run_on(capsys, looping, command, "--prefix", prefix, "--page-size", "1")
    assert result.code == 2
    assert "loops" in result.err
    assert listing_requests(looping) <= 12  # a few pages, then the stop (not 115,909 requests)
