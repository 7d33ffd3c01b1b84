"""The benchmark's S3: a `LocalS3` in a child process of its own.

moto spends a few milliseconds of CPU on every request. In the benchmark's process
that CPU would compete for one GIL with the clients being measured; in a child
process it runs on its own core, as a remote S3 would. The child serves one fresh
`LocalS3` (its own bucket, empty request log) per measurement and counts the
requests each measurement made.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections import Counter
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

import boto3

from s3store.testing import FaultPlan, LocalS3, connect

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from mypy_boto3_s3 import S3Client

__all__ = ["Endpoint", "RequestCounts", "S3Host"]

_T = TypeVar("_T")

_START_TIMEOUT = 60.0  # seconds for the child to import moto and start a server
_FAKE_KEY = "bench"  # the local S3 takes any credentials; these are not secrets


@dataclass(frozen=True)
class Endpoint:
    """Where a fresh local S3 listens, and its bucket."""

    url: str
    bucket: str


@dataclass(frozen=True)
class RequestCounts:
    """Object requests on keys under a prefix: in all, by method, by HTTP status."""

    total: int
    by_method: dict[str, int]
    by_status: dict[int, int]


def _count(s3: LocalS3, prefix: str) -> RequestCounts:
    records = [r for r in s3.requests if r.key and r.key.startswith(prefix)]
    return RequestCounts(
        total=len(records),
        by_method=dict(Counter(r.method for r in records)),
        by_status=dict(Counter(r.status for r in records)),
    )


def _serve(conn: Connection) -> None:
    """The child: answers `("fresh", latency)`, `("count", prefix)` and `("stop",)`."""
    s3: LocalS3 | None = None
    try:
        while True:
            command: tuple[Any, ...] = conn.recv()
            if command[0] == "fresh":
                if s3 is not None:
                    s3.stop()
                s3 = LocalS3(faults=FaultPlan(latency=command[1])).start()
                conn.send(Endpoint(s3.endpoint_url, s3.bucket))
            elif command[0] == "count" and s3 is not None:
                conn.send(_count(s3, command[1]))
            else:
                break
    finally:
        if s3 is not None:
            s3.stop()
        conn.close()


class S3Host:
    """Runs `LocalS3` servers in a spawned child process; use as a context manager.

    ```python
    with S3Host() as host:
        endpoint = host.fresh(latency=0.02)
        ...
        counts = host.count(prefix)
    ```
    """

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe()
        self._process = context.Process(target=_serve, args=(child_conn,),
                                        name="bench-local-s3", daemon=True)
        self._child_conn = child_conn
        # One session for the clients made in this process: a session loads the S3
        # model once, which a new session per client would do every time (~0.1 s).
        self._session = boto3.session.Session(
            aws_access_key_id=_FAKE_KEY, aws_secret_access_key=_FAKE_KEY,
            region_name="us-east-1")

    def __enter__(self) -> Self:
        self._process.start()
        self._child_conn.close()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        with contextlib.suppress(OSError):  # the child may be gone already
            self._conn.send(("stop",))
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()
        self._conn.close()

    def fresh(self, *, latency: float) -> Endpoint:
        """Stop the current server and start a new one with `latency` s per request."""
        self._conn.send(("fresh", latency))
        return self._receive(Endpoint)

    def client(self, endpoint: Endpoint, *, max_pool_connections: int) -> S3Client:
        """A new client for `endpoint` (call from one thread at a time)."""
        return connect(endpoint.url, session=self._session,
                       max_pool_connections=max_pool_connections)

    def count(self, prefix: str) -> RequestCounts:
        """Object requests the current server has seen on keys starting with `prefix`."""
        self._conn.send(("count", prefix))
        return self._receive(RequestCounts)

    def _receive(self, kind: type[_T]) -> _T:
        if not self._conn.poll(_START_TIMEOUT):
            raise RuntimeError("the local S3 process did not answer")
        answer = self._conn.recv()
        if not isinstance(answer, kind):
            raise RuntimeError(f"the local S3 process answered {answer!r}")
        return answer
