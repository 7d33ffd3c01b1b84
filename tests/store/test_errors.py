"""Error translation as unit tests: hand-built botocore errors, no network."""

from __future__ import annotations

import types
from typing import Any

import pytest
import urllib3.exceptions
from botocore.exceptions import ClientError

import s3store
from s3store import (
    AlreadyExistsError,
    ConflictError,
    NotFoundError,
    S3StoreError,
    StorageError,
)
from s3store._objects import translate_client_error
from tests.steps import Blocking


def client_error(status: int, code: str, operation: str = "PutObject") -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": f"message for {code}"},
        "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "REQ123"},
    }
    return ClientError(response, operation)


@pytest.mark.parametrize(
    ("status", "code", "etag", "create", "expected"),
    [
        (412, "PreconditionFailed", None, True, AlreadyExistsError),
        (412, "PreconditionFailed", '"e1"', False, ConflictError),
        (404, "NoSuchKey", '"e1"', False, ConflictError),
        (404, "NoSuchKey", None, False, NotFoundError),
        (404, "404", None, False, NotFoundError),  # HeadObject has no error body
        (409, "ConditionalRequestConflict", '"e1"', False, ConflictError),
        (409, "ConditionalRequestConflict", None, True, ConflictError),
    ],
)
def test_conditional_outcomes(
    status: int, code: str, etag: str | None, create: bool, expected: type[S3StoreError]
) -> None:
    error = translate_client_error(client_error(status, code), key="k", etag=etag,
                                   if_none_match=create)
    assert type(error) is expected
    assert (error.key, error.etag, error.code, error.request_id) == ("k", etag, code, "REQ123")


@pytest.mark.parametrize(
    ("status", "code", "transient"),
    [
        (503, "SlowDown", True),
        (500, "InternalError", True),
        (502, "BadGateway", True),
        (400, "RequestTimeout", True),
        (403, "AccessDenied", False),
        (404, "NoSuchBucket", False),
        (400, "InvalidArgument", False),
    ],
)
def test_other_answers_are_storage_errors(status: int, code: str, transient: bool) -> None:
    error = translate_client_error(client_error(status, code), key="k", etag='"e1"')
    assert type(error) is StorageError
    assert error.transient is transient
    assert (error.status, error.code, error.request_id) == (status, code, "REQ123")


def test_no_such_bucket_is_not_mistaken_for_a_deleted_document() -> None:
    error = translate_client_error(client_error(404, "NoSuchBucket"), key="k", etag='"e1"')
    assert not isinstance(error, ConflictError | NotFoundError)


def test_error_text_names_key_etag_code_and_request_id() -> None:
    error = translate_client_error(client_error(412, "PreconditionFailed"), key="a/b.json",
                                   etag='"e1"')
    text = str(error)
    for part in ("a/b.json", '"e1"', "PreconditionFailed", "REQ123"):
        assert part in text


def test_error_tree() -> None:
    assert issubclass(AlreadyExistsError, ConflictError)
    for name in s3store._errors.__all__:
        assert issubclass(getattr(s3store, name), S3StoreError)
        assert getattr(s3store, name).__doc__


def test_all_is_complete() -> None:
    public = {name for name, value in vars(s3store).items()
              if not name.startswith("_") and not isinstance(value, types.ModuleType)}
    assert set(s3store.__all__) == public


class _Body:
    """A GetObject body whose read fails the way urllib3 does under load."""

    def read(self, amt: int | None = None) -> bytes:
        raise urllib3.exceptions.ReadTimeoutError(None, "/k", "Read timed out.")  # type: ignore[arg-type]

    def close(self) -> None:
        pass


def test_a_raw_urllib3_error_while_reading_is_a_transient_storage_error() -> None:
    events = types.SimpleNamespace(register_first=lambda *args, **kwargs: None,
                                   register_last=lambda *args, **kwargs: None)
    client: Any = types.SimpleNamespace(
        meta=types.SimpleNamespace(events=events),
        get_object=lambda **kwargs: {"Body": _Body(), "ETag": '"e"', "ContentLength": 3},
    )
    with pytest.raises(StorageError) as caught:
        Blocking(client, "bucket").get("k", max_bytes=100)
    assert caught.value.transient and caught.value.key == "k"


ALL_FIELDS: list[s3store.S3StoreError] = [
    s3store.S3StoreError("the root", key="k", etag='"e"', code="C", request_id="R0"),
    s3store.NotFoundError("gone", key="k", etag='"e"', code="NoSuchKey", request_id="R1"),
    s3store.ConflictError("changed", key="k", etag='"e"', code="PreconditionFailed"),
    s3store.AlreadyExistsError("taken", key="k", code="PreconditionFailed", request_id="R2"),
    s3store.RetriesExhaustedError("gave up", key="k", attempts=7, elapsed=1.25),
    s3store.OutcomeUnknownError("lost", key="k", etag='"e"'),
    s3store.CorruptDocumentError("bad bytes", key="k", etag='"e"'),
    s3store.DocumentTooLargeError("big", key="k", size=10, limit=5),
    s3store.InvalidKeyError("bad key", key="../x"),
    s3store.InvalidKeyError("not a string", key=b"../x"),  # key None, the bytes in the text
    s3store.InvalidValueError("NaN", key="k"),
    s3store.NoneResultError("returned None", key="k"),
    s3store.InvalidOptionsError("refused", option="StorageClass"),
    s3store.ConditionalWritesUnsupportedError("ignored", key="k", etag='"0"'),
    s3store.StorageError("refused", key="k", code="SlowDown", request_id="R3", status=503,
                         transient=True),
]


def test_every_error_class_is_copied_and_pickled_below() -> None:
    assert {type(error) for error in ALL_FIELDS} == {
        getattr(s3store, name) for name in s3store._errors.__all__}


@pytest.mark.parametrize("error", ALL_FIELDS, ids=lambda e: type(e).__name__)
def test_every_error_copies_and_pickles_with_every_field(error: s3store.S3StoreError) -> None:
    """A failed round answers each caller with its own copy; a ProcessPoolExecutor
    pickles what a worker raised. Both keep the type, the message, every field."""
    import copy  # noqa: PLC0415 - only here
    import pickle  # noqa: PLC0415

    error.__cause__ = ValueError("the cause")
    for again in (copy.copy(error), pickle.loads(pickle.dumps(error))):  # noqa: S301 - ours
        assert type(again) is type(error)
        assert again.args == error.args and str(again) == str(error)
        assert vars(again) == vars(error)
    assert copy.copy(error).__cause__ is None  # the store sets the cause of a clone itself
    assert store_clone(error).__cause__ is error.__cause__


def store_clone(error: BaseException) -> BaseException:
    from s3store._commit import clone_error  # noqa: PLC0415 - the round's own copier

    return clone_error(error)
