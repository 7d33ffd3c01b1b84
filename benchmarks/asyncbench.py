"""`make bench`'s async column: one event loop, many concurrent updates, four ways.

At the same injected latency as the other scenarios, `writers` concurrent writers (256 by
default) each append `updates` items, all to one key or spread over 100 keys, through:

- `AsyncJsonStore`: one store, `writers` tasks on one event loop (their group commit);
- `JsonStore, threads`: one store, `writers` threads (the threaded store);
- `obstore CAS loop`: what an asyncio user would write on obstore — `get`, then `put` with
  `mode={"e_tag": ...}` (or `"create"`), and on `PreconditionError` a full-jitter
  exponential backoff (25 ms doubling to 1 s), at most 200 attempts;
- `aiobotocore CAS loop`: the same loop on plain aiobotocore (`IfMatch` / `IfNoneMatch`).

Each runs in a spawned process of its own against a fresh `LocalS3`, so that its peak
memory is its own: the growth of the process's peak RSS over its RSS before the run, per
thousand updates in flight (`writers` at once). Acknowledged updates/s, requests per update
(as the server counted them), lost updates (acknowledged but missing when read back) and
p50/p99 of an acknowledged update's latency are measured as in the other scenarios.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import random
import resource
import statistics
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.harness import KEY_PREFIX
from benchmarks.server import Endpoint, S3Host
from s3store import JsonStore, RetryPolicy
from s3store.testing import connect

__all__ = ["ASYNC_OPTIONS", "SHAPES", "UNCONDITIONAL", "AsyncRow", "asyncio_table",
           "measure_async"]

ASYNC_OPTIONS = ("AsyncJsonStore", "JsonStore, threads", "obstore CAS loop",
                 "aiobotocore CAS loop")
UNCONDITIONAL = "aiobotocore, unconditional"
"""The incident's read-modify-write on aiobotocore (no If-Match): the harness's negative
control, which must lose updates (not in `ASYNC_OPTIONS`)."""
SHAPES = (("one key", 1), ("100 keys", 100))
CAS_ATTEMPTS = 200  # a hand-written loop's cap: an update that needs more is failed
BASE, CAP = 0.025, 1.0  # the hand-written loops' backoff (full jitter)
_TIMEOUT = 900.0  # seconds one option's process may take
_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing",
                "region_name": "us-east-1"}
STORE_RETRY = RetryPolicy(max_attempts=CAS_ATTEMPTS, deadline=None)


@dataclass(frozen=True)
class AsyncRow:
    """One option in one shape."""

    option: str
    shape: str
    writers: int
    updates: int
    acknowledged: int
    failed: int
    lost: int
    seconds: float
    requests: int
    p50_ms: float
    p99_ms: float
    peak_kib_per_1000: float

    @property
    def per_second(self) -> float:
        return self.acknowledged / self.seconds if self.seconds else 0.0

    @property
    def requests_per_update(self) -> float:
        return self.requests / self.acknowledged if self.acknowledged else float("nan")

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "per_second": round(self.per_second, 1),
                "requests_per_update": round(self.requests_per_update, 3)}


def _rss_kib() -> int:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() // 1024


async def _backoff(attempt: int) -> None:
    await asyncio.sleep(random.uniform(0, min(CAP, BASE * 2 ** attempt)))


async def _obstore_cas(url: str, bucket: str, writers: int) -> Callable[[str, str],
                                                                         Awaitable[None]]:
    import obstore  # noqa: PLC0415 - the bench extra's
    from obstore.exceptions import AlreadyExistsError, PreconditionError  # noqa: PLC0415
    from obstore.store import S3Store  # noqa: PLC0415

    store = S3Store(bucket, endpoint=url, access_key_id=_CREDENTIALS["aws_access_key_id"],
                    secret_access_key=_CREDENTIALS["aws_secret_access_key"],
                    region="us-east-1", virtual_hosted_style_request=False,
                    client_options={"allow_http": True, "pool_max_idle_per_host": str(writers)},
                    conditional_put="etag")

    async def append(key: str, item: str) -> None:
        for attempt in range(CAS_ATTEMPTS):
            got = await obstore.get_async(store, key)
            items = json.loads(bytes(await got.bytes_async()))
            try:
                await obstore.put_async(store, key, json.dumps([*items, item]).encode(),
                                        mode={"e_tag": got.meta["e_tag"]})
                return
            except (PreconditionError, AlreadyExistsError):
                await _backoff(attempt)
        raise RuntimeError(f"gave up after {CAS_ATTEMPTS} attempts")
    return append


async def _run_async(option: str, url: str, bucket: str, plan: list[list[tuple[str, str]]],
                     *, latencies: list[float], ready: Callable[[], None]) -> int:
    """The async options: one task per writer; how many updates failed. `ready()` is
    called once the client is made and has sent a request (before the clock starts)."""
    from aiobotocore.config import AioConfig  # noqa: PLC0415 - the aio extra's
    from aiobotocore.session import get_session  # noqa: PLC0415

    from s3store.aio import AsyncJsonStore  # noqa: PLC0415

    config = AioConfig(max_pool_connections=len(plan), s3={"addressing_style": "path"})
    async with get_session().create_client(
            "s3", endpoint_url=url, config=config, region_name=_CREDENTIALS["region_name"],
            aws_access_key_id=_CREDENTIALS["aws_access_key_id"],
            aws_secret_access_key=_CREDENTIALS["aws_secret_access_key"]) as client:
        append: Callable[[str, str], Awaitable[None]]
        if option == "AsyncJsonStore":
            store = AsyncJsonStore(client, bucket, retry=STORE_RETRY)

            async def append(key: str, item: str) -> None:
                await store.update(key, _appending(item))
        elif option == "obstore CAS loop":
            append = await _obstore_cas(url, bucket, len(plan))
        else:
            async def append(key: str, item: str) -> None:
                for attempt in range(CAS_ATTEMPTS):
                    got = await client.get_object(Bucket=bucket, Key=key)
                    async with got["Body"] as body:
                        items = json.loads(await body.read())
                    condition: dict[str, Any] = ({} if option == UNCONDITIONAL
                                                 else {"IfMatch": got["ETag"]})
                    try:
                        await client.put_object(Bucket=bucket, Key=key, **condition,
                                                Body=json.dumps([*items, item]).encode())
                        return
                    except client.exceptions.ClientError as exc:
                        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                        if status not in (409, 412):
                            raise
                        await _backoff(attempt)
                raise RuntimeError(f"gave up after {CAS_ATTEMPTS} attempts")

        await client.head_object(Bucket=bucket, Key=plan[0][0][0])  # warm: models, a connection
        ready()

        async def writer(updates: list[tuple[str, str]]) -> int:
            failed = 0
            for key, item in updates:
                started = time.perf_counter()
                try:
                    await append(key, item)
                except Exception:  # counted, and the item checked as not acknowledged
                    failed += 1
                    continue
                latencies.append(time.perf_counter() - started)
            return failed
        return sum(await asyncio.gather(*(writer(updates) for updates in plan)))


def _appending(item: str) -> Callable[[list[str]], list[str]]:
    return lambda items: [*items, item]


def _run_threads(url: str, bucket: str, plan: list[list[tuple[str, str]]],
                 latencies: list[float], ready: Callable[[], None]) -> int:
    client = connect(url, max_pool_connections=len(plan))
    store = JsonStore(client, bucket, retry=STORE_RETRY)
    lock = threading.Lock()
    client.head_object(Bucket=bucket, Key=plan[0][0][0])  # warm: models, a connection
    ready()

    def writer(updates: list[tuple[str, str]]) -> int:
        failed = 0
        for key, item in updates:
            started = time.perf_counter()
            try:
                store.update(key, _appending(item))
            except Exception:
                failed += 1
                continue
            with lock:
                latencies.append(time.perf_counter() - started)
        return failed

    with ThreadPoolExecutor(len(plan)) as pool:
        return sum(pool.map(writer, plan))


def _child(option: str, url: str, bucket: str, plan: list[list[tuple[str, str]]],
           conn: Any) -> None:
    """In the spawned process: run `option`, send (failed, seconds, latencies, peak KiB)."""
    latencies: list[float] = []
    mark: dict[str, float] = {}

    def ready() -> None:  # the client is made and warm: memory and time count from here
        mark["rss"], mark["started"] = _rss_kib(), time.perf_counter()

    if option == "JsonStore, threads":
        failed = _run_threads(url, bucket, plan, latencies, ready)
    else:
        failed = asyncio.run(_run_async(option, url, bucket, plan, latencies=latencies,
                                        ready=ready))
    seconds = time.perf_counter() - mark["started"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    conn.send((failed, seconds, latencies, max(0.0, peak - mark["rss"])))
    conn.close()


def _plan(writers: int, updates: int, keys: list[str]) -> list[list[tuple[str, str]]]:
    return [[(keys[w % len(keys)], f"w{w}-{n}") for n in range(updates)]
            for w in range(writers)]


def measure_async(host: S3Host, option: str, shape: str, key_count: int, *, writers: int,
                  updates: int, latency: float) -> AsyncRow:
    """One option in one shape, in a spawned process against a fresh server."""
    endpoint: Endpoint = host.fresh(latency=latency)
    keys = [f"{KEY_PREFIX}async/{n}.json" for n in range(key_count)]
    client = host.client(endpoint, max_pool_connections=8)
    for key in keys:
        client.put_object(Bucket=endpoint.bucket, Key=key, Body=b"[]")
    before = host.count(KEY_PREFIX).total
    plan = _plan(writers, updates, keys)
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_child, args=(option, endpoint.url, endpoint.bucket, plan,
                                                   child), daemon=True)
    process.start()
    child.close()
    if not parent.poll(_TIMEOUT):
        process.terminate()
        raise RuntimeError(f"{option} ({shape}) did not finish in {_TIMEOUT:.0f} s")
    failed, seconds, latencies, peak_kib = parent.recv()
    process.join(30)
    requests = host.count(KEY_PREFIX).total - before
    stored = [item for key in keys for item in json.loads(
        client.get_object(Bucket=endpoint.bucket, Key=key)["Body"].read())]
    acknowledged = writers * updates - failed
    expected = {item for updates_ in plan for _, item in updates_}
    lost = max(0, acknowledged - len(set(stored) & expected))
    ms = sorted(1000 * s for s in latencies) or [float("nan")]
    return AsyncRow(option, shape, writers, writers * updates, acknowledged, failed, lost,
                    round(seconds, 3), requests, round(statistics.median(ms), 1),
                    round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 1),
                    round(peak_kib * 1000 / writers, 1))


def asyncio_table(rows: list[AsyncRow]) -> str:
    """The async column: a row per option and shape."""
    header = (f"{'option':<22} {'shape':<9} {'acked/s':>8} {'req/upd':>8} {'lost':>5} "
              f"{'failed':>6} {'p50 ms':>8} {'p99 ms':>8} {'KiB/1000 in flight':>18}")
    first = rows[0] if rows else None
    title = (f"asyncio: {first.writers} concurrent updates x {first.updates // first.writers} "
             "each, one event loop (threads for JsonStore)" if first else "asyncio")
    lines = [title, header, "-" * len(header)]
    lines += [f"{r.option:<22} {r.shape:<9} {r.per_second:>8.1f} {r.requests_per_update:>8.2f} "
              f"{r.lost:>5} {r.failed:>6} {r.p50_ms:>8.1f} {r.p99_ms:>8.1f} "
              f"{r.peak_kib_per_1000:>18.0f}" for r in rows]
    return "\n".join(lines)
