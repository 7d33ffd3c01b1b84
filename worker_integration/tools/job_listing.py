"""Finding jobs in a bucket: a paginated walk of the keys under a prefix.

The key layout is `db_service`'s alone: the patterns here are derived from
`execution_steps_key` and `job_key` themselves, so they follow any change there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final, Literal

from worker_integration.db_service import execution_steps_key, job_key

if TYPE_CHECKING:
    from s3store import JsonStore

__all__ = ["DEFAULT_PAGE_SIZE", "JobRef", "KeyKind", "in_tenant", "list_jobs", "parse_job_key",
           "parse_lookalike"]

DEFAULT_PAGE_SIZE: Final = 1000
"""Keys per listing request (S3's maximum)."""

_ID_PATTERN: Final = "[A-Za-z0-9_-]{1,128}"  # what db_service.check_id accepts

KeyKind = Literal["steps", "record"]
"""Which of a job's documents a key is: its execution steps, or its record."""


def _pattern(make_key: Callable[[str, str], str], ids: str = _ID_PATTERN) -> re.Pattern[str]:
    template = re.escape(make_key("CUSTOMER", "JOB"))
    if template.count("CUSTOMER") != 1 or template.count("JOB") != 1:
        raise RuntimeError("the key layout no longer fits the job listing's placeholders")
    return re.compile(template.replace("CUSTOMER", f"(?P<customer_id>{ids})")
                      .replace("JOB", f"(?P<job_id>{ids})"))


_PATTERNS: Final[tuple[tuple[KeyKind, re.Pattern[str]], ...]] = (
    ("steps", _pattern(execution_steps_key)),
    ("record", _pattern(job_key)),
)
_ANY_ID: Final = "[^/]+"
_LOOKALIKES: Final = (_pattern(execution_steps_key, _ANY_ID), _pattern(job_key, _ANY_ID))
"""A job's documents with ids of any shape (`acme.com`): listed as skipped, never silently."""


def parse_lookalike(key: str) -> tuple[str, str] | None:
    """`(customer_id, job_id)` as they stand in a job document's key, valid ids or not."""
    for pattern in _LOOKALIKES:
        match = pattern.fullmatch(key)
        if match is not None:
            return match["customer_id"], match["job_id"]
    return None


def in_tenant(prefix: str, key: str) -> bool:
    """Whether `key` is under `prefix` at a path boundary: `cust_1` holds `cust_1/...`,
    not `cust_10/...`; a prefix ending in `/` (or empty) is taken as it is."""
    return not prefix or prefix.endswith("/") or key.startswith(prefix + "/")


@dataclass(frozen=True)
class JobRef:
    """A job found in the bucket: its ids, and which of its documents exist."""

    customer_id: str
    job_id: str
    has_steps: bool = False
    has_record: bool = False

    @property
    def name(self) -> str:
        """`customer_id/job_id`, for people."""
        return f"{self.customer_id}/{self.job_id}"

    @property
    def steps_key(self) -> str:
        """The key of the job's execution steps."""
        return execution_steps_key(self.customer_id, self.job_id)


def parse_job_key(key: str) -> tuple[str, str, KeyKind] | None:
    """`(customer_id, job_id, kind)` if `key` is a job's steps or record, else None."""
    for kind, pattern in _PATTERNS:
        match = pattern.fullmatch(key)
        if match is not None:
            return match["customer_id"], match["job_id"], kind
    return None


def list_jobs(store: JsonStore, *, prefix: str = "", page_size: int = DEFAULT_PAGE_SIZE,
              skipped: list[str] | None = None) -> Iterator[JobRef]:
    """Every job with a document under `prefix`, in key order, as the listing goes.

    `prefix` ends at a path boundary (`in_tenant`: `cust_1` is that customer, not
    `cust_10`). A key laid out as a job's document whose ids this code cannot address
    (a job id such as `acme.com`) is appended to `skipped`, so that callers report it.
    Pages through `ListObjectsV2` (`page_size` keys a request). A job's documents
    share its key prefix, so in a sorted listing they come together: a job is
    yielded once the listing has moved past it. Raises `StorageError` when the
    listing fails or loops (code `RepeatedListingPage`).
    """
    current: JobRef | None = None
    for key in store.keys(prefix, page_size=page_size):
        if not in_tenant(prefix, key):
            continue
        parsed = parse_job_key(key)
        if parsed is None:
            if skipped is not None and parse_lookalike(key) is not None:
                skipped.append(key)
            continue
        customer_id, job_id, kind = parsed
        if current is None or (current.customer_id, current.job_id) != (customer_id, job_id):
            if current is not None:
                yield current
            current = JobRef(customer_id, job_id)
        current = (replace(current, has_steps=True) if kind == "steps"
                   else replace(current, has_record=True))
    if current is not None:
        yield current
