"""The worker's layering rules, checked on its source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import s3store

PACKAGE = Path(__file__).resolve().parent.parent / "worker_integration"
MODULES = sorted(PACKAGE.rglob("*.py"))


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_worker_uses_only_the_public_store_api(path: Path) -> None:
    for module, names in _imports(path):
        assert not module.startswith("botocore"), module
        if module == "s3store":
            assert set(names) <= set(s3store.__all__), names
        elif module.startswith("s3store."):
            # Only the demo may start a local S3.
            assert (path.name, module) == ("demo.py", "s3store.testing"), module


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_db_service_knows_the_keys(path: Path) -> None:
    text = path.read_text()
    if path.name != "db_service.py":
        assert "execution_steps.json" not in text
        assert "job.json" not in text
        assert "/jobs/" not in text
