"""The package as an index would get it: the wheel's metadata and files, the sdist's files.

One build per run (`python -m build --no-isolation`: the sdist, then the wheel from the
sdist, with the setuptools of this venv, so no network), from a copy of the checkout, so
that the build's own files (`build/`, `*.egg-info`) never land in the working tree.
"""

from __future__ import annotations

import email.message
import email.parser
import importlib.util
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

import s3store
from tests.docs.markdown import ROOT, code_blocks, links

PYPROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
REPOSITORY = "https://github.com/s3store/s3store"
"""The project's address in its metadata (a placeholder: the project has no public home)."""

# What a copy of the checkout leaves out: version control, environments, caches, builds.
_NOT_SOURCE = shutil.ignore_patterns(".git", ".venv*", "*_cache", ".hypothesis", "mutants",
                                     "build", "dist", "*.egg-info", "__pycache__")


@dataclass(frozen=True)
class Built:
    """The wheel and the sdist of one build."""

    wheel: Path
    sdist: Path

    def wheel_files(self) -> set[str]:
        with zipfile.ZipFile(self.wheel) as wheel:
            return set(wheel.namelist())

    def wheel_text(self, name: str) -> str:
        with zipfile.ZipFile(self.wheel) as wheel:
            return wheel.read(name).decode()

    def metadata(self) -> email.message.Message:
        return email.parser.Parser().parsestr(self.wheel_text(f"{self.dist_info}/METADATA"))

    @property
    def dist_info(self) -> str:
        return f"s3store-{s3store.__version__}.dist-info"

    def sdist_files(self) -> set[str]:
        """The sdist's paths, without its top folder (`s3store-0.1.0/`)."""
        with tarfile.open(self.sdist) as sdist:
            return {PurePosixPath(*PurePosixPath(m.name).parts[1:]).as_posix()
                    for m in sdist.getmembers() if m.isfile()}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """Build the checkout once for the module."""
    if importlib.util.find_spec("build") is None:
        pytest.fail("the `build` package is missing: install the test extra (`make pytest` "
                    "does)", pytrace=False)
    source = tmp_path_factory.mktemp("source") / "s3store"
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCE, symlinks=True)
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir",
                             str(out), str(source)],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"the build failed:\n{result.stdout}\n{result.stderr}"
    wheels, sdists = sorted(out.glob("*.whl")), sorted(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(out.iterdir())
    return Built(wheel=wheels[0], sdist=sdists[0])


# -- the version ------------------------------------------------------------------------------


def test_the_version_has_one_place_of_truth() -> None:
    """pyproject.toml reads `s3store.__version__`; it names no version of its own."""
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "s3store.__version__"}
    assert Version(s3store.__version__) >= Version("0.1.0")


def test_the_installed_version_is_the_packages() -> None:
    assert version("s3store") == s3store.__version__, (
        "the installed metadata is stale: reinstall the package (`make pytest` does)")


def test_the_changelog_names_the_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "\n## [Unreleased]\n" in changelog
    assert f"\n## [{s3store.__version__}]" in changelog


# -- the wheel --------------------------------------------------------------------------------


def test_the_wheels_metadata(built: Built) -> None:
    meta = built.metadata()
    assert meta["Name"] == "s3store" and meta["Version"] == s3store.__version__
    assert Version(meta["Metadata-Version"]) >= Version("2.4")  # License-Expression's
    assert meta["Requires-Python"] == ">=3.11"
    assert meta["License-Expression"] == "MIT" and meta.get_all("License-File") == ["LICENSE"]
    classifiers = set(meta.get_all("Classifier") or [])
    assert {"Typing :: Typed", "Framework :: Pytest", "Programming Language :: Python :: 3.11",
            "Programming Language :: Python :: 3.12",
            "Programming Language :: Python :: 3.13"} <= classifiers
    assert any(c.startswith("Development Status :: ") for c in classifiers)
    assert not any(c.startswith("License :: ") for c in classifiers), "License-Expression says"
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
    assert {"Homepage", "Source", "Changelog", "Issues"} <= set(urls)
    assert all(u.startswith(REPOSITORY) for u in urls.values()), urls
    requires = [Requirement(r) for r in meta.get_all("Requires-Dist") or []]
    assert {r.name for r in requires if r.marker is None} == {"boto3", "tenacity"}
    assert "testing" in (meta.get_all("Provides-Extra") or [])


def test_the_long_description_is_the_index_page_with_absolute_links_only(
        built: Built, tmp_path: Path) -> None:
    meta = built.metadata()
    assert meta["Description-Content-Type"] == "text/markdown"
    description = meta.get_payload()
    assert isinstance(description, str)
    assert description.strip() == (ROOT / "PYPI.md").read_text(encoding="utf-8").strip()
    page = tmp_path / "description.md"
    page.write_text(description, encoding="utf-8")
    found = links(page, root=tmp_path)
    assert found and not [k for k in found if k.image] and "<img" not in description.lower()
    relative = [k.target for k in found if not k.target.startswith("https://")]
    assert not relative, f"links that break on the package index: {relative}"


def test_the_index_pages_links_into_the_repository_name_its_files() -> None:
    for link in links(ROOT / "PYPI.md"):
        for kind in ("blob", "tree"):
            prefix = f"{REPOSITORY}/{kind}/main/"
            if link.target.startswith(prefix):
                path = ROOT / link.target.removeprefix(prefix).partition("#")[0]
                assert path.is_file() if kind == "blob" else path.is_dir(), link


def test_the_index_pages_code_is_the_readmes() -> None:
    """The README's blocks are run (tests/docs): the index page shows only those."""
    readme = {(b.info, b.body) for b in code_blocks(ROOT / "README.md")}
    blocks = code_blocks(ROOT / "PYPI.md")
    assert blocks and all((b.info, b.body) in readme for b in blocks), blocks


def test_the_wheels_files(built: Built) -> None:
    files = built.wheel_files()
    assert {"s3store/py.typed", "worker_integration/py.typed",
            f"{built.dist_info}/licenses/LICENSE"} <= files
    package = {p.relative_to(ROOT).as_posix() for top in ("s3store", "worker_integration")
               for p in (ROOT / top).rglob("*.py") if "__pycache__" not in p.parts}
    assert package <= files, sorted(package - files)
    assert not {f for f in files if f.startswith(("tests/", "benchmarks/", "docs/"))}
    points = built.wheel_text(f"{built.dist_info}/entry_points.txt")
    assert "[pytest11]\ns3store = s3store._pytest_plugin\n" in points, points


# -- the sdist --------------------------------------------------------------------------------


def test_the_sdist_holds_what_its_own_checks_need(built: Built) -> None:
    """What mypy checks ([tool.mypy] files), the tests, the pages, the Makefile, the legal
    and release files; no cache, no benchmark results."""
    files = built.sdist_files()
    assert {"LICENSE", "CHANGELOG.md", "README.md", "PYPI.md", "Makefile", "pyproject.toml",
            "constraints/minimum.txt", "docs/testing.md"} <= files
    for top in ["docs", *PYPROJECT["tool"]["mypy"]["files"]]:
        assert any(f.startswith(f"{top}/") for f in files), f"the sdist has no {top}/"
        source = {p.relative_to(ROOT).as_posix() for p in (ROOT / top).rglob("*")
                  if p.is_file() and p.suffix in (".py", ".md", ".json", ".png")
                  and "__pycache__" not in p.parts and "results" not in p.parts}
        assert source <= files, f"missing from the sdist: {sorted(source - files)}"
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]
    assert not [f for f in files if f.startswith("benchmarks/results/")]


# -- the lowest versions ----------------------------------------------------------------------


def test_the_minimum_constraints_pin_every_floor_of_what_test_min_installs() -> None:
    """`make test-min` installs the `test` extra (with `testing` and `bench`) at the pins of
    constraints/minimum.txt: each pin is the `>=` floor pyproject.toml gives it."""
    project = PYPROJECT["project"]
    extras = project["optional-dependencies"]
    wanted = [Requirement(r) for r in project["dependencies"]]
    for extra in ("testing", "bench", "test"):
        wanted += [Requirement(r) for r in extras[extra] if not r.startswith("s3store[")]
    floors = {r.name: Version(s.version) for r in wanted for s in r.specifier
              if s.operator == ">="}
    pins = {}
    for line in (ROOT / "constraints" / "minimum.txt").read_text(encoding="utf-8").splitlines():
        requirement = line.partition("#")[0].strip()
        if requirement:
            name, _, pinned = requirement.partition("==")
            pins[name.strip()] = Version(pinned.strip())
    assert {name: pins.get(name) for name in floors} == floors
