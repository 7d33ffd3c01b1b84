"""Time as the worker records it: aware UTC datetimes, stored as ISO 8601 strings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "iso", "utc_now"]

Clock = Callable[[], datetime]
"""Returns the current time; injectable so that tests control timestamps."""


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """`moment` as an ISO 8601 string with milliseconds, e.g. `2025-01-31T09:15:02.123+00:00`.

    Raises `ValueError` for a naive datetime (its time zone would be a guess).
    """
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.isoformat(timespec="milliseconds")
