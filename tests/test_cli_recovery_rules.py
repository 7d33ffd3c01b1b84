"""Recovery's pure parts: which record of a step wins across versions, what is restored,
and the one record recovery moves."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from s3store import CorruptDocumentError
from worker_integration.recovery import (
    HtmlMove,
    StoredVersion,
    restore_steps,
    union_of_versions,
)

AI, HTML = "ai_generation", "html_generation"
WHEN = datetime(2025, 1, 31, tzinfo=UTC)


def _record(order: int, step_type: str = AI, completed: str | None = None,
            **fields: Any) -> dict[str, Any]:
    return {"step_order": order, "step_type": step_type, "completed_at": completed, **fields}


def _version(*records: dict[str, Any]) -> StoredVersion:
    return StoredVersion("v", WHEN, tuple(records))


def test_the_most_recently_completed_record_wins_whatever_the_version_order() -> None:
    late = _record(1, completed="2025-01-31T10:00:00.000+00:00", output="late")
    early = _record(1, completed="2025-01-31T09:00:00Z", output="early")
    assert union_of_versions([_version(late), _version(early)])[(1, AI)] is late
    assert union_of_versions([_version(early), _version(late)])[(1, AI)] is late


def test_on_a_tie_or_without_completed_at_the_later_version_wins() -> None:
    first, second = _record(1, output="first"), _record(1, output="second")
    assert union_of_versions([_version(first), _version(second)])[(1, AI)] is second
    stamped = _record(1, completed="2025-01-31T09:00:00+00:00", output="stamped")
    naive = _record(1, completed="2025-01-31T09:00:00", output="naive, read as UTC")
    assert union_of_versions([_version(stamped), _version(naive)])[(1, AI)] is naive
    garbled = _record(1, completed="yesterday", output="unparseable")
    assert union_of_versions([_version(stamped), _version(garbled)])[(1, AI)] is garbled


def test_unreadable_versions_are_skipped() -> None:
    kept = _record(2)
    union = union_of_versions([StoredVersion("bad", WHEN, None), _version(kept)])
    assert union == {(2, AI): kept}


def test_only_what_is_missing_is_added_and_nothing_stored_is_touched() -> None:
    current = [_record(1, output="now", unknown_field={"kept": True}), _record(3)]
    union = {(1, AI): _record(1, output="old"), (2, AI): _record(2, output="lost"),
             (3, AI): _record(3, output="old")}
    records, restoration = restore_steps(current, union, key="k")
    assert [r["step_order"] for r in records] == [1, 2, 3]
    assert records[0] is current[0] and records[2] is current[1]  # the very objects read
    assert records[1] == union[(2, AI)]
    assert restoration.added == (union[(2, AI)],) and restoration.html_move is None
    assert current == [_record(1, output="now", unknown_field={"kept": True}), _record(3)]


def test_the_incidents_html_generation_moves_after_the_last_step() -> None:
    html = _record(1, HTML, output="page")
    union = {(n, AI): _record(n) for n in (1, 2, 3)} | {(1, HTML): html}
    records, restoration = restore_steps([html], union, key="k")
    assert [(r["step_order"], r["step_type"]) for r in records] == [
        (1, AI), (2, AI), (3, AI), (4, HTML)]
    assert records[3] == {**html, "step_order": 4} and html["step_order"] == 1
    assert restoration.html_move == HtmlMove(from_order=1, to_order=4)
    again, nothing = restore_steps(records, union, key="k")  # the moved one is not re-added
    assert again == records and not nothing.changes


def test_html_generation_stays_when_its_place_is_taken_or_it_is_ambiguous() -> None:
    union = {(1, AI): _record(1), (2, AI): _record(2)}
    taken = [_record(1, HTML), _record(3, HTML)]
    assert restore_steps(taken, union, key="k")[1].html_move is None
    alone = [_record(1, HTML)]
    assert restore_steps(alone, {}, key="k")[1].html_move is None  # nothing to follow
    placed = [_record(3, HTML)]
    assert restore_steps(placed, union, key="k")[1].html_move is None


def test_a_lost_html_generation_is_restored_once_the_latest() -> None:
    union = {(1, AI): _record(1), (1, HTML): _record(1, HTML, "2025-01-31T09:00:00Z"),
             (2, HTML): _record(2, HTML, "2025-01-31T10:00:00Z")}
    records, restoration = restore_steps([_record(1)], union, key="k")
    assert [(r["step_order"], r["step_type"]) for r in records] == [(1, AI), (2, HTML)]
    assert restoration.added == (union[(2, HTML)],)


def test_a_corrupt_current_document_is_refused() -> None:
    with pytest.raises(CorruptDocumentError):
        restore_steps({"not": "a list"}, {}, key="k")
