"""S3 servers this project did not write, started by the suite: ministack, LocalStack.

`LocalS3` is moto made strict by this project's own patches; a suite and a server
written by the same hands can share a mistake. ministack is a second, independent S3
implementation. It pins botocore to one exact version, so it lives in its own virtual
environment (`.venv-ministack`, built by `make`) and runs as a separate process: the
suite's own botocore (the newest, or the lowest declared in `make test-min`) is the
client, as in production.

LocalStack (opt-in, `make test-localstack`) lives in `.venv-localstack` for the same
reason. A server that does not start fails the run with its reason and its log; nothing
is skipped.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol, Self

from s3store.testing import connect

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["BACKENDS", "DEVIATIONS", "SERVERS", "Bucket", "Localstack", "Ministack", "ServerBucket",
           "ServerProcess", "deviates"]

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0


class Bucket(Protocol):
    """A bucket on some S3 server: a `LocalS3`, or a `ServerBucket` on ministack."""

    @property
    def endpoint_url(self) -> str: ...

    @property
    def bucket(self) -> str: ...

    def client(self, **options: Any) -> S3Client: ...


def _venv_python(name: str) -> Path:
    return ROOT / f".venv-{name}/bin/python"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class ServerBucket:
    """One bucket on a running server: what the tests need of a `LocalS3` (its
    `endpoint_url`, `bucket`, `client()`), for suites that run on several servers."""

    endpoint_url: str
    bucket: str
    versioning: bool = False

    def client(self, **options: Any) -> S3Client:
        """A new client for the server (fake credentials; standard retry mode)."""
        return connect(self.endpoint_url, **options)


class ServerProcess:
    """An S3 server on a free port of 127.0.0.1, in its own process; ready when its
    health page at `health_path` contains `ready`."""

    name = "server"
    health_path = "/"
    ready = b""
    install = "make"

    def __init__(self, executable: Path | None = None) -> None:
        self.executable = executable or self.default_executable()
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._root: tempfile.TemporaryDirectory[str] | None = None

    def default_executable(self) -> Path:
        """Where the project's own install puts the server."""
        raise NotImplementedError

    def command(self) -> list[str]:
        """The command line that starts the server."""
        return [str(self.executable)]

    def environment(self, root: Path) -> dict[str, str]:
        """The server's settings; `root` is a temporary folder for its files."""
        raise NotImplementedError

    def start(self) -> Self:
        """Start the server; return once it answers. Raises `RuntimeError` saying why not."""
        if not self.executable.exists():
            raise RuntimeError(f"{self.name} is not installed at {self.executable}: run "
                               f"`{self.install}`, or set {self.variable} to its executable")
        self._root = tempfile.TemporaryDirectory(prefix=f"s3store-{self.name}-")
        env = {**os.environ, **self.environment(Path(self._root.name))}
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the server)
        self._process = subprocess.Popen(self.command(), env=env, stdout=self._log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=self._root.name)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with status {self._process.returncode}:"
                                   f"\n{self.log_tail()}")
            if self._healthy():
                return self
            time.sleep(0.1)
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within {START_TIMEOUT:.0f} s on "
                           f"{self.endpoint_url}:\n{tail}")

    @property
    def variable(self) -> str:
        """The environment variable naming another executable."""
        return f"S3STORE_{self.name.upper()}"

    def _healthy(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
        try:
            connection.request("GET", self.health_path)
            return self.ready in connection.getresponse().read()
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()

    def log_tail(self, size: int = 4000) -> str:
        """The end of the server's output."""
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-size:]

    def new_bucket(self, *, versioning: bool = False) -> ServerBucket:
        """A fresh bucket (a test's own), with versioning enabled if asked."""
        bucket = f"s3store-{uuid.uuid4().hex[:20]}"
        client = connect(self.endpoint_url)
        client.create_bucket(Bucket=bucket)
        if versioning:
            client.put_bucket_versioning(Bucket=bucket,
                                         VersioningConfiguration={"Status": "Enabled"})
        return ServerBucket(self.endpoint_url, bucket, versioning)

    def stop(self) -> None:
        """Stop the server (terminate, then kill) and remove its files."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._root is not None:
            self._root.cleanup()
            self._root = None


class Ministack(ServerProcess):
    """ministack (PyPI, pure Python), S3 only. In `make test`."""

    name = "ministack"
    health_path = "/_ministack/health"
    ready = b'"s3": "available"'
    install = "make .venv-ministack/.installed-stamp` (make test does"

    def default_executable(self) -> Path:
        return Path(os.environ.get(self.variable, ROOT / ".venv-ministack/bin/ministack"))

    def environment(self, root: Path) -> dict[str, str]:
        return {"GATEWAY_PORT": str(self.port), "BIND_HOST": "127.0.0.1", "SERVICES": "s3",
                "LOG_LEVEL": "WARNING"}


class Localstack(ServerProcess):
    """LocalStack without Docker (`localstack-core[runtime]`), S3 only. Opt-in:
    `make test-localstack`."""

    name = "localstack"
    health_path = "/_localstack/health"
    ready = b'"s3": "running"'
    install = "make test-localstack` (it builds .venv-localstack"

    def default_executable(self) -> Path:
        return Path(os.environ.get(self.variable, _venv_python("localstack")))

    def command(self) -> list[str]:
        return [str(self.executable), "-m", "localstack.runtime.main"]

    def environment(self, root: Path) -> dict[str, str]:
        address = f"127.0.0.1:{self.port}"
        return {"SERVICES": "s3", "GATEWAY_LISTEN": address, "LOCALSTACK_HOST": address,
                "EAGER_SERVICE_LOADING": "1", "DNS_ADDRESS": "0", "SKIP_SSL_CERT_DOWNLOAD": "1",
                "DISABLE_EVENTS": "1", "LOCALSTACK_VOLUME_DIR": str(root / "volume"),
                "FILESYSTEM_ROOT": str(root / "filesystem")}


BACKENDS: list[str] = os.environ.get("S3STORE_BACKENDS", "local,ministack").split(",")
"""The S3 servers the contract suite, the races and the incident regression run on:
`make test` the strict LocalS3 and ministack; `make test-localstack` LocalStack alone."""

DEVIATIONS: dict[str, dict[str, str]] = {
    "localstack": {
        "conditional_delete": "DeleteObject with If-Match is answered 501 NotImplemented "
                              "(wrong, right or missing ETag alike)",
    },
}
"""Where a backend is known to differ from S3, by backend and name: the tests that meet
a deviation assert it (`deviates()`), they are never skipped."""


def deviates(backend: str, name: str) -> bool:
    """Is `backend` known to deviate from S3 in `name` (`DEVIATIONS`)?"""
    return name in DEVIATIONS.get(backend, {})


SERVERS: dict[str, type[ServerProcess]] = {"ministack": Ministack, "localstack": Localstack}
"""The servers the suite can start, by backend name."""
