"""Fixtures: a strict local S3 per test, and stores on it whose retries never really sleep."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from s3store import JsonStore
from s3store.testing import LocalS3
from tests.helpers import FAST_RETRY


@pytest.fixture
def local_s3() -> Iterator[LocalS3]:
    """A fresh, strict LocalS3 with its own bucket."""
    with LocalS3() as s3:
        yield s3


@pytest.fixture
def store(local_s3: LocalS3) -> JsonStore:
    """A JsonStore on the test's LocalS3."""
    return JsonStore(local_s3.client(), local_s3.bucket, retry=FAST_RETRY)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak-updates", type=int, default=2000,
                     help="updates in the fault soak (tests/test_soak.py); default 2000")
    parser.addoption("--sim-seeds", type=int, default=200,
                     help="seeds the simulator runs (tests/sim/test_simulation.py); default 200")
