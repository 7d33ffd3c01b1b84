"""Behaviour of `JsonStore` that surviving mutants of `s3store/store.py` showed untested:
what the document cache and the first-touch guess remember after each operation (seen in
the requests sent), identities a base keeps (a version id, for an object no store wrote),
a write found to have landed after its resend was refused, the attributes of the errors
raised, and where the probe writes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ConnectionClosedError

from s3store import (
    AlreadyExistsError,
    ConditionalWritesUnsupportedError,
    ConflictError,
    CorruptDocumentError,
    JsonStore,
    OutcomeUnknownError,
    RetriesExhaustedError,
    RetryPolicy,
    StorageError,
)
from s3store._probe import CREATE
from s3store.testing import FaultPlan, LocalS3
from tests.hooks import act_before, answer

KEY = "doc.json"
NO_WAIT = RetryPolicy(sleep=lambda _: None)


@pytest.fixture
def s3() -> Iterator[LocalS3]:
    with LocalS3() as local:
        yield local


@pytest.fixture
def versioned() -> Iterator[LocalS3]:
    with LocalS3(versioning=True) as local:
        yield local


def make_store(s3: LocalS3, client: Any = None) -> JsonStore:
    return JsonStore(client if client is not None else s3.client(), s3.bucket, retry=NO_WAIT)


def append(item: str) -> Any:
    return lambda items: [*items, item]


def sent(s3: LocalS3) -> list[tuple[str, int]]:
    """The requests since the last call, by method and status (then forgotten)."""
    requests = [(r.method, r.status) for r in s3.requests]
    s3.clear_requests()
    return requests


def urls(client: Any, operation: str) -> list[str]:
    """The URLs of every `operation` request the client sends from now on."""
    seen: list[str] = []

    def record(request: Any, **_: Any) -> None:
        seen.append(str(request.url))
    client.meta.events.register(f"before-send.s3.{operation}", record)
    return seen


# -- the document cache after create / replace / delete -----------------------------------


def test_a_refused_create_forgets_what_the_store_knew(s3: LocalS3) -> None:
    store, rival = make_store(s3), make_store(s3)
    first = store.create(KEY, ["a"])
    rival.replace(KEY, ["r"], etag=first.etag)
    with pytest.raises(AlreadyExistsError):
        store.create(KEY, ["again"])
    sent(s3)
    assert store.update(KEY, append("b")).value == ["r", "b"]
    assert sent(s3) == [("GET", 200), ("PUT", 200)]  # no write against the stale ETag


def test_a_refused_replace_forgets_what_the_store_knew(s3: LocalS3) -> None:
    store, rival = make_store(s3), make_store(s3)
    first = store.create(KEY, ["a"])
    rival.replace(KEY, ["r"], etag=first.etag)
    with pytest.raises(ConflictError):
        store.replace(KEY, ["mine"], etag=first.etag)
    sent(s3)
    assert store.update(KEY, append("b")).value == ["r", "b"]
    assert sent(s3) == [("GET", 200), ("PUT", 200)]


@pytest.mark.parametrize("conditional", [False, True], ids=["plain", "conditional"])
def test_a_delete_forgets_what_the_store_knew(s3: LocalS3, conditional: bool) -> None:
    store = make_store(s3)
    first = store.create(KEY, ["a"])
    store.delete(KEY, etag=first.etag if conditional else None)
    sent(s3)
    assert store.update(KEY, append("b"), default=[]).value == ["b"]
    assert sent(s3) == [("GET", 404), ("PUT", 200)]  # no write against the deleted version


def test_an_update_after_a_replace_writes_against_what_the_replace_wrote(s3: LocalS3) -> None:
    """The replace's write id is remembered: its answer lost before any effect, the update
    is proven not landed by one HEAD and sent again, without a read."""
    store = make_store(s3)
    first = store.create(KEY, ["a"])
    store.replace(KEY, ["a", "r"], etag=first.etag)
    sent(s3)
    s3.inject("error_before_write")
    assert store.update(KEY, append("b")).value == ["a", "r", "b"]
    assert sent(s3) == [("PUT", 500), ("HEAD", 200), ("PUT", 200)]
    assert store.get(KEY).value == ["a", "r", "b"]


# -- the cache and the first-touch guess through updates ------------------------------------


def reads_first(s3: LocalS3, store: JsonStore, keys: list[str]) -> list[bool]:
    """Update each (new) key in turn; for each, whether the store read it before writing."""
    found = []
    for key in keys:
        sent(s3)
        store.update(key, append("x"), default=[])
        found.append(("GET", 404) in sent(s3))
    return found


def test_a_refused_guess_that_a_key_is_new_counts_twice_against_guessing(s3: LocalS3) -> None:
    store, rival = make_store(s3), make_store(s3)
    assert reads_first(s3, store, ["n0", "n1", "n2"]) == [True] * 3  # unseen keys: new
    rival.create("taken", ["r"])
    sent(s3)
    assert store.update("taken", append("x"), default=[]).value == ["r", "x"]
    assert sent(s3) == [("PUT", 412), ("GET", 200), ("PUT", 200)]  # guessed new, wrongly
    # Twice against the guess, once for the read that found the key taken: three unseen
    # keys found new again before the next is written without a read.
    assert reads_first(s3, store, ["m0", "m1", "m2", "m3"]) == [True, True, True, False]


def test_a_right_guess_that_a_key_is_new_counts_for_guessing(s3: LocalS3) -> None:
    store, rival = make_store(s3), make_store(s3)
    assert reads_first(s3, store, ["n0", "n1", "n2", "n3"]) == [True, True, True, False]
    rival.create("taken", ["r"])
    sent(s3)
    store.update("taken", append("x"))  # no default: read first, found taken
    assert sent(s3) == [("GET", 200), ("PUT", 200)]
    assert reads_first(s3, store, ["m0"]) == [False]  # the right guess outweighs it


def test_cache_and_guess_after_a_stale_entry(s3: LocalS3) -> None:
    """A cached guess refused is not held against new keys; the stale entry is read
    before the next write of its key, then trusted again once a read shows it unchanged."""
    store, rival = make_store(s3), make_store(s3)
    assert reads_first(s3, store, ["n0", "n1", "n2"]) == [True] * 3
    rival.update("n0", append("r"))
    sent(s3)
    assert store.update("n0", append("a")).value == ["x", "r", "a"]
    assert sent(s3) == [("PUT", 412), ("GET", 200), ("PUT", 200)]
    assert store.update("n0", append("b"), default=[]).value == ["x", "r", "a", "b"]
    assert sent(s3) == [("GET", 200), ("PUT", 200)]  # distrusted: read, not guessed new
    assert store.update("n0", append("c")).value == ["x", "r", "a", "b", "c"]
    assert sent(s3) == [("PUT", 200)]  # the read showed it unchanged: trusted again
    assert reads_first(s3, store, ["n3"]) == [False]  # still guessing unseen keys new


def test_an_entry_refused_because_its_key_was_deleted_stays_distrusted(s3: LocalS3) -> None:
    store = make_store(s3)
    store.create(KEY, ["a"])
    s3.client().delete_object(Bucket=s3.bucket, Key=KEY)
    sent(s3)
    assert store.update(KEY, append("b"), default=[]).value == ["b"]
    assert sent(s3) == [("PUT", 404), ("GET", 404), ("PUT", 200)]
    assert store.update(KEY, append("c")).value == ["b", "c"]
    assert sent(s3) == [("GET", 200), ("PUT", 200)]


def test_an_update_that_changes_nothing_remembers_what_it_read(s3: LocalS3) -> None:
    make_store(s3).create(KEY, ["a"])
    store = make_store(s3)
    sent(s3)
    store.update(KEY, lambda v: v)
    assert sent(s3) == [("GET", 200)]
    assert store.update(KEY, append("b")).value == ["a", "b"]
    assert sent(s3) == [("PUT", 200)]


# -- what is written, and the errors of a document that cannot be read ----------------------


def test_an_update_to_equal_but_differently_encoded_bytes_writes_nothing(s3: LocalS3) -> None:
    raw = s3.client()
    etag = raw.put_object(Bucket=s3.bucket, Key=KEY, Body=b'{"a": 1}')["ETag"]
    store = make_store(s3)
    sent(s3)
    assert store.update(KEY, lambda v: v).etag == etag
    assert sent(s3) == [("GET", 200)]
    assert raw.get_object(Bucket=s3.bucket, Key=KEY)["Body"].read() == b'{"a": 1}'


def test_an_update_to_null_writes_null(store: JsonStore) -> None:
    store.create(KEY, {"a": 1})
    assert store.update(KEY, lambda v: None, allow_none=True).value is None
    assert store.get(KEY).value is None


def test_an_update_of_a_corrupt_document_names_its_etag(s3: LocalS3) -> None:
    etag = s3.client().put_object(Bucket=s3.bucket, Key=KEY, Body=b"{not json")["ETag"]
    with pytest.raises(CorruptDocumentError) as caught:
        make_store(s3).update(KEY, append("b"))
    assert (caught.value.key, caught.value.etag) == (KEY, etag)


# -- a base's version id, and lost answers ---------------------------------------------------


@pytest.mark.parametrize("op", ["get", "update"])
def test_an_object_no_store_wrote_is_its_base_by_version_id(versioned: LocalS3, op: str) -> None:
    """No write id on the object: only its version id proves a lost write did not land."""
    versioned.client().put_object(Bucket=versioned.bucket, Key=KEY, Body=b'["a"]')
    store = make_store(versioned)
    if op == "get":
        doc = store.get(KEY)
        versioned.inject("error_before_write")
        assert store.replace(KEY, ["b"], etag=doc.etag).value == ["b"]
        assert store.get(KEY).value == ["b"]
    else:
        versioned.inject("error_before_write")
        assert store.update(KEY, append("b")).value == ["a", "b"]
        assert store.get(KEY).value == ["a", "b"]


@pytest.mark.parametrize("last", ["create", "replace", "update"])
def test_the_base_of_a_lost_replace_is_known_by_the_version_id_its_write_made(
        versioned: LocalS3, last: str) -> None:
    """The store keeps the version id of its own last write: when a lost answer is looked
    for through the versions, the base is recognised in the listing, not read again."""
    client, admin = versioned.client(), versioned.client()
    store = make_store(versioned, client)
    doc = store.create(KEY, ["a"])
    if last == "replace":
        doc = store.replace(KEY, ["a", "r"], etag=doc.etag)
    elif last == "update":
        doc = store.update(KEY, append("u"))
    base_version = admin.head_object(Bucket=versioned.bucket, Key=KEY)["VersionId"]
    act_before(client, "HeadObject",
               lambda _: admin.put_object(Bucket=versioned.bucket, Key=KEY, Body=b'["rival"]'))
    heads = urls(client, "HeadObject")
    versioned.inject("error_before_write")
    with pytest.raises(ConflictError) as caught:
        store.replace(KEY, ["b"], etag=doc.etag)  # not landed, and the key changed since
    assert (caught.value.key, caught.value.etag) == (KEY, doc.etag)
    assert str(caught.value).startswith(
        "the key changed since (found after a lost answer): this write did not land")
    assert any("versionId=" in url for url in heads)  # the versions were looked through
    assert not any(base_version in url for url in heads)


def test_a_write_found_landed_after_its_resend_was_refused_is_applied_once(
        s3: LocalS3) -> None:
    """The first answer lost before the write reached S3 (proven: the base is current), the
    write arrives late, and its resend is refused: the refusal is found to be its own."""
    client, raw = s3.client(), s3.client()
    store = make_store(s3, client)
    store.create(KEY, ["a"])
    first: dict[str, Any] = {}

    def lose_then_arrive_late(request: Any) -> None:
        if not first:  # the first PUT: never reaches S3, its answer is lost
            body = request.body
            first["body"] = body if isinstance(body, bytes) else body.read()
            first["headers"] = {k.lower(): (v.decode() if isinstance(v, bytes) else str(v))
                                for k, v in request.headers.items()}
            raise ConnectionClosedError(endpoint_url="x")
        headers = first["headers"]  # before its resend: the first one lands after all
        metadata = {k[len("x-amz-meta-"):]: v for k, v in headers.items()
                    if k.startswith("x-amz-meta-")}
        raw.put_object(Bucket=s3.bucket, Key=KEY, Body=first["body"], Metadata=metadata,
                       IfMatch=headers["if-match"])

    act_before(client, "PutObject", lose_then_arrive_late, times=2)
    s3.clear_requests()
    assert store.update(KEY, append("b")).value == ["a", "b"]
    assert [(r.method, r.status) for r in s3.requests] == [
        ("HEAD", 200), ("PUT", 200), ("PUT", 412), ("HEAD", 200)]  # late, resend, found
    assert store.get(KEY).value == ["a", "b"]  # "b" once


def test_an_unknown_update_names_its_key_and_reason_and_distrusts_the_cache(
        s3: LocalS3) -> None:
    client = s3.client()
    store, rival = make_store(s3, client), make_store(s3)
    store.create(KEY, ["a"])
    act_before(client, "HeadObject", lambda _: rival.update(KEY, append("r")))
    s3.inject("error_after_write")
    with pytest.raises(OutcomeUnknownError) as caught:
        store.update(KEY, append("b"))
    assert caught.value.key == KEY
    assert "the bucket keeps no versions" in caught.value.message
    sent(s3)
    assert store.update(KEY, append("c")).value == ["a", "b", "r", "c"]
    assert sent(s3) == [("GET", 200), ("PUT", 200)]


def test_retries_exhausted_says_how_long_it_tried(s3: LocalS3) -> None:
    client = s3.client()
    store = JsonStore(client, s3.bucket, retry=RetryPolicy(max_attempts=2, sleep=lambda _: None))
    rival = make_store(s3)
    store.create(KEY, [])
    act_before(client, "PutObject", lambda _: rival.update(KEY, append("r")), times=10)
    with pytest.raises(RetriesExhaustedError) as caught:
        store.update(KEY, append("b"))
    assert caught.value.attempts == 2
    assert 0 <= caught.value.elapsed < 30
    assert caught.value.message == (f"gave up after 2 attempts in {caught.value.elapsed:.2f}s "
                                    "of conflicting or failed writes")


def test_a_budget_spent_while_an_answer_is_open_says_it_may_have_landed(s3: LocalS3) -> None:
    client = s3.client()
    store = JsonStore(client, s3.bucket, retry=RetryPolicy(max_attempts=2, sleep=lambda _: None))
    rival = make_store(s3)
    store.create(KEY, [])
    act_before(client, "HeadObject", lambda _: rival.update(KEY, lambda v: ["r1"]))
    act_before(client, "PutObject", lambda _: rival.update(KEY, append("r2")), skip=1)
    s3.inject("error_after_write")

    def add_b(items: list[str]) -> list[str]:
        return items if "b" in items else [*items, "b"]

    with pytest.raises(OutcomeUnknownError) as caught:
        store.update(KEY, add_b, idempotent=True)
    assert caught.value.key == KEY
    assert re.fullmatch(r"gave up after 2 attempts in \d+\.\d\ds; an answer was lost on the "
                        r"way, so this update may have landed", caught.value.message)


def test_a_lost_answer_that_cannot_be_asked_about_is_unknown_with_its_cause(
        s3: LocalS3) -> None:
    store = make_store(s3)
    store.create(KEY, ["a"])
    s3.inject("error_after_write")
    s3.inject("access_denied")  # the resolving HEAD: refused for good
    with pytest.raises(OutcomeUnknownError) as caught:
        store.update(KEY, append("b"))
    assert caught.value.key == KEY
    assert caught.value.message == "an answer was lost and the store could not ask S3 about it"
    cause = caught.value.__cause__
    assert isinstance(cause, StorageError) and cause.status == 403 and not cause.transient


# -- listings and the probe ------------------------------------------------------------------


def test_listings_ask_for_1000_keys_a_page_by_default(s3: LocalS3) -> None:
    client = s3.client()
    store = make_store(s3, client)
    store.create(KEY, [])
    listed, versions = urls(client, "ListObjectsV2"), urls(client, "ListObjectVersions")
    assert list(store.keys()) == [KEY]
    assert [v.version_id for v in store.versions(KEY)] == ["null"]
    assert len(listed) == len(versions) == 1
    assert "max-keys=1000" in listed[0] and "max-keys=1000" in versions[0]


@pytest.mark.parametrize("prefix", ["", "tenant/"])
def test_the_probe_writes_only_under_its_prefix(s3: LocalS3, prefix: str) -> None:
    store = make_store(s3)
    report = store.probe() if not prefix else store.probe(prefix=prefix)
    keys = [c.key for c in report.checks if c.key is not None]
    assert len(keys) == 4 and all(k.startswith(f"{prefix}.s3store-probe/") for k in keys)
    assert all(r.key.startswith(f"{prefix}.s3store-probe/") for r in s3.requests if r.key)


@pytest.mark.parametrize("prefix", ["", "tenant/"])
def test_verify_writes_only_under_its_prefix(s3: LocalS3, prefix: str) -> None:
    store = make_store(s3)
    s3.clear_requests()
    if prefix:
        store.verify_conditional_writes(prefix=prefix)
    else:
        store.verify_conditional_writes()
    written = [r.key for r in s3.requests if r.method == "PUT"]
    assert len(written) >= 3
    assert all(r.key.startswith(f"{prefix}.s3store-probe/") for r in s3.requests if r.key)


def test_verify_names_the_ignored_check() -> None:
    with (LocalS3(faults=FaultPlan(ignore_conditions=True)) as s3,
          pytest.raises(ConditionalWritesUnsupportedError) as caught):
        make_store(s3).verify_conditional_writes()
    assert caught.value.message.startswith("the endpoint accepted If-None-Match: *")
    assert caught.value.key is not None and caught.value.key.startswith(".s3store-probe/")


def test_verify_names_the_unsupported_check(s3: LocalS3) -> None:
    client = s3.client()

    def no_if_none_match(request: Any, **_: Any) -> Any:
        if "If-None-Match" in request.headers:
            return answer(501, "NotImplemented", extra="<Header>If-None-Match</Header>")
        return None
    client.meta.events.register("before-send.s3.PutObject", no_if_none_match)
    with pytest.raises(StorageError) as caught:
        make_store(s3, client).verify_conditional_writes()
    assert caught.value.message.startswith(f"{CREATE}: ")
    assert caught.value.code == "NotImplemented"
    assert caught.value.key is not None and caught.value.key.startswith(".s3store-probe/")


def test_verify_raises_a_permanent_error_as_it_came(s3: LocalS3) -> None:
    store = make_store(s3)
    s3.inject("access_denied")
    with pytest.raises(StorageError) as caught:
        store.verify_conditional_writes()
    assert caught.value.code == "AccessDenied"
    assert not caught.value.transient
    assert "could not be checked" not in caught.value.message


def test_verify_that_could_not_tell_says_run_it_again(s3: LocalS3) -> None:
    store = make_store(s3)
    s3.inject("error_after_write")
    with pytest.raises(StorageError) as caught:
        store.verify_conditional_writes()
    assert caught.value.transient and caught.value.code == "AnswerLost"
    assert caught.value.message.startswith(f"{CREATE} could not be checked (")
    assert caught.value.message.endswith("): run it again")
    assert caught.value.key is not None and caught.value.key.startswith(".s3store-probe/")


def test_a_resumed_attempt_whose_mutation_fails_reads_nothing_more(s3: LocalS3) -> None:
    """A 500 that did not land, resolved with the base still current: the next attempt
    resumes from that base without reading. If the mutation then fails, the caller gets
    its error at once: no read (a resumed base is proven current, not a guess)."""
    store = make_store(s3)
    store.create(KEY, ["a"])
    calls: list[int] = []

    def fails_the_second_time(items: list[str]) -> list[str]:
        calls.append(1)
        if len(calls) > 1:
            raise ValueError("the second call fails")
        return [*items, "b"]

    s3.inject("error_before_write")
    s3.clear_requests()
    with pytest.raises(ValueError, match="second call"):
        store.update(KEY, fails_the_second_time)
    assert sent(s3) == [("PUT", 500), ("HEAD", 200)]
    assert store.get(KEY).value == ["a"]
