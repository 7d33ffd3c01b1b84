"""Regression tests for the holes an adversarial review found in lost-answer resolution.

Each forces its interleaving through botocore hooks (`tests/hooks.py`): a second
writer acts *while* an answer is being resolved, exactly before the resolving
`HeadObject`. Each failed on the code before its fix (issue 9's list, by number).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import botocore
import pytest

from s3store import (
    AlreadyExistsError,
    ConflictError,
    JsonStore,
    NotFoundError,
    OutcomeUnknownError,
    RetryPolicy,
    StorageError,
)
from s3store._resolve import VERSION_SEARCH_LIMIT
from s3store.testing import LocalS3
from tests.hooks import act_before, answer

KEY = "doc.json"
NO_WAIT = RetryPolicy(sleep=lambda _: None)
BOTOCORE = tuple(int(part) for part in botocore.__version__.split(".")[:3])


@pytest.fixture(params=[False, True], ids=["unversioned", "versioned"])
def s3(request: pytest.FixtureRequest) -> Iterator[LocalS3]:
    with LocalS3(versioning=request.param) as local:
        yield local


def store_on(s3: LocalS3, **options: Any) -> tuple[JsonStore, Any]:
    client = s3.client()
    return JsonStore(client, s3.bucket, retry=NO_WAIT, **options), client


def inc(value: int) -> int:
    return value + 1


def dec(value: int) -> int:
    return value - 1


# -- 1. ABA: the same bytes back under the same ETag ---------------------------------------

def test_1_aba_before_the_resolving_head_is_never_taken_for_not_landed(s3: LocalS3) -> None:
    """A's +1 lands, its answer is a 500; before A's HEAD, B's -1 brings back the bytes
    A conditioned on (same ETag). The old code saw the base's ETag, re-applied A, and
    erased B's acknowledged update: final 1 instead of 0."""
    s3.client().put_object(Bucket=s3.bucket, Key=KEY, Body=b"0")  # written by another tool
    store, client = store_on(s3)
    rival, _ = store_on(s3)
    act_before(client, "HeadObject", lambda _: rival.update(KEY, dec))
    s3.inject("error_after_write")
    if s3.versioning:
        assert store.update(KEY, inc).value == 1  # found in the versions: acknowledged once
    else:
        with pytest.raises(OutcomeUnknownError):
            store.update(KEY, inc)  # no proof either way: never re-applied blindly
    assert store.get(KEY).value == 0  # A's +1 once, B's -1 once


def test_1_aba_after_this_stores_own_replace_is_proved_by_the_write_id(s3: LocalS3) -> None:
    """After this store's own create/replace, the base's write id is known: an ABA copy
    carries another write id, so the object is provably not the base."""
    store, client = store_on(s3)
    rival, _ = store_on(s3)
    first = store.create(KEY, 0)
    store.replace(KEY, 1, etag=first.etag)
    act_before(client, "HeadObject", lambda _: (rival.update(KEY, dec), rival.update(KEY, inc)))
    s3.inject("error_after_write")
    if s3.versioning:
        assert store.update(KEY, inc).value == 2
    else:
        with pytest.raises(OutcomeUnknownError):
            store.update(KEY, inc)
    assert store.get(KEY).value == 2


def test_1_aba_on_replace_with_a_foreign_etag(s3: LocalS3) -> None:
    s3.client().put_object(Bucket=s3.bucket, Key=KEY, Body=b"0")
    store, client = store_on(s3)
    rival, _ = store_on(s3)
    etag = store.get(KEY).etag
    store._cache.discard(KEY)  # an ETag from elsewhere: no identity known
    act_before(client, "HeadObject", lambda _: rival.update(KEY, dec))
    s3.inject("error_after_write")
    if s3.versioning:
        assert store.replace(KEY, 1, etag=etag).value == 1
    else:
        with pytest.raises(OutcomeUnknownError):
            store.replace(KEY, 1, etag=etag)
    assert store.get(KEY).value == 0


# -- 2. a create that landed and was deleted -------------------------------------------------

def test_2_a_create_that_landed_and_was_deleted_is_never_created_again(s3: LocalS3) -> None:
    store, client = store_on(s3)
    other = s3.client()
    act_before(client, "HeadObject", lambda _: other.delete_object(Bucket=s3.bucket, Key=KEY))
    s3.inject("error_after_write")
    if s3.versioning:
        assert store.create(KEY, {"v": 1}).value == {"v": 1}  # it landed (then was deleted)
    else:
        with pytest.raises(OutcomeUnknownError):
            store.create(KEY, {"v": 1})
    with pytest.raises(NotFoundError):
        store.get(KEY)  # the delete stays done


# -- 4. a version search that fails never re-applies -----------------------------------------

def test_4_a_refused_version_listing_is_unknown_and_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    with LocalS3(versioning=True) as s3:
        store, client = store_on(s3)
        rival, _ = store_on(s3)
        store.create(KEY, [])
        act_before(client, "HeadObject", lambda _: rival.update(KEY, lambda v: [*v, "r"]))
        act_before(client, "ListObjectVersions", lambda _: answer(403, "AccessDenied"))
        s3.inject("error_after_write")
        with caplog.at_level(logging.WARNING, logger="s3store"), \
                pytest.raises(OutcomeUnknownError):
            store.update(KEY, lambda v: [*v, "a"])
        assert store.get(KEY).value == ["a", "r"]  # "a" once: it had landed
        assert any(r.levelno == logging.WARNING for r in caplog.records)


def test_4_more_versions_than_the_search_limit_is_unknown() -> None:
    with LocalS3(versioning=True) as s3:
        store, client = store_on(s3)
        rival, _ = store_on(s3)
        store.create(KEY, 0)

        def many(_: Any) -> None:
            for _n in range(VERSION_SEARCH_LIMIT + 1):
                rival.update(KEY, inc)

        act_before(client, "HeadObject", many)
        s3.inject("error_after_write")
        with pytest.raises(OutcomeUnknownError):
            store.update(KEY, inc)
        assert store.get(KEY).value == VERSION_SEARCH_LIMIT + 2  # ours once


def test_4_an_idempotent_update_is_applied_again_when_unknown(s3: LocalS3) -> None:
    store, client = store_on(s3)
    rival, _ = store_on(s3)
    store.create(KEY, [])
    act_before(client, "HeadObject", lambda _: rival.update(KEY, lambda v: [*v, "r"]))
    act_before(client, "ListObjectVersions", lambda _: answer(403, "AccessDenied"))
    s3.inject("error_after_write")

    def add_a(items: list[str]) -> list[str]:
        return items if "a" in items else [*items, "a"]

    assert store.update(KEY, add_a, idempotent=True).value == ["a", "r"]


# -- 6. the caller's client keeps its retry quota --------------------------------------------

def test_6_resolved_lost_answers_do_not_drain_the_clients_retry_quota() -> None:
    with LocalS3() as s3:
        client = s3.client()  # standard retry mode: a quota of 500, 5 per retry
        store = JsonStore(client, s3.bucket, retry=NO_WAIT)
        store.create(KEY, 0)
        for _ in range(120):
            s3.inject("error_after_write")
            store.update(KEY, inc)
        assert store.get(KEY).value == 120
        # One 500 on a read of the caller's own (a retry costs 14 of the quota's 500):
        act_before(client, "GetObject", lambda _: answer(500, "InternalError"))
        assert client.get_object(Bucket=s3.bucket, Key=KEY)["Body"].read() == b"120"


@pytest.mark.skipif(BOTOCORE < (1, 43, 3), reason="botocore before 1.43.3 reads a handler's "
                    "False as 'retry after 0 s': there the old veto retries forever (defect 5)")
def test_6_negative_control_a_handler_that_answers_no_retry_drains_the_quota() -> None:
    """The old veto's way (a needs-retry handler returning False first) on the same
    harness: botocore's standard handler still charges the quota, and after 120 lost
    answers a single 500 on a read is no longer retried."""
    with LocalS3() as s3:
        client = s3.client()
        client.put_object(Bucket=s3.bucket, Key=KEY, Body=b"0")
        veto: Any = lambda **_: False  # noqa: E731
        client.meta.events.register_first("needs-retry.s3.PutObject", veto)
        for _ in range(120):
            s3.inject("error_after_write")
            with pytest.raises(Exception, match="InternalError"):
                client.put_object(Bucket=s3.bucket, Key=KEY, Body=b"0")
        act_before(client, "GetObject", lambda _: answer(500, "InternalError"))
        with pytest.raises(Exception, match="InternalError"):
            client.get_object(Bucket=s3.bucket, Key=KEY)


# -- 7. a failing round with several callers -------------------------------------------------

def test_7_a_failing_round_gives_every_caller_the_typed_error(local_s3: LocalS3) -> None:
    from s3store._commit import Pending  # noqa: PLC0415 - the round's own bookkeeping

    store = JsonStore(local_s3.client(), local_s3.bucket, retry=NO_WAIT)
    store.create(KEY, [])
    def appender(n: int) -> Any:
        return lambda v: [*v, n]

    batch = [Pending(appender(n)) for n in range(6)]
    local_s3.inject("access_denied")
    store._run(store._commit(KEY, batch))
    errors = [pending.error for pending in batch]
    assert all(isinstance(e, StorageError) and e.code == "AccessDenied" for e in errors)
    assert len({id(e) for e in errors}) == 6  # one each: raised in six threads
    assert store.get(KEY).value == []


# -- 11, 12, 13: guesses cost requests, not attempts; creates say AlreadyExists ----------------

def test_11_a_wrong_first_touch_guess_after_a_lost_answer_reads_and_lands() -> None:
    with LocalS3(versioning=True) as s3:
        store, _ = store_on(s3)
        for job in range(3):  # the store learns that unseen keys are new
            store.update(f"jobs/{job}.json", lambda v: [*v, 1], default=[])
        s3.client().put_object(Bucket=s3.bucket, Key=KEY, Body=b'["theirs"]')
        s3.clear_requests()
        s3.inject("error_before_write")  # the guessed create's answer: a 500, not landed
        assert store.update(KEY, lambda v: [*v, "mine"], default=[]).value == [
            "theirs", "mine"]
        methods = [(r.method, r.key, r.status) for r in s3.requests]
        assert sum(1 for m in methods if m[0] == "PUT") == 2  # the guess, then the real one
        assert ("GET", KEY, 200) in methods


def test_12_a_no_op_on_a_cached_value_does_not_spend_the_only_attempt(
        local_s3: LocalS3) -> None:
    store = JsonStore(local_s3.client(), local_s3.bucket,
                      retry=RetryPolicy(max_attempts=1, sleep=lambda _: None))
    store.create(KEY, [1])
    assert store.update(KEY, lambda v: v).value == [1]


def test_12_a_mutation_refusing_a_stale_cached_value_runs_on_the_fresh_one(
        local_s3: LocalS3) -> None:
    store = JsonStore(local_s3.client(), local_s3.bucket,
                      retry=RetryPolicy(max_attempts=1, sleep=lambda _: None))
    store.create(KEY, {"state": "draft"})
    other = JsonStore(local_s3.client(), local_s3.bucket)
    other.update(KEY, lambda v: {**v, "state": "reviewed"})
    local_s3.clear_requests()

    def publish(doc: dict[str, str]) -> dict[str, str]:
        if doc["state"] != "reviewed":
            raise ValueError("cannot publish a draft")
        return {**doc, "state": "published"}

    assert store.update(KEY, publish).value == {"state": "published"}
    # Judged on the stale cache first (no request), then read fresh: no refused PUT.
    assert [(r.method, r.status) for r in local_s3.requests] == [("GET", 200), ("PUT", 200)]


def test_13_a_create_beaten_to_the_key_after_a_lost_answer_is_already_exists() -> None:
    with LocalS3(versioning=True) as s3:
        store, client = store_on(s3)
        rival, _ = store_on(s3)
        act_before(client, "HeadObject", lambda _: rival.create(KEY, "theirs"))
        s3.inject("error_before_write")
        with pytest.raises(AlreadyExistsError):
            store.create(KEY, "mine")
        assert store.get(KEY).value == "theirs"


def test_a_replace_whose_lost_write_did_not_land_is_a_conflict_after_one_put() -> None:
    with LocalS3(versioning=True) as s3:
        store, client = store_on(s3)
        rival, _ = store_on(s3)
        first = store.create(KEY, 0)
        act_before(client, "HeadObject", lambda _: rival.update(KEY, inc))
        s3.clear_requests()
        s3.inject("error_before_write")
        with pytest.raises(ConflictError) as caught:
            store.replace(KEY, 5, etag=first.etag)
        assert type(caught.value) is ConflictError
        puts = [r for r in s3.requests if r.method == "PUT" and r.key == KEY]
        assert len(puts) == 2  # ours (refused with a 500), the rival's; never ours again


# -- 15. a 501 is a permanent, named refusal -------------------------------------------------

def test_15_a_501_on_a_conditional_delete_is_a_permanent_error_naming_the_header(
        local_s3: LocalS3) -> None:
    store, client = store_on(local_s3)
    document = store.create(KEY, 1)
    refused = act_before(client, "DeleteObject",
                         lambda _: answer(501, "NotImplemented", "A header you provided "
                                          "implies functionality that is not implemented"),
                         times=100)
    with pytest.raises(StorageError) as caught:
        store.delete(KEY, etag=document.etag)
    assert caught.value.code == "NotImplemented" and not caught.value.transient
    assert "If-Match on DeleteObject" in str(caught.value)
    assert len(refused) == 1  # refused once, never retried
    assert store.get(KEY).value == 1
