"""What the documentation tests read of the Markdown pages: fenced code blocks, links, headings.

A small reader for the subset of CommonMark the pages use, not a Markdown parser: fences of
three or more backticks or tildes (closed by a fence of the same character, at least as
long, with nothing after it), ATX headings (`## Title`) and inline links (`[text](target)`,
`![alt](image)`) outside code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["ROOT", "Block", "Link", "anchors", "code_blocks", "doc_files", "links",
           "unseen_code"]

ROOT: Final = Path(__file__).resolve().parents[2]
"""The checkout: README.md, docs/ and the Makefile are here."""

_FENCE: Final = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_UNSEEN: Final = re.compile(r"^(?:\s*>\s*(?:`{3,}|~{3,})|\t+ *(?:`{3,}|~{3,})|\s*<pre\b)",
                             re.IGNORECASE)
"""Code a renderer shows but this reader does not collect: a fence in a blockquote or
indented by a tab, an HTML `<pre>`."""
_HEADING: Final = re.compile(r"^ {0,3}(#{1,6})\s+(?P<title>.+?)\s*#*\s*$")
_INLINE_CODE: Final = re.compile(r"(`+)(?:(?!\1).)+?\1")
_LINK: Final = re.compile(r"(?P<image>!?)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)\)")


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it opens, its info string and its text."""

    path: str
    """The page, relative to the checkout (`README.md`, `docs/store.md`)."""
    line: int
    """The line of the opening fence, 1-based."""
    info: str
    """The info string after the opening fence, stripped (`sh not-run: real-endpoint`)."""
    body: str
    """The block's lines, the fence's indentation removed, each ending with a newline."""
    closed: bool = True
    """False when no closing fence was found before the end of the page."""

    @property
    def id(self) -> str:
        """`README.md:L123`: the test id of the block."""
        return f"{self.path}:L{self.line}"

    @property
    def kind(self) -> str:
        """The info string's first word (`sh`, `python`, ...), or "" without one."""
        return self.info.split(maxsplit=1)[0] if self.info else ""

    @property
    def options(self) -> str:
        """The rest of the info string (`not-run: real-endpoint`), or ""."""
        parts = self.info.split(maxsplit=1)
        return parts[1] if len(parts) > 1 else ""


@dataclass(frozen=True)
class Link:
    """An inline link or image outside code."""

    path: str
    line: int
    target: str
    image: bool


def doc_files(root: Path = ROOT) -> list[Path]:
    """README.md and every docs/*.md, in that order (those that exist)."""
    readme = root / "README.md"
    return ([readme] if readme.is_file() else []) + sorted((root / "docs").glob("*.md"))


def _relative(path: Path, root: Path) -> str:
    return path.resolve().relative_to(root).as_posix()


def _lines_outside_code(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of the lines of `path` that are not in a fenced block."""
    fence: str | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = _FENCE.match(line)
        if fence is None:
            if match:
                fence = match["fence"]
                continue
            yield number, line
        elif (match and match["fence"][0] == fence[0] and len(match["fence"]) >= len(fence)
              and not match["info"].strip()):
            fence = None


def code_blocks(path: Path, root: Path = ROOT) -> list[Block]:
    """The fenced code blocks of the page at `path`, in order."""
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index].rstrip("\n"))
        index += 1
        if not match:
            continue
        opening, fence, indent = index, match["fence"], len(match["indent"])
        body: list[str] = []
        closed = False
        while index < len(lines):
            line = lines[index].rstrip("\n")
            index += 1
            end = _FENCE.match(line)
            if (end and end["fence"][0] == fence[0] and len(end["fence"]) >= len(fence)
                    and not end["info"].strip()):
                closed = True
                break
            # The fence's indentation is removed from each line, as CommonMark does.
            body.append(line[min(indent, len(line) - len(line.lstrip(" "))):] + "\n")
        blocks.append(Block(path=_relative(path, root), line=opening,
                            info=match["info"].strip(), body="".join(body), closed=closed))
    return blocks


def links(path: Path, root: Path = ROOT) -> list[Link]:
    """The inline links and images of the page at `path`, outside code."""
    found = []
    for number, line in _lines_outside_code(path):
        for match in _LINK.finditer(_INLINE_CODE.sub("", line)):
            found.append(Link(path=_relative(path, root), line=number,
                              target=match["target"], image=bool(match["image"])))
    return found


def _slug(title: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = _INLINE_CODE.sub(lambda m: m.group(0).strip("`"), title)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading: its text
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of the headings of the page at `path` (repeats get `-1`, `-2`, ...)."""
    seen: dict[str, int] = {}
    result = set()
    for _, line in _lines_outside_code(path):
        match = _HEADING.match(line)
        if not match:
            continue
        slug = _slug(match["title"])
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def unseen_code(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the lines outside fenced blocks that open code this reader
    does not collect (`_UNSEEN`): a page must not have any, or its code goes untested."""
    return [(number, line) for number, line in _lines_outside_code(path) if _UNSEEN.match(line)]
