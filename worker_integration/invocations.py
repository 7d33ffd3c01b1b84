"""Steps as independent invocations, the way production ran them.

An invocation is a picklable callable that opens its own S3 client (through an
`S3Target`), does one step and reports. Invocations share nothing but S3. An
`Invoker` runs a batch of them: in this process in order (`InProcessInvoker`), in
threads (`ThreadInvoker`) or in separate processes (`ProcessInvoker`, spawned, so
nothing is inherited). Invokers start invocations in the order given, so a batch
that lists every step after the steps it depends on cannot deadlock on a wait.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

import boto3

from s3store import JsonStore, RetryPolicy
from worker_integration.db_service import DBService
from worker_integration.executor import Executor
from worker_integration.models import ExecutionStep
from worker_integration.services.job_completion_service import JobCompletionService
from worker_integration.services.step_processor import StepProcessor
from worker_integration.workflow import Workflow

if TYPE_CHECKING:
    from multiprocessing.pool import Pool

    from mypy_boto3_s3 import S3Client

__all__ = [
    "BotoConnector",
    "HtmlInvocation",
    "InProcessInvoker",
    "Invocation",
    "InvocationReport",
    "Invoker",
    "Isolated",
    "ProcessInvoker",
    "ReportCallback",
    "S3Target",
    "StepInvocation",
    "ThreadInvoker",
]

ReportCallback = Callable[["InvocationReport"], None]
"""Called in the caller's process as each invocation of a batch finishes."""


@dataclass(frozen=True)
class BotoConnector:
    """Makes a boto3 S3 client from the standard AWS configuration (environment, profile,
    role), optionally for another `endpoint_url`. Picklable."""

    endpoint_url: str | None = None
    region_name: str | None = None

    def __call__(self) -> S3Client:
        """A new client (each call: its own session, as sessions are not thread-safe)."""
        session = boto3.session.Session(region_name=self.region_name)
        return session.client("s3", endpoint_url=self.endpoint_url)


@dataclass(frozen=True, kw_only=True)
class S3Target:
    """Where invocations find S3: a picklable client factory, the bucket, the retry policy."""

    bucket: str
    connector: Callable[[], S3Client]
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def client(self) -> S3Client:
        """A new boto3 S3 client."""
        return self.connector()

    def db(self) -> DBService:
        """A `DBService` on a new client: what one invocation uses."""
        return DBService(JsonStore(self.client(), self.bucket, retry=self.retry))


@dataclass(frozen=True, kw_only=True)
class InvocationReport:
    """What one invocation did: which step, on which path (`new` or `old`), how it went."""

    customer_id: str
    job_id: str
    path: str
    step_order: int
    step_type: str
    step_name: str | None
    success: bool
    duration_ms: int | float | None
    error: str | None = None
    raised: bool = False
    """True when the invocation raised instead of recording its step (see `Isolated`)."""

    @classmethod
    def of(cls, customer_id: str, job_id: str, record: ExecutionStep, *,
           path: str) -> InvocationReport:
        """The report of an invocation that recorded `record`."""
        return cls(customer_id=customer_id, job_id=job_id, path=path,
                   step_order=record.step_order, step_type=record.step_type,
                   step_name=record.step_name, success=record.success,
                   duration_ms=record.duration_ms, error=record.error)


class Invocation(Protocol):
    """One independent invocation: does its work on its own client and reports."""

    def __call__(self) -> InvocationReport:
        """Run; raise if the step could not even be recorded."""
        ...


@dataclass(frozen=True, kw_only=True)
class StepInvocation:
    """Workflow step `index` of a job, as its own invocation (waits for its dependencies)."""

    target: S3Target
    executor: Executor
    customer_id: str
    job_id: str
    workflow: Workflow
    index: int
    dependency_timeout: float = 60.0

    def __call__(self) -> InvocationReport:
        """Process the step; raises what `StepProcessor.process_step` raises."""
        processor = StepProcessor(db=self.target.db(), executor=self.executor,
                                  dependency_timeout=self.dependency_timeout)
        record = processor.process_step(self.customer_id, self.job_id, self.workflow, self.index)
        return InvocationReport.of(self.customer_id, self.job_id, record, path="new")


@dataclass(frozen=True, kw_only=True)
class HtmlInvocation:
    """A job's `html_generation`, as its own invocation."""

    target: S3Target
    executor: Executor
    customer_id: str
    job_id: str
    workflow: Workflow
    dependency_timeout: float = 60.0

    def __call__(self) -> InvocationReport:
        """Generate and record the HTML; raises what `generate_html` raises."""
        service = JobCompletionService(db=self.target.db(), executor=self.executor,
                                       dependency_timeout=self.dependency_timeout)
        record = service.generate_html(self.customer_id, self.job_id, self.workflow)
        return InvocationReport.of(self.customer_id, self.job_id, record, path="new")


@dataclass(frozen=True)
class Isolated:
    """An invocation whose exception becomes its report (`raised=True`, the error's type
    and message), so that one job's failure does not stop a batch. Picklable if the
    invocation is. BaseExceptions (KeyboardInterrupt, ...) still propagate."""

    invocation: StepInvocation | HtmlInvocation

    def __call__(self) -> InvocationReport:
        """Run the invocation; report what it raised instead of raising it."""
        try:
            return self.invocation()
        except Exception as exc:  # this job fails, the batch goes on
            inv = self.invocation
            if isinstance(inv, StepInvocation):
                order, step = inv.workflow.step_order(inv.index), inv.workflow.steps[inv.index]
                step_type, name = step.step_type, step.name
            else:
                order, step_type = inv.workflow.html_generation_order, "html_generation"
                name = "HTML generation"
            return InvocationReport(customer_id=inv.customer_id, job_id=inv.job_id,
                                    path="new", step_order=order, step_type=step_type,
                                    step_name=name, success=False, duration_ms=None,
                                    error=f"{type(exc).__name__}: {exc}", raised=True)


class Invoker(Protocol):
    """Runs a batch of invocations, starting them in the order given."""

    def run(self, invocations: Sequence[Invocation], *,
            on_report: ReportCallback | None = None) -> list[InvocationReport]:
        """Run them all; call `on_report` as each finishes; return the reports.

        Raises the first exception an invocation raised.
        """
        ...


class InProcessInvoker:
    """Runs invocations one after another in this process."""

    def run(self, invocations: Sequence[Invocation], *,
            on_report: ReportCallback | None = None) -> list[InvocationReport]:
        """See `Invoker.run`."""
        reports = []
        for invocation in invocations:
            reports.append(report := invocation())
            if on_report is not None:
                on_report(report)
        return reports


@dataclass(frozen=True)
class ThreadInvoker:
    """Runs invocations concurrently in up to `workers` threads (each its own client)."""

    workers: int = 16

    def run(self, invocations: Sequence[Invocation], *,
            on_report: ReportCallback | None = None) -> list[InvocationReport]:
        """See `Invoker.run`."""
        reports = []
        with ThreadPoolExecutor(max_workers=self.workers,
                                thread_name_prefix="invocation") as pool:
            futures = [pool.submit(invocation) for invocation in invocations]
            for future in as_completed(futures):
                reports.append(report := future.result())
                if on_report is not None:
                    on_report(report)
        return reports


def _invoke(invocation: Invocation) -> InvocationReport:
    return invocation()


def _wait_for_all(barrier: threading.Barrier) -> None:
    # Every worker is up before any takes work, so a batch starts at once (spawning
    # is slow, and the first worker would otherwise run steps alone).
    # A broken barrier (a slow start) only costs concurrency: never keep a worker idle.
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait()


class ProcessInvoker:
    """Runs invocations concurrently in `workers` spawned processes (nothing inherited).

    A context manager: the processes start on entry (all of them, before any work)
    and stop on exit, so one pool serves several batches. Invocations and what they
    hold (executor, connector) must be picklable.
    """

    def __init__(self, workers: int, *, start_timeout: float = 120.0) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self._start_timeout = start_timeout
        self._pool: Pool | None = None

    def __enter__(self) -> Self:
        context = multiprocessing.get_context("spawn")
        barrier: Any = context.Barrier(self.workers, timeout=self._start_timeout)
        self._pool = context.Pool(self.workers, initializer=_wait_for_all, initargs=(barrier,))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._pool is not None:
            if exc_type is None:
                self._pool.close()
            else:
                self._pool.terminate()
            self._pool.join()
            self._pool = None

    def run(self, invocations: Sequence[Invocation], *,
            on_report: ReportCallback | None = None) -> list[InvocationReport]:
        """See `Invoker.run`. Raises `RuntimeError` outside the `with` block."""
        if self._pool is None:
            raise RuntimeError("ProcessInvoker.run() needs the invoker entered (with ...)")
        reports = []
        for report in self._pool.imap_unordered(_invoke, invocations, chunksize=1):
            reports.append(report)
            if on_report is not None:
                on_report(report)
        return reports
