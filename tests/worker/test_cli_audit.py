"""`s3store audit`: the rules on their own, then a prepared prefix with each kind of damage."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from s3store.testing import LocalS3
from tests.cli_harness import FakeTerminal, fake_aws, run_on
from tests.worker.helpers import NINE_INDEPENDENT_STEPS, db_for
from worker_integration import ExecutionStep, JobStatus
from worker_integration.db_service import execution_steps_key
from worker_integration.demo.run import DEMO_WORKFLOW
from worker_integration.job_record import StepIdentity
from worker_integration.tools.audit import FINDING_KINDS, audit_records, audit_steps
from worker_integration.tools.job_listing import parse_job_key
from worker_integration.workflow import Workflow, WorkflowStep

AI, HTML = "ai_generation", "html_generation"


@pytest.fixture(autouse=True)
def _aws(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_aws(monkeypatch)


def _steps(*identities: tuple[int, str]) -> list[ExecutionStep]:
    return [ExecutionStep(step_order=order, step_type=step_type)
            for order, step_type in identities]


def _kinds(*identities: tuple[int, str]) -> list[tuple[str, str]]:
    return [(f.kind, f.detail) for f in audit_records(_steps(*identities))]


def test_a_complete_job_is_clean() -> None:
    assert _kinds((0, "form_submission"), (1, AI), (2, "webhook"), (3, HTML)) == []


def test_each_rule() -> None:
    assert _kinds((1, AI), (3, AI), (5, HTML)) == [("gap", "no record for step_order 2, 4")]
    assert _kinds((1, AI), (1, AI), (2, HTML)) == [
        ("duplicate", "(1, ai_generation) is stored 2 times")]
    assert _kinds((1, AI), (2, AI)) == [("missing_html_generation", "no html_generation record")]
    assert _kinds((1, HTML)) == [  # the incident: html_generation alone, at len([]) + 1
        ("misplaced_html_generation",
         "html_generation at step_order 1, with no workflow step stored before it")]
    assert _kinds((3, AI), (2, HTML)) == [  # the report's "reload" fix, after a lost step
        ("misplaced_html_generation", "html_generation at step_order 2, not after the "
                                      "last workflow step (3)"),
        ("gap", "no record for step_order 1, 2")]
    assert _kinds((1, AI), (2, HTML), (3, HTML)) == [
        ("misplaced_html_generation", "html_generation stored again at step_order 3")]


NINE = NINE_INDEPENDENT_STEPS.expected_steps  # 1-8 ai_generation, 9 webhook, 10 html


def _against(expected: tuple[StepIdentity, ...],
             *identities: tuple[int, str]) -> list[tuple[str, str]]:
    return [(f.kind, f.detail) for f in audit_records(_steps(*identities), expected)]


def test_against_the_expected_steps_a_complete_job_is_clean() -> None:
    assert _against(NINE, *NINE) == []
    assert _against(NINE, (0, "form_submission"), *NINE) == []


def test_against_the_expected_steps_each_damaged_shape_is_found() -> None:
    # Steps 1-8 stored, step 9 erased, and the report's half-fix put html at order 9:
    # without the expected steps this looks complete.
    half_fixed = [*NINE[:8], (9, HTML)]
    assert _kinds(*half_fixed) == []
    assert _against(NINE, *half_fixed) == [
        ("misplaced_html_generation", "html_generation at step_order 9, expected at 10"),
        ("gap", "no record for step_order 9 (webhook)")]
    # The demo job cut to steps 1-4, html at 5: looks complete too without them.
    cut = [*DEMO_WORKFLOW.expected_steps[:4], (5, HTML)]
    assert _kinds(*cut) == []
    assert _against(DEMO_WORKFLOW.expected_steps, *cut) == [
        ("misplaced_html_generation", "html_generation at step_order 5, expected at 10"),
        ("gap", "no record for step_order 5 (ai_generation), 6 (ai_generation), "
                "7 (ai_generation), 8 (ai_generation), 9 (webhook)")]
    # A step of another type at an expected order, and one beyond the workflow.
    assert _against(NINE, *NINE[:8], (9, AI), (10, HTML), (11, AI)) == [
        ("unexpected_step", "(9, ai_generation) is not a step this job expects"),
        ("unexpected_step", "(11, ai_generation) is not a step this job expects"),
        ("gap", "no record for step_order 9 (webhook)")]
    assert _against(NINE, *NINE[:9]) == [
        ("missing_html_generation", "no html_generation record")]
    assert _against(NINE, *NINE, (10, HTML)) == [
        ("duplicate", "(10, html_generation) is stored 2 times")]


def test_a_document_that_does_not_parse_is_corrupt() -> None:
    values: list[Any] = [{"steps": []}, [{"step_type": AI}],
                         [{"step_order": -1, "step_type": AI}]]
    for value in values:
        [finding] = audit_steps(value, key="k")
        assert finding.kind == "corrupt"


def test_job_keys_are_recognised_by_db_services_layout() -> None:
    assert parse_job_key(execution_steps_key("c_1", "j-2")) == ("c_1", "j-2", "steps")
    assert parse_job_key(execution_steps_key("c_1", "j-2").replace("execution_steps",
                                                                   "job")) == ("c_1", "j-2",
                                                                               "record")
    for other in ("c_1/jobs/j-2/artifact.json", "c_1/jobs/j-2/x/execution_steps.json",
                  "c 1/jobs/j/execution_steps.json", "readme.txt"):
        assert parse_job_key(other) is None


# -- a prepared prefix ----------------------------------------------------------------------

PREFIX = "audit/"
CUSTOMER = "audit"  # keys start with the customer id: the prefix "audit/" is this customer


def _record(order: int, step_type: str = AI) -> dict[str, Any]:
    return ExecutionStep(step_order=order, step_type=step_type,
                         completed_at="2025-01-31T09:00:00.000+00:00").to_dict()


THREE = Workflow.of([WorkflowStep(name=f"step {n}") for n in range(1, 4)])
FIVE = Workflow.of([WorkflowStep(name=f"step {n}") for n in range(1, 6)])


def _complete(last: int = 3) -> list[dict[str, Any]]:
    return [*(_record(n) for n in range(1, last + 1)), _record(last + 1, HTML)]


EXPECTED = {
    ("job_step9_erased", "gap"),
    ("job_step9_erased", "misplaced_html_generation"),
    ("job_cut", "gap"),
    ("job_cut", "misplaced_html_generation"),
    ("job_unexpected", "unexpected_step"),
    ("job_unexpected", "gap"),
    ("job_duplicate", "duplicate"),
    ("job_gap", "gap"),
    ("job_incident", "misplaced_html_generation"),
    ("job_no_html", "missing_html_generation"),
    ("job_not_json", "corrupt"),
    ("job_no_steps_completed", "missing_html_generation"),
    ("job_wrong_shape", "corrupt"),
}


@pytest.fixture(scope="module")
def damaged() -> Iterator[LocalS3]:
    """A bucket with jobs under `audit/`, one per kind of damage, and some clean ones."""
    with LocalS3() as s3:
        client = s3.client()

        def put(job_id: str, body: Any) -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            client.put_object(Bucket=s3.bucket, Key=execution_steps_key(CUSTOMER, job_id),
                              Body=data)

        db = db_for(s3)

        def finished(job_id: str, expected: tuple[StepIdentity, ...] | None) -> None:
            db.ensure_job(CUSTOMER, job_id, expected=expected)
            db.set_job_status(CUSTOMER, job_id, JobStatus.PROCESSING)
            db.set_job_status(CUSTOMER, job_id, JobStatus.COMPLETED)

        finished("job_clean", THREE.expected_steps)
        put("job_clean", _complete())
        finished("job_step9_erased", NINE)
        put("job_step9_erased", [*(_record(n, t) for n, t in NINE[:8]), _record(9, HTML)])
        finished("job_cut", DEMO_WORKFLOW.expected_steps)
        put("job_cut", [*(_record(n) for n in range(1, 5)), _record(5, HTML)])
        finished("job_unexpected", THREE.expected_steps)
        put("job_unexpected", [_record(1), _record(2, "webhook"), _record(3), _record(4, HTML)])
        put("job_gap", [_record(1), _record(3), _record(4, HTML)])
        put("job_duplicate", [_record(1), _record(2), _record(2), _record(3, HTML)])
        put("job_no_html", [_record(1), _record(2)])
        put("job_incident", [_record(1, HTML)])
        put("job_not_json", b'[{"step_order": 1,')
        put("job_wrong_shape", [{"step_type": AI}])
        db.create_job(CUSTOMER, "job_running")  # unfinished: incomplete steps are expected
        db.set_job_status(CUSTOMER, "job_running", JobStatus.PROCESSING)
        put("job_running", [_record(1), _record(3)])
        db.create_job(CUSTOMER, "job_no_steps_completed")
        db.set_job_status(CUSTOMER, "job_no_steps_completed", JobStatus.PROCESSING)
        db.set_job_status(CUSTOMER, "job_no_steps_completed", JobStatus.COMPLETED)
        db.create_job(CUSTOMER, "job_pending")  # no steps yet: fine
        db.create_job(CUSTOMER, "job_done")  # a record from before expected_steps
        db.set_job_status(CUSTOMER, "job_done", JobStatus.PROCESSING)
        db.set_job_status(CUSTOMER, "job_done", JobStatus.COMPLETED)
        put("job_done", _complete(5))
        client.put_object(Bucket=s3.bucket, Key="audit/jobs/job_x/notes.txt", Body=b"x")
        client.put_object(Bucket=s3.bucket, Key="audit/readme.txt", Body=b"not a job")
        client.put_object(Bucket=s3.bucket, Key=execution_steps_key("elsewhere", "job_1"),
                          Body=b"outside the prefix, and corrupt")
        yield s3


def test_audit_finds_each_kind_of_damage(capsys: pytest.CaptureFixture[str],
                                         damaged: LocalS3) -> None:
    result = run_on(capsys, damaged, "audit", "--prefix", PREFIX)
    assert result.code == 1
    assert result.err == ""  # not a terminal: no progress
    lines = result.out.splitlines()
    found = {(line.split()[1].split("/")[1], line.split()[0]) for line in lines
             if line.split(" ", 1)[0] in FINDING_KINDS}
    assert found == EXPECTED
    assert ("misplaced_html_generation audit/job_incident  html_generation at step_order 1, "
            "with no workflow step stored before it") in lines
    assert lines[-3:] == [
        "checked 14 jobs under 'audit/': 10 with findings, 1 clean, 2 unfinished, "
        "1 cannot tell",
        "findings: gap 4, unexpected_step 1, duplicate 1, missing_html_generation 2, "
        "misplaced_html_generation 3, corrupt 2",
        "cannot tell whether complete: 1 job(s) whose record does not say which steps they "
        "hold (name their workflow with --workflow): audit/job_done"]


def test_audit_json_shape(capsys: pytest.CaptureFixture[str], damaged: LocalS3) -> None:
    result = run_on(capsys, damaged, "audit", "--prefix", PREFIX, "--json")
    assert result.code == 1
    report = result.json()
    assert {k: v for k, v in report.items() if k not in ("findings", "cannot_tell")} == {
        "bucket": damaged.bucket, "prefix": PREFIX, "workflow": None, "jobs_checked": 14,
        "jobs_with_findings": 10, "jobs_clean": 1, "jobs_unfinished": 2,
        "jobs_cannot_tell": 1,
        "counts": {"gap": 4, "unexpected_step": 1, "duplicate": 1,
                   "missing_html_generation": 2, "misplaced_html_generation": 3,
                   "corrupt": 2}, "skipped_keys": []}
    assert {(f["job_id"], f["kind"]) for f in report["findings"]} == EXPECTED
    gap = next(f for f in report["findings"] if f["job_id"] == "job_gap")
    assert gap == {"customer_id": CUSTOMER, "job_id": "job_gap",
                   "key": execution_steps_key(CUSTOMER, "job_gap"), "kind": "gap",
                   "detail": "no record for step_order 2"}
    assert report["cannot_tell"] == [{
        "customer_id": CUSTOMER, "job_id": "job_done",
        "key": execution_steps_key(CUSTOMER, "job_done"),
        "reason": "its record does not say which steps it holds, and no workflow was named: "
                  "nobody can tell how long its workflow is"}]


def test_a_job_without_expected_steps_is_audited_against_the_workflow_named(
        capsys: pytest.CaptureFixture[str], damaged: LocalS3, tmp_path: Any) -> None:
    """`--workflow` turns "cannot tell" into a verdict; a job whose record has its
    expected steps is checked against those, whatever the option says."""
    done = f"{PREFIX}jobs/job_done/"
    unknown = run_on(capsys, damaged, "audit", "--prefix", done)
    assert unknown.code == 1 and "0 clean, 0 unfinished, 1 cannot tell" in unknown.out
    five, three = tmp_path / "five.json", tmp_path / "three.json"
    five.write_text(json.dumps(FIVE.to_definition()))
    three.write_text(json.dumps(THREE.to_definition()))
    clean = run_on(capsys, damaged, "audit", "--prefix", done, "--workflow", str(five))
    assert clean.code == 0, clean.out
    assert "1 clean, 0 unfinished, 0 cannot tell" in clean.out
    short = run_on(capsys, damaged, "audit", "--prefix", done, "--workflow", str(three),
                   "--json").json()
    assert {f["kind"] for f in short["findings"]} == {"unexpected_step",
                                                      "misplaced_html_generation"}
    named = run_on(capsys, damaged, "audit", "--prefix", f"{PREFIX}jobs/job_clean/",
                   "--workflow", "demo")  # its record's own expected steps win
    assert named.code == 0 and "1 clean" in named.out
    bad = run_on(capsys, damaged, "audit", "--prefix", done, "--workflow", "../etc/x")
    assert bad.code == 2 and "--workflow: " in bad.err


def test_audit_pages_through_the_listing(capsys: pytest.CaptureFixture[str],
                                         damaged: LocalS3) -> None:
    whole = run_on(capsys, damaged, "audit", "--prefix", PREFIX, "--json").json()
    keys = damaged.client().list_objects_v2(Bucket=damaged.bucket, Prefix=PREFIX)["KeyCount"]
    damaged.clear_requests()
    paged = run_on(capsys, damaged, "audit", "--prefix", PREFIX, "--json", "--page-size", "1")
    assert paged.json() == whole
    listings = [r for r in damaged.requests if r.method == "GET" and not r.key]
    assert len(listings) == keys  # one key a request, the last page not truncated


def test_a_clean_prefix_exits_0_and_progress_shows_on_a_terminal(
        capsys: pytest.CaptureFixture[str], damaged: LocalS3,
        monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    clean = run_on(capsys, damaged, "audit", "--prefix", "audit/jobs/job_clean/")
    assert clean.code == 0
    assert clean.out.splitlines() == [
        "checked 1 job under 'audit/jobs/job_clean/': 0 with findings, 1 clean, "
        "0 unfinished, 0 cannot tell",
        "findings: gap 0, unexpected_step 0, duplicate 0, missing_html_generation 0, "
        "misplaced_html_generation 0, corrupt 0"]
    assert clean.err == ""  # the progress went to the terminal
    damaged_elsewhere = run_on(capsys, damaged, "audit", "--prefix", "elsewhere/")
    assert damaged_elsewhere.code == 1
    shown = terminal.getvalue()
    assert "\r\x1b[Kaudit: checked 1 jobs, 0 with findings" in shown
    assert "\r\x1b[Kaudit: checked 1 jobs, 1 with findings" in shown
    assert shown.endswith("\r\x1b[K")  # the progress line is erased at the end


def test_audit_usage_errors(capsys: pytest.CaptureFixture[str], damaged: LocalS3) -> None:
    result = run_on(capsys, damaged, "audit", "--page-size", "0")
    assert result.code == 2 and "--page-size must be 1 to 1000" in result.err
