"""A mutation that returns None (the forgotten `return` of an in-place change) is refused:
typed error, nothing written, other callers of its round unharmed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from s3store import InvalidValueError, JsonStore, NoneResultError, RetryPolicy
from s3store._commit import Pending, apply_mutations
from s3store.testing import LocalS3
from tests.helpers import raw_bytes, writes_accepted

KEY = "steps.json"


@pytest.fixture(scope="module")
def s3() -> Iterator[LocalS3]:
    with LocalS3() as local:
        yield local


@pytest.fixture
def store(s3: LocalS3) -> JsonStore:
    s3.client().delete_object(Bucket=s3.bucket, Key=KEY)
    return JsonStore(s3.client(), s3.bucket, retry=RetryPolicy(sleep=lambda _: None))


def test_an_in_place_change_without_return_is_refused_and_writes_nothing(
        s3: LocalS3, store: JsonStore) -> None:
    store.create(KEY, ["fetch"])
    before = writes_accepted(s3)
    with pytest.raises(NoneResultError) as caught:
        store.update(KEY, lambda steps: steps.append("render"))  # the incident's one-character bug
    assert caught.value.key == KEY
    assert "returned None" in str(caught.value) and "allow_none=True" in str(caught.value)
    assert isinstance(caught.value, InvalidValueError)
    assert writes_accepted(s3) == before
    assert raw_bytes(s3.client(), s3.bucket, KEY) == b'["fetch"]'


def test_a_none_result_on_a_missing_key_creates_nothing(s3: LocalS3, store: JsonStore) -> None:
    empty: list[str] = []
    with pytest.raises(NoneResultError):
        store.update(KEY, lambda steps: steps.append("x"), default=empty)
    assert KEY not in list(store.keys())


def test_allow_none_stores_null(s3: LocalS3, store: JsonStore) -> None:
    store.create(KEY, ["fetch"])
    assert store.update(KEY, lambda _: None, allow_none=True).value is None
    assert raw_bytes(s3.client(), s3.bucket, KEY) == b"null"


def test_negative_control_without_the_refusal_null_would_be_stored(
        s3: LocalS3, store: JsonStore) -> None:
    """The same harness with the refusal off (`allow_none=True` on the forgetful mutation):
    the list is erased — what the refusal prevents."""
    store.create(KEY, ["fetch"])
    store.update(KEY, lambda steps: steps.append("render"), allow_none=True)
    assert raw_bytes(s3.client(), s3.bucket, KEY) == b"null"


def test_in_a_round_only_the_forgetful_caller_fails() -> None:
    def forgetful(value: Any) -> Any:
        value.append("lost")

    batch = [Pending(lambda v: [*v, "a"]), Pending(forgetful), Pending(lambda v: [*v, "b"])]
    body = apply_mutations(KEY, b"[]", batch, max_bytes=1000).body
    assert body == b'["a","b"]'
    assert [type(p.error) for p in batch] == [type(None), NoneResultError, type(None)]


def test_concurrent_callers_of_one_round_are_unharmed_by_a_forgetful_one(
        s3: LocalS3, store: JsonStore) -> None:
    store.create(KEY, [])
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        barrier.wait()
        try:
            if n == 0:
                store.update(KEY, lambda steps: steps.append("lost"))
            else:
                store.update(KEY, lambda steps: [*steps, n])
        except NoneResultError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 1
    assert sorted(store.get(KEY).value) == list(range(1, 8))
