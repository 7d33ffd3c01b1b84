"""The WSGI middleware LocalS3 puts around moto's server: strict, faulty on demand, logged.

- One lock around every request moto serves (`atomic`): moto checks a precondition and
  then writes with nothing between, S3 does both at once.
- Faults (`FaultDealer`) answered instead of moto, or after it (the lost responses).
- Every request named by the LocalS3's own moto account (`moto_accounts`).
- A log of what was served (`RequestRecord`).
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.parse
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from s3store.testing.faults import LANDS, FaultDealer, FaultKind

__all__ = ["RequestRecord", "StrictS3App"]

_LOGGED_HEADERS = (
    "If-Match", "If-None-Match", "x-amz-expected-bucket-owner",
    # what write options send (s3store._options)
    "x-amz-server-side-encryption", "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-server-side-encryption-context", "x-amz-server-side-encryption-bucket-key-enabled",
    "Cache-Control", "x-amz-tagging", "x-amz-storage-class", "x-amz-sdk-checksum-algorithm",
    "x-amz-checksum-crc32", "x-amz-checksum-crc32c", "x-amz-checksum-crc64nvme",
    "x-amz-checksum-sha1", "x-amz-checksum-sha256",
)
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


class StrictS3App:
    """WSGI middleware around moto: one lock for check-and-write, faults, counters."""

    def __init__(self, inner: Callable[[Environ, StartResponse], Iterable[bytes]], *,
                 atomic: bool, dealer: FaultDealer, account_id: str) -> None:
        self._inner = inner
        self._account_id = account_id
        self._atomic = atomic
        self._lock = threading.Lock()
        self._log_lock = threading.Lock()
        self.dealer = dealer
        self.log: deque[RequestRecord] = deque(maxlen=200_000)
        self._second_pages: dict[str, str] = {}  # a listing's first marker, by the rest

    def clear_log(self) -> None:
        """Forget the requests served."""
        with self._log_lock:
            self.log.clear()

    def forget(self) -> None:
        """Forget the requests served and the listings seen (`cycle_listings`)."""
        self.clear_log()
        self._second_pages.clear()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        # moto keys its state by this account: no other LocalS3 sees this one's buckets.
        environ["HTTP_X_MOTO_ACCOUNT_ID"] = self._account_id
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

