"""The `s3store` command line: options, subcommands (built in and plugged in), exit status.

Subcommands come from two places: `probe` and `get` are built in; any installed
distribution can add more through the entry-point group `s3store.commands`, whose
entry points name an object with `help`, `passthrough`, `configure(parser)` and
`run(ctx, args)` (see `Command`). This is how job-aware commands reach the CLI
without s3store knowing anything of jobs.

Exit status: 0 success (or a clean result); 1 the command ran and found a problem
(an unsafe endpoint, audit findings, nothing to read, nothing it could recover);
2 wrong usage or an error (S3 refused, network, credentials, a bug); 130 interrupted;
141 the output's reader went away (`| head`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, entry_points, version
from typing import Final, Protocol, TextIO

from s3store._errors import InvalidKeyError, S3StoreError
from s3store.cli.context import BUCKET_ENVIRONMENT_VARIABLE, Context, UsageError
from s3store.cli.get import GET
from s3store.cli.probe import PROBE

__all__ = [
    "COMMAND_GROUP",
    "EXIT_BROKEN_PIPE",
    "EXIT_ERROR",
    "EXIT_FINDINGS",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "Command",
    "build_parser",
    "load_commands",
    "main",
]

log = logging.getLogger("s3store")

COMMAND_GROUP: Final = "s3store.commands"
"""The entry-point group that plugs subcommands into `s3store`."""

EXIT_OK: Final = 0
"""Success; for a check, a clean result."""
EXIT_FINDINGS: Final = 1
"""The command ran and found a problem (unsafe endpoint, damaged jobs, nothing to recover)."""
EXIT_ERROR: Final = 2
"""Wrong usage, or an error that stopped the command (S3, network, credentials)."""
EXIT_INTERRUPTED: Final = 130
"""Interrupted (Ctrl-C)."""
EXIT_BROKEN_PIPE: Final = 141
"""The reader of the output went away (`| head`), as if killed by SIGPIPE."""

_LIBRARY_LOGGERS: Final = ("s3store", "worker_integration")
_WIRE_LOGGERS: Final = ("botocore", "boto3", "urllib3")

_EPILOG: Final = f"""\
S3 is configured as for the AWS CLI: AWS_* environment variables, ~/.aws/config and
~/.aws/credentials, --profile, --region; --endpoint-url for an S3-compatible endpoint
(or AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL). The bucket is --bucket or
${BUCKET_ENVIRONMENT_VARIABLE}. Options may come before or after the subcommand; demo and
bench take their own arguments after their name (and of these options only those they
use, before it).

exit status: 0 ok / clean, 1 a problem found (unsafe endpoint, audit findings, nothing
to read or recover), 2 usage or other error, 130 interrupted, 141 output pipe closed.
"""


class Command(Protocol):
    """A subcommand. Plug-ins provide one per entry point in the `s3store.commands` group.

    `help` is the one-line summary in `s3store --help` (an optional `description`
    attribute is the text of `s3store COMMAND --help`). `configure` adds the
    subcommand's own arguments. `run` does the work and returns the exit status.
    A `passthrough` command takes no options of its own: every argument after its
    name is left, unparsed, in `args.args` (for commands that run another program); of
    the S3 and output options, given before its name, it takes only those its optional
    `global_options` attribute names (`dest`s, default: `verbose` alone), and any other
    one given is a usage error rather than silently unused.
    """

    @property
    def help(self) -> str:
        """One line for `s3store --help`."""
        ...

    @property
    def passthrough(self) -> bool:
        """Whether the arguments after the command's name are passed on unparsed."""
        ...

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Add the command's arguments to its subparser."""
        ...

    def run(self, ctx: Context, args: argparse.Namespace) -> int:
        """Do the work; return the exit status."""
        ...


def _builtin() -> dict[str, Command]:
    return {"probe": PROBE, "get": GET}


def load_commands(*, err: TextIO) -> dict[str, Command]:
    """The built-in commands and those of the `s3store.commands` entry points, by name.

    A plug-in that fails to load, or whose name is taken, is left out with a warning
    on `err`: the other commands keep working.
    """
    commands = _builtin()
    for point in sorted(entry_points(group=COMMAND_GROUP), key=lambda p: p.name):
        if point.name in commands:
            print(f"s3store: warning: command {point.name!r} from {point.value} is ignored "
                  "(the name is taken)", file=err)
            continue
        try:
            command = point.load()
        except Exception as exc:  # a broken plug-in must not take the whole CLI down
            print(f"s3store: warning: command {point.name!r} could not be loaded from "
                  f"{point.value}: {type(exc).__name__}: {exc}", file=err)
            continue
        if not (isinstance(getattr(command, "help", None), str)
                and all(callable(getattr(command, name, None)) for name in ("configure", "run"))):
            print(f"s3store: warning: {point.value} is not a command (it needs help, "
                  "configure() and run())", file=err)
            continue
        commands[point.name] = command
    return commands


def _add_common_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # On subparsers the defaults are SUPPRESS, so that an option given before the
    # subcommand is not reset by the subparser's default.
    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    group = parser.add_argument_group("S3 and output options")
    group.add_argument("--endpoint-url", metavar="URL", default=default(None),
                       help="S3-compatible endpoint (default: AWS, or AWS_ENDPOINT_URL_S3 / "
                            "AWS_ENDPOINT_URL)")
    group.add_argument("--bucket", default=default(None),
                       help=f"the bucket (default: ${BUCKET_ENVIRONMENT_VARIABLE})")
    group.add_argument("--profile", default=default(None),
                       help="AWS profile from ~/.aws/config (default: AWS_PROFILE)")
    group.add_argument("--region", default=default(None),
                       help="AWS region (default: AWS_REGION / AWS_DEFAULT_REGION / profile)")
    group.add_argument("--json", action="store_true", default=default(False),
                       help="print one JSON document (for scripts) instead of tables")
    group.add_argument("-v", "--verbose", action="count", default=default(0),
                       help="-v: s3store's DEBUG log on stderr; -vv: botocore's too "
                            "(which prints request headers, credentials included)")


def _version() -> str:
    try:
        return version("s3store")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def build_parser(commands: Mapping[str, Command]) -> argparse.ArgumentParser:
    """The argument parser for `commands`."""
    parser = argparse.ArgumentParser(
        prog="s3store", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Operators' tools for JSON documents in S3 written by s3store.",
        epilog=_EPILOG)
    parser.add_argument("--version", action="version", version=f"s3store {_version()}")
    _add_common_options(parser, top=True)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in commands.items():
        doc = str(getattr(command, "description", "") or command.help)
        if getattr(command, "passthrough", False):
            # Nothing is an option here: every argument goes to the program it runs.
            sub = subparsers.add_parser(name, help=command.help, add_help=False,
                                        prefix_chars="\0", description=doc)
            sub.add_argument("args", nargs="*", help="passed on as they are")
        else:
            sub = subparsers.add_parser(
                name, help=command.help, description=doc,
                formatter_class=argparse.RawDescriptionHelpFormatter)
            _add_common_options(sub, top=False)
        command.configure(sub)
    return parser


@contextmanager
def _logging(verbosity: int, err: TextIO) -> Iterator[None]:
    """DEBUG logging to `err` for the run: only here, never in the library."""
    if verbosity <= 0:
        yield
        return
    names = _LIBRARY_LOGGERS + (_WIRE_LOGGERS if verbosity > 1 else ())
    handler = logging.StreamHandler(err)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    loggers = [logging.getLogger(name) for name in names]
    previous = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        for logger, level in zip(loggers, previous, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


def _silence(stream: TextIO) -> None:
    """Point `stream`'s file descriptor at /dev/null, so that flushing it at exit cannot
    fail again on the closed pipe."""
    try:
        descriptor = stream.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (captured, StringIO)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, descriptor)
    os.close(devnull)


def _exit_status(exc: SystemExit) -> int:
    return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_ERROR)


def _run(command: Command, ctx: Context, args: argparse.Namespace, *, name: str) -> int:
    def fail(message: str) -> int:
        print(f"s3store {name}: error: {message}", file=ctx.err)
        return EXIT_ERROR

    try:
        return command.run(ctx, args)
    except (UsageError, InvalidKeyError) as exc:
        return fail(str(exc))
    except S3StoreError as exc:
        log.debug("s3store %s failed", name, exc_info=True)
        return fail(str(exc))
    except KeyboardInterrupt:
        print(f"s3store {name}: interrupted", file=ctx.err)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `s3store ... | head`: the reader has what it wanted
        _silence(ctx.out)
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # the last resort of a CLI: a message, not a traceback
        log.debug("s3store %s failed", name, exc_info=True)
        hint = "" if args.verbose else " (run with -v for details)"
        return fail(f"{type(exc).__name__}: {exc}{hint}")


_GLOBAL_OPTIONS: Final = {"endpoint_url": "--endpoint-url", "bucket": "--bucket",
                          "profile": "--profile", "region": "--region", "json": "--json",
                          "verbose": "--verbose"}


def _unused_options(command: Command, args: argparse.Namespace) -> list[str]:
    """The S3 and output options given to a passthrough `command` that it does not use."""
    if not getattr(command, "passthrough", False):
        return []
    used = frozenset(getattr(command, "global_options", ("verbose",)))
    return [flag for dest, flag in _GLOBAL_OPTIONS.items()
            if dest not in used and getattr(args, dest, None)]


def main(argv: Sequence[str] | None = None) -> int:
    """Run `s3store` with `argv` (default: the process's arguments); return the exit status.

    Prints to `sys.stdout` / `sys.stderr` as they are when called. Never raises
    `SystemExit`: usage errors and `--help` become the status argparse would exit with.
    """
    out, err = sys.stdout, sys.stderr
    commands = load_commands(err=err)
    parser = build_parser(commands)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return _exit_status(exc)
    if args.command is None:
        parser.print_help(err)
        return EXIT_ERROR
    unused = _unused_options(commands[args.command], args)
    if unused:
        print(f"s3store {args.command}: error: {', '.join(unused)} not used by "
              f"{args.command} (its arguments are its own: `s3store {args.command} --help`)",
              file=err)
        return EXIT_ERROR
    with _logging(args.verbose, err):
        ctx = Context(args, out=out, err=err)
        try:
            return _run(commands[args.command], ctx, args, name=args.command)
        except SystemExit as exc:  # a passthrough command's own argparse
            return _exit_status(exc)
