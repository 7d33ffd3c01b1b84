"""Fixtures: a strict local S3 per test, and stores on it whose retries never really sleep."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from s3store import JsonStore
from s3store.testing import LocalS3
from tests.frontends import FRONT_ENDS, Portal, portals
from tests.helpers import FAST_RETRY
from tests.servers import BACKENDS, Bucket, Localstack, Ministack, ServerProcess


@pytest.fixture
def local_s3() -> Iterator[LocalS3]:
    """A fresh, strict LocalS3 with its own bucket."""
    with LocalS3() as s3:
        yield s3


@pytest.fixture
def store(local_s3: LocalS3) -> JsonStore:
    """A JsonStore on the test's LocalS3."""
    return JsonStore(local_s3.client(), local_s3.bucket, retry=FAST_RETRY)


@pytest.fixture
def portal() -> Iterator[Portal]:
    """An event loop in a thread of its own, for the async front end (`tests.frontends`)."""
    yield from portals()


@pytest.fixture(params=FRONT_ENDS)
def front_end(request: pytest.FixtureRequest) -> str:
    """Each front end in turn: "sync" (`JsonStore`), "async" (`AsyncJsonStore`)."""
    return str(request.param)


def _server(kind: type[ServerProcess]) -> Iterator[ServerProcess]:
    server = kind()
    try:
        server.start()
    except RuntimeError as exc:
        pytest.fail(f"the {server.name} backend did not start: {exc}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ministack() -> Iterator[ServerProcess]:
    """One ministack server for the session (each test makes its own bucket). A server
    that does not start fails every test that needs it, with its reason."""
    yield from _server(Ministack)


@pytest.fixture(scope="session")
def localstack() -> Iterator[ServerProcess]:
    """One LocalStack server for the session (`make test-localstack`)."""
    yield from _server(Localstack)


@pytest.fixture(params=BACKENDS)
def s3_backend(request: pytest.FixtureRequest) -> Iterator[Bucket]:
    """A fresh bucket on each backend in turn (`BACKENDS`)."""
    if request.param == "local":
        with LocalS3() as s3:
            yield s3
        return
    server: ServerProcess = request.getfixturevalue(request.param)
    yield server.new_bucket()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak-updates", type=int, default=1000,
                     help="updates in the fault soak (tests/store/test_soak.py); default 1000")
    parser.addoption("--sim-seeds", type=int, default=120,
                     help="seeds the simulator runs (tests/store/sim/test_simulation.py); "
                          "default 120")
