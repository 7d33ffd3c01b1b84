"""Each fault alone, against every write: acknowledged means landed once; failed means absent.

The faults come from LocalS3 (one injected per test, at the first write). For the
three lost-response faults — 500 after the write landed, the connection dropped after
it landed, the answer stalled past the read timeout — each test has its negative
control: the same store with write-id resolution switched off applies the update
twice, or reports a conflict for its own write.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError

from s3store import (
    AlreadyExistsError,
    ConflictError,
    JsonStore,
    NotFoundError,
    OutcomeUnknownError,
    RetryPolicy,
    StorageError,
)
from s3store.testing import FaultKind, FaultPlan, LocalS3
from tests import frontends
from tests.frontends import FRONT_ENDS, Portal
from tests.helpers import FAST_RETRY
from tests.hooks import act_before, answer, delay_next_put, land_then_raise

KEY = "doc.json"
LOST: list[FaultKind] = ["error_after_write", "drop_after_write", "stall_after_write"]
NOT_LANDED: list[FaultKind] = ["slow_down", "error_before_write", "conditional_conflict"]
NO_WAIT = RetryPolicy(sleep=lambda _: None)


@pytest.fixture
def s3() -> Iterator[LocalS3]:
    # The stall outlasts the client's read timeout (0.3 s) by a margin.
    with LocalS3(faults=FaultPlan(stall_seconds=0.8)) as local:
        yield local


def make_store(s3: LocalS3, *, resolve: bool = True, front_end: str = "sync",
               portal: Portal | None = None, **options: Any) -> JsonStore:
    client = s3.client(read_timeout=0.3, **options)
    store: JsonStore = frontends.make_store(front_end, client, s3.bucket, portal, retry=NO_WAIT,
                                            resolve_lost_responses=resolve)
    return store


MakeStore = Callable[..., JsonStore]

AIOHTTP_STALL = (
    "aiohttp arms its read timeout (sock_read) when the request's body is written, and "
    "only if the response parameters were set before: for a PUT the body writer often "
    "wins that race, and a stalled answer is then waited for in full, not lost. The lost "
    "answers of error_after_write and drop_after_write take the same path on this front "
    "end (docs/asyncio.md)")


@pytest.fixture(params=FRONT_ENDS)
def make(request: pytest.FixtureRequest) -> MakeStore:
    """`make_store` through each front end (`tests.frontends`)."""
    params = getattr(request.node, "callspec", None)
    if (request.param == "async" and params is not None
            and params.params.get("kind") == "stall_after_write"):
        pytest.skip(AIOHTTP_STALL)
    portal = request.getfixturevalue("portal") if request.param == "async" else None
    return functools.partial(make_store, front_end=request.param, portal=portal)


def append(item: str) -> Any:
    return lambda items: [*items, item]


@pytest.mark.parametrize("kind", LOST + NOT_LANDED)
def test_update_lands_exactly_once(s3: LocalS3, kind: FaultKind, make: MakeStore) -> None:
    store = make(s3)
    store.create(KEY, ["a"])
    s3.clear_requests()
    s3.inject(kind)
    document = store.update(KEY, append("b"))
    assert document.value == ["a", "b"]
    # the ETag answered is the object's, however the write was found to have landed
    assert document.etag == s3.client().head_object(Bucket=s3.bucket, Key=KEY)["ETag"]
    assert store.get(KEY).value == ["a", "b"]


@pytest.mark.parametrize("kind", LOST)
def test_negative_control_update_without_resolution_applies_twice(
        s3: LocalS3, kind: FaultKind, make: MakeStore) -> None:
    store = make(s3, resolve=False)
    store.create(KEY, ["a"])
    s3.inject(kind)
    store.update(KEY, append("b"))
    assert store.get(KEY).value == ["a", "b", "b"]


@pytest.mark.parametrize("kind", LOST)
def test_lost_answer_is_resolved_by_one_head_not_by_botocore_retrying(
        s3: LocalS3, kind: FaultKind, make: MakeStore) -> None:
    store = make(s3, max_attempts=5)
    store.create(KEY, ["a"])
    s3.clear_requests()
    s3.inject(kind)
    store.update(KEY, append("b"))
    # One PUT (botocore did not resend it; no GET: the store knows what it created),
    # one HEAD that finds our write id.
    assert [r.method for r in s3.requests] == ["PUT", "HEAD"]
    put = s3.requests[0]
    assert put.fault == kind and put.headers["x-amz-meta-s3store-write-id"]


@pytest.mark.parametrize("kind", [*LOST, "slow_down", "conditional_conflict"])
def test_create_is_acknowledged_once_never_a_false_already_exists(
        s3: LocalS3, kind: FaultKind, make: MakeStore) -> None:
    store = make(s3)
    s3.inject(kind)
    assert store.create(KEY, {"v": 1}).value == {"v": 1}
    assert store.get(KEY).value == {"v": 1}


def test_a_lost_create_whose_key_is_still_free_is_unknown_without_versions(
        s3: LocalS3, make: MakeStore) -> None:
    """A 500 may come before or after the write; a key still free proves nothing: the
    create may have landed and been deleted since. Without versions: unknown."""
    store = make(s3)
    s3.inject("error_before_write")
    with pytest.raises(OutcomeUnknownError):
        store.create(KEY, {"v": 1})
    with pytest.raises(NotFoundError):
        store.get(KEY)


def test_a_lost_create_whose_key_is_still_free_is_sent_again_on_a_versioned_bucket(
        make: MakeStore) -> None:
    with LocalS3(versioning=True) as s3:
        store = make(s3)
        s3.inject("error_before_write")
        assert store.create(KEY, {"v": 1}).value == {"v": 1}  # no version of ours: resent
        assert store.get(KEY).value == {"v": 1}


@pytest.mark.parametrize("kind", LOST)
def test_negative_control_create_without_resolution_reports_false_already_exists(
        s3: LocalS3, kind: FaultKind, make: MakeStore) -> None:
    store = make(s3, resolve=False)
    s3.inject(kind)
    with pytest.raises(AlreadyExistsError):
        store.create(KEY, {"v": 1})
    assert store.get(KEY).value == {"v": 1}  # it was ours all along


@pytest.mark.parametrize("kind", LOST + NOT_LANDED)
def test_replace_is_acknowledged_never_a_false_conflict(
        s3: LocalS3, kind: FaultKind, make: MakeStore) -> None:
    store = make(s3)
    first = store.create(KEY, {"v": 1})
    s3.inject(kind)
    second = store.replace(KEY, {"v": 2}, etag=first.etag)
    assert store.get(KEY) == second


@pytest.mark.parametrize("kind", LOST)
def test_negative_control_replace_without_resolution_reports_false_conflict(
        s3: LocalS3, kind: FaultKind, make: MakeStore) -> None:
    store = make(s3, resolve=False)
    first = store.create(KEY, {"v": 1})
    s3.inject(kind)
    with pytest.raises(ConflictError):
        store.replace(KEY, {"v": 2}, etag=first.etag)
    assert store.get(KEY).value == {"v": 2}


@pytest.mark.parametrize("kind", LOST)
def test_negative_control_delete_without_resolution_reports_a_false_outcome(
        s3: LocalS3, kind: FaultKind, make: MakeStore) -> None:
    """Resolution off, a delete whose answer is lost after it landed is sent again
    blindly: the resend finds nothing to delete and the caller is told so, although its
    own delete did it."""
    store = make(s3, resolve=False)
    first = store.create(KEY, {"v": 1})
    s3.clear_requests()
    s3.inject(kind)
    with pytest.raises((NotFoundError, ConflictError)):
        store.delete(KEY, etag=first.etag)
    assert [r.method for r in s3.requests] == ["DELETE", "DELETE"]  # no HEAD: sent again


@pytest.mark.parametrize("kind", ["slow_down", "error_before_write", "conditional_conflict"])
def test_conditional_delete_is_acknowledged_once(
        s3: LocalS3, kind: FaultKind, make: MakeStore) -> None:
    store = make(s3)
    first = store.create(KEY, {"v": 1})
    s3.inject(kind)
    store.delete(KEY, etag=first.etag)
    with pytest.raises(NotFoundError):
        store.get(KEY)


@pytest.mark.parametrize("kind", ["error_after_write", "drop_after_write"])
def test_a_lost_conditional_delete_whose_object_is_gone_is_unknown(
        s3: LocalS3, kind: FaultKind, make: MakeStore) -> None:
    """Gone by this delete or by another writer's: nobody can tell, so never "done"."""
    store = make(s3)
    first = store.create(KEY, {"v": 1})
    s3.inject(kind)
    with pytest.raises(OutcomeUnknownError) as caught:
        store.delete(KEY, etag=first.etag)
    assert (caught.value.key, caught.value.etag) == (KEY, first.etag)
    assert "nobody can tell" in str(caught.value)
    with pytest.raises(NotFoundError):
        store.get(KEY)


def test_a_lost_conditional_delete_whose_object_then_changed_is_unknown(s3: LocalS3) -> None:
    """Answer lost (a 500 before anything happened), and another writer replaces the
    object before the resolving HEAD: the delete did not land, but the object is no
    longer the one named, so it is not sent again, and not reported done."""
    client = s3.client()
    store = JsonStore(client, s3.bucket, retry=FAST_RETRY)
    rival = JsonStore(s3.client(), s3.bucket)
    first = store.create(KEY, {"v": 1})
    act_before(client, "HeadObject", lambda _: rival.replace(KEY, {"v": 2}, etag=first.etag))
    s3.inject("error_before_write")
    with pytest.raises(OutcomeUnknownError) as caught:
        store.delete(KEY, etag=first.etag)
    assert (caught.value.key, caught.value.etag) == (KEY, first.etag)
    assert str(caught.value).startswith(
        "the answer to a delete was lost and the object has changed since (or cannot be told "
        "from the one named)")
    assert store.get(KEY).value == {"v": 2}


ONE_ATTEMPT = RetryPolicy(max_attempts=1, sleep=lambda _: None)


def test_unanswerable_lost_response_is_outcome_unknown(s3: LocalS3) -> None:
    store = JsonStore(s3.client(read_timeout=0.3, max_attempts=1), s3.bucket, retry=ONE_ATTEMPT)
    first = store.create(KEY, {"v": 1})
    s3.inject("error_after_write")
    s3.inject("slow_down")  # the resolving HEAD is throttled too, and not retried
    with pytest.raises(OutcomeUnknownError) as caught:
        store.replace(KEY, {"v": 2}, etag=first.etag)
    assert caught.value.key == KEY
    assert store.get(KEY).value == {"v": 2}  # it had landed: "unknown" was the honest answer


def test_a_resolution_that_fails_is_retried_before_anything_is_sent_again(
        s3: LocalS3, make: MakeStore) -> None:
    store = make(s3, max_attempts=1)
    first = store.create(KEY, {"v": 1})
    s3.clear_requests()
    s3.inject("error_after_write")
    s3.inject("slow_down")  # the resolving HEAD is throttled: the next attempt asks again
    assert store.replace(KEY, {"v": 2}, etag=first.etag).value == {"v": 2}
    assert [(r.method, r.status) for r in s3.requests] == [
        ("PUT", 500), ("HEAD", 503), ("HEAD", 200)]  # never a second PUT


def test_update_whose_lost_answer_cannot_be_checked_is_outcome_unknown(s3: LocalS3) -> None:
    store = JsonStore(s3.client(read_timeout=0.3, max_attempts=1), s3.bucket, retry=ONE_ATTEMPT)
    store.create(KEY, ["a"])
    s3.inject("drop_after_write")
    s3.inject("slow_down")
    with pytest.raises(OutcomeUnknownError):
        store.update(KEY, append("b"))


def overtake_during_stall(s3: LocalS3, base_etag: str, store: Any = None) -> threading.Thread:
    """Another writer that lands right after our stalled write landed, before we can HEAD
    (`store`: the one whose answer stalls, skipped on the async front end: AIOHTTP_STALL)."""
    if isinstance(store, frontends.BlockingAsyncStore):
        pytest.skip(AIOHTTP_STALL)
    rival = JsonStore(s3.client(), s3.bucket)

    def run() -> None:
        for _ in range(5000):  # bounded: our write lands while its answer stalls
            if rival.get(KEY).etag != base_etag:
                rival.update(KEY, append("rival"))
                return
        raise AssertionError("the stalled write never landed")

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_overtaken_lost_write_is_found_in_versions(make: MakeStore) -> None:
    with LocalS3(faults=FaultPlan(stall_seconds=1.0), versioning=True) as s3:
        store = make(s3)
        first = store.create(KEY, ["a"])
        s3.inject("stall_after_write")
        rival = overtake_during_stall(s3, first.etag, store)
        result = store.update(KEY, append("b"))
        rival.join()
        assert result.value == ["a", "b"]
        assert store.get(KEY).value == ["a", "b", "rival"]  # "b" once, not re-applied
        bucket_requests = [r for r in s3.requests if r.method == "GET" and not r.key]
        assert len(bucket_requests) == 2  # its versioning status, then one listing


def test_overtaken_lost_replace_without_versions_is_outcome_unknown(
        s3: LocalS3, make: MakeStore) -> None:
    store = make(s3)
    first = store.create(KEY, ["a"])
    s3.inject("stall_after_write")
    rival = overtake_during_stall(s3, first.etag, store)
    with pytest.raises(OutcomeUnknownError):
        store.replace(KEY, ["a", "b"], etag=first.etag)
    rival.join()
    assert store.get(KEY).value == ["a", "b", "rival"]


def test_overtaken_lost_update_without_versions_reapplies_an_idempotent_mutate(
        s3: LocalS3, make: MakeStore) -> None:
    """The documented case: no way to know, so mutate runs again; an upsert stays exact."""
    store = make(s3)
    first = store.create(KEY, ["a"])
    s3.inject("stall_after_write")
    rival = overtake_during_stall(s3, first.etag, store)

    def add_b(items: list[str]) -> list[str]:
        return items if "b" in items else [*items, "b"]

    store.update(KEY, add_b, idempotent=True)
    rival.join()
    assert store.get(KEY).value == ["a", "b", "rival"]


def test_overtaken_lost_update_without_versions_is_unknown_unless_declared_idempotent(
        s3: LocalS3, make: MakeStore) -> None:
    """A blind append must never be applied twice silently: outcome unknown instead."""
    store = make(s3)
    first = store.create(KEY, ["a"])
    s3.inject("stall_after_write")
    rival = overtake_during_stall(s3, first.etag, store)
    with pytest.raises(OutcomeUnknownError):
        store.update(KEY, append("b"))
    rival.join()
    assert store.get(KEY).value == ["a", "b", "rival"]  # "b" once: it had landed


def test_a_conditional_delete_refused_every_time_is_a_storage_error_not_unknown(
        s3: LocalS3) -> None:
    store = JsonStore(s3.client(read_timeout=0.3, max_attempts=1), s3.bucket,
                      retry=RetryPolicy(max_attempts=2, sleep=lambda _: None))
    first = store.create(KEY, {"v": 1})
    s3.inject("slow_down", count=2)  # refused before any effect, twice: nothing is open
    with pytest.raises(StorageError) as caught:
        store.delete(KEY, etag=first.etag)
    assert not isinstance(caught.value, OutcomeUnknownError) and caught.value.transient
    assert store.get(KEY).value == {"v": 1}


def test_a_conditional_delete_raced_every_time_is_not_unknown(s3: LocalS3) -> None:
    """A 409 (a racing conditional write) on every attempt: nothing landed, nothing is
    open, so running out of attempts is the last refusal, never "outcome unknown"."""
    store = JsonStore(s3.client(read_timeout=0.3, max_attempts=1), s3.bucket,
                      retry=RetryPolicy(max_attempts=2, sleep=lambda _: None))
    first = store.create(KEY, {"v": 1})
    s3.inject("conditional_conflict", count=2)
    with pytest.raises(ConflictError) as caught:
        store.delete(KEY, etag=first.etag)
    assert not isinstance(caught.value, OutcomeUnknownError)
    assert store.get(KEY).value == {"v": 1}


def test_a_write_found_landed_only_on_a_later_attempt_is_not_trusted_as_current(
        s3: LocalS3, make: MakeStore) -> None:
    """The update lands, its answer is lost, the resolving HEAD is throttled: the next
    attempt finds the write landed. Found late, it may no longer be current, so the
    store does not take it for its next starting point: after another writer's change
    the next update reads first (GET, PUT), never a PUT refused on a stale ETag."""
    store = make(s3)
    store.create(KEY, ["a"])
    s3.inject("error_after_write")  # the update lands, its answer is a 500
    s3.inject("slow_down")  # the resolving HEAD is refused: resolved on the next attempt
    assert store.update(KEY, append("b")).value == ["a", "b"]
    s3.client().put_object(Bucket=s3.bucket, Key=KEY, Body=b'["a","b","x"]')
    s3.clear_requests()
    assert store.update(KEY, append("c")).value == ["a", "b", "x", "c"]
    assert [(r.method, r.status) for r in s3.requests] == [("GET", 200), ("PUT", 200)]


def test_a_write_that_lands_after_its_resolution_is_found_when_its_resend_is_refused(
        s3: LocalS3) -> None:
    """A delayed write: the PUT's answer times out, the resolving HEAD still sees the
    base (not landed, base current), and the first PUT lands only then, just before the
    resend, which S3 refuses (412). The store must find its own write behind the refusal:
    applied once, answered with the object's ETag (not a conflict, not a second append)."""
    client = s3.client(read_timeout=0.3, max_attempts=1)
    store = JsonStore(client, s3.bucket, retry=NO_WAIT)
    store.create(KEY, ["a"])
    delay_next_put(client, s3.client(), s3.bucket)
    s3.clear_requests()
    document = store.update(KEY, append("b"))
    assert document.value == ["a", "b"]
    assert document.etag == s3.client().head_object(Bucket=s3.bucket, Key=KEY)["ETag"]
    assert store.get(KEY).value == ["a", "b"]
    assert [(r.method, r.status) for r in s3.requests][:4] == [
        ("HEAD", 200), ("PUT", 200), ("PUT", 412), ("HEAD", 200)]
    # Found behind a refusal, it is not taken as current: after another writer's change
    # the next update reads first, and no PUT is refused on a stale ETag.
    s3.client().put_object(Bucket=s3.bucket, Key=KEY, Body=b'["a","b","x"]')
    s3.clear_requests()
    assert store.update(KEY, append("c")).value == ["a", "b", "x", "c"]
    assert [(r.method, r.status) for r in s3.requests] == [("GET", 200), ("PUT", 200)]


@pytest.mark.parametrize("operation", ["create", "replace"])
def test_a_create_or_replace_that_lands_after_its_resolution_is_found_behind_the_refusal(
        s3: LocalS3, operation: str) -> None:
    """The delayed write above, through `create()` and `replace()` (their own write
    loop): acknowledged, with the object's ETag, not `AlreadyExistsError` or
    `ConflictError` for the caller's own write. (A create needs a versioned bucket for
    its first resolution to prove "not landed": on an unversioned one a free key cannot
    tell, and the answer is `OutcomeUnknownError`, as the guarantees say.)"""
    versioned = LocalS3(versioning=True) if operation == "create" else None
    with versioned or contextlib.nullcontext(s3) as target:
        client = target.client(read_timeout=0.3, max_attempts=1)
        store = JsonStore(client, target.bucket, retry=NO_WAIT)
        first = store.create(KEY, ["a"])
        delay_next_put(client, target.client(), target.bucket)
        key = KEY if operation == "replace" else "new.json"
        document = (store.replace(KEY, ["z"], etag=first.etag) if operation == "replace"
                    else store.create(key, ["z"]))
        assert document.value == ["z"]
        assert document.etag == target.client().head_object(Bucket=target.bucket,
                                                             Key=key)["ETag"]
        assert store.get(key).value == ["z"]


def test_a_lost_delete_proven_not_landed_then_refused_is_that_refusal_not_unknown(
        s3: LocalS3) -> None:
    """The HEAD proves the lost delete did not happen (the object is still the one named),
    so nothing is open any more: a permanent refusal of the resend is the caller's
    answer as S3 gave it, never "outcome unknown"."""
    client = s3.client(read_timeout=0.3, max_attempts=1)
    store = JsonStore(client, s3.bucket, retry=NO_WAIT)
    first = store.create(KEY, {"v": 1})
    s3.inject("error_before_write")  # a 500 before the delete: its outcome looks lost
    act_before(client, "DeleteObject", lambda _: answer(403, "AccessDenied"), skip=1)
    with pytest.raises(StorageError) as caught:
        store.delete(KEY, etag=first.etag)
    assert not isinstance(caught.value, OutcomeUnknownError)
    assert caught.value.code == "AccessDenied"
    assert store.get(KEY).value == {"v": 1}


def test_a_lost_replace_overtaken_on_an_unversioned_bucket_is_unknown_and_says_why(
        s3: LocalS3) -> None:
    """The replace lands, its answer is lost, and another writer replaces the object before
    the resolving HEAD: without versions nobody can tell. The error names the key, the
    ETag the caller conditioned on, and the reason."""
    client = s3.client(read_timeout=0.3, max_attempts=1)
    store = JsonStore(client, s3.bucket, retry=NO_WAIT)
    first = store.create(KEY, {"v": 1})
    act_before(client, "PutObject", land_then_raise(s3.client(), s3.bucket,
                                                    ReadTimeoutError(endpoint_url="lost")))
    act_before(client, "HeadObject", lambda _: s3.client().put_object(
        Bucket=s3.bucket, Key=KEY, Body=b'{"v": 3}'))
    with pytest.raises(OutcomeUnknownError) as caught:
        store.replace(KEY, {"v": 2}, etag=first.etag)
    assert (caught.value.key, caught.value.etag) == (KEY, first.etag)
    assert str(caught.value).startswith(
        "the answer was lost and nobody can tell whether this write landed: the bucket keeps "
        "no versions")


def test_a_lost_delete_is_resolved_again_before_it_is_sent_again(s3: LocalS3) -> None:
    store = JsonStore(s3.client(read_timeout=0.3, max_attempts=1), s3.bucket, retry=NO_WAIT)
    first = store.create(KEY, {"v": 1})
    s3.clear_requests()
    s3.inject("error_after_write")  # the delete happens, its answer is a 500
    s3.inject("slow_down")  # the resolving HEAD is throttled: ask again, never resend
    with pytest.raises(OutcomeUnknownError) as caught:
        store.delete(KEY, etag=first.etag)  # gone: by this delete or another's
    assert [(r.method, r.status) for r in s3.requests] == [
        ("DELETE", 500), ("HEAD", 503), ("HEAD", 404)]
    assert (caught.value.key, caught.value.etag) == (KEY, first.etag)
    assert str(caught.value).startswith(
        "the answer to a delete was lost and the object is gone: by this delete or another "
        "writer's, nobody can tell")


def test_a_lost_delete_that_did_not_land_is_sent_again_after_one_head(s3: LocalS3) -> None:
    store = JsonStore(s3.client(read_timeout=0.3, max_attempts=1), s3.bucket, retry=NO_WAIT)
    first = store.create(KEY, {"v": 1})
    s3.clear_requests()
    s3.inject("error_before_write")  # a 500 before the delete: its outcome looks lost
    store.delete(KEY, etag=first.etag)
    assert [(r.method, r.status) for r in s3.requests] == [
        ("DELETE", 500), ("HEAD", 200), ("DELETE", 204)]  # resolved once, then resent


def test_a_lost_answer_proven_not_landed_on_a_current_base_is_resent_without_a_read(
        s3: LocalS3, make: MakeStore) -> None:
    """The HEAD that proves the base still current is as good as a read: the update is
    written again straight away (one GET saved)."""
    store = make(s3)
    store.create(KEY, ["a"])  # the store knows the base's write id
    s3.clear_requests()
    s3.inject("error_before_write")  # a 500 that came before any effect
    assert store.update(KEY, append("b")).value == ["a", "b"]
    assert [(r.method, r.status) for r in s3.requests] == [
        ("PUT", 500), ("HEAD", 200), ("PUT", 200)]
