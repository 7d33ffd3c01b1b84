"""Did a write whose answer was lost land? Ask S3 for proof, and say UNKNOWN without it.

Every store write is stamped with a fresh write id (`x-amz-meta-s3store-write-id`).
An ETag is a hash of the bytes, so "the object still has the ETag I conditioned on"
proves nothing: another writer may have brought the same bytes back (A -> B -> A).
What proves something is an identity observed *before* the write was sent — the
base's write id, or its version id:

1. `HeadObject`: one of our write ids on the current object -> LANDED (and current).
   The current object *is* the base (same version id, or same write id) -> NOT_LANDED,
   and the base is still current: the same write can be sent again.
2. Otherwise, only a bucket with versioning `Enabled` keeps what happened in between:
   the versions are walked newest first, each one's write id read by `HeadObject`,
   down to the base (and through every version listed in the base's second, since
   some servers order versions within a second unreliably). Ours among them ->
   LANDED (and since overwritten or deleted); the base reached without ours ->
   NOT_LANDED. For a create (no base), every version of the key is looked at.
3. Anything else -> UNKNOWN, with the reason: no versioning, versions not listable
   (`AccessDenied` without `s3:ListBucketVersions`, say), more than
   `VERSION_SEARCH_LIMIT` versions to look at, a base not in the listing, a `null`
   version in the way (versioning suspended at some time).

The one thing no answer can show: a write S3 is still processing when the store
asks (the answer of a read timeout is lost while the request may be queued). The
store asks only after the answer was lost, and S3 applies a `PutObject` before
answering it; a write that lands later than that is outside what this can see.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

from s3store._errors import NotFoundError, StorageError
from s3store._objects import ObjectClient, ObjectHead
from s3store._steps import Steps

__all__ = ["VERSION_SEARCH_LIMIT", "Base", "Landed", "Outcome", "Resolution", "resolve"]

log = logging.getLogger(__name__)

VERSION_SEARCH_LIMIT: Final = 30
"""How many versions `resolve()` reads (one `HeadObject` each) before calling a write UNKNOWN."""

_UNVERSIONED = "null"


class Outcome(enum.Enum):
    """What became of a write whose answer was lost."""

    LANDED = "landed"
    NOT_LANDED = "not landed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Base:
    """What a write conditions on: a version (its ETag; its write id and version id when
    known, as observed before the write was sent), or the key's absence (`etag` None)."""

    etag: str | None
    write_id: str | None = None
    version_id: str | None = None

    def identifies(self, head: ObjectHead) -> bool:
        """Is this version provably the base (not just a version with the same bytes)?"""
        if self.etag is None or head.etag != self.etag:
            return False
        if self.version_id not in (None, _UNVERSIONED) and head.version_id == self.version_id:
            return True
        return self.write_id is not None and head.write_id == self.write_id


@dataclass(frozen=True)
class Landed:
    """Which of the write ids landed, and the ETag and version id of the version it made."""

    write_id: str
    etag: str
    version_id: str | None = None


@dataclass(frozen=True)
class Resolution:
    """The outcome; for LANDED, what landed and whether it is still current; for
    NOT_LANDED, whether the object is still the base (the same write can be sent
    again); for UNKNOWN, why nobody can tell."""

    outcome: Outcome
    landed: Landed | None = None
    base_is_current: bool = False
    current: bool = False
    reason: str = ""


def unknown(reason: str) -> Resolution:
    """An UNKNOWN resolution, saying why."""
    return Resolution(Outcome.UNKNOWN, reason=reason)


def resolve(objects: ObjectClient, key: str, *, ours: Collection[str],
            base: Base) -> Steps[Resolution]:
    """Find out whether one of the write ids in `ours` landed on `key` (as steps).

    `base` is what the writes conditioned on (`Base(None)` for a create). Raises
    `StorageError` if S3 cannot be asked at all (the `HeadObject` failed).
    """
    try:
        head: ObjectHead | None = yield from objects.head(key)
    except NotFoundError:
        head = None
    if head is not None and head.write_id is not None and head.write_id in ours:
        return Resolution(Outcome.LANDED, Landed(head.write_id, head.etag, head.version_id),
                          current=True)
    if head is not None and base.identifies(head):
        return Resolution(Outcome.NOT_LANDED, base_is_current=True)
    if head is not None and head.version_id is None:
        return unknown("the bucket keeps no versions, and the object is not the one this "
                       "write conditioned on (or cannot be told from it)")
    try:
        return (yield from _search_versions(objects, key, ours=ours, base=base,
                                            absent=head is None))
    except NotFoundError:  # a listed version gone before it could be read (pruned, expired)
        return unknown("a version of the key vanished while it was being looked through")
    except StorageError as exc:
        log.warning("resolving a lost answer on %s: versions could not be read (%s)", key,
                    exc.code or type(exc).__name__)
        return unknown(f"the versions of the key could not be read: {exc}")


def _search_versions(
    objects: ObjectClient, key: str, *, ours: Collection[str], base: Base, absent: bool
) -> Steps[Resolution]:
    if not (yield from objects.versioning_enabled(key)):
        return unknown("the bucket's versioning is not Enabled: what replaced the object "
                       "left no trace of what was there before")
    base_second = None
    heads = 0
    listing = objects.versions(key)
    walking = True
    while walking and (page := (yield from listing.page())) is not None:
        for version in page:
            second = version.last_modified.replace(microsecond=0)
            if base_second is not None and second < base_second:
                walking = False  # older than the base's second: nothing of ours can be there
                break
            if (base.version_id not in (None, _UNVERSIONED)
                    and version.version_id == base.version_id):
                base_second = second
                continue
            if heads == VERSION_SEARCH_LIMIT:
                return unknown(f"more than {VERSION_SEARCH_LIMIT} versions came after the base")
            heads += 1
            head = yield from objects.head(key, version_id=version.version_id)
            if head.write_id is not None and head.write_id in ours:
                return Resolution(Outcome.LANDED,
                                  Landed(head.write_id, head.etag, version.version_id))
            if base.identifies(head):
                base_second = second
            elif version.version_id == _UNVERSIONED and base_second is None:
                return unknown("a version written while versioning was suspended may have "
                               "replaced this write without a trace")
    if base_second is not None or base.etag is None:
        # Every version since the base (for a create: every version) without ours.
        return Resolution(Outcome.NOT_LANDED, base_is_current=base.etag is None and absent)
    return unknown("the version this write conditioned on is not among the key's versions")

