"""The suite's second S3 server: a server that cannot start says why (never a skip)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.servers import Ministack


def test_a_missing_executable_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"not installed at .*make"):
        Ministack(tmp_path / "ministack").start()


def test_a_server_that_exits_reports_its_status_and_output(tmp_path: Path) -> None:
    script = tmp_path / "ministack"
    script.write_text(f"#!{sys.executable}\nimport sys\nprint('port in use')\nsys.exit(3)\n")
    script.chmod(0o755)
    with pytest.raises(RuntimeError, match=r"exited with status 3:\nport in use"):
        Ministack(script).start()


def test_the_session_server_answers(ministack: Ministack) -> None:
    bucket = ministack.new_bucket(versioning=True)
    client = bucket.client()
    status = client.get_bucket_versioning(Bucket=bucket.bucket)["Status"]
    assert status == "Enabled"
