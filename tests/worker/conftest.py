"""Fixtures of the worker's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from s3store.testing import LocalS3
from tests.worker.helpers import JobIds, db_for
from worker_integration import DBService


@pytest.fixture(scope="module")
def local_s3() -> Iterator[LocalS3]:
    """One LocalS3 per module (starting one costs a server): every worker test has its
    own job ids, hence its own keys."""
    with LocalS3() as s3:
        yield s3


@pytest.fixture
def db(local_s3: LocalS3) -> DBService:
    """A DBService with its own client on the module's LocalS3."""
    return db_for(local_s3)


@pytest.fixture
def ids() -> JobIds:
    """Fresh customer and job ids: keys no other test touches."""
    return JobIds.fresh()
