"""Recovery's pure parts: which record of a step wins across versions, what is restored,
and the one record recovery moves."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from s3store import CorruptDocumentError
from worker_integration.tools.recovery import (
    Found,
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


def _versions(*versions: tuple[dict[str, Any], ...]) -> list[StoredVersion]:
    return [StoredVersion(f"v{n}", WHEN, records) for n, records in enumerate(versions)]


def _union(*records: dict[str, Any]) -> dict[tuple[int, str], Found]:
    """A union whose records first appeared in the order given."""
    return {(r["step_order"], r["step_type"]): Found(r, (n, 0)) for n, r in enumerate(records)}


NINE = (*((n, "webhook" if n == 9 else AI) for n in range(1, 10)), (10, HTML))


# -- which record of a step stays ---------------------------------------------------------

RUN1 = _record(3, completed="2025-01-31T10:00:00Z", output="run 1")


def test_a_rerun_on_a_host_whose_clock_is_behind_wins_over_the_first_run() -> None:
    rerun = _record(3, completed="2025-01-31T09:55:00Z", output="rerun")
    union = union_of_versions(_versions((RUN1,), (rerun,), ()))
    assert union[(3, AI)].record is rerun


def test_a_stale_copy_written_back_later_counts_from_when_it_first_appeared() -> None:
    """An old-path writer saves what it read before the rerun: the copy reappears in a
    later version, with a later or equal timestamp; the rerun still stays."""
    for completed in ("2025-01-31T10:00:00Z", "2025-01-31T10:05:00Z"):
        rerun = _record(3, completed=completed, output="rerun")
        union = union_of_versions(_versions((RUN1,), (rerun,), (dict(RUN1),), ()))
        assert union[(3, AI)].record is rerun


def test_an_edit_that_kept_completed_at_wins_over_the_old_bytes_written_back() -> None:
    edited = {**RUN1, "output": "edited by edit_execution_step"}
    union = union_of_versions(_versions((RUN1,), (edited,), (dict(RUN1),)))
    assert union[(3, AI)].record is edited


def test_the_latest_attempt_wins_even_when_an_older_one_landed_last() -> None:
    """A late older attempt overwrote the newer one (before attempts were compared)."""
    newer = _record(2, attempt=2, output="retry, succeeded")
    older = _record(2, attempt=1, output="first attempt, failed late", success=False)
    union = union_of_versions(_versions((newer,), (older,)))
    assert union[(2, AI)].record is newer
    legacy = _record(2, output="no attempt recorded")
    assert union_of_versions(_versions((newer,), (legacy,)))[(2, AI)].record is newer


def test_within_one_version_the_later_duplicate_wins() -> None:
    first, second = _record(1, output="first"), _record(1, output="second")
    assert union_of_versions(_versions((first, second)))[(1, AI)].record is second


def test_unreadable_versions_are_skipped() -> None:
    kept = _record(2)
    union = union_of_versions([StoredVersion("bad", WHEN, None), StoredVersion("v", WHEN,
                                                                                (kept,))])
    assert union == {(2, AI): Found(kept, (1, 0))}


# -- what is restored, and where html_generation goes -------------------------------------


def test_only_what_is_missing_is_added_and_nothing_stored_is_touched() -> None:
    current = [_record(1, output="now", unknown_field={"kept": True}), _record(3)]
    union = _union(_record(1, output="old"), _record(2, output="lost"),
                   _record(3, output="old"))
    records, restoration = restore_steps(current, union, key="k")
    assert [r["step_order"] for r in records] == [1, 2, 3]
    assert records[0] is current[0] and records[2] is current[1]  # the very objects read
    assert records[1] == union[(2, AI)].record
    assert restoration.added == (union[(2, AI)].record,) and restoration.html_move is None
    assert current == [_record(1, output="now", unknown_field={"kept": True}), _record(3)]


def test_the_incidents_html_generation_moves_to_where_the_workflow_puts_it() -> None:
    html = _record(1, HTML, output="page")
    union = _union(*(_record(n, t) for n, t in NINE[:9]), html)
    records, restoration = restore_steps([html], union, key="k", expected=NINE)
    assert [(r["step_order"], r["step_type"]) for r in records] == list(NINE)
    assert records[9] == {**html, "step_order": 10} and html["step_order"] == 1
    assert restoration.html_move == HtmlMove(from_order=1, to_order=10)
    again, nothing = restore_steps(records, union, key="k", expected=NINE)
    assert again == records and not nothing.changes  # the moved one is not re-added


def test_html_generation_never_goes_into_the_slot_of_a_step_still_running() -> None:
    """Steps 1-8 stored, step 9 still running, html at the incident's order: it goes to
    10, where the workflow puts it, never to 9 (after the last stored step)."""
    html = _record(1, HTML)
    current = [html, *(_record(n) for n in range(2, 9))]
    union = _union(_record(1), *current[1:], html)
    records, restoration = restore_steps(current, union, key="k", expected=NINE)
    assert restoration.html_move == HtmlMove(from_order=1, to_order=10)
    assert [r["step_order"] for r in records] == [*range(1, 9), 10]


def test_without_expected_steps_html_generation_stays_and_the_reason_is_given() -> None:
    html = _record(1, HTML)
    union = _union(*(_record(n) for n in range(1, 9)), html)
    records, restoration = restore_steps([html], union, key="k")
    assert restoration.html_move is None
    assert restoration.html_unmoved == (
        "html_generation at step_order 1 not moved: the job record does not say where it "
        "belongs (name the job's workflow with --workflow)")
    assert len(restoration.added) == 8 and restoration.changes
    assert records[0] is html
    well_placed = restore_steps([_record(1), _record(2, HTML)], {}, key="k")[1]
    assert well_placed.html_unmoved is None and not well_placed.changes


def test_html_generation_stays_when_its_place_is_taken_or_it_is_ambiguous() -> None:
    three = ((1, AI), (2, AI), (3, HTML))
    taken = [_record(1, HTML), _record(3)]
    restoration = restore_steps(taken, {}, key="k", expected=three)[1]
    assert restoration.html_move is None
    assert restoration.html_unmoved == ("html_generation at step_order 1 not moved: "
                                        "step_order 3, where it belongs, is taken")
    several = [_record(1, HTML), _record(4, HTML)]
    assert restore_steps(several, {}, key="k", expected=three)[1].html_move is None
    placed = [_record(3, HTML)]
    assert not restore_steps(placed, {}, key="k", expected=three)[1].changes


def test_a_lost_html_generation_is_restored_once_the_one_that_stays() -> None:
    older = _record(1, HTML, "2025-01-31T10:00:00Z")
    newer = _record(2, HTML, "2025-01-31T09:00:00Z")  # first appeared later
    records, restoration = restore_steps([_record(1)], _union(_record(1), older, newer),
                                         key="k", expected=((1, AI), (2, HTML)))
    assert [(r["step_order"], r["step_type"]) for r in records] == [(1, AI), (2, HTML)]
    assert restoration.added == (newer,)


def test_a_corrupt_current_document_is_refused() -> None:
    with pytest.raises(CorruptDocumentError):
        restore_steps({"not": "a list"}, {}, key="k")


def test_a_stale_copy_re_serialised_by_another_writer_is_still_the_old_content() -> None:
    """A writer that re-serialises numbers (JavaScript: 1200.0 -> 1200, 0.0 -> 0) saving
    what it read before an edit: the same content, so it counts from when it first
    appeared, and the edit stays."""
    original = _record(1, output="original", attempt=1, duration_ms=1200.0,
                       usage_info={"cost_usd": 0.0})
    edited = {**original, "output": "edited"}
    resaved = {**original, "duration_ms": 1200, "usage_info": {"cost_usd": 0}}
    union = union_of_versions(_versions((original,), (edited,), (resaved,), ()))
    assert union[(1, AI)].record is edited
