"""`s3store steps`, `s3store demo` and `s3store bench`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import worker_integration.tools.cli as job_cli
from s3store.cli import main
from s3store.testing import LocalS3
from tests.cli_harness import fake_aws, run, run_on
from tests.worker.helpers import JobIds, db_for
from worker_integration import ExecutionStep, UsageInfo


@pytest.fixture(autouse=True)
def _aws(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_aws(monkeypatch)


def _record_two_steps(s3: LocalS3, ids: JobIds) -> None:
    db = db_for(s3)
    db.record_execution_step(ids.c, ids.j, ExecutionStep(
        step_order=2, step_type="html_generation", step_name="HTML generation",
        duration_ms=1530.4, usage_info=UsageInfo(total_tokens=2000, cost_usd=0.01)))
    db.record_execution_step(ids.c, ids.j, ExecutionStep(
        step_order=1, step_type="ai_generation", step_name="Pain points", success=False,
        duration_ms=412, artifact_id="art_1", error="boom",
        usage_info=UsageInfo(total_tokens=391, cost_usd=0.00123)))


def test_steps_shows_a_table_with_the_etag(capsys: pytest.CaptureFixture[str],
                                           local_s3: LocalS3) -> None:
    ids = JobIds.fresh()
    _record_two_steps(local_s3, ids)
    etag = local_s3.client().head_object(Bucket=local_s3.bucket, Key=ids.steps_key)["ETag"]
    result = run_on(capsys, local_s3, "steps", ids.c, ids.j)
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[:2] == [f"key   {ids.steps_key}", f"etag  {etag}"]
    assert lines[3].split() == ["order", "type", "name", "success", "duration", "tokens",
                                "cost", "artifact"]
    assert lines[5].split() == ["1", "ai_generation", "Pain", "points", "FAILED", "412", "ms",
                                "391", "$0.001230", "art_1"]
    assert lines[6].split() == ["2", "html_generation", "HTML", "generation", "yes", "1530",
                                "ms", "2000", "$0.010000", "-"]
    assert lines[-1] == "2 steps (1 failed), 2391 tokens, $0.011230"


def test_steps_json_is_the_stored_document(capsys: pytest.CaptureFixture[str],
                                           local_s3: LocalS3) -> None:
    ids = JobIds.fresh()
    _record_two_steps(local_s3, ids)
    result = run_on(capsys, local_s3, "steps", ids.c, ids.j, "--json")
    assert result.code == 0
    stored = local_s3.client().get_object(Bucket=local_s3.bucket, Key=ids.steps_key)
    assert result.json() == {"customer_id": ids.c, "job_id": ids.j, "key": ids.steps_key,
                             "etag": stored["ETag"],
                             "steps": json.loads(stored["Body"].read())}


def test_steps_exits_1_without_steps_or_with_corrupt_ones(
        capsys: pytest.CaptureFixture[str], local_s3: LocalS3) -> None:
    ids = JobIds.fresh()
    missing = run_on(capsys, local_s3, "steps", ids.c, ids.j)
    assert missing.code == 1 and missing.out == ""
    assert missing.err == (f"s3store steps: no execution steps stored for {ids.c}/{ids.j} "
                           f"(key {ids.steps_key})\n")
    local_s3.client().put_object(Bucket=local_s3.bucket, Key=ids.steps_key,
                                 Body=b'[{"step_type": "ai_generation"}]')
    corrupt = run_on(capsys, local_s3, "steps", ids.c, ids.j, "--json")
    assert corrupt.code == 1 and corrupt.out == ""
    assert "step_order and step_type" in corrupt.err


def test_demo_runs_what_make_demo_runs(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "demo", "--threads", "--step-delay", "20", "--latency", "0")
    assert result.code == 0, result.err
    assert "10/10 execution steps stored" in result.out.splitlines()


def test_demo_passes_its_arguments_on_and_its_usage_errors_back(
        capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "demo", "--jobs", "0")
    assert result.code == 2
    assert result.err.startswith("usage: s3store demo ")  # the command the README shows
    assert "--jobs and --workers must be at least 1" in result.err
    shown = run(capsys, "demo", "--help")
    assert shown.code == 0 and "--compare" in shown.out  # the demo's own help


def test_demo_on_a_given_bucket_from_the_global_options(
        capsys: pytest.CaptureFixture[str], local_s3: LocalS3) -> None:
    result = run_on(capsys, local_s3, "demo", "--threads", "--step-delay", "20")
    assert result.code == 0, result.err
    assert result.out.splitlines()[0].startswith(
        f"S3: bucket {local_s3.bucket} at {local_s3.endpoint_url}: safe: conditional writes "
        "are honoured")


def test_bench_runs_the_checkouts_benchmarks_in_the_callers_directory(
        capfd: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    checkout, elsewhere = tmp_path / "checkout", tmp_path / "elsewhere"
    monkeypatch.setattr(job_cli, "project_root", lambda: checkout)
    (checkout / "benchmarks").mkdir(parents=True)
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # a relative --output is the caller's, not the checkout's
    (checkout / "benchmarks" / "__init__.py").write_text("")
    (checkout / "benchmarks" / "__main__.py").write_text(
        "import os, sys\nprint(sys.executable, os.getcwd(), sys.argv[1:])\nsys.exit(3)\n")
    code = main(["bench", "--quick", "--output", "out"])
    out = capfd.readouterr().out
    assert code == 3  # its exit status, passed on
    assert out == f"{sys.executable} {elsewhere} ['--quick', '--output', 'out']\n"


def test_bench_ignores_a_benchmarks_module_in_the_callers_directory(
        capfd: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A `benchmarks.py` where the caller stands (a common name) must not run instead of
    the checkout's benchmarks."""
    checkout, elsewhere = tmp_path / "checkout", tmp_path / "elsewhere"
    monkeypatch.setattr(job_cli, "project_root", lambda: checkout)
    (checkout / "benchmarks").mkdir(parents=True)
    (checkout / "benchmarks" / "__init__.py").write_text("")
    (checkout / "benchmarks" / "__main__.py").write_text('print("the checkout")\n')
    elsewhere.mkdir()
    (elsewhere / "benchmarks.py").write_text("print('a decoy')\n")
    monkeypatch.chdir(elsewhere)
    assert main(["bench"]) == 0
    assert capfd.readouterr().out == "the checkout\n"


def test_bench_without_benchmarks_says_where_it_looked(
        capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(job_cli, "project_root", lambda: tmp_path)
    result = run(capsys, "bench")
    assert result.code == 2
    assert result.err.startswith(f"s3store bench: no benchmarks in {tmp_path}")
