"""Did a write whose answer was lost land? Ask S3 whose write id the object carries.

Every store write is stamped with a fresh write id (`x-amz-meta-s3store-write-id`).
When an answer is lost (5xx, dropped connection, read timeout), `resolve()` asks:

1. `HeadObject`: our id on the current object → it landed (and is current).
   Still the ETag we conditioned on (or still absent, for a create) → it did not
   land: the write can simply be sent again.
2. Someone else's write is current. On a versioned bucket the older versions are
   searched, newest first, down to the version we conditioned on: our id there →
   it landed and was then overwritten; the version we conditioned on reached
   without meeting our id → it did not land.
3. Otherwise nobody can tell (no versioning, or too many versions since): UNKNOWN.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Collection
from dataclasses import dataclass

from s3store.errors import NotFoundError, StorageError
from s3store.objects import ObjectClient

__all__ = ["Landed", "Outcome", "Resolution", "resolve"]

log = logging.getLogger("s3store")

VERSION_SEARCH_LIMIT = 50
"""How many versions of a key `resolve()` looks through before calling a write UNKNOWN."""


class Outcome(enum.Enum):
    """What became of a write whose answer was lost."""

    LANDED = "landed"
    NOT_LANDED = "not landed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Landed:
    """Which of the write ids landed, and the ETag of the version it made."""

    write_id: str
    etag: str


@dataclass(frozen=True)
class Resolution:
    """The outcome; for LANDED, what landed; for NOT_LANDED, whether the object is
    still the version the write conditioned on (so the same write can be sent again)."""

    outcome: Outcome
    landed: Landed | None = None
    base_is_current: bool = False


def resolve(
    objects: ObjectClient,
    key: str,
    *,
    ours: Collection[str],
    base_etag: str | None,
    base_write_id: str | None,
) -> Resolution:
    """Find out whether one of the write ids in `ours` landed on `key`.

    `base_etag` / `base_write_id` describe the version the writes conditioned on
    (both None for a create, which conditioned on the key being absent). Raises
    `StorageError` if S3 cannot be asked.
    """
    try:
        head = objects.head(key)
    except NotFoundError:
        if base_etag is None:
            return Resolution(Outcome.NOT_LANDED, base_is_current=True)
        return _search_versions(objects, key, ours=ours, base_etag=base_etag,
                                base_write_id=base_write_id)
    if head.write_id is not None and head.write_id in ours:
        return Resolution(Outcome.LANDED, Landed(head.write_id, head.etag))
    if _is_base(head.etag, head.write_id, base_etag, base_write_id):
        return Resolution(Outcome.NOT_LANDED, base_is_current=True)
    return _search_versions(objects, key, ours=ours, base_etag=base_etag,
                            base_write_id=base_write_id)


def _is_base(etag: str, write_id: str | None, base_etag: str | None,
             base_write_id: str | None) -> bool:
    """Is this the version the write conditioned on? (Its write id, when it had one.)"""
    if base_etag is None or etag != base_etag:
        return False
    return base_write_id is None or write_id == base_write_id


def _search_versions(
    objects: ObjectClient,
    key: str,
    *,
    ours: Collection[str],
    base_etag: str | None,
    base_write_id: str | None,
) -> Resolution:
    try:
        versions, complete = objects.versions(key, limit=VERSION_SEARCH_LIMIT)
    except StorageError:
        log.debug("resolve %s: versions not listable", key, exc_info=True)
        return Resolution(Outcome.UNKNOWN)
    if any(version.version_id == "null" for version in versions):
        return Resolution(Outcome.UNKNOWN)  # not versioned: what was overwritten is gone
    for version in versions:
        head = objects.head(key, version_id=version.version_id)
        if head.write_id is not None and head.write_id in ours:
            return Resolution(Outcome.LANDED, Landed(head.write_id, head.etag))
        if _is_base(head.etag, head.write_id, base_etag, base_write_id):
            return Resolution(Outcome.NOT_LANDED)  # reached what we conditioned on
    if complete and base_etag is None:
        return Resolution(Outcome.NOT_LANDED)  # the whole history, and ours is not in it
    return Resolution(Outcome.UNKNOWN)
