"""`LocalS3`: moto's S3 server on 127.0.0.1, made as strict as S3, with fault injection.

moto checks a precondition and then writes, with no lock between, so under threads
two conditional writes with one ETag can both win; and overwriting a key can close
a buffer another thread is still reading. `LocalS3` serves every request through
one lock (check-and-write is atomic, as on S3) while latency is added outside it
(requests still overlap in time, as on a real network).
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.parse
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import boto3

from s3store._objects import client_config
from s3store.testing import moto_patches
from s3store.testing.faults import LANDS, FaultDealer, FaultKind, FaultPlan

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["LocalS3", "RequestRecord", "connect"]

_ACCESS_KEY = "testing"  # moto accepts any credentials; these are not secrets
_REGION = "us-east-1"
_LOGGED_HEADERS = ("If-Match", "If-None-Match", "x-amz-expected-bucket-owner")
_META_PREFIX = "x-amz-meta-"
# The query parameters that ask for a listing's next page (ListObjectVersions, ListObjectsV2).
_PAGE_MARKERS = ("key-marker", "version-id-marker", "continuation-token")

StartResponse = Callable[..., Any]
Environ = dict[str, Any]


@dataclass(frozen=True)
class RequestRecord:
    """One request the server saw: what it was, the answer, and any fault injected."""

    method: str
    bucket: str
    key: str
    status: int
    fault: FaultKind | None
    headers: dict[str, str] = field(default_factory=dict)


def _split_path(environ: Environ) -> tuple[str, str]:
    path = environ.get("PATH_INFO", "/").lstrip("/")
    bucket, _, key = path.partition("/")
    return bucket, key


Response = tuple[str, list[tuple[str, str]], bytes]


def _error_response(status: int, code: str, message: str) -> Response:
    request_id = uuid.uuid4().hex[:16].upper()
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>{request_id}</RequestId></Error>"
    ).encode()
    reason = {403: "Forbidden", 409: "Conflict", 500: "Internal Server Error",
              501: "Not Implemented", 503: "Slow Down"}[status]
    headers = [
        ("Content-Type", "application/xml"),
        ("Content-Length", str(len(body))),
        ("x-amz-request-id", request_id),
    ]
    return f"{status} {reason}", headers, body


_INJECTED_ERRORS: dict[FaultKind, tuple[int, str, str]] = {
    "slow_down": (503, "SlowDown", "Please reduce your request rate."),
    "access_denied": (403, "AccessDenied", "Access Denied"),
    "error_before_write": (500, "InternalError", "We encountered an internal error."),
    "error_after_write": (500, "InternalError", "We encountered an internal error."),
    "conditional_conflict": (
        409,
        "ConditionalRequestConflict",
        "A conflicting conditional operation is currently in progress against this resource.",
    ),
}


class _StrictS3App:
    """WSGI middleware around moto: one lock for check-and-write, faults, counters."""

    def __init__(self, inner: Callable[[Environ, StartResponse], Iterable[bytes]], *,
                 atomic: bool, dealer: FaultDealer) -> None:
        self._inner = inner
        self._atomic = atomic
        self._lock = threading.Lock()
        self._log_lock = threading.Lock()
        self.dealer = dealer
        self.log: deque[RequestRecord] = deque(maxlen=200_000)
        self._second_pages: dict[str, str] = {}  # a listing's first marker, by the rest

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        bucket, key = _split_path(environ)
        is_object = bool(key) and not environ.get("QUERY_STRING")
        is_write = is_object and method in ("PUT", "DELETE")
        conditional = "HTTP_IF_MATCH" in environ or "HTTP_IF_NONE_MATCH" in environ
        plan = self.dealer.plan
        fault = self.dealer.draw(is_write=is_write, conditional=conditional) if is_object else None
        headers = self._logged_headers(environ)
        if plan.latency:
            time.sleep(plan.latency)
        if plan.cycle_listings and not key and method == "GET":
            self._cycle(environ)

        if fault is not None and fault not in LANDS:
            status, response_headers, body = _error_response(*_INJECTED_ERRORS[fault])
        elif (method == "DELETE" and is_write and "HTTP_IF_MATCH" in environ
              and plan.conditional_delete_not_implemented):
            status, response_headers, body = _error_response(
                501, "NotImplemented", "A header you provided implies functionality that is "
                "not implemented")
        else:
            if is_write and plan.ignore_conditions:
                environ.pop("HTTP_IF_MATCH", None)
                environ.pop("HTTP_IF_NONE_MATCH", None)
            status, response_headers, body = self._serve(environ)
            if fault == "error_after_write":
                status, response_headers, body = _error_response(*_INJECTED_ERRORS[fault])
        self._record(RequestRecord(method, bucket, key, int(status.split()[0]), fault, headers))

        if fault == "drop_after_write":
            sock = environ.get("werkzeug.socket")
            if sock is not None:
                # werkzeug's write then fails with a broken pipe: the client gets no answer.
                sock.shutdown(socket.SHUT_RDWR)
        if fault == "stall_after_write":
            time.sleep(plan.stall_seconds)
        start_response(status, response_headers)
        return [] if method == "HEAD" else [body]

    def _cycle(self, environ: Environ) -> None:
        """Answer the request for a listing's third page with its first (`cycle_listings`)."""
        query = urllib.parse.parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        marker = "&".join(f"{k}={v}" for k, v in query if k in _PAGE_MARKERS)
        if not marker:
            return
        rest = "&".join(f"{k}={v}" for k, v in query if k not in _PAGE_MARKERS)
        first = self._second_pages.setdefault(rest, marker)
        if marker != first:
            environ["QUERY_STRING"] = urllib.parse.urlencode(
                [(k, v) for k, v in query if k not in _PAGE_MARKERS])

    def _serve(self, environ: Environ) -> Response:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        if self._atomic:
            with self._lock:
                body = b"".join(self._inner(environ, capture))
        else:
            body = b"".join(self._inner(environ, capture))
        return captured["status"], captured["headers"], body

    @staticmethod
    def _logged_headers(environ: Environ) -> dict[str, str]:
        headers: dict[str, str] = {}
        for name in _LOGGED_HEADERS:
            value = environ.get("HTTP_" + name.upper().replace("-", "_"))
            if value is not None:
                headers[name] = value
        for env_key, value in environ.items():
            if env_key.startswith("HTTP_X_AMZ_META_"):
                headers[_META_PREFIX + env_key[16:].lower().replace("_", "-")] = value
        return headers

    def _record(self, record: RequestRecord) -> None:
        with self._log_lock:
            self.log.append(record)


def connect(
    endpoint_url: str,
    *,
    session: boto3.session.Session | None = None,
    max_attempts: int = 3,
    read_timeout: float = 10.0,
    connect_timeout: float = 5.0,
    max_pool_connections: int = 64,
) -> S3Client:
    """A new boto3 S3 client for a local endpoint (from any thread or process).

    botocore's "standard" retry mode with `max_attempts` attempts in all (the first
    included), and fake credentials (the local S3 takes any). Without `session`, each
    call makes its own boto3 session, since sessions are not thread-safe.
    """
    config = client_config(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        read_timeout=read_timeout,
        connect_timeout=connect_timeout,
        max_pool_connections=max_pool_connections,
        s3={"addressing_style": "path"},
    )
    if session is None:
        session = _new_session()
    return session.client("s3", endpoint_url=endpoint_url, config=config)


def _new_session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id=_ACCESS_KEY, aws_secret_access_key=_ACCESS_KEY, region_name=_REGION
    )


def _quiet_handler(base: type[Any]) -> type[Any]:
    class QuietRequestHandler(base):  # type: ignore[misc]
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass  # a test server that prints a line per request drowns the test output

        def log_error(self, *args: Any, **kwargs: Any) -> None:
            pass  # dropped connections are injected on purpose

    return QuietRequestHandler


class LocalS3:
    """An S3 endpoint on 127.0.0.1 for tests and demos, as strict as S3.

    ```python
    with LocalS3() as s3:
        store = JsonStore(s3.client(), s3.bucket)
    ```

    - `atomic` (default True) serialises the server's check-and-write; False is bare
      moto, for negative controls.
    - `faults` is a `FaultPlan` (seeded probabilities and latency); `inject()` queues
      exact faults; `set_faults()` changes the plan while running.
    - `write_delay` makes the backend's write slow, widening moto's window between
      checking a precondition and writing (to show what `atomic` prevents).
    - `versioning` turns on bucket versioning.
    - `requests` / `stats()` tell what the server served.
    """

    def __init__(
        self,
        *,
        bucket: str | None = None,
        atomic: bool = True,
        faults: FaultPlan | None = None,
        write_delay: float = 0.0,
        versioning: bool = False,
    ) -> None:
        self.bucket = bucket or f"s3store-test-{uuid.uuid4().hex[:12]}"
        self.atomic = atomic
        self.write_delay = write_delay
        self.versioning = versioning
        self._dealer = FaultDealer(faults or FaultPlan())
        self._app: _StrictS3App | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._restore: list[moto_patches.Restore] = []
        self._session = _new_session()
        self._session_lock = threading.Lock()
        self.endpoint_url = ""

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> Self:
        """Start the server on a free port and create the bucket."""
        from moto.moto_server.werkzeug_app import (  # noqa: PLC0415 - moto is an optional extra
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server  # noqa: PLC0415

        self._app = _StrictS3App(DomainDispatcherApplication(create_backend_app),
                                 atomic=self.atomic, dealer=self._dealer)
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True,
                                   request_handler=_quiet_handler(MotoRequestHandler))
        self.endpoint_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},  # how fast stop() is noticed
            name=f"LocalS3:{self._server.server_port}",
            daemon=True,
        )
        self._thread.start()
        admin = self.client()
        admin.create_bucket(Bucket=self.bucket)
        if self.versioning:
            admin.put_bucket_versioning(Bucket=self.bucket,
                                        VersioningConfiguration={"Status": "Enabled"})
        backend = moto_patches.s3_backend()
        if self.versioning:
            self._restore.append(moto_patches.fast_version_listing(backend))
        if self.write_delay:
            self._restore.append(moto_patches.slow_writes(backend, self.bucket, self.write_delay))
        return self

    def stop(self) -> None:
        """Stop the server (objects stay in moto's memory until the process ends)."""
        while self._restore:
            self._restore.pop()()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- clients ---------------------------------------------------------------

    def client(self, **options: Any) -> S3Client:
        """A new boto3 S3 client for this endpoint; `options` as for `connect()`.

        Safe from any thread: clients come from one session (its loaded service model
        makes a client cheap), under a lock since sessions are not thread-safe.
        """
        with self._session_lock:
            return connect(self.endpoint_url, session=self._session, **options)

    # -- faults and counters ---------------------------------------------------

    @property
    def faults(self) -> FaultPlan:
        """The fault plan in force."""
        return self._dealer.plan

    def set_faults(self, plan: FaultPlan) -> None:
        """Replace the fault plan (its seed restarts the random sequence).

        Drops what `inject()` queued and has not been used yet.
        """
        self._dealer.set_plan(plan)

    def inject(self, kind: FaultKind, *, count: int = 1) -> None:
        """Inject `kind` into the next `count` requests it applies to."""
        self._dealer.queue(kind, count)

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request served so far (the last 200,000), oldest first."""
        return list(self._running_app().log)

    def clear_requests(self) -> None:
        """Forget the request log and the fault counters."""
        self._running_app().log.clear()
        self._dealer.injected.clear()

    def stats(self) -> dict[str, Any]:
        """Counts of requests by method and status, and of faults injected by kind."""
        log = self.requests
        return {
            "requests": len(log),
            "by_method": dict(Counter(r.method for r in log)),
            "by_status": dict(Counter(r.status for r in log)),
            "faults": dict(self._dealer.injected),
        }

    def _running_app(self) -> _StrictS3App:
        if self._app is None:
            raise RuntimeError("LocalS3 is not started")
        return self._app
