"""The document-size scenario: the client's CPU per `update()` of one large document.

A job's steps document grows with its outputs. For documents of 10 KB to 5 MB (a list of
step records with long text, as the worker writes), one writer updates one step at a
time (an upsert of a rerun: the size stays put), and this process's CPU time
(`time.process_time`) is counted per update, the local S3 running in its own process
with no latency added. Beside the store, on the same client and the same bytes:

- the floor: the hand-written read-modify-write — GET, decode, mutate, encode (the
  codec's own library, no checks), `PutObject` with `If-Match`;
- the bare put: `PutObject` of the document's bytes, nothing else.

Each runs for every codec installed (`JsonCodec` always; `OrjsonCodec` and
`MsgspecCodec` with their extras), its floor with the same library. The store runs as
shipped (its cache skips the GET: it wrote the document last) and with its cache off
(a GET per update, as the floor). Measurements are interleaved in rounds, each in
another order, and each figure is the median of its rounds, so that a burst of other work
on the machine moves one round, not one method; what the harness itself holds (botocore's
models, the test document) is frozen out of the garbage collector's way meanwhile.
"""

from __future__ import annotations

import gc
import json
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from benchmarks.harness import KEY_PREFIX
from benchmarks.server import S3Host
from s3store import JSON_CODEC, Codec, JsonStore, MsgspecCodec, OrjsonCodec

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["METHODS", "DocSizeRow", "Library", "available_libraries", "document",
           "measure_sizes", "put_work", "size_label"]

METHODS: Final = ("store", "store-read", "floor", "bare")
"""What each size measures: the store as shipped, the store without its cache, the
hand-written floor, the bare put."""

_ROUNDS: Final = 5  # interleaved rounds per size and codec (each figure is their median)
_WORDS: Final = ("lorem", "ipsum", "dolor", "sit", "amet", "été", "naïve", '"quoted"',
                 "line\n", "日本語", "data", "42")


@dataclass(frozen=True)
class Library:
    """A codec for the store and the same library's plain functions for the floor."""

    name: str
    codec: Codec[Any]
    loads: Callable[[bytes], Any]
    dumps: Callable[[Any], bytes]


@dataclass(frozen=True)
class DocSizeRow:
    """One codec at one document size: CPU milliseconds per update of each method."""

    codec: str
    size: int
    """The document's bytes (as `JsonCodec` writes it)."""
    updates: int
    """Updates (or puts) each method ran, over all rounds."""
    cpu_ms: dict[str, float]
    """Method (`METHODS`) -> CPU ms of this process per update (median of the rounds)."""
    put_work: dict[str, str]
    """Method -> what botocore computed over its `PutObject` body (`put_work`)."""

    @property
    def store_per_floor(self) -> float:
        """The store's CPU per update over the floor's."""
        return self.cpu_ms["store"] / self.cpu_ms["floor"]

    def as_json(self) -> dict[str, Any]:
        """The row for the JSON results."""
        return {"codec": self.codec, "bytes": self.size, "updates": self.updates,
                **{f"{method.replace('-', '_')}_cpu_ms": round(ms, 3)
                   for method, ms in self.cpu_ms.items()},
                "store_per_floor": round(self.store_per_floor, 3),
                "store_read_per_floor": round(self.cpu_ms["store-read"]
                                              / self.cpu_ms["floor"], 3),
                "store_per_bare": round(self.cpu_ms["store"] / self.cpu_ms["bare"], 3),
                "put_work": self.put_work}


def size_label(size: int) -> str:
    """`10 KB`, `1 MB`: a document's size for the tables (decimal units, rounded)."""
    return f"{size / 1e6:.0f} MB" if size >= 1_000_000 else f"{size / 1e3:.0f} KB"


def _json_dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def available_libraries() -> list[Library]:
    """json always; orjson and msgspec when their extras are installed."""
    libraries = [Library("json", JSON_CODEC, json.loads, _json_dumps)]
    try:
        import orjson  # noqa: PLC0415 - optional: measured when installed

        libraries.append(Library("orjson", OrjsonCodec(), orjson.loads, orjson.dumps))
    except ImportError:
        pass
    try:
        import msgspec  # noqa: PLC0415 - optional: measured when installed

        libraries.append(Library("msgspec", MsgspecCodec(), msgspec.json.decode,
                                 msgspec.json.encode))
    except ImportError:
        pass
    return libraries


def _step(order: int) -> dict[str, Any]:
    """A step record like the worker's: long model output, usage, timestamps, nulls."""
    rnd = random.Random(order)
    text = " ".join(rnd.choice(_WORDS) for _ in range(220))
    return {
        "step_order": order, "step_type": "ai_generation", "step_name": f"step {order}",
        "input": {"prompt": text[:600]}, "output": {"text": text}, "success": True,
        "model": "model-x", "usage_info": {
            "model": "model-x", "input_tokens": 1200 + order, "output_tokens": 800,
            "total_tokens": 2000 + order, "cost_usd": 0.0123, "service_type": "llm"},
        "artifact_id": None, "image_urls": [], "duration_ms": 1234.5 + order,
        "started_at": "2026-12-03T14:00:00Z", "completed_at": "2026-12-03T14:00:01Z",
        "error": None, "attempt": 1, "attempt_id": f"{rnd.getrandbits(128):032x}",
    }


def document(size: int) -> list[dict[str, Any]]:
    """Steps until the list is at least `size` bytes of JSON."""
    steps: list[dict[str, Any]] = []
    length = 2
    while length < size:
        step = _step(len(steps) + 1)
        length += len(_json_dumps(step)) + 1
        steps.append(step)
    return steps


def _rerun(n: int) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
    """The `n`th update: step `n` (modulo the list) recorded again, as attempt `n`."""
    def mutate(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        at = n % len(steps)
        steps[at] = {**steps[at], "attempt": n}
        return steps
    return mutate


def _methods(client: S3Client, bucket: str, library: Library, size: int,
             steps: list[dict[str, Any]]) -> dict[str, Callable[[int], None]]:
    """Each method's one update (the `n`th), on keys of its own, set up with the steps."""
    prefix = f"{KEY_PREFIX}size-{size}/{library.name}/"
    body = library.dumps(steps)
    shipped = JsonStore(client, bucket, codec=library.codec)
    reading = JsonStore(client, bucket, codec=library.codec, cache_size=0, group_commit=False)
    shipped.create(prefix + "store.json", steps)
    reading.create(prefix + "store-read.json", steps)
    client.put_object(Bucket=bucket, Key=prefix + "floor.json", Body=body)

    def store(n: int) -> None:
        shipped.update(prefix + "store.json", _rerun(n))

    def store_read(n: int) -> None:
        reading.update(prefix + "store-read.json", _rerun(n))

    def floor(n: int) -> None:
        key = prefix + "floor.json"
        response = client.get_object(Bucket=bucket, Key=key)
        value = _rerun(n)(library.loads(response["Body"].read()))
        client.put_object(Bucket=bucket, Key=key, Body=library.dumps(value),
                          IfMatch=response["ETag"])

    def bare(n: int) -> None:
        client.put_object(Bucket=bucket, Key=prefix + "bare.json", Body=body)

    return {"store": store, "store-read": store_read, "floor": floor, "bare": bare}


def put_work(client: S3Client, methods: dict[str, Callable[[int], None]]) -> dict[str, str]:
    """What botocore computes over each method's `PutObject` body, from the headers it
    sends: checksums (`x-amz-checksum-*`, `Content-MD5`) and the payload hash of the
    signature (`x-amz-content-sha256`: the body's SHA-256 on a plain-HTTP endpoint,
    `UNSIGNED-PAYLOAD` over HTTPS). The comparison is fair when every method's is the same."""
    seen: list[str] = []

    def record(request: Any, **_: Any) -> None:
        headers = {name.lower(): value.decode() if isinstance(value, bytes) else str(value)
                   for name, value in request.headers.items()}
        work = sorted(name for name in headers
                      if name.startswith("x-amz-checksum-") or name == "content-md5")
        payload = headers.get("x-amz-content-sha256", "")
        work.append("payload sha256" if len(payload) == 64 else payload or "no payload hash")
        seen.append(", ".join(work))

    client.meta.events.register("before-send.s3.PutObject", record, unique_id="bench-put")
    found: dict[str, str] = {}
    try:
        for name, call in methods.items():
            seen.clear()
            call(10_000 + len(found))
            found[name] = seen[-1] if seen else "no PutObject"
    finally:
        client.meta.events.unregister("before-send.s3.PutObject", unique_id="bench-put")
    return found


def _measure(methods: dict[str, Callable[[int], None]], updates: int) -> dict[str, float]:
    """CPU ms per call of each method: the median over interleaved rounds."""
    rounds = _rounds(updates)
    per_round = max(1, updates // rounds)
    samples: dict[str, list[float]] = {name: [] for name in methods}
    n = 0
    for call in methods.values():  # warm: connections, caches, first-call imports
        n += 1
        call(n)
    order = list(methods.items())
    # What the harness holds (botocore's models, the test document) would make every full
    # collection slow, whichever method's allocations trigger it: out of the collector's way.
    gc.collect()
    gc.freeze()
    try:
        _rounds_of(order, rounds, per_round, samples, n)
    finally:
        gc.unfreeze()
    return {name: statistics.median(values) for name, values in samples.items()}


def _rounds_of(order: list[tuple[str, Callable[[int], None]]], rounds: int, per_round: int,
               samples: dict[str, list[float]], n: int) -> None:
    """Run `rounds` rounds of `per_round` calls of each method, adding each method's CPU
    ms per call of each round to its `samples` (the calls numbered from `n` on)."""
    for turn in range(rounds):  # each round in another order: no method always runs first
        for name, call in order[turn % len(order):] + order[:turn % len(order)]:
            started = time.process_time()
            for _ in range(per_round):
                n += 1
                call(n)
            samples[name].append((time.process_time() - started) * 1000 / per_round)


def _rounds(updates: int) -> int:
    return max(1, min(_ROUNDS, updates))


def measure_sizes(host: S3Host, sizes: tuple[int, ...], updates: tuple[int, ...], *,
                  progress: Callable[[str], None] = lambda _: None) -> list[DocSizeRow]:
    """Every codec available at every size (`updates[i]` updates per method at
    `sizes[i]`), on a fresh local S3 with no latency."""
    endpoint = host.fresh(latency=0.0)
    client = host.client(endpoint, max_pool_connections=4)
    rows = []
    for size, count in zip(sizes, updates, strict=True):
        steps = document(size)
        for library in available_libraries():
            progress(f"{library.name} {size_label(size)}")
            methods = _methods(client, endpoint.bucket, library, size, steps)
            cpu = _measure(methods, count)
            rounds = _rounds(count)
            rows.append(DocSizeRow(library.name, len(_json_dumps(steps)),
                                   max(1, count // rounds) * rounds, cpu,
                                   put_work(client, methods)))
    return rows
