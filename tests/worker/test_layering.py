"""The worker's layering rules, checked on its source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import s3store

PACKAGE = Path(__file__).resolve().parents[2] / "worker_integration"
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
            assert (str(path.relative_to(PACKAGE)), module) == ("demo/run.py",
                                                                "s3store.testing"), module


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_db_service_knows_the_keys(path: Path) -> None:
    text = path.read_text()
    if path.name != "db_service.py":
        assert "execution_steps.json" not in text
        assert "job.json" not in text
        assert "/jobs/" not in text


# The product (the worker: storage, models, its flow, how it is invoked) imports neither
# the operators' tools nor the demo; the tools may use the demo only for `s3store demo`.
OUTSIDE_THE_PRODUCT = ("worker_integration.tools", "worker_integration.demo")


def _layer(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 and parts[0] in ("tools", "demo") else "product"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_from_demo_to_tools_to_the_product(path: Path) -> None:
    layer = _layer(path)
    for module, _ in _imports(path):
        if layer == "product":
            assert not module.startswith(OUTSIDE_THE_PRODUCT), (path.name, module)
        elif layer == "tools" and module.startswith("worker_integration.demo"):
            assert path.name == "cli.py", (path.name, module)  # the demo and steps commands


def test_the_layers_are_the_folders() -> None:
    assert {_layer(path) for path in MODULES} == {"product", "tools", "demo"}
    assert (PACKAGE / "services" / "step_processor.py").is_file()
