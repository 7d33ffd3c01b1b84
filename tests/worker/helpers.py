"""Helpers for the worker tests: targets on a LocalS3, a barrier executor, the naive code."""

from __future__ import annotations

import io
import json
import os
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3

from s3store import RetryPolicy
from s3store.testing import LocalS3, connect
from worker_integration import (
    DBService,
    S3Target,
    SimulatedExecutor,
    StepRequest,
    StepResult,
    Workflow,
    WorkflowStep,
)
from worker_integration.db_service import execution_steps_key, job_key
from worker_integration.demo.run import main

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Conflicts are frequent in the race tests: many attempts, tiny backoff (tests never time).
FAST_RETRY = RetryPolicy(max_attempts=500, base_delay=0.001, max_delay=0.02, deadline=None)

NINE_INDEPENDENT_STEPS = Workflow.of(
    [WorkflowStep(name=f"Step {n}", model="gpt-4o-mini") for n in range(1, 9)]
    + [WorkflowStep(name="Step 9", step_type="webhook")]
)
"""The incident's shape: nine workflow steps (eight AI calls, one webhook), no dependencies."""


@dataclass(frozen=True)
class JobIds:
    """A job's ids and keys, fresh for each test (tests may share one server)."""

    c: str
    j: str

    @classmethod
    def fresh(cls) -> JobIds:
        return cls(f"cust_{uuid.uuid4().hex[:8]}", f"job_{uuid.uuid4().hex[:12]}")

    @property
    def steps_key(self) -> str:
        return execution_steps_key(self.c, self.j)

    @property
    def job_key(self) -> str:
        return job_key(self.c, self.j)


_SESSIONS: dict[int, boto3.session.Session] = {}
_SESSIONS_LOCK = threading.Lock()


@dataclass(frozen=True)
class LocalConnector:
    """A new client for a local endpoint on each call, from one boto3 session per process.

    Every invocation still gets its own client (its own connections); only the
    session's loaded service model is reused, which makes a client twice as cheap.
    Sessions are not thread-safe, hence the lock. Picklable.
    """

    endpoint_url: str
    max_attempts: int = 3  # botocore's attempts per request

    def __call__(self) -> S3Client:
        with _SESSIONS_LOCK:
            session = _SESSIONS.get(os.getpid())
            if session is None:
                session = _SESSIONS[os.getpid()] = boto3.session.Session(
                    aws_access_key_id="testing", aws_secret_access_key="testing",  # noqa: S106
                    region_name="us-east-1")
            return connect(self.endpoint_url, session=session, max_attempts=self.max_attempts)


def target_for(s3: LocalS3, *, max_attempts: int = 3) -> S3Target:
    """An S3Target on `s3` that any process can use (the connector pickles)."""
    return S3Target(bucket=s3.bucket, connector=LocalConnector(s3.endpoint_url, max_attempts),
                    retry=FAST_RETRY)


def db_for(s3: LocalS3) -> DBService:
    """A DBService with its own client on `s3`."""
    return target_for(s3).db()


def raw_bytes(s3: LocalS3, key: str) -> bytes:
    """The object's stored bytes, read straight from S3."""
    body: bytes = s3.client().get_object(Bucket=s3.bucket, Key=key)["Body"].read()
    return body


def put_raw(s3: LocalS3, key: str, body: bytes) -> None:
    """Store `body` at `key` as it is."""
    s3.client().put_object(Bucket=s3.bucket, Key=key, Body=body)


def stored_json(s3: LocalS3, key: str) -> Any:
    """The decoded JSON stored at `key`."""
    return json.loads(raw_bytes(s3, key))


def writes(s3: LocalS3) -> int:
    """How many PUT and DELETE requests the server saw."""
    return sum(1 for r in s3.requests if r.method in ("PUT", "DELETE"))


@dataclass
class FakeTime:
    """A clock and a monotonic counter that move only when told (or when slept on)."""

    now: datetime = field(default_factory=lambda: datetime(2025, 1, 31, 9, 0, tzinfo=UTC))
    ticks: float = 0.0

    def clock(self) -> datetime:
        return self.now + timedelta(seconds=self.ticks)

    def monotonic(self) -> float:
        return self.ticks

    def sleep(self, seconds: float) -> None:
        self.ticks += seconds


@dataclass(frozen=True)
class BarrierExecutor:
    """Runs the simulated work only once `barrier.parties` steps are all running it.

    Every step that waits here has already done whatever its code does before the
    work (the old path: loaded the list) and has not yet done what it does after
    (recorded, or overwritten the list): the window is open for all of them at once.
    """

    barrier: threading.Barrier
    inner: SimulatedExecutor = field(default_factory=SimulatedExecutor)

    def run(self, request: StepRequest) -> StepResult:
        self.barrier.wait()
        return self.inner.run(request)


@dataclass(frozen=True)
class FailingExecutor:
    """Fails the steps named in `names` with a RuntimeError; simulates the others."""

    names: frozenset[str]
    inner: SimulatedExecutor = field(default_factory=SimulatedExecutor)

    def run(self, request: StepRequest) -> StepResult:
        if request.step_name in self.names:
            raise RuntimeError(f"upstream model refused step {request.step_name!r}")
        return self.inner.run(request)


def run_demo(*args: str) -> tuple[int, list[str]]:
    """The demo in threads with short steps: its exit status and printed lines."""
    out = io.StringIO()
    status = main(["--threads", "--step-delay", "50", *args], out=out)
    return status, out.getvalue().splitlines()
