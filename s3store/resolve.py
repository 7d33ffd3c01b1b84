"""Did a write whose answer was lost land? Ask S3 whose write id the object carries.

Every store write is stamped with a fresh write id (`x-amz-meta-s3store-write-id`).
When an answer is lost (5xx, dropped connection, read timeout), `resolve()` asks:

1. `HeadObject`: our id on the current object → it landed (and is current).
   Still the ETag we conditioned on (or still absent, for a create) → it did not
   land: the write can simply be sent again.
2. Someone else's write is current. On a versioned bucket the versions made since
   the one we conditioned on are searched (all listed versions no older than its
   second: listings order versions within one second unreliably on some stores):
   our id there → it landed and was then overwritten; the version we conditioned
   on found and ours not → it did not land.
3. Otherwise nobody can tell (no versioning, or too many versions since): UNKNOWN.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from s3store.errors import NotFoundError, StorageError
from s3store.objects import ObjectClient

__all__ = ["Base", "Landed", "Outcome", "Resolution", "resolve"]

log = logging.getLogger("s3store")

VERSION_SEARCH_LIMIT = 30
"""How many versions of a key `resolve()` looks through before calling a write UNKNOWN."""


class Outcome(enum.Enum):
    """What became of a write whose answer was lost."""

    LANDED = "landed"
    NOT_LANDED = "not landed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Base:
    """What a write conditions on: a version (ETag; write id and time when known) or absence."""

    etag: str | None
    write_id: str | None = None
    modified: datetime | None = None

    def matches(self, etag: str, write_id: str | None) -> bool:
        """Is a version with this ETag and write id the one conditioned on?"""
        if self.etag is None or etag != self.etag:
            return False
        return self.write_id is None or write_id == self.write_id


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


def resolve(objects: ObjectClient, key: str, *, ours: Collection[str], base: Base) -> Resolution:
    """Find out whether one of the write ids in `ours` landed on `key`.

    `base` is the version the writes conditioned on (`Base(None)` for a create, which
    conditioned on the key being absent). Raises `StorageError` if S3 cannot be asked.
    """
    try:
        head = objects.head(key)
    except NotFoundError:
        if base.etag is None:
            return Resolution(Outcome.NOT_LANDED, base_is_current=True)
        return _search_versions(objects, key, ours=ours, base=base)
    if head.write_id is not None and head.write_id in ours:
        return Resolution(Outcome.LANDED, Landed(head.write_id, head.etag))
    if base.matches(head.etag, head.write_id):
        return Resolution(Outcome.NOT_LANDED, base_is_current=True)
    return _search_versions(objects, key, ours=ours, base=base)


def _search_versions(
    objects: ObjectClient, key: str, *, ours: Collection[str], base: Base
) -> Resolution:
    try:
        versions, complete = objects.versions(key, limit=VERSION_SEARCH_LIMIT)
    except StorageError:
        log.debug("resolve %s: versions not listable", key, exc_info=True)
        return Resolution(Outcome.UNKNOWN)
    if any(version.version_id == "null" for version in versions):
        return Resolution(Outcome.UNKNOWN)  # not versioned: what was overwritten is gone
    since = base.modified.replace(microsecond=0) if base.modified is not None else None
    base_seen = False
    for version in versions:
        if since is not None and version.last_modified < since:
            break  # older than the base: nothing of ours can be there
        head = objects.head(key, version_id=version.version_id)
        if head.write_id is not None and head.write_id in ours:
            return Resolution(Outcome.LANDED, Landed(head.write_id, head.etag))
        base_seen = base_seen or base.matches(head.etag, head.write_id)
    if base_seen or (complete and base.etag is None):
        return Resolution(Outcome.NOT_LANDED)  # all that came after the base, without ours
    return Resolution(Outcome.UNKNOWN)
