"""Many writers appending unique items to one document: nothing acknowledged is lost.

Threads (16 x 20) and OS processes (4 x 20) through one server, on each backend: the
strict LocalS3, then ministack. Each race has its negative control on the same harness:
the incident's unconditional read-modify-write must lose items there, or the race test
could not fail.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from collections.abc import Callable

from s3store import JsonStore
from s3store.testing import connect
from tests.helpers import FAST_RETRY, naive_append
from tests.servers import Bucket

KEY = "race/items.json"
THREADS, PROCESSES, UPDATES = 16, 4, 20

def append(item: str) -> Callable[[list[str]], list[str]]:
    return lambda items: [*items, item]


def run_writer(endpoint_url: str, bucket: str, writer: str, naive: bool) -> list[str]:
    """One writer's loop (a thread or a whole process): the items it was told are stored."""
    client = connect(endpoint_url)
    store = JsonStore(client, bucket, retry=FAST_RETRY)
    acknowledged = []
    for n in range(UPDATES):
        item = f"{writer}-{n}"
        if naive:
            naive_append(client, bucket, KEY, item)
        else:
            store.update(KEY, append(item), default=[])
        acknowledged.append(item)
    return acknowledged


def stored_items(s3: Bucket) -> list[str]:
    items: list[str] = JsonStore(s3.client(), s3.bucket).get(KEY).value
    return items


def race_threads(s3: Bucket, *, naive: bool) -> tuple[list[str], list[str]]:
    acknowledged: list[str] = []
    lock = threading.Lock()

    def thread(i: int) -> None:
        items = run_writer(s3.endpoint_url, s3.bucket, f"t{i}", naive)
        with lock:
            acknowledged.extend(items)

    threads = [threading.Thread(target=thread, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return acknowledged, stored_items(s3)


def race_processes(s3: Bucket, *, naive: bool) -> tuple[list[str], list[str]]:
    context = multiprocessing.get_context("spawn")
    with context.Pool(PROCESSES) as pool:
        results = pool.starmap(
            run_writer, [(s3.endpoint_url, s3.bucket, f"p{i}", naive) for i in range(PROCESSES)]
        )
    return [item for items in results for item in items], stored_items(s3)


def assert_exactly_once(acknowledged: list[str], stored: list[str]) -> None:
    counts = Counter(stored)
    assert [item for item, n in counts.items() if n > 1] == []
    assert sorted(set(acknowledged) - set(stored)) == []
    assert len(stored) == len(acknowledged)


def lost(acknowledged: list[str], stored: list[str]) -> int:
    return len(set(acknowledged) - set(stored))


def test_threads_lose_nothing(s3_backend: Bucket) -> None:
    acknowledged, stored = race_threads(s3_backend, naive=False)
    print(f"store, threads: lost {lost(acknowledged, stored)} of {len(acknowledged)}")
    assert len(acknowledged) == THREADS * UPDATES
    assert_exactly_once(acknowledged, stored)


def test_negative_control_threads_naive_code_loses_items(s3_backend: Bucket) -> None:
    acknowledged, stored = race_threads(s3_backend, naive=True)
    print(f"naive, threads: lost {lost(acknowledged, stored)} of {len(acknowledged)}")
    assert len(acknowledged) == THREADS * UPDATES
    assert lost(acknowledged, stored) > 0


def test_processes_lose_nothing(s3_backend: Bucket) -> None:
    acknowledged, stored = race_processes(s3_backend, naive=False)
    print(f"store, processes: lost {lost(acknowledged, stored)} of {len(acknowledged)}")
    assert len(acknowledged) == PROCESSES * UPDATES
    assert_exactly_once(acknowledged, stored)


def test_negative_control_processes_naive_code_loses_items(s3_backend: Bucket) -> None:
    acknowledged, stored = race_processes(s3_backend, naive=True)
    print(f"naive, processes: lost {lost(acknowledged, stored)} of {len(acknowledged)}")
    assert len(acknowledged) == PROCESSES * UPDATES
    assert lost(acknowledged, stored) > 0
