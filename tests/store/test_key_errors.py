"""`InvalidKeyError.key` is the caller's key as given; the two argument errors are ValueErrors.

Unit tests of every place the store raises an `InvalidKeyError` — `check_key`, for every
call and the probe's keys — without a network (`check_key` runs before any request; a store
on an unreachable endpoint proves it). The worker's ids: `tests/worker/test_errors.py`.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable
from typing import Any

import pytest

import s3store
from s3store import InvalidKeyError, InvalidValueError, JsonStore, S3StoreError
from s3store._store import check_key
from s3store.testing import connect
from tests.helpers import invalid_key, printable_text

SURROGATE = "a/\ud800.json"
LONG = "k/" + "x" * 1100  # over 1024 bytes
LONG_UTF8 = "é" * 513  # 1026 bytes
CONTROL = "esc\x1b[31m/\x00.json"


def offline_store() -> JsonStore:
    """A store whose every request would fail: what it refuses up front sends nothing."""
    return JsonStore(connect("http://127.0.0.1:9"), "bucket")  # port 9: discard, nobody there


# -- check_key: the store's keys ------------------------------------------------------------

@pytest.mark.parametrize("key", ["", "/a", "a//b", "a/../b", "..", CONTROL, SURROGATE, LONG,
                                 LONG_UTF8, "a\n"],
                         ids=["empty", "leading-slash", "empty-segment", "dotdot-segment",
                              "dotdot", "control", "surrogate", "long", "long-utf8", "newline"])
def test_a_refused_string_key_is_the_error_s_key_unchanged(key: str) -> None:
    error = invalid_key(lambda: check_key(key))
    assert error.key == key and type(error.key) is str  # not a repr, not cut, not escaped
    text = printable_text(error)
    assert repr(key)[:40] in text  # the key is shown, escaped


def test_a_long_key_is_shown_cut_short_with_its_length() -> None:
    error = invalid_key(lambda: check_key(LONG))
    assert error.key == LONG
    assert f"{len(LONG.encode())} UTF-8 bytes, over the limit of {s3store.MAX_KEY_BYTES}" in (
        error.message)
    assert f"... ({len(LONG)} characters)" in str(error)
    assert LONG not in str(error)


def test_a_key_with_a_lone_surrogate_is_kept_as_given_and_shown_escaped() -> None:
    error = invalid_key(lambda: check_key(SURROGATE))
    assert error.key == SURROGATE
    assert "\\ud800" in printable_text(error)


@pytest.mark.parametrize("key", [None, b"bytes/key", 42, ["a"], object()],
                         ids=["None", "bytes", "int", "list", "object"])
def test_a_key_that_is_not_a_string_is_named_in_the_message_and_key_is_none(key: Any) -> None:
    error = invalid_key(lambda: check_key(key))
    assert error.key is None
    assert f"got {type(key).__name__}" in error.message
    assert repr(key)[:40] in printable_text(error)


def test_a_non_string_whose_repr_fails_or_is_huge_still_gets_a_short_message() -> None:
    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    assert "got Hostile: <Hostile object>" in invalid_key(lambda: check_key(Hostile())).message  # type: ignore[arg-type]
    assert len(printable_text(invalid_key(lambda: check_key(b"x" * 10_000)))) < 200  # type: ignore[arg-type]


@pytest.mark.parametrize("call", [
    lambda store: store.get("../x"),
    lambda store: store.create("../x", 1),
    lambda store: store.replace("../x", 1, etag='"e"'),
    lambda store: store.update("../x", lambda v: v, default=0),
    lambda store: store.delete("../x"),
    lambda store: store.delete("../x", etag='"e"'),
    lambda store: list(store.versions("../x")),
], ids=["get", "create", "replace", "update", "delete", "delete-etag", "versions"])
def test_every_store_call_names_the_key_as_given(call: Callable[[JsonStore], object]) -> None:
    assert invalid_key(lambda: call(offline_store())).key == "../x"


def test_the_probe_names_the_key_it_would_have_used() -> None:
    """The probe refuses a prefix no key can have: its `key` is the probe key it built."""
    error = invalid_key(lambda: offline_store().probe(prefix="a//"))
    assert error.key is not None and error.key.startswith("a//.s3store-probe/")


# -- the argument errors are ValueErrors -----------------------------------------------------

@pytest.mark.parametrize("cls", [InvalidKeyError, InvalidValueError, s3store.NoneResultError,
                                 s3store.InvalidOptionsError])
def test_the_argument_errors_are_value_errors_and_store_errors(cls: type[Exception]) -> None:
    assert issubclass(cls, S3StoreError) and issubclass(cls, ValueError)
    assert cls.__mro__[1] in (S3StoreError, InvalidValueError)  # the store's tree comes first


def test_except_value_error_catches_a_bad_key_and_a_bad_value() -> None:
    store = offline_store()
    for call in (lambda: store.create("../x", 1), lambda: store.create("x", math.nan)):
        with pytest.raises(ValueError):  # noqa: PT011 - the point: the built-in catches it
            call()


def test_store_errors_that_are_not_about_arguments_are_not_value_errors() -> None:
    for name in ("NotFoundError", "ConflictError", "StorageError", "OutcomeUnknownError",
                 "RetriesExhaustedError", "CorruptDocumentError", "DocumentTooLargeError"):
        assert not issubclass(getattr(s3store, name), ValueError), name


def test_a_key_error_pickles_and_copies_as_itself() -> None:
    import copy  # noqa: PLC0415 - only here

    from s3store._commit import clone_error  # noqa: PLC0415 - the round's own copier

    for key in (SURROGATE, LONG, None):
        error = invalid_key(lambda key=key: check_key(key))  # type: ignore[misc]
        for again in (pickle.loads(pickle.dumps(error)), copy.copy(error),  # noqa: S301 - ours
                      clone_error(error)):
            assert type(again) is InvalidKeyError and isinstance(again, ValueError)
            assert vars(again) == vars(error) and str(again) == str(error)
