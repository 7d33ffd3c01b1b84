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
from s3store.objects import ObjectClient, translate_client_error


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
    for name in s3store.errors.__all__:
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
    events = types.SimpleNamespace(register_first=lambda *args, **kwargs: None)
    client: Any = types.SimpleNamespace(
        meta=types.SimpleNamespace(events=events),
        get_object=lambda **kwargs: {"Body": _Body(), "ETag": '"e"', "ContentLength": 3},
    )
    with pytest.raises(StorageError) as caught:
        ObjectClient(client, "bucket").get("k", max_bytes=100)
    assert caught.value.transient and caught.value.key == "k"
