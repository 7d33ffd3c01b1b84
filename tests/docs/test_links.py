"""The pages' links lead somewhere, and the README is fit to be the package's long description.

Relative links must name a file of the checkout and, with `#anchor`, a heading of that page
(GitHub's anchors). The README is what the package index shows (`readme = "README.md"`): it
holds no image, since a relative image path breaks there.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.docs.markdown import ROOT, Link, anchors, doc_files, links

LINKS = [link for page in doc_files() for link in links(page)]
_EXTERNAL = ("http://", "https://", "mailto:")


@pytest.mark.parametrize("link", [k for k in LINKS if not k.target.startswith(_EXTERNAL)],
                         ids=lambda k: f"{k.path}:L{k.line}:{k.target}")
def test_a_relative_link_names_a_file_and_heading_that_exist(link: Link) -> None:
    """`[text](page.md#heading)`: the page exists, and so does the heading."""
    target, _, anchor = link.target.partition("#")
    page = (ROOT / link.path).parent / unquote(target) if target else ROOT / link.path
    assert page.exists(), f"{link.path}:L{link.line}: {link.target}: no file {page}"
    if anchor:
        assert page.suffix == ".md", f"{link.path}:L{link.line}: an anchor into {page.name}"
        assert anchor in anchors(page), (
            f"{link.path}:L{link.line}: {link.target}: {Path(page).name} has no heading "
            f"#{anchor} (it has {', '.join(sorted(anchors(page)))})")


def test_the_readme_has_no_image() -> None:
    """The long description on the package index shows no broken image: the figures are in
    docs/."""
    images = [k for k in LINKS if k.path == "README.md" and k.image]
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert not images and "<img" not in text.lower(), images


def test_the_readme_links_to_every_docs_page() -> None:
    """A newcomer finds every page from the README."""
    linked = {(ROOT / k.target.partition("#")[0]).resolve()
              for k in LINKS if k.path == "README.md" and not k.target.startswith(_EXTERNAL)}
    missing = [p.relative_to(ROOT).as_posix() for p in doc_files()[1:] if p not in linked]
    assert not missing, f"the README does not link to {missing}"


def test_every_docs_page_links_back_to_the_readme() -> None:
    """Each page says where it belongs: a link back to the README near its top."""
    for page in doc_files()[1:]:
        head = [k for k in links(page) if k.line <= 5]
        assert any(k.target.partition("#")[0] == "../README.md" for k in head), (
            f"{page.relative_to(ROOT)}: no link back to ../README.md in its first lines")
