"""The `s3store` command line (`s3store ...` or `python -m s3store ...`).

Built in: `probe` (is this endpoint safe?) and `get KEY`. Other distributions add
subcommands through the `s3store.commands` entry-point group (see `Command`).
"""

from s3store.cli.context import Context, UsageError, format_table
from s3store.cli.framework import (
    COMMAND_GROUP,
    EXIT_BROKEN_PIPE,
    EXIT_ERROR,
    EXIT_FINDINGS,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Command,
    build_parser,
    load_commands,
    main,
)

__all__ = [
    "COMMAND_GROUP",
    "EXIT_BROKEN_PIPE",
    "EXIT_ERROR",
    "EXIT_FINDINGS",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "Command",
    "Context",
    "UsageError",
    "build_parser",
    "format_table",
    "load_commands",
    "main",
]
