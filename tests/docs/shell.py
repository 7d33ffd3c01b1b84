"""The commands of a ```` ```sh ```` block, as the documentation test reads them.

Each line is one command: blank lines and `#` comment lines are skipped, a trailing `\\`
joins the next line, a `#` outside quotes starts the line's comment. Words are split as a
POSIX shell would (quotes removed); `|`, `;`, `&&`, `>` and the like come out as words of
their own, so that a caller can refuse them. No expansion happens here but `substitute`'s.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from tests.docs.markdown import Block

__all__ = ["OPERATORS", "Command", "UnknownPlaceholderError", "commands", "split_comment",
           "substitute"]

OPERATORS: Final = frozenset({"|", "||", "&", "&&", ";", ";;", "<", ">", ">>", ">&", "<<",
                              "(", ")"})
"""Words that make a line more than one plain command (pipes, lists, redirections)."""

_VARIABLE: Final = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


@dataclass(frozen=True)
class Command:
    """One command of a block: its first line, its text, its words and its comment."""

    line: int
    text: str
    argv: tuple[str, ...]
    comment: str

    @property
    def program(self) -> str:
        """The first word ("" for none)."""
        return self.argv[0] if self.argv else ""


class UnknownPlaceholderError(KeyError):
    """A `$NAME` that `substitute` was given no value for."""


def split_comment(text: str) -> tuple[str, str]:
    """`text` cut where a `#` outside quotes starts a comment: (command, comment)."""
    quote: str | None = None
    escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or text[index - 1].isspace()):
            return text[:index], text[index + 1:].strip()
    return text, ""


def _words(command: str) -> tuple[str, ...]:
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""  # split_comment took the comment off
    try:
        return tuple(lexer)
    except ValueError:  # an unclosed quote (a heredoc's body, say): no command of ours
        return ("<unparsable>",)


def commands(block: Block) -> list[Command]:
    """The block's commands, in order. Raises ValueError if its last line continues."""
    found = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(block.body.splitlines(), start=block.line + 1):
        if not pending:
            start = number
        if raw.endswith("\\"):
            pending.append(raw[:-1])
            continue
        text = " ".join([*pending, raw]).strip()
        pending = []
        if not text or text.startswith("#"):
            continue
        command, comment = split_comment(text)
        found.append(Command(line=start, text=text, argv=_words(command), comment=comment))
    if pending:
        raise ValueError(f"{block.id}: the block ends with a line continuation")
    return found


def substitute(argv: tuple[str, ...], variables: Mapping[str, str]) -> list[str]:
    """`argv` with each `$NAME` / `${NAME}` replaced by `variables[NAME]`.

    Raises UnknownPlaceholderError for a name not in `variables`.
    """
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in variables:
            raise UnknownPlaceholderError(name)
        return variables[name]

    return [_VARIABLE.sub(value, arg) for arg in argv]
