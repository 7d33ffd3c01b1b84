"""`LocalS3`: moto's S3 server on 127.0.0.1, made as strict as S3, with fault injection.

moto checks a precondition and then writes, with no lock between, so under threads
two conditional writes with one ETag can both win; and overwriting a key can close
a buffer another thread is still reading. `LocalS3` serves every request through
one lock (check-and-write is atomic, as on S3) while latency is added outside it
(requests still overlap in time, as on a real network).

moto keeps every server's objects in one store per process; each `LocalS3` keeps its
own in an account of its own there (`moto_accounts`), which it discards when it stops.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import uuid
from collections import Counter
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import boto3

from s3store._objects import client_config
from s3store.testing import moto_accounts, moto_patches
from s3store.testing.faults import FaultDealer, FaultKind, FaultPlan
from s3store.testing.strict_app import RequestRecord, StrictS3App

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["BucketInUseError", "LocalS3", "RequestRecord", "connect"]

# What LocalS3 imports of the `testing` extra (moto's server), looked for, not imported.
_EXTRA_MODULES = ("moto", "werkzeug", "flask", "flask_cors")


def _require_testing_extra() -> None:
    missing = [name for name in _EXTRA_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise ModuleNotFoundError(
            "s3store.testing needs the `testing` extra (moto's S3 server), which is not "
            f"installed (no module {', '.join(missing)}): pip install 's3store[testing]'",
            name=missing[0])


# Here, not when a LocalS3 starts: a suite without the extra fails on its first import,
# with the line that installs it, instead of a bare "No module named 'moto'" mid-test.
_require_testing_extra()



class BucketInUseError(RuntimeError):
    """A LocalS3 cannot start: its bucket's name is taken in this process's moto."""


_ACCESS_KEY = "testing"  # moto accepts any credentials; these are not secrets
_REGION = "us-east-1"


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

    Each instance starts with its bucket empty and shares nothing with another: its
    objects live in a moto account of its own (`account_id`), discarded by `stop()`.
    Bucket names are one namespace in the process, as on S3: starting an instance whose
    bucket another running one serves raises `BucketInUseError`. `reset()` empties a
    running instance for the next test, as a fresh start would.
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
        self.account_id = moto_accounts.new_account_id()
        """The moto account that owns the bucket (what `ExpectedBucketOwner` would name)."""
        self._initial_faults = faults or FaultPlan()
        self._dealer = FaultDealer(self._initial_faults)
        self._app: StrictS3App | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._restore: list[moto_patches.Restore] = []
        self._session = _new_session()
        self._session_lock = threading.Lock()
        self.endpoint_url = ""

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> Self:
        """Start the server on a free port and create the bucket, empty.

        Raises `BucketInUseError` when the bucket is in this process's moto already:
        another LocalS3 that is still running serves it (or a `mock_aws` test made it).
        Raises `RuntimeError` when `MOTO_ACCOUNT_ID` is set: moto would then put every
        LocalS3 in that one account, and they would share their objects.
        """
        from moto.moto_server.werkzeug_app import (  # noqa: PLC0415 - moto is an optional extra
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server  # noqa: PLC0415

        if self.running:
            raise RuntimeError("LocalS3 is already started")
        if "MOTO_ACCOUNT_ID" in os.environ:
            raise RuntimeError(
                "MOTO_ACCOUNT_ID is set: moto would serve every LocalS3 from that one account, "
                "so that they share their objects; unset it to use LocalS3")
        self._app = StrictS3App(DomainDispatcherApplication(create_backend_app),
                                atomic=self.atomic, dealer=self._dealer,
                                account_id=self.account_id)
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
        try:
            self._make_bucket()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server and discard its bucket and objects (moto's memory of them).

        `requests` and `stats()` still tell what it served. Stopping twice does nothing.
        """
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._discard_bucket()

    @property
    def running(self) -> bool:
        """Whether the server is serving (between `start()` and `stop()`)."""
        return self._server is not None

    def reset(self) -> None:
        """Make a running instance as it was just after `start()`, on the same endpoint.

        The bucket is emptied (every object and version gone) and made again with the
        same options; the fault plan is the one given to the constructor, with nothing
        queued by `inject()`; the request log and the counters are empty. Call it between
        tests, with no request in flight. Raises `RuntimeError` if it is not running.
        """
        if self._app is None or not self.running:
            raise RuntimeError("LocalS3 is not started")
        self._discard_bucket()
        self._dealer.set_plan(self._initial_faults)
        self._dealer.injected.clear()
        self._app.forget()
        self._make_bucket()

    def _check_bucket_free(self) -> None:
        owner = moto_accounts.bucket_account(self.bucket)
        if owner is not None:
            raise BucketInUseError(
                f"bucket {self.bucket!r} is already in this process's moto (account {owner}): "
                "another LocalS3 still running serves it, or a mock_aws test made it; stop "
                "that one first, or give this one another bucket name")

    def _make_bucket(self) -> None:
        self._check_bucket_free()
        admin = self.client()
        admin.create_bucket(Bucket=self.bucket)
        if self.versioning:
            admin.put_bucket_versioning(Bucket=self.bucket,
                                        VersioningConfiguration={"Status": "Enabled"})
        backend = moto_accounts.s3_backend(self.account_id)
        if self.versioning:
            self._restore.append(moto_patches.fast_version_listing(backend))
        if self.write_delay:
            self._restore.append(moto_patches.slow_writes(backend, self.bucket, self.write_delay))

    def _discard_bucket(self) -> None:
        while self._restore:
            self._restore.pop()()
        moto_accounts.discard_account(self.account_id)

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
        self._running_app().clear_log()
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

    def _running_app(self) -> StrictS3App:
        if self._app is None:
            raise RuntimeError("LocalS3 is not started")
        return self._app
