"""The fault soak: many writers, a handful of keys, about 20% of requests faulted.

Threads in this process and threads in child processes append unique items to a
few documents through `JsonStore.update()` while LocalS3 injects every fault kind
(seeded). Each call's outcome is recorded — acknowledged, failed, or outcome
unknown — and the checker compares that history with what the documents hold:

- every acknowledged item is present exactly once;
- every failed item (not "outcome unknown") is absent;
- no item is present twice.

The mutation is a plain append, not an idempotent upsert: so that the soak shows
the store applying it exactly once. The bucket keeps versions, which is what lets
the store settle a lost answer even after another writer overwrote it.

Run alone for figures: `python -m tests.store.soak --updates 5000 [--no-resolve]`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from s3store import JsonStore, OutcomeUnknownError, RetryPolicy, S3StoreError
from s3store.testing import FaultPlan, LocalS3, connect

READ_TIMEOUT = 0.3
SOAK_RETRY = RetryPolicy(max_attempts=60, base_delay=0.005, max_delay=0.2, deadline=None)


def fault_plan(seed: int, rate: float) -> FaultPlan:
    """About `rate` of all requests faulted: every request can be throttled; writes
    also meet every other kind (stalls rarer: each costs a read timeout)."""
    write_share = rate / 11
    return FaultPlan(
        seed=seed,
        slow_down=rate * 0.95,
        error_before_write=write_share,
        conditional_conflict=write_share,
        error_after_write=write_share * 1.5,
        drop_after_write=write_share * 1.5,
        stall_after_write=write_share * 0.5,
        stall_seconds=READ_TIMEOUT + 0.2,
    )


@dataclass(frozen=True)
class SoakConfig:
    """The soak's size and shape."""

    updates: int = 2000
    threads: int = 8
    processes: int = 2
    threads_per_process: int = 2
    keys: int = 4
    fault_rate: float = 0.2
    seed: int = 1
    resolve: bool = True

    @property
    def writers(self) -> list[str]:
        local = [f"t{i}" for i in range(self.threads)]
        remote = [f"p{p}t{t}" for p in range(self.processes)
                  for t in range(self.threads_per_process)]
        return local + remote

    def share(self, writer: str) -> int:
        writers = self.writers
        return self.updates // len(writers) + (writers.index(writer) < self.updates % len(writers))


Outcome = tuple[str, str, str]  # (key, item, "ok" | "failed" | "unknown")


@dataclass
class SoakReport:
    """What the soak did and what the checker found."""

    config: dict[str, Any]
    updates: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    acknowledged: int = 0
    failed: int = 0
    unknown: int = 0
    lost: list[str] = field(default_factory=list)  # acknowledged, absent
    duplicated: list[str] = field(default_factory=list)  # present more than once
    failed_but_present: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.failed_but_present)


def _append(item: str) -> Callable[[list[str]], list[str]]:
    return lambda items: [*items, item]


def run_writers(endpoint_url: str, bucket: str, writers: list[tuple[str, int]],
                keys: list[str], resolve: bool) -> list[Outcome]:
    """Run writers (name, number of updates) as threads of this process; their history."""
    history: list[Outcome] = []
    lock = threading.Lock()

    def writer(name: str, count: int) -> None:
        client = connect(endpoint_url, read_timeout=READ_TIMEOUT)
        store = JsonStore(client, bucket, retry=SOAK_RETRY, resolve_lost_responses=resolve)
        mine: list[Outcome] = []
        for n in range(count):
            key, item = keys[n % len(keys)], f"{name}-{n}"
            try:
                store.update(key, _append(item), default=[])
                mine.append((key, item, "ok"))
            except OutcomeUnknownError:
                mine.append((key, item, "unknown"))
            except S3StoreError:
                mine.append((key, item, "failed"))
        with lock:
            history.extend(mine)

    threads = [threading.Thread(target=writer, args=w) for w in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return history


def run_soak(config: SoakConfig) -> SoakReport:
    """Run the soak on a fresh versioned LocalS3 and check its history."""
    keys = [f"soak/doc-{k}.json" for k in range(config.keys)]
    report = SoakReport(config=asdict(config))
    with LocalS3(versioning=True) as s3:
        s3.set_faults(fault_plan(config.seed, config.fault_rate))
        local = [(w, config.share(w)) for w in config.writers if w.startswith("t")]
        remote = [[(w, config.share(w)) for w in config.writers if w.startswith(f"p{p}t")]
                  for p in range(config.processes)]
        context = multiprocessing.get_context("spawn")
        with context.Pool(config.processes) as pool:
            pending = [pool.apply_async(run_writers, (s3.endpoint_url, s3.bucket, group, keys,
                                                      config.resolve)) for group in remote]
            history = run_writers(s3.endpoint_url, s3.bucket, local, keys, config.resolve)
            for result in pending:
                history.extend(result.get())
        stats = s3.stats()
        s3.set_faults(FaultPlan())
        store = JsonStore(s3.client(), s3.bucket)
        stored = {key: Counter(store.get(key).value) for key in keys}
    report.updates = len(history)
    report.faults = stats["faults"]
    report.requests = stats["requests"]
    for key, item, outcome in history:
        count = stored[key][item]
        if outcome == "ok":
            report.acknowledged += 1
            if count == 0:
                report.lost.append(item)
        elif outcome == "failed":
            report.failed += 1
            if count:
                report.failed_but_present.append(item)
        else:
            report.unknown += 1
        if count > 1:
            report.duplicated.append(item)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=SoakConfig.updates)
    parser.add_argument("--fault-rate", type=float, default=SoakConfig.fault_rate)
    parser.add_argument("--seed", type=int, default=SoakConfig.seed)
    parser.add_argument("--no-resolve", action="store_true",
                        help="switch write-id resolution off (the negative control)")
    args = parser.parse_args()
    report = run_soak(SoakConfig(updates=args.updates, fault_rate=args.fault_rate,
                                 seed=args.seed, resolve=not args.no_resolve))
    summary = asdict(report)
    for name in ("lost", "duplicated", "failed_but_present"):
        summary[name] = len(summary[name])
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
