"""Deterministic interleavings and faults through botocore's own event hooks.

A `before-send` handler runs in the caller's thread just before a request would go
on the wire: a second writer can act exactly there (before a resolving `HeadObject`,
say), a canned answer can be returned instead of sending, or a write can be made to
land and then have its answer lost with any exception class botocore or urllib3
raises. No sleeps, no luck: the interleaving is the code's order.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Callable, Iterator
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ReadTimeoutError

__all__ = ["HeldRound", "Raw", "act_before", "answer", "land_then_raise"]

BOUND = 20.0  # seconds a held request waits for its release before its test fails


class Raw(io.BytesIO):
    """A raw HTTP body botocore can read (`stream()` as urllib3's response has)."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        contents = self.read()
        while contents:
            yield contents
            contents = self.read()


def answer(status: int, code: str, message: str = "injected", *,
           extra: str = "") -> AWSResponse:
    """An S3 error answer, as the server would send it."""
    body = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f"<Message>{message}</Message>{extra}<RequestId>HOOKED</RequestId></Error>").encode()
    headers = HTTPHeaders()
    headers["Content-Type"] = "application/xml"
    headers["x-amz-request-id"] = "HOOKED"
    return AWSResponse("https://hooked", status, headers, Raw(body))


def act_before(client: Any, operation: str, action: Callable[[Any], Any], *,
               times: int = 1, skip: int = 0) -> list[Any]:
    """Run `action(request)` before the client sends its next `times` `operation` requests
    (after letting `skip` through). If the action returns an `AWSResponse` it is the
    answer (nothing is sent); if it raises, botocore gets that exception as if from the
    network. Returns the list of requests it acted on."""
    seen: list[Any] = []
    calls = {"n": 0}

    def handler(request: Any, **_: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= skip or len(seen) >= times:
            return None
        seen.append(request)
        result = action(request)
        return result if isinstance(result, AWSResponse) else None

    client.meta.events.register(f"before-send.s3.{operation}", handler)
    return seen


def land_then_raise(raw_client: Any, bucket: str, error: BaseException) -> Callable[[Any], Any]:
    """An action for `act_before(client, "PutObject", ...)`: the write lands (sent through
    `raw_client` with the same conditions, body and metadata), then `error` is raised
    as if the answer had been lost on the way back."""

    def action(request: Any) -> Any:
        headers = {k.lower(): v for k, v in request.headers.items()}
        options: dict[str, Any] = {}
        if "if-match" in headers:
            options["IfMatch"] = _text(headers["if-match"])
        if "if-none-match" in headers:
            options["IfNoneMatch"] = _text(headers["if-none-match"])
        metadata = {k[len("x-amz-meta-"):]: _text(v) for k, v in headers.items()
                    if k.startswith("x-amz-meta-")}
        key = request.url.split(f"/{bucket}/", 1)[1].split("?", 1)[0]
        body = request.body
        data = body if isinstance(body, bytes) else body.read()
        if hasattr(body, "seek"):
            body.seek(0)
        raw_client.put_object(Bucket=bucket, Key=key, Body=data, Metadata=metadata, **options)
        raise error

    return action


def delay_next_put(client: Any, raw_client: Any, bucket: str) -> None:
    """A delayed write: `client`'s next PutObject is not sent, and its answer times out
    (`ReadTimeoutError`, an answer lost); it lands (through `raw_client`, with its
    conditions, body and metadata) just before the PutObject after it is sent."""
    delayed: list[Any] = []

    def time_out(request: Any) -> None:
        delayed.append(request)
        raise ReadTimeoutError(endpoint_url=request.url)

    land = land_then_raise(raw_client, bucket, _Landed())

    def first_lands_now(_: Any) -> None:
        with contextlib.suppress(_Landed):
            land(delayed[0])

    act_before(client, "PutObject", time_out)
    # Registered after time_out, which raises first: this one sees only the next PUT.
    act_before(client, "PutObject", first_lands_now)


class _Landed(Exception):
    """What `land_then_raise` raises for `delay_next_put`, which lets the request go on."""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class HeldRound:
    """The client's next PutObject waits in its before-send hook until `release()`
    (`started` is set once it waits): a round held on the wire while other callers queue."""

    def __init__(self, client: Any) -> None:
        self.started, self._released = threading.Event(), threading.Event()
        act_before(client, "PutObject", self._hold)

    def _hold(self, _: Any) -> None:
        self.started.set()
        assert self._released.wait(BOUND), "a held round was never released"

    def release(self) -> None:
        self._released.set()
