"""S3 servers this project did not write, started by the suite: ministack.

`LocalS3` is moto made strict by this project's own patches; a suite and a server
written by the same hands can share a mistake. ministack is a second, independent S3
implementation. It pins botocore to one exact version, so it lives in its own virtual
environment (`.venv-ministack`, built by `make`) and runs as a separate process: the
suite's own botocore (the newest, or the lowest declared in `make test-min`) is the
client, as in production.

A server that does not start fails the run with its reason and its log; nothing is
skipped.
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
from typing import IO, TYPE_CHECKING, Any, Protocol

from s3store.testing import connect

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["Bucket", "Ministack", "ServerBucket", "ministack_executable"]

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0


class Bucket(Protocol):
    """A bucket on some S3 server: a `LocalS3`, or a `ServerBucket` on ministack."""

    @property
    def endpoint_url(self) -> str: ...

    @property
    def bucket(self) -> str: ...

    def client(self, **options: Any) -> S3Client: ...


def ministack_executable() -> Path:
    """`$S3STORE_MINISTACK`, else the project's `.venv-ministack/bin/ministack`."""
    return Path(os.environ.get("S3STORE_MINISTACK", ROOT / ".venv-ministack/bin/ministack"))


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


class Ministack:
    """A ministack S3 server on a free port of 127.0.0.1, in its own process."""

    def __init__(self, executable: Path | None = None) -> None:
        self.executable = executable or ministack_executable()
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> Ministack:
        """Start the server; return once it answers. Raises `RuntimeError` saying why not."""
        if not self.executable.exists():
            raise RuntimeError(f"ministack is not installed at {self.executable}: run "
                               "`make .venv-ministack/.installed-stamp` (make test does), or "
                               "set S3STORE_MINISTACK to its executable")
        env = {**os.environ, "GATEWAY_PORT": str(self.port), "BIND_HOST": "127.0.0.1",
               "SERVICES": "s3", "LOG_LEVEL": "WARNING"}
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the server)
        self._process = subprocess.Popen([str(self.executable)], env=env, stdout=self._log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"ministack exited with status {self._process.returncode}:"
                                   f"\n{self.log_tail()}")
            if self._healthy():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"ministack did not answer within {START_TIMEOUT:.0f} s on "
                           f"{self.endpoint_url}:\n{self.log_tail()}")

    def _healthy(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
        try:
            connection.request("GET", "/_ministack/health")
            return b'"s3": "available"' in connection.getresponse().read()
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
        """Stop the server (terminate, then kill)."""
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
