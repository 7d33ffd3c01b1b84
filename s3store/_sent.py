"""Provisional: which transport errors prove a request unsent (full table pending)."""

from __future__ import annotations

from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

NOT_SENT: tuple[type[BaseException], ...] = (EndpointConnectionError, ConnectTimeoutError)
MAYBE_SENT: tuple[type[BaseException], ...] = ()


def request_may_have_been_sent(exc: BaseException) -> bool:
    """False only for exception classes proven to be raised before the request left."""
    return not isinstance(exc, NOT_SENT)
