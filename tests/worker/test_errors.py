"""The worker's errors have one root, `WorkerError`, and keep their built-in bases; the ids
it refuses are the `InvalidKeyError`'s `key` as given."""

from __future__ import annotations

import importlib
import inspect
import pickle
import pkgutil
from typing import Any

import pytest

import s3store
import worker_integration
from tests.helpers import invalid_key, printable_text
from worker_integration import WorkerError
from worker_integration.db_service import check_id, execution_steps_key, job_key
from worker_integration.lambda_handler import InvalidEventError, StepEvent

# Each error the worker defines, and the built-in base its callers may catch it by.
SURROGATE = "a/\ud800.json"

BUILT_IN_BASES: dict[str, type[Exception]] = {
    "DependencyTimeoutError": TimeoutError,
    "IllegalTransitionError": ValueError,
    "IncompleteJobError": RuntimeError,
    "InvalidEventError": ValueError,
    "InvalidRecordError": ValueError,
    "InvalidWorkflowError": ValueError,
    "InvocationTimeError": RuntimeError,
    "SimulatedStepError": RuntimeError,
}


def _defined_exceptions() -> dict[str, type[BaseException]]:
    """Every exception class defined in a module of the package (demo and tools too)."""
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(worker_integration.__path__, "worker_integration."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (inspect.isclass(value) and issubclass(value, BaseException)
                    and value.__module__ == module.__name__):
                found[f"{module.__name__}.{name}"] = value
    return found


DEFINED = _defined_exceptions()


def test_the_walk_finds_every_error_the_worker_defines() -> None:
    """The positive control: a walk that imported nothing would pass the next test."""
    assert {cls.__name__ for cls in DEFINED.values()} >= set(BUILT_IN_BASES) | {"WorkerError"}


@pytest.mark.parametrize("path", sorted(DEFINED))
def test_every_exception_class_of_the_worker_derives_from_worker_error(path: str) -> None:
    cls = DEFINED[path]
    assert issubclass(cls, WorkerError), f"{path} does not derive from WorkerError"
    assert not issubclass(cls, s3store.S3StoreError)  # the store's errors stay the store's
    assert cls.__doc__


@pytest.mark.parametrize(("name", "base"), sorted(BUILT_IN_BASES.items()))
def test_each_error_keeps_its_built_in_base(name: str, base: type[Exception]) -> None:
    """`except ValueError` (or RuntimeError, TimeoutError) still catches what it caught."""
    (cls,) = [cls for cls in DEFINED.values() if cls.__name__ == name]
    assert issubclass(cls, base)
    assert cls.__mro__[1] is WorkerError  # first in the MRO: `WorkerError` is the root


def test_worker_error_is_exported_and_caught_as_the_root() -> None:
    assert "WorkerError" in worker_integration.__all__
    with pytest.raises(WorkerError):
        worker_integration.ExecutionStep.from_dict({"step_order": "not a number"})
    error = worker_integration.DependencyTimeoutError([2, 1], 1.5)
    assert isinstance(error, TimeoutError) and error.missing == (1, 2)
    again = pickle.loads(pickle.dumps(worker_integration.SimulatedStepError("boom")))  # noqa: S301 - ours
    assert isinstance(again, WorkerError) and str(again) == "boom"


# -- check_id: the worker's ids ------------------------------------------------------------

@pytest.mark.parametrize("value", ["../x", "a/b", "", "x" * 129, "job\n", "jöb", SURROGATE,
                                   "x" * 5000])
def test_a_refused_id_is_the_error_s_key_unchanged(value: str) -> None:
    for call in (lambda: check_id("job_id", value), lambda: job_key("c", value),
                 lambda: execution_steps_key(value, "j")):
        error = invalid_key(call)
        assert error.key == value
        assert repr(value)[:40] in printable_text(error)


@pytest.mark.parametrize("value", [None, 7, b"job"])
def test_an_id_that_is_not_a_string_is_named_in_the_message_and_key_is_none(value: Any) -> None:
    error = invalid_key(lambda: check_id("customer_id", value))
    assert error.key is None
    assert "customer_id must be" in error.message and f"got {type(value).__name__}" in (
        error.message)


def test_an_event_with_a_bad_id_is_an_invalid_event_naming_the_field() -> None:
    event = {"customer_id": "../x", "job_id": "j", "workflow": "demo", "step_index": 0}
    with pytest.raises(InvalidEventError) as caught:
        StepEvent.parse(event, step=True)
    assert caught.value.field == "customer_id"
