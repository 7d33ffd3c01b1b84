"""What `make bench` runs: the issue's scenarios, the writer sweep, and their results.

- S1: one writer, 100 sequential updates of one key.
- S2: 16 threads x 10 updates on one key (one process).
- S3: 4 processes x 4 threads x 10 updates on one key; for option 6 also with 1 and 2
  processes, to see whether conflicts between processes grow into a livelock.
- S4: 100 jobs x 10 steps, spread over 16 threads: each job is its own key and one
  thread runs its steps in order (no contention between keys); plus bare `put_object`.
- Sweep: 1, 2, 4, 8, 16, 32 threads on one key, 5 updates each (the CAS loops manage
  about 15 a second at every count: 10 each would add a minute to the run).
- Document sizes: CPU per update of one document of 10 KB, 100 KB, 1 MB and 5 MB, beside
  the hand-written floor and a bare put, for each codec installed (`benchmarks.docsize`).

`--quick` shrinks every scenario (same shapes, fewer updates) for development.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from benchmarks.asyncbench import AsyncRow
from benchmarks.docsize import DocSizeRow
from benchmarks.harness import KEY_PREFIX, Measurement, Task, Workload
from benchmarks.updaters import BARE_PUT, OPTIONS, Option, option_named

__all__ = [
    "DEFAULT_SIZES",
    "QUICK_SIZES",
    "SCALING_OPTION",
    "SWEEP_OPTIONS",
    "Results",
    "Scenario",
    "Sizes",
    "scaling_workloads",
    "scenarios",
    "sweep_workloads",
]


@dataclass(frozen=True)
class Sizes:
    """How big each scenario is."""

    s1_updates: int = 100
    s2_threads: int = 16
    s2_updates: int = 10
    s3_processes: int = 4
    s3_threads: int = 4
    s3_updates: int = 10
    s4_jobs: int = 100
    s4_steps: int = 10
    s4_threads: int = 16
    sweep_writers: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    sweep_updates: int = 5
    docsize_bytes: tuple[int, ...] = (10_000, 100_000, 1_000_000, 5_000_000)
    docsize_updates: tuple[int, ...] = (100, 50, 25, 20)
    """Updates of each method at each of `docsize_bytes`."""
    async_writers: int = 256
    """Concurrent writers of the async column (`benchmarks.asyncbench`)."""
    async_updates: int = 2


DEFAULT_SIZES: Final = Sizes()
"""The issue's sizes (the sweep's updates per writer are ours)."""

QUICK_SIZES: Final = Sizes(s1_updates=20, s2_updates=3, s3_updates=2, s4_jobs=32, s4_steps=5,
                           sweep_updates=3, docsize_updates=(10, 5, 3, 2), async_writers=32)
"""Same shapes, fewer updates: for development."""

SWEEP_OPTIONS: Final[tuple[Option, ...]] = OPTIONS
"""The options the sweep runs: all six, the two that lose updates for reference."""

SCALING_OPTION: Final = option_named("s3store")
"""The option S3 also runs with fewer processes (the livelock check)."""


@dataclass(frozen=True)
class Scenario:
    """A named workload and the options it runs."""

    name: str
    title: str
    workload: Workload
    options: tuple[Option, ...]


def _one_key(processes: int, threads: int, updates: int) -> Workload:
    """`processes` x `threads` writers, `updates` each, all on one key."""
    key = f"{KEY_PREFIX}doc.json"
    return Workload(threads, tuple(
        tuple(tuple((key, f"p{p}-t{t}-{n}") for n in range(updates)) for t in range(threads))
        for p in range(processes)
    ))


def _jobs(jobs: int, steps: int, threads: int) -> Workload:
    """`jobs` keys of `steps` updates each, a job's steps in order on one thread."""
    tasks: tuple[Task, ...] = tuple(
        tuple((f"{KEY_PREFIX}job-{j:03d}.json", f"j{j}-s{s}") for s in range(steps))
        for j in range(jobs)
    )
    return Workload(threads, (tasks,))


def scenarios(sizes: Sizes) -> list[Scenario]:
    """S1-S4 at `sizes`."""
    return [
        Scenario("S1", f"one writer, {sizes.s1_updates} sequential updates",
                 _one_key(1, 1, sizes.s1_updates), OPTIONS),
        Scenario("S2", f"{sizes.s2_threads} threads x {sizes.s2_updates} updates on one key",
                 _one_key(1, sizes.s2_threads, sizes.s2_updates), OPTIONS),
        Scenario("S3", f"{sizes.s3_processes} processes x {sizes.s3_threads} threads x "
                 f"{sizes.s3_updates} updates on one key",
                 _one_key(sizes.s3_processes, sizes.s3_threads, sizes.s3_updates), OPTIONS),
        Scenario("S4", f"{sizes.s4_jobs} jobs x {sizes.s4_steps} steps over "
                 f"{sizes.s4_threads} threads, a key per job",
                 _jobs(sizes.s4_jobs, sizes.s4_steps, sizes.s4_threads), (*OPTIONS, BARE_PUT)),
    ]


def sweep_workloads(sizes: Sizes) -> list[tuple[int, Workload]]:
    """(writers, workload) for each point of the sweep."""
    return [(writers, _one_key(1, writers, sizes.sweep_updates))
            for writers in sizes.sweep_writers]


def scaling_workloads(sizes: Sizes) -> list[tuple[int, Workload]]:
    """(processes, workload) with fewer processes than S3 (doubling up to S3's own)."""
    counts = []
    processes = 1
    while processes < sizes.s3_processes:
        counts.append(processes)
        processes *= 2
    return [(p, _one_key(p, sizes.s3_threads, sizes.s3_updates)) for p in counts]


@dataclass
class Results:
    """Everything one run measured."""

    latency: float
    sizes: Sizes
    scenarios: dict[str, dict[str, Measurement]] = field(default_factory=dict)
    """Scenario name -> option name -> measurement."""
    sweep: dict[str, dict[int, Measurement]] = field(default_factory=dict)
    """Option name -> writers -> measurement."""
    scaling: dict[int, Measurement] = field(default_factory=dict)
    """Processes -> measurement of `SCALING_OPTION` in S3's shape (S3 itself included)."""
    docsize: list[DocSizeRow] = field(default_factory=list)
    """The document-size scenario: a row per codec and size."""
    asyncio: list[AsyncRow] = field(default_factory=list)
    """The async column: a row per option and shape."""

    def get(self, scenario: str, option: str) -> Measurement | None:
        """The measurement of `option` in `scenario`, if it was run."""
        return self.scenarios.get(scenario, {}).get(option)
