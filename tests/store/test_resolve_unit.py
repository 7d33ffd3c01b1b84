"""`resolve()` branch by branch, on an in-memory bucket: what counts as proof, which
versions it reads (each read is a request), and where the answer is UNKNOWN.

The HTTP-level tests (`test_exactly_once.py`, `test_resolution_edges.py`) force the same
cases through a real server; these pin the exact verdicts, reasons and reads, so that a
changed comparison or bound in the walk does not go unnoticed (mutmut survivors).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from s3store._errors import NotFoundError, StorageError
from s3store._objects import ObjectClient, ObjectHead, ObjectVersion
from s3store._resolve import VERSION_SEARCH_LIMIT, Base, Landed, Outcome, Resolution, resolve
from s3store._steps import run
from tests.steps import answered_by

KEY = "doc.json"
T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


@dataclass
class Version:
    version_id: str
    etag: str
    write_id: str | None
    second: int = 0  # seconds after T0
    micro: int = 0


@dataclass
class FakeBucket:
    """Versions newest first; `deleted`: a delete marker on top (no current object)."""

    versions: list[Version]
    versioning: bool = True
    deleted: bool = False
    unversioned: bool = False  # heads carry no version id (a bucket that never had versioning)
    list_error: StorageError | None = None
    vanished: set[str] = field(default_factory=set)
    heads: list[str | None] = field(default_factory=list)
    versioning_asked: int = 0

    def head(self, key: str, *, version_id: str | None = None) -> ObjectHead:
        assert key == KEY
        self.heads.append(version_id)
        if version_id is None:
            if self.deleted or not self.versions:
                raise NotFoundError("gone", key=key)
            found = self.versions[0]
        else:
            if version_id in self.vanished:
                raise NotFoundError("gone", key=key)
            found = next(v for v in self.versions if v.version_id == version_id)
        return ObjectHead(found.etag, None if self.unversioned else found.version_id,
                          found.write_id)

    def versioning_enabled(self, key: str) -> bool:
        self.versioning_asked += 1
        return self.versioning

    def versions_of(self, key: str) -> Any:
        if self.list_error is not None:
            raise self.list_error
        for v in self.versions:
            yield ObjectVersion(v.version_id, v.etag,
                                T0 + timedelta(seconds=v.second, microseconds=v.micro))

    def resolve(self, ours: set[str], base: Base) -> Resolution:
        return _Adapter(self).resolve(ours=ours, base=base)

    @property
    def version_heads(self) -> list[str | None]:
        return [h for h in self.heads if h is not None]


class _Adapter:
    """Answers the requests of `resolve()`'s steps from the fake bucket: the steps do no
    I/O, so no client and no HTTP are needed to drive them."""

    def __init__(self, bucket: FakeBucket) -> None:
        self.head = bucket.head
        self.versioning_enabled = bucket.versioning_enabled
        self.versions = bucket.versions_of

    def resolve(self, *, ours: set[str], base: Base) -> Resolution:
        return run(resolve(ObjectClient("bucket"), KEY, ours=ours, base=base), answered_by(self))


def rivals(count: int, *, start: int = 100, second: int = 10) -> list[Version]:
    """`count` versions by another writer, newest first, all after `second`."""
    return [Version(f"r{n}", f'"r{n}"', f"rival-{n}", second=second + n)
            for n in range(start + count - 1, start - 1, -1)]


BASE = Version("v1", '"base"', "base-w", second=5)
OURS = Version("v2", '"ours"', "ours-w", second=6)


# --- decided by the current object's HeadObject alone ------------------------------------

def test_ours_current_is_landed_and_current_without_a_walk() -> None:
    bucket = FakeBucket([OURS, BASE])
    result = bucket.resolve({"ours-w", "earlier-w"}, Base('"base"', "base-w", "v1"))
    assert result == Resolution(Outcome.LANDED, Landed("ours-w", '"ours"', "v2"), current=True)
    assert bucket.heads == [None] and bucket.versioning_asked == 0


@pytest.mark.parametrize("base", [Base('"base"', None, "v1"), Base('"base"', "base-w", None)],
                         ids=["by-version-id", "by-write-id"])
def test_the_base_still_current_is_not_landed_and_can_be_resent(base: Base) -> None:
    bucket = FakeBucket([BASE])
    result = bucket.resolve({"ours-w"}, base)
    assert result == Resolution(Outcome.NOT_LANDED, base_is_current=True)
    assert bucket.heads == [None] and bucket.versioning_asked == 0


@pytest.mark.parametrize("base", [
    Base('"base"'),                          # the ETag alone: same bytes prove nothing
    Base('"base"', None, "null"),            # "null" names every unversioned write
    Base('"base"', "other-w", None),         # another write of the same bytes
    Base('"other"', "base-w", "v1"),         # right identity, other bytes: not the base
], ids=["etag-only", "null-version", "other-write-id", "other-etag"])
def test_the_same_bytes_without_an_identity_are_unknown_on_an_unversioned_bucket(
        base: Base) -> None:
    bucket = FakeBucket([BASE], unversioned=True)
    result = bucket.resolve({"ours-w"}, base)
    assert result.outcome is Outcome.UNKNOWN
    assert result.reason == ("the bucket keeps no versions, and the object is not the one this "
                             "write conditioned on (or cannot be told from it)")
    assert bucket.versioning_asked == 0


def test_versioning_not_enabled_is_unknown() -> None:
    bucket = FakeBucket([*rivals(1), BASE], versioning=False)
    result = bucket.resolve({"ours-w"}, Base('"base"', "base-w", "v1"))
    assert result.outcome is Outcome.UNKNOWN
    assert result.reason == ("the bucket's versioning is not Enabled: what replaced the object "
                             "left no trace of what was there before")
    assert bucket.version_heads == []


# --- the walk -----------------------------------------------------------------------------

def test_ours_overwritten_is_landed_not_current_with_its_version() -> None:
    bucket = FakeBucket([*rivals(2), OURS, BASE])
    result = bucket.resolve({"ours-w"}, Base('"base"', "base-w", "v1"))
    assert result == Resolution(Outcome.LANDED, Landed("ours-w", '"ours"', "v2"))
    assert bucket.version_heads == ["r101", "r100", "v2"]  # the base is never read


def test_the_base_reached_by_version_id_is_not_landed_without_reading_it_or_older() -> None:
    older = Version("v0", '"old"', "old-w", second=1)
    bucket = FakeBucket([*rivals(2), BASE, older])
    result = bucket.resolve({"ours-w"}, Base('"base"', "base-w", "v1"))
    assert result == Resolution(Outcome.NOT_LANDED, base_is_current=False)
    assert bucket.version_heads == ["r101", "r100"]


def test_the_base_reached_by_write_id_is_not_landed() -> None:
    older = Version("v0", '"old"', "old-w", second=1)
    bucket = FakeBucket([*rivals(1), BASE, older])
    result = bucket.resolve({"ours-w"}, Base('"base"', "base-w", None))
    assert result == Resolution(Outcome.NOT_LANDED)
    assert bucket.version_heads == ["r100", "v1"]


@pytest.mark.parametrize("base", [Base('"base"', "base-w", "v1"), Base('"base"', "base-w")],
                         ids=["by-version-id", "by-write-id"])
def test_versions_in_the_bases_second_are_read_even_when_listed_behind_it(base: Base) -> None:
    tie = Version("v2", '"ours"', "ours-w", second=5, micro=1)  # listed after its base
    same_second_rival = Version("r9", '"r9"', "rival-9", second=5, micro=2)
    older = Version("v0", '"old"', "old-w", second=4)
    bucket = FakeBucket([*rivals(1), BASE, same_second_rival, tie, older])
    result = bucket.resolve({"ours-w"}, base)
    assert result == Resolution(Outcome.LANDED, Landed("ours-w", '"ours"', "v2"))
    assert "v0" not in bucket.version_heads


def test_a_version_one_second_older_than_the_base_ends_the_walk() -> None:
    older = Version("v0", '"ours-old"', "ours-w", second=4, micro=999_999)
    bucket = FakeBucket([*rivals(1), BASE, older])
    result = bucket.resolve({"ours-w"}, Base('"base"', "base-w", "v1"))
    assert result == Resolution(Outcome.NOT_LANDED)
    assert bucket.version_heads == ["r100"]


def test_exactly_the_search_limit_of_versions_after_the_base_is_searched() -> None:
    bucket = FakeBucket([*rivals(VERSION_SEARCH_LIMIT), BASE])
    result = bucket.resolve({"ours-w"}, Base('"base"', "base-w", "v1"))
    assert result == Resolution(Outcome.NOT_LANDED)
    assert len(bucket.version_heads) == VERSION_SEARCH_LIMIT


def test_one_version_more_than_the_limit_is_unknown_after_reading_the_limit() -> None:
    bucket = FakeBucket([*rivals(VERSION_SEARCH_LIMIT + 1), OURS, BASE])
    result = bucket.resolve({"ours-w"}, Base('"base"', "base-w", "v1"))
    assert result.outcome is Outcome.UNKNOWN
    assert f"more than {VERSION_SEARCH_LIMIT} versions" in result.reason
    assert len(bucket.version_heads) == VERSION_SEARCH_LIMIT


def test_a_null_version_before_the_base_is_unknown() -> None:
    suspended = Version("null", '"s"', "suspended-w", second=8)
    bucket = FakeBucket([*rivals(1), suspended, BASE])
    result = bucket.resolve({"ours-w"}, Base('"base"', "base-w", "v1"))
    assert result.outcome is Outcome.UNKNOWN
    assert result.reason == ("a version written while versioning was suspended may have "
                             "replaced this write without a trace")


def test_a_null_version_in_the_bases_second_behind_it_is_harmless() -> None:
    suspended = Version("null", '"s"', "suspended-w", second=5, micro=1)
    bucket = FakeBucket([*rivals(1), BASE, suspended])
    result = bucket.resolve({"ours-w"}, Base('"base"', "base-w", "v1"))
    assert result == Resolution(Outcome.NOT_LANDED)


def test_a_base_missing_from_the_versions_is_unknown() -> None:
    bucket = FakeBucket(rivals(3))
    result = bucket.resolve({"ours-w"}, Base('"base"', "base-w", "v1"))
    assert result.outcome is Outcome.UNKNOWN
    assert result.reason == ("the version this write conditioned on is not among the key's "
                             "versions")
    assert len(bucket.version_heads) == 3


# --- creates (no base) ----------------------------------------------------------------------

def test_a_create_on_a_key_never_written_is_not_landed_and_free() -> None:
    bucket = FakeBucket([])
    assert bucket.resolve({"ours-w"}, Base(None)) == Resolution(Outcome.NOT_LANDED,
                                                                base_is_current=True)


def test_a_create_whose_key_was_written_and_deleted_by_others_is_not_landed_and_free() -> None:
    bucket = FakeBucket(rivals(2), deleted=True)
    result = bucket.resolve({"ours-w"}, Base(None))
    assert result == Resolution(Outcome.NOT_LANDED, base_is_current=True)
    assert bucket.version_heads == ["r101", "r100"]


def test_a_create_beaten_by_another_writer_is_not_landed_and_not_free() -> None:
    bucket = FakeBucket(rivals(1))
    assert bucket.resolve({"ours-w"}, Base(None)) == Resolution(Outcome.NOT_LANDED)


def test_a_create_that_landed_and_was_deleted_is_landed() -> None:
    bucket = FakeBucket([OURS], deleted=True)
    result = bucket.resolve({"ours-w"}, Base(None))
    assert result == Resolution(Outcome.LANDED, Landed("ours-w", '"ours"', "v2"))


def test_a_create_on_an_unversioned_bucket_whose_key_is_free_is_unknown() -> None:
    bucket = FakeBucket([], versioning=False)
    result = bucket.resolve({"ours-w"}, Base(None))
    assert result.outcome is Outcome.UNKNOWN


# --- reads that fail ---------------------------------------------------------------------

def test_a_refused_listing_is_unknown_and_logged_at_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    bucket = FakeBucket([*rivals(1), BASE],
                        list_error=StorageError("no", key=KEY, code="AccessDenied"))
    with caplog.at_level(logging.WARNING, logger="s3store._resolve"):
        result = bucket.resolve({"ours-w"}, Base('"base"', "base-w", "v1"))
    assert result.outcome is Outcome.UNKNOWN
    assert "could not be read" in result.reason and "no" in result.reason
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert KEY in caplog.text and "AccessDenied" in caplog.text


def test_a_version_that_vanishes_mid_walk_is_unknown() -> None:
    bucket = FakeBucket([*rivals(2), BASE], vanished={"r100"})
    result = bucket.resolve({"ours-w"}, Base('"base"', "base-w", "v1"))
    assert result.outcome is Outcome.UNKNOWN
    assert result.reason == "a version of the key vanished while it was being looked through"


def test_a_failing_head_of_the_current_object_is_raised() -> None:
    bucket = FakeBucket([BASE])

    def refuse(key: str, *, version_id: str | None = None) -> ObjectHead:
        raise StorageError("down", key=key, code="InternalError", transient=True)

    adapter = _Adapter(bucket)
    adapter.head = refuse
    with pytest.raises(StorageError):
        adapter.resolve(ours={"ours-w"}, base=Base('"base"'))
