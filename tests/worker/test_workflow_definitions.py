"""Workflows kept as JSON definitions: what an invocation names instead of carrying the
workflow with it. Every bad definition is refused with the field that is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.worker.helpers import NINE_INDEPENDENT_STEPS
from worker_integration.demo.run import DEMO_WORKFLOW
from worker_integration.workflow import (
    WORKFLOWS,
    InvalidWorkflowError,
    Workflow,
    load_workflow,
    named_workflow,
)


def test_a_definition_reads_back_as_the_workflow_it_came_from() -> None:
    for workflow in (DEMO_WORKFLOW, NINE_INDEPENDENT_STEPS):
        definition = workflow.to_definition()
        assert Workflow.from_definition(json.loads(json.dumps(definition))) == workflow


def test_the_demo_workflow_is_the_shipped_definition() -> None:
    assert named_workflow("demo") == DEMO_WORKFLOW
    assert json.loads((WORKFLOWS / "demo.json").read_text()) == DEMO_WORKFLOW.to_definition()
    assert len(DEMO_WORKFLOW.steps) == 9
    assert DEMO_WORKFLOW.steps[3].depends_on == (0, 2)


def test_only_a_name_is_required_and_the_rest_defaults() -> None:
    workflow = Workflow.from_definition({"steps": [{"name": "one"}, {"name": "two",
                                                                     "depends_on": [0]}]})
    assert workflow.steps[0].step_type == "ai_generation" and workflow.steps[0].model is None
    assert workflow.expected_steps == ((1, "ai_generation"), (2, "ai_generation"),
                                       (3, "html_generation"))


BAD: dict[str, tuple[Any, str]] = {
    "not-an-object": ([], "workflow"),
    "extra-top-level-field": ({"steps": [{"name": "a"}], "x": 1}, "workflow"),
    "no-steps": ({"steps": []}, "workflow.steps"),
    "step-without-name": ({"steps": [{"model": "m"}]}, "workflow.steps[0]"),
    "unknown-step-field": ({"steps": [{"name": "a", "retries": 3}]}, "workflow.steps[0]"),
    "name-not-a-string": ({"steps": [{"name": 7}]}, "workflow.steps[0].name"),
    "empty-name": ({"steps": [{"name": ""}]}, "workflow.steps[0]"),
    "unknown-step-type": ({"steps": [{"name": "a", "step_type": "html_generation"}]},
                          "workflow.steps[0]"),
    "model-not-a-string": ({"steps": [{"name": "a", "model": 4}]}, "workflow.steps[0].model"),
    "depends-on-a-string": ({"steps": [{"name": "a"}, {"name": "b", "depends_on": "0"}]},
                            "workflow.steps[1].depends_on"),
    "depends-on-a-bool": ({"steps": [{"name": "a"}, {"name": "b", "depends_on": [True]}]},
                          "workflow.steps[1].depends_on"),
    "depends-on-itself": ({"steps": [{"name": "a", "depends_on": [0]}]}, "workflow"),
    "settings-a-list": ({"steps": [{"name": "a", "settings": []}]},
                        "workflow.steps[0].settings"),
}


@pytest.mark.parametrize(("data", "where"), BAD.values(), ids=BAD.keys())
def test_a_bad_definition_is_refused_naming_the_field(data: Any, where: str) -> None:
    with pytest.raises(InvalidWorkflowError) as caught:
        Workflow.from_definition(data)
    assert caught.value.where == where
    assert str(caught.value).startswith(f"{where}: ")


def test_a_file_that_is_not_json_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"steps": [')
    with pytest.raises(InvalidWorkflowError) as caught:
        load_workflow(path)
    assert caught.value.where == str(path)
    with pytest.raises(InvalidWorkflowError, match="cannot read"):
        load_workflow(tmp_path / "missing.json")


@pytest.mark.parametrize("name", ["../demo", "demo.json", "", "a/b", "-x", "x" * 65, "dé"])
def test_a_workflow_name_is_never_a_path(name: str, tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text(json.dumps(DEMO_WORKFLOW.to_definition()))
    with pytest.raises(InvalidWorkflowError, match="a workflow name is"):
        named_workflow(name, directory=tmp_path)


def test_a_named_workflow_is_read_from_the_directory_given(tmp_path: Path) -> None:
    (tmp_path / "nine.json").write_text(json.dumps(NINE_INDEPENDENT_STEPS.to_definition()))
    assert named_workflow("nine", directory=tmp_path) == NINE_INDEPENDENT_STEPS
    with pytest.raises(InvalidWorkflowError, match="cannot read"):
        named_workflow("other", directory=tmp_path)
