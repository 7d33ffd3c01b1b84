"""Many writers appending unique items to one document: nothing acknowledged is lost.

On each front end and each backend (the strict LocalS3, then ministack): `JsonStore` in
threads (16 x 20) and in OS processes (4 x 20); `AsyncJsonStore` as tasks on one event
loop (16 x 20: half with a store each, half sharing one, whose group commit rounds they
share), and in OS processes each with its own loop (4 processes x 4 tasks x 5). Each race
has its negative control on the same harness: the incident's unconditional
read-modify-write must lose items there, or the race test could not fail.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from s3store import JsonStore
from s3store.testing import connect
from tests.frontends import FRONT_ENDS, async_client_like
from tests.helpers import FAST_RETRY, naive_append
from tests.servers import Bucket

KEY = "race/items.json"
THREADS, PROCESSES, UPDATES = 16, 4, 20
TASKS_PER_PROCESS = 4

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


async def naive_append_async(client: Any, bucket: str, key: str, item: Any) -> None:
    """The incident's code on aiobotocore: read (or start empty), append, plain PutObject."""
    try:
        response = await client.get_object(Bucket=bucket, Key=key)
        async with response["Body"] as body:
            items: list[Any] = json.loads(await body.read())
    except client.exceptions.NoSuchKey:
        items = []
    items.append(item)
    await client.put_object(Bucket=bucket, Key=key, Body=json.dumps(items).encode())


async def async_writers(endpoint_url: str, bucket: str, writers: list[str], naive: bool, *,
                        updates: int, shared: int) -> list[str]:
    """Writer tasks on this loop, all on one aiobotocore client: the first `shared` of them
    through one `AsyncJsonStore`, each other one through a store of its own."""
    from s3store.aio import AsyncJsonStore  # noqa: PLC0415 - the `aio` extra's
    async with async_client_like(connect(endpoint_url)) as client:
        one = AsyncJsonStore(client, bucket, retry=FAST_RETRY)

        async def writer(index: int, name: str) -> list[str]:
            store = one if index < shared else AsyncJsonStore(client, bucket, retry=FAST_RETRY)
            acknowledged = []
            for n in range(updates):
                item = f"{name}-{n}"
                if naive:
                    await naive_append_async(client, bucket, KEY, item)
                else:
                    await store.update(KEY, append(item), default=[])
                acknowledged.append(item)
            return acknowledged

        done = await asyncio.gather(*(writer(i, name) for i, name in enumerate(writers)))
    return [item for items in done for item in items]


def run_process(front_end: str, endpoint_url: str, bucket: str, writer: str,
                naive: bool) -> list[str]:
    """One process's writers: a `JsonStore` loop, or a loop of tasks sharing a store."""
    if front_end == "sync":
        return run_writer(endpoint_url, bucket, writer, naive)
    names = [f"{writer}.{n}" for n in range(TASKS_PER_PROCESS)]
    return asyncio.run(async_writers(endpoint_url, bucket, names, naive,
                                     updates=UPDATES // TASKS_PER_PROCESS,
                                     shared=TASKS_PER_PROCESS))


def stored_items(s3: Bucket) -> list[str]:
    items: list[str] = JsonStore(s3.client(), s3.bucket).get(KEY).value
    return items


def race_threads(s3: Bucket, *, naive: bool,
                 front_end: str = "sync") -> tuple[list[str], list[str]]:
    """THREADS writers at once: threads, or tasks on one loop."""
    if front_end == "async":
        names = [f"t{i}" for i in range(THREADS)]
        return asyncio.run(async_writers(s3.endpoint_url, s3.bucket, names, naive,
                                         updates=UPDATES, shared=THREADS // 2)), stored_items(s3)
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


def race_processes(s3: Bucket, *, naive: bool,
                   front_end: str = "sync") -> tuple[list[str], list[str]]:
    context = multiprocessing.get_context("spawn")
    with context.Pool(PROCESSES) as pool:
        results = pool.starmap(
            run_process, [(front_end, s3.endpoint_url, s3.bucket, f"p{i}", naive)
                          for i in range(PROCESSES)]
        )
    return [item for items in results for item in items], stored_items(s3)


def assert_exactly_once(acknowledged: list[str], stored: list[str]) -> None:
    counts = Counter(stored)
    assert [item for item, n in counts.items() if n > 1] == []
    assert sorted(set(acknowledged) - set(stored)) == []
    assert len(stored) == len(acknowledged)


def lost(acknowledged: list[str], stored: list[str]) -> int:
    return len(set(acknowledged) - set(stored))


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_threads_lose_nothing(s3_backend: Bucket, front_end: str) -> None:
    acknowledged, stored = race_threads(s3_backend, front_end=front_end, naive=False)
    print(f"store, threads: lost {lost(acknowledged, stored)} of {len(acknowledged)}")
    assert len(acknowledged) == THREADS * UPDATES
    assert_exactly_once(acknowledged, stored)


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_negative_control_threads_naive_code_loses_items(s3_backend: Bucket,
                                                         front_end: str) -> None:
    acknowledged, stored = race_threads(s3_backend, front_end=front_end, naive=True)
    print(f"naive, threads: lost {lost(acknowledged, stored)} of {len(acknowledged)}")
    assert len(acknowledged) == THREADS * UPDATES
    assert lost(acknowledged, stored) > 0


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_processes_lose_nothing(s3_backend: Bucket, front_end: str) -> None:
    acknowledged, stored = race_processes(s3_backend, front_end=front_end, naive=False)
    print(f"store, processes: lost {lost(acknowledged, stored)} of {len(acknowledged)}")
    assert len(acknowledged) == PROCESSES * UPDATES
    assert_exactly_once(acknowledged, stored)


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_negative_control_processes_naive_code_loses_items(s3_backend: Bucket,
                                                           front_end: str) -> None:
    acknowledged, stored = race_processes(s3_backend, front_end=front_end, naive=True)
    print(f"naive, processes: lost {lost(acknowledged, stored)} of {len(acknowledged)}")
    assert len(acknowledged) == PROCESSES * UPDATES
    assert lost(acknowledged, stored) > 0
