"""s3store's pytest plugin, as a user's suite meets it: the fixtures `local_s3` and
`json_store`, found through the `pytest11` entry point, each test on an empty bucket.

The users' test files run in an inner pytest (`pytester`, in this process); the plugin
without the `testing` extra runs in a child process where moto cannot be imported.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from tests.docs.markdown import ROOT, code_blocks

pytest_plugins = ["pytester"]

INSTALL_LINE = "pip install 's3store[testing]'"


@pytest.fixture(autouse=True)
def plugins_autoload(monkeypatch: pytest.MonkeyPatch) -> None:
    """The inner pytest finds the plugin the way a user's does: by its entry point."""
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)


def docs_test_file() -> str:
    """docs/testing.md's first python block: a user's test file."""
    blocks = [b for b in code_blocks(ROOT / "docs" / "testing.md") if b.kind == "python"]
    assert blocks[0].body.startswith("# test_jobs.py\n"), blocks[0].body
    return blocks[0].body


def test_the_plugin_is_installed_as_a_pytest11_entry_point() -> None:
    points = [p for p in entry_points(group="pytest11") if p.name == "s3store"]
    assert [p.value for p in points] == ["s3store._pytest_plugin"], (
        "reinstall the package (`make pytest` does) so that its entry points are current")


def test_the_documented_test_file_passes_in_either_order(pytester: pytest.Pytester) -> None:
    """Two tests that create the same key: each starts on an empty bucket."""
    pytester.makepyfile(test_jobs=docs_test_file())
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)
    reverse = pytester.runpytest("-p", "no:cacheprovider",
                                 "test_jobs.py::test_the_same_key_is_free_again",
                                 "test_jobs.py::test_a_new_job_is_pending", "-v")
    reverse.assert_outcomes(passed=2)
    reverse.stdout.fnmatch_lines(["*test_the_same_key_is_free_again PASSED*",
                                  "*test_a_new_job_is_pending PASSED*"])


def test_nothing_of_a_test_reaches_the_next(pytester: pytest.Pytester) -> None:
    """Objects, versions, faults queued or planned, the request log: all gone; a test that
    stops the server gets it started again."""
    pytester.makepyfile(test_state=textwrap.dedent('''
        from s3store import JsonStore
        from s3store.testing import FaultPlan, LocalS3

        def clean(local_s3: LocalS3, json_store: JsonStore) -> None:
            assert local_s3.running and json_store.bucket == local_s3.bucket
            # the bucket's creation, nothing else
            assert [(r.method, r.key) for r in local_s3.requests] == [("PUT", "")]
            assert local_s3.faults == FaultPlan() and local_s3.stats()["faults"] == {}
            assert list(json_store.keys()) == []

        def test_dirty(local_s3: LocalS3, json_store: JsonStore) -> None:
            clean(local_s3, json_store)
            json_store.create("k.json", {"n": 1})
            json_store.update("k.json", lambda v: {"n": 2})
            local_s3.set_faults(FaultPlan(slow_down=1.0))
            local_s3.inject("access_denied", count=5)

        def test_clean_after_dirty(local_s3: LocalS3, json_store: JsonStore) -> None:
            clean(local_s3, json_store)
            json_store.create("k.json", {"n": 1})

        def test_stops_the_server(local_s3: LocalS3) -> None:
            local_s3.stop()

        def test_clean_after_stop(local_s3: LocalS3, json_store: JsonStore) -> None:
            clean(local_s3, json_store)
            json_store.create("k.json", {"n": 1})
    '''))
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=4)


def test_a_conftest_fixture_overrides_the_plugins(pytester: pytest.Pytester) -> None:
    """`json_store` is then built on the user's `local_s3`: here a versioned one."""
    pytester.makeconftest(textwrap.dedent('''
        import pytest
        from s3store.testing import LocalS3

        @pytest.fixture
        def local_s3():
            with LocalS3(versioning=True) as s3:
                yield s3
    '''))
    pytester.makepyfile(test_mine=textwrap.dedent('''
        def test_versioned(json_store):
            assert json_store.versioning() == "Enabled"
    '''))
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_the_plugin_can_be_turned_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_off="def test_off(json_store):\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:s3store")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'json_store' not found*"])


# -- without the `testing` extra ------------------------------------------------------------

BLOCK_MOTO = "import sys; sys.modules['moto'] = None; "
"""A child process's first statement: `import moto` then fails, as when the extra is not
installed (and `importlib.util.find_spec('moto')` finds nothing)."""


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True,
                          text=True, timeout=120, check=False)


def test_without_the_extra_pytest_starts_and_a_fixture_names_the_extra(tmp_path: Path) -> None:
    """The plugin loads (pytest imports it in every run), a test without its fixtures
    passes, and one that asks for `json_store` errors with the line that installs it."""
    (tmp_path / "test_user.py").write_text(textwrap.dedent('''
        def test_plugin_loaded(pytestconfig):
            assert pytestconfig.pluginmanager.has_plugin("s3store")

        def test_needs_the_extra(json_store):
            pass
    '''))
    result = run_python(BLOCK_MOTO + "import pytest; raise SystemExit(pytest.main("
                        "['-p', 'no:cacheprovider', 'test_user.py']))", tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "1 passed, 1 error" in out, out
    assert "ModuleNotFoundError: s3store.testing needs the `testing` extra" in out, out
    assert INSTALL_LINE in out, out


@pytest.mark.parametrize("missing", ["moto", "flask"])
def test_without_the_extra_importing_s3store_testing_names_it(tmp_path: Path,
                                                               missing: str) -> None:
    """moto missing, or moto without its server's dependencies (`pip install moto`)."""
    result = run_python(f"import sys; sys.modules[{missing!r}] = None; import s3store.testing",
                        tmp_path)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == ("ModuleNotFoundError: s3store.testing needs the `testing` extra (moto's "
                    f"S3 server), which is not installed (no module {missing}): "
                    f"{INSTALL_LINE}"), result.stderr


def test_the_plugin_module_imports_nothing_of_the_extra(tmp_path: Path) -> None:
    result = run_python(BLOCK_MOTO + "import s3store._pytest_plugin; "
                        "print(sorted(m for m in sys.modules if m.startswith(('moto', "
                        "'s3store.testing', 'werkzeug', 'flask'))))", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['moto']", result.stdout  # only the blocked entry
