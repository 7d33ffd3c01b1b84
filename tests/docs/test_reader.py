"""The documentation test's readers: fenced blocks, headings' anchors, an sh block's commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.markdown import Block, anchors, code_blocks, doc_files, links, unseen_code
from tests.docs.shell import UnknownPlaceholderError, commands, substitute


def test_the_reader_finds_the_blocks(tmp_path: Path) -> None:
    """Fences of both kinds, one inside another, indented, and one never closed."""
    page = tmp_path / "page.md"
    page.write_text("intro\n\n```python\nx = 1\n```\n\n~~~~ sh not-run: long-running\n"
                    "```\nstill inside\n~~~~\n\n  ```text\n  indented\n  ```\n\n```json\n{}\n",
                    encoding="utf-8")
    blocks = code_blocks(page, root=tmp_path)
    assert [(b.id, b.kind, b.options, b.body, b.closed) for b in blocks] == [
        ("page.md:L3", "python", "", "x = 1\n", True),
        ("page.md:L7", "sh", "not-run: long-running", "```\nstill inside\n", True),
        ("page.md:L12", "text", "", "indented\n", True),
        ("page.md:L16", "json", "", "{}\n", False),
    ]


def test_links_and_anchors_are_read_outside_code(tmp_path: Path) -> None:
    """A link in a code block or in inline code is not a link; anchors are GitHub's."""
    page = tmp_path / "page.md"
    page.write_text("# The store: `s3store.JsonStore`\n\n## Lost answers: \"unknown\"\n\n"
                    "## Lost answers: \"unknown\"\n\nSee [it](other.md#x) and "
                    "![fig](fig.png), not `[a](b)`.\n\n```text\n[c](d)\n## not a heading\n```\n",
                    encoding="utf-8")
    assert [(k.line, k.target, k.image) for k in links(page, root=tmp_path)] == [
        (7, "other.md#x", False), (7, "fig.png", True)]
    assert anchors(page) == {"the-store-s3storejsonstore", "lost-answers-unknown",
                             "lost-answers-unknown-1"}


def test_sh_lines_are_split_into_commands_and_comments() -> None:
    """Continuations join, comments are cut outside quotes, operators are words of their own."""
    block = Block(path="p.md", line=10, info="sh", body=(
        "# a comment line\n\nmake demo ARGS=\"--jobs 4 --compare\"  # several jobs\n"
        "s3store get 'a#b' \\\n    --json   # [exit 1]: no such key\nmake demo|tee x\n"))
    assert [(c.line, c.argv, c.comment) for c in commands(block)] == [
        (13, ("make", "demo", "ARGS=--jobs 4 --compare"), "several jobs"),
        (14, ("s3store", "get", "a#b", "--json"), "[exit 1]: no such key"),
        (16, ("make", "demo", "|", "tee", "x"), ""),
    ]
    with pytest.raises(ValueError, match="line continuation"):
        commands(Block(path="p.md", line=1, info="sh", body="make demo \\\n"))


def test_placeholders_are_filled_in_or_refused() -> None:
    """`$NAME` and `${NAME}` take their values; an unknown name is an error, not ""."""
    assert substitute(("get", "$CUSTOMER/jobs/${JOB}/job.json"),
                      {"CUSTOMER": "c", "JOB": "j"}) == ["get", "c/jobs/j/job.json"]
    with pytest.raises(UnknownPlaceholderError):
        substitute(("steps", "$CUSTOMER", "$JOBX"), {"CUSTOMER": "c", "JOB": "j"})


def test_code_the_reader_would_miss_is_pointed_out(tmp_path: Path) -> None:
    """A fence in a blockquote or indented by a tab, and an HTML <pre>, render as code
    but are not collected: `unseen_code` names them (a fenced block's lines do not count)."""
    page = tmp_path / "page.md"
    page.write_text("> ```python\n> raise SystemExit\n> ```\n\n\t```sh\n\tmake x\n\t```\n\n"
                    "<pre><code>make x</code></pre>\n\n```text\n<pre>as output</pre>\n```\n",
                    encoding="utf-8")
    assert [number for number, _ in unseen_code(page)] == [1, 3, 5, 7, 9]


def test_no_page_has_code_the_reader_would_miss() -> None:
    unseen = [f"{page.name}:{number}: {line}" for page in doc_files()
              for number, line in unseen_code(page)]
    assert not unseen, unseen
