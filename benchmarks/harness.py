"""One measurement: an option runs a workload against a fresh local S3, then is checked.

A `Workload` gives each process a list of tasks; a task is a sequence of updates
that one thread runs in order (one writer's updates, or one job's steps). A
process's threads take tasks from a shared queue, all starting together (threads
and processes wait at a barrier). Processes are spawned, so they share nothing but
S3; a workload of one process runs in threads of this process.

`measure()` times every update, counts the requests the server saw on the
workload's keys (before the final verification read), then reads each document
back and counts the acknowledged items missing from it (lost updates).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from benchmarks.server import Endpoint, S3Host
from benchmarks.updaters import Option, Updater, option_named
from s3store.testing import connect

if TYPE_CHECKING:
    from multiprocessing.synchronize import Barrier

    from mypy_boto3_s3 import S3Client

__all__ = ["KEY_PREFIX", "Measurement", "Task", "Update", "WorkerReport", "Workload", "measure"]

KEY_PREFIX = "bench/"
"""Every key a workload writes starts with this (so do the lock objects of option 3)."""

Update = tuple[str, str]
"""(key, item): append `item` to the array at `key`."""

Task = tuple[Update, ...]
"""Updates one thread runs one after another."""

_START_TIMEOUT = 120.0  # seconds for spawned writer processes to import and get ready
_PROCESS_TIMEOUT = 600.0  # seconds a spawned writer process may take in all


@dataclass(frozen=True)
class Workload:
    """Per process, the tasks its `threads` threads share."""

    threads: int
    tasks: tuple[tuple[Task, ...], ...]

    @property
    def processes(self) -> int:
        """How many processes write."""
        return len(self.tasks)

    @property
    def writers(self) -> int:
        """Threads in all processes."""
        return self.processes * self.threads

    @property
    def keys(self) -> list[str]:
        """Every key the workload writes, in order of first appearance."""
        return list(dict.fromkeys(key for tasks in self.tasks for task in tasks
                                  for key, _ in task))

    @property
    def updates(self) -> int:
        """Updates in all."""
        return sum(len(task) for tasks in self.tasks for task in tasks)


@dataclass
class WorkerReport:
    """What the threads of one process did.

    Times are `time.monotonic()`, which on Linux is one clock for all processes.
    """

    started: float = math.inf
    finished: float = 0.0
    latencies: list[float] = field(default_factory=list)
    acked: list[Update] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    cpu_seconds: float = 0.0
    """CPU time of the whole process (all its threads) while they ran."""


def _pool_size(threads: int) -> int:
    return max(10, 2 * threads)  # never a writer waiting for a connection


def run_threads(updater: Updater, threads: int, tasks: tuple[Task, ...], *,
                ready: Callable[[], object] = lambda: None) -> WorkerReport:
    """Run `tasks` on `threads` threads sharing `updater`; `ready` is called once they
    are all waiting to start (and must return when they may)."""
    pending: queue.SimpleQueue[Task] = queue.SimpleQueue()
    for task in tasks:
        pending.put(task)
    report = WorkerReport()
    lock = threading.Lock()
    start = threading.Barrier(threads + 1)

    def work() -> None:
        start.wait()
        started = time.monotonic()
        mine = WorkerReport(started=started)
        while True:
            try:
                task = pending.get_nowait()
            except queue.Empty:
                break
            for key, item in task:
                before = time.monotonic()
                try:
                    updater.append(key, item)
                except Exception as exc:  # an unacknowledged update is a result, not a crash
                    mine.failures[type(exc).__name__] += 1
                else:
                    mine.latencies.append(time.monotonic() - before)
                    mine.acked.append((key, item))
        mine.finished = time.monotonic()
        with lock:
            report.started = min(report.started, mine.started)
            report.finished = max(report.finished, mine.finished)
            report.latencies.extend(mine.latencies)
            report.acked.extend(mine.acked)
            report.failures.update(mine.failures)

    workers = [threading.Thread(target=work, name=f"writer-{n}") for n in range(threads)]
    for worker in workers:
        worker.start()
    ready()
    cpu_before = time.process_time()
    start.wait()
    for worker in workers:
        worker.join()
    report.cpu_seconds = time.process_time() - cpu_before
    return report


def _process_main(option_name: str, endpoint: Endpoint, *, threads: int, tasks: tuple[Task, ...],
                  barrier: Barrier, results: multiprocessing.Queue[WorkerReport]) -> None:
    """A spawned writer process: its threads start when every process is ready."""
    client = connect(endpoint.url, max_pool_connections=_pool_size(threads))
    updater = option_named(option_name).build(client, endpoint.bucket)
    results.put(run_threads(updater, threads, tasks, ready=barrier.wait))


def _run_processes(option: Option, endpoint: Endpoint, workload: Workload) -> list[WorkerReport]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(workload.processes + 1)
    results: multiprocessing.Queue[WorkerReport] = context.Queue()
    processes = [
        context.Process(target=_process_main, name=f"bench-writer-{n}",
                        args=(option.name, endpoint),
                        kwargs={"threads": workload.threads, "tasks": tasks,
                                "barrier": barrier, "results": results})
        for n, tasks in enumerate(workload.tasks)
    ]
    for process in processes:
        process.start()
    try:
        barrier.wait(timeout=_START_TIMEOUT)
        reports = [results.get(timeout=_PROCESS_TIMEOUT) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
    return reports


@dataclass(frozen=True)
class Measurement:
    """One option on one workload: throughput, cost, correctness, latency."""

    option: str
    title: str
    writers: int
    updates: int
    acked: int
    failed: int
    lost: int
    duplicated: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    client_cpu_s: float
    requests_by_method: dict[str, int]
    requests_by_status: dict[int, int]
    failures: dict[str, int]

    @property
    def updates_per_s(self) -> float:
        """Acknowledged updates per second of wall time."""
        return self.acked / self.seconds if self.seconds > 0 else 0.0

    @property
    def requests_per_ack(self) -> float:
        """Object requests per acknowledged update (inf if none was acknowledged)."""
        return self.requests / self.acked if self.acked else math.inf

    @property
    def client_cpu_ms_per_ack(self) -> float:
        """CPU the writers' processes spent per acknowledged update (inf if none was)."""
        return self.client_cpu_s * 1000 / self.acked if self.acked else math.inf

    def as_json(self) -> dict[str, Any]:
        """The fields and the derived rates, for the JSON results (None: not defined)."""
        return {
            "option": self.option, "title": self.title, "writers": self.writers,
            "updates": self.updates, "acked": self.acked, "failed": self.failed,
            "lost": self.lost, "duplicated": self.duplicated, "requests": self.requests,
            "seconds": _finite(self.seconds, 4),
            "updates_per_s": _finite(self.updates_per_s, 2),
            "requests_per_ack": _finite(self.requests_per_ack, 4),
            "p50_ms": _finite(self.p50_ms, 2), "p99_ms": _finite(self.p99_ms, 2),
            "client_cpu_ms_per_ack": _finite(self.client_cpu_ms_per_ack, 3),
            "requests_by_method": self.requests_by_method,
            "requests_by_status": {str(k): v for k, v in sorted(self.requests_by_status.items())},
            "failures": self.failures,
        }


def _finite(value: float, digits: int) -> float | None:
    return round(value, digits) if math.isfinite(value) else None


def percentile(values: list[float], pct: float) -> float:
    """The nearest-rank `pct` percentile of `values` (nan if there are none)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def _stored_items(client: S3Client, bucket: str, key: str) -> list[Any]:
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except client.exceptions.NoSuchKey:
        return []
    items: list[Any] = json.loads(body)
    return items


def measure(host: S3Host, option: Option, workload: Workload, *,
            latency: float) -> Measurement:
    """Run `workload` with `option` on a fresh local S3 and check what it stored."""
    endpoint = host.fresh(latency=latency)
    client = host.client(endpoint, max_pool_connections=_pool_size(workload.threads))
    if workload.processes == 1:
        updater = option.build(client, endpoint.bucket)
        reports = [run_threads(updater, workload.threads, workload.tasks[0])]
    else:
        reports = _run_processes(option, endpoint, workload)
    counts = host.count(KEY_PREFIX)  # taken before the verification reads below
    stored: Counter[Update] = Counter()
    for key in workload.keys:
        stored.update((key, item) for item in _stored_items(client, endpoint.bucket, key))
    acked = [update for report in reports for update in report.acked]
    latencies = [s for report in reports for s in report.latencies]
    failures: Counter[str] = Counter()
    for report in reports:
        failures.update(report.failures)
    started = min(report.started for report in reports)
    finished = max(report.finished for report in reports)
    return Measurement(
        option=option.name, title=option.title, writers=workload.writers,
        updates=workload.updates, acked=len(acked), failed=sum(failures.values()),
        lost=sum(1 for update in acked if not stored[update]),
        duplicated=sum(count - 1 for count in stored.values() if count > 1),
        requests=counts.total, seconds=max(0.0, finished - started),
        p50_ms=percentile(latencies, 50) * 1000, p99_ms=percentile(latencies, 99) * 1000,
        client_cpu_s=sum(report.cpu_seconds for report in reports),
        requests_by_method=counts.by_method, requests_by_status=counts.by_status,
        failures=dict(failures),
    )
