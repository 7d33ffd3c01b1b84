"""The demo: its report (pure), and whole runs in threads on a local S3 or a given endpoint."""

from __future__ import annotations

import io

import pytest

from s3store import JsonStore
from s3store.testing import FaultPlan, LocalS3
from tests.cli_harness import fake_aws
from tests.worker.helpers import run_demo
from worker_integration import ExecutionStep, InvocationReport, ProcessInvoker, UsageInfo
from worker_integration.demo.report import progress_line, steps_table, verdict_of
from worker_integration.demo.run import DEMO_WORKFLOW, main


def _complete() -> list[ExecutionStep]:
    steps = [ExecutionStep(step_order=i + 1, step_type=step.step_type, step_name=step.name)
             for i, step in enumerate(DEMO_WORKFLOW.steps)]
    return [*steps, ExecutionStep(step_order=10, step_type="html_generation")]


def test_verdicts() -> None:
    steps = _complete()
    assert verdict_of(DEMO_WORKFLOW, steps).line() == "10/10 execution steps stored"
    assert verdict_of(DEMO_WORKFLOW, steps).complete
    incident = [ExecutionStep(step_order=1, step_type="html_generation")]
    assert verdict_of(DEMO_WORKFLOW, incident).line() == (
        "0/10 execution steps stored — lost orders [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]; "
        "html_generation stored at step_order 1")
    doubled = verdict_of(DEMO_WORKFLOW, [*steps[:3], steps[2], *steps[4:]])
    assert doubled.line() == ("9/10 execution steps stored — lost orders [4]; "
                              "(3, ai_generation) stored more than once")
    assert not doubled.complete


def test_table_and_progress_lines() -> None:
    step = ExecutionStep(step_order=3, step_type="ai_generation", step_name="Pain points",
                         duration_ms=412, artifact_id="art_1",
                         usage_info=UsageInfo(total_tokens=391, cost_usd=0.00123))
    lines = steps_table([step]).splitlines()
    assert lines[0].split() == ["order", "type", "name", "ok", "duration", "tokens", "cost",
                                "artifact"]
    assert lines[2].split() == ["3", "ai_generation", "Pain", "points", "yes", "412", "ms",
                                "391", "$0.001230", "art_1"]
    report = InvocationReport(customer_id="c", job_id="j", path="new", step_order=3,
                              step_type="ai_generation", step_name="Pain points",
                              success=False, duration_ms=5, error="boom")
    assert progress_line(report, done=2, total=10).startswith("[ 2/10] new j  step  3 ")
    assert progress_line(report, done=2, total=10).endswith("FAILED (boom)")




def test_demo_stores_every_step_and_compare_shows_the_old_loss() -> None:
    status, lines = run_demo("--compare", "--fail", "Outline")
    assert status == 0
    assert "10/10 execution steps stored" in lines
    assert any(" FAILED " in line for line in lines)  # the failed step is in the table
    assert ("old path: 0/10 execution steps stored — lost orders "
            "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]; html_generation stored at step_order 1") in lines
    assert any(line.startswith("old path + report's fix: ") for line in lines)
    assert "new path: 10/10 execution steps stored across 1 job(s)" in lines
    assert "old path: 0/10 execution steps stored across 1 job(s)" in lines


def test_demo_runs_several_jobs() -> None:
    status, lines = run_demo("--jobs", "2")
    assert status == 0
    assert sum(line.endswith(": 10/10 execution steps stored") for line in lines) == 2
    assert "new path: 20/20 execution steps stored across 2 job(s)" in lines


def _on_endpoint(monkeypatch: pytest.MonkeyPatch, s3: LocalS3) -> None:
    fake_aws(monkeypatch)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint_url)
    monkeypatch.setenv("S3STORE_BUCKET", s3.bucket)


def test_demo_on_a_given_endpoint_and_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    with LocalS3() as s3:
        _on_endpoint(monkeypatch, s3)
        status, lines = run_demo()
    assert status == 0
    assert lines[0] == (f"S3: bucket {s3.bucket} at {s3.endpoint_url}: safe: conditional "
                        "writes are honoured: create, replace, update and get are safe. "
                        "Conditional deletes are honoured too.")
    assert "10/10 execution steps stored" in lines


def test_demo_says_what_probe_says_when_conditional_deletes_are_not_implemented(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """LocalStack's 501 on a conditional delete: the worker never deletes, so the demo
    runs, and its first line is the probe's verdict (they used to disagree)."""
    with LocalS3(faults=FaultPlan(conditional_delete_not_implemented=True)) as s3:
        _on_endpoint(monkeypatch, s3)
        status, lines = run_demo()
        expected = JsonStore(s3.client(), s3.bucket).probe().summary()
    assert status == 0
    assert lines[0] == f"S3: bucket {s3.bucket} at {s3.endpoint_url}: {expected}"
    assert "Conditional deletes are not supported here" in expected
    assert "10/10 execution steps stored" in lines


def test_demo_refuses_an_endpoint_that_ignores_if_match(monkeypatch: pytest.MonkeyPatch) -> None:
    with LocalS3(faults=FaultPlan(ignore_conditions=True)) as s3:
        _on_endpoint(monkeypatch, s3)
        with pytest.raises(SystemExit) as caught:
            run_demo()
    assert "UNSAFE" in str(caught.value.code)


def test_an_endpoint_without_a_bucket_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("S3STORE_BUCKET", raising=False)
    with pytest.raises(SystemExit) as caught:
        main(["--endpoint-url", "http://127.0.0.1:9"], out=io.StringIO())
    assert caught.value.code == 2


def test_process_invoker_needs_its_with_block() -> None:
    with pytest.raises(RuntimeError, match="entered"):
        ProcessInvoker(2).run([])
    with pytest.raises(ValueError, match="workers"):
        ProcessInvoker(0)
