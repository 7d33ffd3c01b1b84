"""The harness the CLI tests share: `s3store` run in-process against a LocalS3.

(Named `test_cli_*` to live with the CLI tests; it holds no tests of its own.)
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from typing import Any

import pytest

from s3store.cli import main
from s3store.testing import LocalS3


def fake_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials LocalS3 accepts, and nothing from the developer's own AWS setup."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
                 "AWS_ENDPOINT_URL_S3", "AWS_REGION", "S3STORE_BUCKET"):
        monkeypatch.delenv(name, raising=False)


@dataclass(frozen=True)
class Run:
    """One run of `s3store`: its exit status and what it printed."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """stdout, parsed (for --json runs)."""
        return json.loads(self.out)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Run:
    """Run `s3store argv` in this process; capture its output."""
    capsys.readouterr()
    code = main(list(argv))
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


def run_on(capsys: pytest.CaptureFixture[str], s3: LocalS3, *argv: str,
           bucket: str | None = None) -> Run:
    """Run `s3store --endpoint-url <s3> --bucket <bucket> argv`."""
    return run(capsys, "--endpoint-url", s3.endpoint_url, "--bucket", bucket or s3.bucket,
               *argv)


class FakeTerminal(io.StringIO):
    """A stderr that says it is a terminal, to see the progress line."""

    def isatty(self) -> bool:
        return True
