"""The `s3store` command line itself: entry points, options, exit status, logging, layering."""

from __future__ import annotations

import ast
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from s3store.cli import COMMAND_GROUP, Command, Context, framework
from s3store.testing import LocalS3
from tests.cli_harness import fake_aws, run, run_on
from worker_integration.tools.cli import AUDIT, BENCH, DEMO, STEPS
from worker_integration.tools.cli_context import CommandContext
from worker_integration.tools.cli_recover import RECOVER

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ("probe", "get", "steps", "audit", "recover", "demo", "bench")


@pytest.fixture(autouse=True)
def _aws(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_aws(monkeypatch)


@pytest.fixture(scope="module")
def local_s3() -> Iterator[LocalS3]:
    with LocalS3() as s3:
        yield s3


def test_python_dash_m_s3store_help_lists_every_command() -> None:
    result = subprocess.run([sys.executable, "-m", "s3store", "--help"], capture_output=True,
                            text=True, check=False, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: s3store")
    for name in COMMANDS:
        assert f"    {name} " in result.stdout
    assert "exit status: 0 ok / clean, 1 a problem found" in result.stdout
    assert result.stderr == ""  # every plug-in loaded


def test_the_job_commands_come_from_entry_points() -> None:
    from importlib.metadata import entry_points  # noqa: PLC0415 - what the CLI sees

    names = {point.name for point in entry_points(group=COMMAND_GROUP)}
    assert names == {"steps", "audit", "recover", "demo", "bench"}
    assert set(framework.load_commands(err=sys.stderr)) == set(COMMANDS)


def test_the_commands_fit_the_protocols() -> None:
    # Checked by mypy: each plug-in is a Command, and s3store's Context is what they use.
    commands: list[Command] = [STEPS, AUDIT, RECOVER, DEMO, BENCH]
    context: type[CommandContext] = Context
    assert all(not command.passthrough for command in commands[:3])
    assert all(command.passthrough for command in commands[3:])
    assert context is Context


def test_s3store_never_imports_worker_integration() -> None:
    for path in sorted((ROOT / "s3store").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(name.startswith("worker_integration") for name in names), path


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    no_command = run(capsys)
    assert no_command.code == 2 and "usage: s3store" in no_command.err
    unknown = run(capsys, "probe", "--no-such-option")
    assert unknown.code == 2 and "unrecognized arguments" in unknown.err
    no_bucket = run(capsys, "get", "a.json")
    assert no_bucket.code == 2
    assert no_bucket.err == ("s3store get: error: no bucket: give --bucket or set "
                             "S3STORE_BUCKET\n")
    bad_key = run(capsys, "--bucket", "b", "get", "a//b.json")
    assert bad_key.code == 2 and "path segment" in bad_key.err
    bad_id = run(capsys, "--bucket", "b", "steps", "../etc", "job_1")
    assert bad_id.code == 2 and "customer_id must be" in bad_id.err
    assert run(capsys, "--help").code == 0
    version = run(capsys, "--version")
    assert version.code == 0 and version.out.startswith("s3store ")


def test_options_go_before_or_after_the_command(capsys: pytest.CaptureFixture[str],
                                                local_s3: LocalS3,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    local_s3.client().put_object(Bucket=local_s3.bucket, Key="opt.json", Body=b'{"a":1}')
    before = run_on(capsys, local_s3, "--json", "get", "opt.json")
    after = run(capsys, "get", "opt.json", "--json", "--endpoint-url", local_s3.endpoint_url,
                "--bucket", local_s3.bucket)
    assert before == after and before.json()["value"] == {"a": 1}
    monkeypatch.setenv("S3STORE_BUCKET", local_s3.bucket)
    from_env = run(capsys, "get", "opt.json", "--json", "--endpoint-url",
                   local_s3.endpoint_url)
    assert from_env == before


def test_s3_errors_exit_2_with_the_reason(capsys: pytest.CaptureFixture[str],
                                          local_s3: LocalS3) -> None:
    result = run_on(capsys, local_s3, "get", "x.json", bucket="no-such-bucket-here")
    assert result.code == 2
    assert "NoSuchBucket" in result.err and result.out == ""


def test_unexpected_errors_are_one_line_and_a_hint(capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    result = run(capsys, "--profile", "no-such-profile", "--bucket", "b", "get", "k.json")
    assert result.code == 2
    assert result.err == ("s3store get: error: ProfileNotFound: The config profile "
                          "(no-such-profile) could not be found (run with -v for details)\n")


def test_verbose_logs_debug_to_stderr_only_during_the_run(
        capsys: pytest.CaptureFixture[str], local_s3: LocalS3) -> None:
    logger = logging.getLogger("s3store")
    handlers, level = list(logger.handlers), logger.level
    local_s3.client().put_object(Bucket=local_s3.bucket, Key="v.json", Body=b"[]")
    result = run_on(capsys, local_s3, "-v", "get", "v.json")
    assert result.code == 0
    assert " s3store._objects DEBUG GET v.json -> " in result.err
    assert logger.handlers == handlers and logger.level == level  # all undone
    quiet = run_on(capsys, local_s3, "get", "v.json")
    assert quiet.err == ""


def _entry_point(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=COMMAND_GROUP)


def test_a_broken_or_clashing_plugin_is_left_out_with_a_warning(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    points = [_entry_point("broken", "no_such_module_anywhere:COMMAND"),
              _entry_point("probe", "worker_integration.tools.cli:STEPS"),
              _entry_point("notacommand", "worker_integration.tools.cli:STEPS_HEADER"),
              _entry_point("steps", "worker_integration.tools.cli:STEPS")]
    monkeypatch.setattr(framework, "entry_points", lambda group: points)
    result = run(capsys, "--help")
    assert result.code == 0
    assert "command 'broken' could not be loaded" in result.err
    assert "command 'probe' from worker_integration.tools.cli:STEPS is ignored" in result.err
    assert "worker_integration.tools.cli:STEPS_HEADER is not a command" in result.err
    assert "    steps " in result.out and "    probe " in result.out
    assert "broken" not in result.out


def test_a_closed_output_pipe_ends_quietly(local_s3: LocalS3) -> None:
    big = {"items": ["x" * 100] * 3000}  # far more than a pipe buffer holds
    local_s3.client().put_object(Bucket=local_s3.bucket, Key="big.json",
                                 Body=json.dumps(big).encode())
    child = subprocess.Popen(
        [sys.executable, "-m", "s3store", "--endpoint-url", local_s3.endpoint_url,
         "--bucket", local_s3.bucket, "get", "big.json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    assert child.stdout is not None and child.stderr is not None
    assert child.stdout.read(4) == b"key "  # `| head -c 4`
    child.stdout.close()
    assert child.wait(timeout=60) == 141
    assert child.stderr.read() == b""
    child.stderr.close()


@pytest.mark.parametrize(("argv", "unused"), [
    (["--profile", "p", "--region", "r", "demo", "--help"], "--profile, --region"),
    (["--json", "demo", "--help"], "--json"),
    (["--bucket", "b", "--json", "bench", "--help"], "--bucket, --json"),
    (["--endpoint-url", "http://127.0.0.1:9", "bench", "--help"], "--endpoint-url"),
])
def test_a_passthrough_command_refuses_the_global_options_it_does_not_use(
        capsys: pytest.CaptureFixture[str], argv: list[str], unused: str) -> None:
    result = run(capsys, *argv)
    assert result.code == 2 and result.out == ""
    assert result.err.startswith(f"s3store {argv[-2]}: error: {unused} not used by ")


def test_a_passthrough_command_takes_the_global_options_it_uses(
        capsys: pytest.CaptureFixture[str]) -> None:
    demo = run(capsys, "--bucket", "b", "--endpoint-url", "http://127.0.0.1:9", "-v",
               "demo", "--help")
    assert demo.code == 0 and "usage: s3store demo" in demo.out
