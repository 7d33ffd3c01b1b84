"""What the job-aware subcommands share: the CLI context they use, help text, progress.

`CommandContext` describes, structurally, the part of s3store's CLI `Context` these
commands use, so that this package imports nothing from `s3store.cli` (s3store
passes its `Context` in; mypy checks the fit where both are imported, in the tests).
"""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TextIO

from s3store import JsonStore
from worker_integration.workflow import (
    InvalidWorkflowError,
    Workflow,
    load_workflow,
    named_workflow,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["CommandContext", "CommandHelp", "Progress", "add_workflow_option", "workflow_of"]


class CommandContext(Protocol):
    """What the commands use of s3store's CLI `Context`."""

    @property
    def out(self) -> TextIO:
        """Where results go."""
        ...

    @property
    def err(self) -> TextIO:
        """Where diagnostics and progress go."""
        ...

    @property
    def json(self) -> bool:
        """Whether to print one JSON document instead of tables."""
        ...

    @property
    def bucket(self) -> str:
        """The bucket; raises the CLI's usage error if none was given."""
        ...

    def client(self) -> S3Client:
        """The run's boto3 S3 client."""
        ...

    def store(self) -> JsonStore:
        """A `JsonStore` on the bucket."""
        ...

    def print_json(self, value: Any) -> None:
        """Print `value` as JSON to `out`."""
        ...

    def print_table(self, header: Sequence[str], rows: Sequence[Sequence[str]], *,
                    right: Collection[int] = ()) -> None:
        """Print an aligned table to `out`."""
        ...

    def usage_error(self, message: str) -> NoReturn:
        """Stop as wrongly called (exit status 2)."""
        ...


class CommandHelp:
    """The text of `s3store COMMAND --help` is the command's class docstring."""

    @property
    def description(self) -> str:
        """The text of `s3store COMMAND --help`."""
        return inspect.cleandoc(type(self).__doc__ or "")


class Progress:
    """A line on a terminal, rewritten in place: `checked 120 jobs, 3 with findings`."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.shown = stream.isatty()

    def update(self, text: str) -> None:
        """Show `text` in place of the last progress line (only on a terminal)."""
        if self.shown:
            self.stream.write(f"\r\x1b[K{text}")
            self.stream.flush()

    def clear(self) -> None:
        """Erase the progress line (before other output, and at the end)."""
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def add_workflow_option(parser: argparse.ArgumentParser, *, use: str) -> None:
    """`--workflow NAME|FILE`: the workflow of jobs whose record does not say which steps
    they hold (`use` says what the command does with it)."""
    parser.add_argument("--workflow", metavar="NAME|FILE",
                        help="for jobs whose record does not say which steps they hold: "
                             f"their workflow, {use} (a shipped name such as 'demo', or a "
                             "JSON definition file)")


def workflow_of(ctx: CommandContext, args: argparse.Namespace) -> Workflow | None:
    """The workflow `--workflow` names (a file if it ends in `.json` or holds a `/`);
    a usage error if it cannot be read."""
    value: str | None = args.workflow
    if value is None:
        return None
    try:
        if value.endswith(".json") or "/" in value:
            return load_workflow(value)
        return named_workflow(value)
    except InvalidWorkflowError as exc:
        ctx.usage_error(f"--workflow: {exc}")
