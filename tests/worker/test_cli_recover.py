"""`s3store recover`: the incident reproduced on a versioned LocalS3 with the old code path,
then recovered; a dry run writes nothing; a live writer racing the recovery loses nothing."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from s3store import JsonStore
from s3store.testing import LocalS3
from tests.cli_harness import fake_aws, run_on
from tests.worker.helpers import (
    NINE_INDEPENDENT_STEPS,
    BarrierExecutor,
    JobIds,
    db_for,
    raw_bytes,
    stored_json,
    target_for,
    writes,
)
from worker_integration import (
    ExecutionStep,
    JobCompletionService,
    JobStatus,
    SimulatedExecutor,
    StepProcessor,
    ThreadInvoker,
    WorkflowOrchestrator,
)
from worker_integration.demo.legacy import LegacyHtmlInvocation, LegacyStepInvocation
from worker_integration.tools import recovery

WORKFLOW_IDENTITIES = [(n, "webhook" if n == 9 else "ai_generation") for n in range(1, 10)]
RECOVERED = [*WORKFLOW_IDENTITIES, (10, "html_generation")]


@pytest.fixture(autouse=True)
def _aws(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_aws(monkeypatch)


@pytest.fixture(scope="module")
def nine(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The incident's workflow as a definition file, for `--workflow` (its legacy jobs
    have no job record to say where html_generation belongs)."""
    path = tmp_path_factory.mktemp("workflows") / "nine.json"
    path.write_text(json.dumps(NINE_INDEPENDENT_STEPS.to_definition()))
    return str(path)


@pytest.fixture(scope="module")
def versioned() -> Iterator[LocalS3]:
    """One versioned server; each test has its own jobs."""
    with LocalS3(versioning=True) as s3:
        yield s3


def reproduce_the_incident(s3: LocalS3, ids: JobIds, *, reload: bool = False) -> None:
    """The old code path, as in the incident: nine steps each load the list (all find it
    empty), run, and overwrite it with their own record; then html_generation appends
    itself to the list it was handed (empty) at `len + 1` and overwrites once more."""
    target = target_for(s3)
    executor = BarrierExecutor(threading.Barrier(9, timeout=60))
    ThreadInvoker(workers=9).run([
        LegacyStepInvocation(target=target, executor=executor, customer_id=ids.c,
                             job_id=ids.j, workflow=NINE_INDEPENDENT_STEPS, index=index)
        for index in range(9)])
    LegacyHtmlInvocation(target=target, executor=SimulatedExecutor(), customer_id=ids.c,
                         job_id=ids.j, workflow=NINE_INDEPENDENT_STEPS, reload=reload)()


def identities(s3: LocalS3, ids: JobIds) -> list[tuple[int, str]]:
    return [step.identity for step in db_for(s3).get_execution_steps(ids.c, ids.j)]


def every_version_record(s3: LocalS3, ids: JobIds) -> list[dict[str, Any]]:
    """Every record in every version of the job's steps, read straight from S3."""
    client = s3.client()
    listing = client.list_object_versions(Bucket=s3.bucket, Prefix=ids.steps_key)
    return [record for version in listing["Versions"]
            for record in json.loads(client.get_object(
                Bucket=s3.bucket, Key=ids.steps_key,
                VersionId=version["VersionId"])["Body"].read())]


def test_recover_restores_every_step_the_incident_lost(
        capsys: pytest.CaptureFixture[str], versioned: LocalS3, nine: str) -> None:
    ids = JobIds.fresh()
    reproduce_the_incident(versioned, ids)
    assert identities(versioned, ids) == [(1, "html_generation")]  # the incident's state
    audit = run_on(capsys, versioned, "audit", "--prefix", f"{ids.c}/")
    assert audit.code == 1 and "misplaced_html_generation" in audit.out

    # Nothing says how long the workflow is: the steps would be restored, html not moved.
    unknown = run_on(capsys, versioned, "recover", ids.c, ids.j)
    assert unknown.out.splitlines()[0] == (
        f"{ids.c}/{ids.j}: 10 versions read, 1 record stored, 9 to restore; html_generation "
        "at step_order 1 not moved: the job record does not say where it belongs (name the "
        "job's workflow with --workflow)")
    result = run_on(capsys, versioned, "recover", ids.c, ids.j, "--apply", "--workflow", nine)
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == (
        f"{ids.c}/{ids.j}: 10 versions read, 1 record stored, 9 restored; "
        "html_generation moved from step_order 1 to 10")
    assert result.out.splitlines()[-1].startswith(
        "restored 9 records and moved 1 html_generation in 1 of 1 job")
    assert identities(versioned, ids) == RECOVERED
    # Each restored record is exactly what its own step wrote (unknown fields and all).
    written = {(r["step_order"], r["step_type"]): r for r in every_version_record(versioned,
                                                                                  ids)}
    stored = stored_json(versioned, ids.steps_key)
    assert stored[:9] == [written[identity] for identity in WORKFLOW_IDENTITIES]
    assert stored[9] == {**written[(1, "html_generation")], "step_order": 10}

    audit = run_on(capsys, versioned, "audit", "--prefix", f"{ids.c}/", "--workflow", nine)
    assert audit.code == 0, audit.out
    assert audit.out.startswith(f"checked 1 job under '{ids.c}/': 0 with findings, 1 clean")

    count = writes(versioned)
    again = run_on(capsys, versioned, "recover", ids.c, ids.j, "--apply", "--json",
                   "--workflow", nine)
    assert again.code == 0 and writes(versioned) == count  # nothing left to do: no write
    assert again.json()["jobs"][0]["status"] == "nothing_to_restore"


def test_recover_by_prefix_json_shape_and_the_reload_variant(
        capsys: pytest.CaptureFixture[str], versioned: LocalS3, nine: str) -> None:
    first = JobIds.fresh()
    second = JobIds(first.c, f"{first.j}_reload")
    reproduce_the_incident(versioned, first)
    reproduce_the_incident(versioned, second, reload=True)  # the report's own fix
    db_for(versioned).record_execution_step(first.c, "job_intact", ExecutionStep(
        step_order=1, step_type="ai_generation"))

    dry = run_on(capsys, versioned, "recover", "--prefix", f"{first.c}/", "--json",
                 "--page-size", "2", "--workflow", nine)
    assert dry.code == 0, dry.err
    report = dry.json()
    assert {k: v for k, v in report.items() if k != "jobs"} == {
        "bucket": versioned.bucket, "versioning": "Enabled", "apply": False,
        "summary": {"jobs": 3, "jobs_changed": 2, "records_restored": 17, "html_moved": 2,
                    "problems": 0}}
    jobs = {job["job_id"]: job for job in report["jobs"]}
    assert jobs["job_intact"]["status"] == "nothing_to_restore"
    incident = jobs[first.j]
    assert set(incident) == {"customer_id", "job_id", "key", "status", "problem", "versions",
                             "unreadable_versions", "skipped_records", "records_before",
                             "restored", "html_moved", "html_not_moved",
                             "expected_steps_from", "etag"}
    assert (incident["status"], incident["versions"], incident["records_before"],
            incident["html_moved"], incident["html_not_moved"],
            incident["expected_steps_from"]) == (
        "would_restore", 10, 1, {"from": 1, "to": 10}, None, "workflow")
    assert [(r["step_order"], r["step_type"]) for r in incident["restored"]] == (
        WORKFLOW_IDENTITIES)
    assert set(incident["restored"][0]) == {"step_order", "step_type", "step_name",
                                            "completed_at"}
    reloaded = jobs[second.j]
    assert len(reloaded["restored"]) == 8  # one step survived in what the reload read
    assert reloaded["html_moved"] == {"from": 2, "to": 10}

    applied = run_on(capsys, versioned, "recover", "--prefix", f"{first.c}/", "--apply",
                     "--workflow", nine)
    assert applied.code == 0
    assert identities(versioned, first) == RECOVERED
    assert identities(versioned, second) == RECOVERED


def test_a_dry_run_changes_nothing(capsys: pytest.CaptureFixture[str],
                                   versioned: LocalS3, nine: str) -> None:
    ids = JobIds.fresh()
    reproduce_the_incident(versioned, ids)
    client = versioned.client()
    body, head = raw_bytes(versioned, ids.steps_key), client.head_object(
        Bucket=versioned.bucket, Key=ids.steps_key)
    count = writes(versioned)
    human = run_on(capsys, versioned, "recover", ids.c, ids.j, "--workflow", nine)
    as_json = run_on(capsys, versioned, "recover", ids.c, ids.j, "--json", "--workflow", nine)
    assert human.code == as_json.code == 0
    assert writes(versioned) == count
    assert raw_bytes(versioned, ids.steps_key) == body
    assert client.head_object(Bucket=versioned.bucket, Key=ids.steps_key)["ETag"] == (
        head["ETag"])
    assert human.out.splitlines()[0].endswith(
        "9 to restore; html_generation to move from step_order 1 to 10")
    assert human.out.splitlines()[-1] == (
        "dry run: 9 records to restore and 1 html_generation to move in 1 of 1 job; 0 with "
        "problems. Nothing was written: run again with --apply to write.")
    assert as_json.json()["jobs"][0]["status"] == "would_restore"


def test_a_live_writer_racing_the_recovery_loses_nothing(
        capsys: pytest.CaptureFixture[str], versioned: LocalS3,
        monkeypatch: pytest.MonkeyPatch, nine: str) -> None:
    """The live worker writes between the recovery's read and its write: the recovery's
    conditional write gets 412, re-reads and re-applies; both sides' records stay."""
    ids = JobIds.fresh()
    reproduce_the_incident(versioned, ids)
    live = [ExecutionStep(step_order=0, step_type="form_submission", output="live"),
            ExecutionStep(step_order=3, step_type="ai_generation", output="rerun, live"),
            ExecutionStep(step_order=5, step_type="ai_generation", output="rerun, live")]
    recovery_read, live_wrote = threading.Event(), threading.Event()

    def live_worker() -> None:
        db = db_for(versioned)
        assert recovery_read.wait(timeout=60)
        db.record_execution_step(ids.c, ids.j, live[0])
        live_wrote.set()
        for step in live[1:]:  # ...and goes on while the recovery retries
            db.record_execution_step(ids.c, ids.j, step)

    original, calls = recovery.restore_steps, []

    def restore_steps_in_the_window(current: Any, union: Any, *, key: str,
                                    expected: Any) -> Any:
        calls.append(key)
        if len(calls) == 2:  # 1: the plan; 2: inside update(), between its read and write
            recovery_read.set()
            assert live_wrote.wait(timeout=60)
        return original(current, union, key=key, expected=expected)

    monkeypatch.setattr(recovery, "restore_steps", restore_steps_in_the_window)
    worker = threading.Thread(target=live_worker)
    worker.start()
    start = len(versioned.requests)
    result = run_on(capsys, versioned, "recover", ids.c, ids.j, "--apply", "--workflow", nine)
    worker.join()
    assert result.code == 0, result.err
    assert any(r.method == "PUT" and r.status == 412 and r.key == ids.steps_key
               for r in versioned.requests[start:])  # the recovery did lose a race
    assert len(calls) >= 3  # ...and re-applied its restoration on the new value
    steps = db_for(versioned).get_execution_steps(ids.c, ids.j)
    assert [s.identity for s in steps] == [(0, "form_submission"), *RECOVERED]
    outputs = {s.identity: s.output for s in steps}
    assert all(outputs[step.identity] == step.output for step in live)  # the live ones won


def test_negative_control_a_blind_write_of_the_union_loses_the_live_record(
        versioned: LocalS3) -> None:
    """The same window with a recovery that writes its rebuilt list unconditionally."""
    ids = JobIds.fresh()
    reproduce_the_incident(versioned, ids)
    client = versioned.client()
    union = recovery.union_of_versions(recovery.read_versions(
        JsonStore(client, versioned.bucket), client, ids.steps_key))
    current = stored_json(versioned, ids.steps_key)
    rebuilt, _ = recovery.restore_steps(current, union, key=ids.steps_key)
    db_for(versioned).record_execution_step(ids.c, ids.j, ExecutionStep(
        step_order=0, step_type="form_submission", output="live"))  # lands in the window
    client.put_object(Bucket=versioned.bucket, Key=ids.steps_key,
                      Body=json.dumps(rebuilt).encode())
    assert (0, "form_submission") not in identities(versioned, ids)


def test_without_versioning_it_says_so_and_changes_nothing(
        capsys: pytest.CaptureFixture[str]) -> None:
    with LocalS3() as s3:
        ids = JobIds.fresh()
        reproduce_the_incident(s3, ids)
        body, count = raw_bytes(s3, ids.steps_key), writes(s3)
        result = run_on(capsys, s3, "recover", ids.c, ids.j, "--apply")
        as_json = run_on(capsys, s3, "recover", "--prefix", "", "--apply", "--json")
        assert (raw_bytes(s3, ids.steps_key), writes(s3)) == (body, count)
    assert result.code == as_json.code == 1
    assert result.out == ""
    assert result.err == (
        f"s3store recover: bucket {s3.bucket} does not keep object versions (versioning was "
        "never enabled): there are no older versions to recover steps from. Nothing was "
        "changed.\n")
    assert as_json.json() == {"bucket": s3.bucket, "versioning": "off", "apply": True,
                              "error": result.err.removeprefix("s3store recover: ").strip(),
                              "jobs": []}


def test_a_missing_or_corrupt_document_is_a_problem_not_a_write(
        capsys: pytest.CaptureFixture[str], versioned: LocalS3) -> None:
    ids = JobIds.fresh()
    missing = run_on(capsys, versioned, "recover", ids.c, ids.j, "--apply", "--json")
    assert missing.code == 1
    [job] = missing.json()["jobs"]
    assert job["status"] == "missing" and "never recreates" in job["problem"]
    client = versioned.client()
    client.put_object(Bucket=versioned.bucket, Key=ids.steps_key, Body=b"[]")
    client.put_object(Bucket=versioned.bucket, Key=ids.steps_key, Body=b"[{broken")
    count = writes(versioned)
    corrupt = run_on(capsys, versioned, "recover", ids.c, ids.j, "--apply")
    assert corrupt.code == 1 and writes(versioned) == count
    assert corrupt.out.startswith(f"{ids.c}/{ids.j}: corrupt: ")


def test_recover_usage_errors(capsys: pytest.CaptureFixture[str], versioned: LocalS3) -> None:
    for argv in (["recover"], ["recover", "c_1"], ["recover", "c_1", "j_1", "--prefix", "x/"],
                 ["recover", "--prefix", "x/", "--page-size", "5000"]):
        result = run_on(capsys, versioned, *argv)
        assert result.code == 2, argv
        assert result.err.startswith("s3store recover: error: "), argv


def test_html_generation_is_never_moved_into_the_slot_of_a_step_still_running(
        capsys: pytest.CaptureFixture[str], versioned: LocalS3) -> None:
    """Steps 1-8 recorded, step 9 still running, and an old-path html_generation erased
    them all (html at 1). Recovery restores 1-8 and moves html to 10, where the job
    record's expected steps put it (never to 9, after the last stored step); when step 9
    lands and the worker writes its page, the job holds exactly its ten records."""
    ids = JobIds.fresh()
    db = db_for(versioned)
    WorkflowOrchestrator(db=db, executor=SimulatedExecutor()).start_job(
        ids.c, ids.j, NINE_INDEPENDENT_STEPS)
    processor = StepProcessor(db=db, executor=SimulatedExecutor())
    for index in range(8):
        processor.process_step(ids.c, ids.j, NINE_INDEPENDENT_STEPS, index)
    LegacyHtmlInvocation(target=target_for(versioned), executor=SimulatedExecutor(),
                         customer_id=ids.c, job_id=ids.j, workflow=NINE_INDEPENDENT_STEPS)()
    assert identities(versioned, ids) == [(1, "html_generation")]

    result = run_on(capsys, versioned, "recover", ids.c, ids.j, "--apply", "--json")
    assert result.code == 0, result.err
    assert identities(versioned, ids) == [*WORKFLOW_IDENTITIES[:8], (10, "html_generation")]
    [job] = result.json()["jobs"]
    assert (job["html_moved"], job["expected_steps_from"]) == ({"from": 1, "to": 10},
                                                               "job record")

    processor.process_step(ids.c, ids.j, NINE_INDEPENDENT_STEPS, 8)  # the live step 9
    completion = JobCompletionService(db=db, executor=SimulatedExecutor())
    completion.generate_html(ids.c, ids.j, NINE_INDEPENDENT_STEPS)
    assert identities(versioned, ids) == RECOVERED  # one html_generation, at 10
    assert completion.finalize_job(ids.c, ids.j).status is JobStatus.COMPLETED


def _step3(output: str, completed: str, **fields: Any) -> dict[str, Any]:
    return {**ExecutionStep(step_order=3, step_type="ai_generation", step_name="Step 3",
                            output=output, completed_at=completed).to_dict(), **fields}


RUN1 = _step3("run 1", "2025-01-31T10:00:00.000+00:00", success=False, error="timeout")
STALE_HISTORIES = {
    # A rerun on a host whose clock is five minutes behind, then an old-path writer
    # saves what it read before the rerun, then the incident erases the list.
    "rerun-on-a-slow-clock": (RUN1, _step3("rerun", "2025-01-31T09:55:00.000+00:00")),
    # The same with equal timestamps.
    "rerun-same-timestamp": (RUN1, _step3("rerun", RUN1["completed_at"])),
    # A record changed with edit_execution_step (it keeps completed_at).
    "edited": (RUN1, {**RUN1, "output": "corrected by an operator"}),
}


@pytest.mark.parametrize(("old", "new"), STALE_HISTORIES.values(), ids=STALE_HISTORIES.keys())
def test_recover_restores_the_newer_record_not_a_stale_copy_written_back(
        capsys: pytest.CaptureFixture[str], versioned: LocalS3, old: dict[str, Any],
        new: dict[str, Any]) -> None:
    ids = JobIds.fresh()
    client = versioned.client()
    first = ExecutionStep(step_order=1, step_type="ai_generation").to_dict()
    for document in ([first, old], [first, new], [first, dict(old)], [first]):
        client.put_object(Bucket=versioned.bucket, Key=ids.steps_key,
                          Body=json.dumps(document).encode())
    result = run_on(capsys, versioned, "recover", ids.c, ids.j, "--apply")
    assert result.code == 0, result.err
    assert stored_json(versioned, ids.steps_key) == [first, new]
