"""The read cache and group commit: fewer requests, and never a lost or stale update.

Speed is for `make bench`; these tests count requests and check outcomes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from s3store import JsonStore, RetryPolicy
from s3store._cache import Cached, DocumentCache, FirstTouch
from s3store._commit import GroupCommit, Pending, apply_mutations
from s3store._resolve import Landed, Outcome, Resolution
from s3store.testing import FaultPlan, LocalS3
from tests.helpers import FAST_RETRY
from tests.steps import submit

KEY = "doc.json"


def requests_for(s3: LocalS3, method: str) -> list[int]:
    return [r.status for r in s3.requests if r.method == method and r.key == KEY]


def append(item: Any) -> Callable[[list[Any]], list[Any]]:
    return lambda items: [*items, item]


# -- the cache ---------------------------------------------------------------------------


def test_a_lone_writer_costs_one_request_per_update(local_s3: LocalS3, store: JsonStore) -> None:
    local_s3.clear_requests()
    for n in range(10):
        store.update(KEY, append(n), default=[])
    assert requests_for(local_s3, "GET") == [404]  # the first update found no document
    assert requests_for(local_s3, "PUT") == [200] * 10
    assert store.get(KEY).value == list(range(10))


def test_without_cache_every_update_reads_first(local_s3: LocalS3) -> None:
    store = JsonStore(local_s3.client(), local_s3.bucket, cache_size=0)
    store.create(KEY, [])
    local_s3.clear_requests()
    for n in range(3):
        store.update(KEY, append(n))
    assert len(requests_for(local_s3, "GET")) == 3


def test_a_stale_cache_never_loses_an_update(local_s3: LocalS3) -> None:
    mine, theirs = (JsonStore(local_s3.client(), local_s3.bucket) for _ in range(2))
    mine.update(KEY, append("mine-1"), default=[])  # cached by `mine`
    theirs.update(KEY, append("theirs"))
    local_s3.clear_requests()
    result = mine.update(KEY, append("mine-2"))
    assert result.value == ["mine-1", "theirs", "mine-2"]
    assert requests_for(local_s3, "PUT") == [412, 200]  # wrote against the cache, then re-read
    assert requests_for(local_s3, "GET") == [200]


def test_get_is_always_fresh(local_s3: LocalS3) -> None:
    mine, theirs = (JsonStore(local_s3.client(), local_s3.bucket) for _ in range(2))
    mine.update(KEY, append(1), default=[])
    theirs.update(KEY, append(2))
    assert mine.get(KEY).value == [1, 2]


def test_an_unchanged_result_on_a_stale_cache_is_judged_again_fresh(local_s3: LocalS3) -> None:
    mine, theirs = (JsonStore(local_s3.client(), local_s3.bucket) for _ in range(2))
    mine.update(KEY, append("a"), default=[])
    theirs.update(KEY, append("b"))

    def without_b(items: list[str]) -> list[str]:
        return [item for item in items if item != "b"]

    assert mine.update(KEY, without_b).value == ["a"]  # on the cache it changed nothing
    assert mine.get(KEY).value == ["a"]


def test_a_mutation_that_fails_on_a_stale_cache_runs_again_fresh(local_s3: LocalS3) -> None:
    mine, theirs = (JsonStore(local_s3.client(), local_s3.bucket) for _ in range(2))
    mine.update(KEY, append("a"), default=[])
    theirs.update(KEY, append("b"))

    def after_b(items: list[str]) -> list[str]:
        if "b" not in items:
            raise LookupError("needs b")
        return [*items, "after-b"]

    assert mine.update(KEY, after_b).value == ["a", "b", "after-b"]


def test_a_mutation_that_fails_on_fresh_data_fails(local_s3: LocalS3, store: JsonStore) -> None:
    store.update(KEY, append("a"), default=[])

    def fails(items: list[str]) -> list[str]:
        raise LookupError("always")

    local_s3.clear_requests()
    with pytest.raises(LookupError):
        store.update(KEY, fails)
    assert requests_for(local_s3, "GET") == [200]  # judged fresh once, then given up
    assert requests_for(local_s3, "PUT") == []


def test_cache_is_bounded_by_entries_and_bytes() -> None:
    cache = DocumentCache(3, max_bytes=10)
    for name in "abc":
        cache.wrote(name, Cached(b"12", f'"{name}"', None))
    cache.get("a")  # a is now the most recently used
    cache.wrote("d", Cached(b"12", '"d"', None))
    assert (cache.get("b"), len(cache)) == (None, 3)
    cache.wrote("e", Cached(b"123456789", '"e"', None))
    assert len(cache) == 1 and cache.get("e") is not None
    cache.wrote("f", Cached(b"x" * 11, '"f"', None))  # over the byte bound: not kept at all
    assert cache.get("f") is None
    empty = DocumentCache(0)
    empty.wrote("a", Cached(b"1", '"a"', None))
    assert len(empty) == 0


def test_cache_stops_serving_a_key_others_write_until_it_is_quiet_again() -> None:
    cache = DocumentCache(10)
    cache.wrote("k", Cached(b"1", '"mine"', None))
    assert cache.get("k") is not None
    cache.distrust("k")  # a 412 against it
    assert cache.get("k") is None
    cache.read("k", Cached(b"2", '"theirs"', None))  # someone else wrote since
    cache.wrote("k", Cached(b"3", '"mine-2"', None))
    assert cache.get("k") is None
    cache.read("k", Cached(b"3", '"mine-2"', None))  # nobody wrote since our last write
    assert cache.get("k") is not None


def test_a_contended_key_costs_no_refused_write_per_update(local_s3: LocalS3) -> None:
    mine, theirs = (JsonStore(local_s3.client(), local_s3.bucket) for _ in range(2))
    mine.update(KEY, append("m0"), default=[])
    local_s3.clear_requests()
    for n in range(1, 6):
        theirs.update(KEY, append(f"t{n}"))
        mine.update(KEY, append(f"m{n}"))
    puts = [r.status for r in local_s3.requests if r.method == "PUT"]
    assert puts.count(412) == 2  # each store's first stale write taught it; then it reads first
    assert len(mine.get(KEY).value) == 11


# -- group commit ------------------------------------------------------------------------


def test_mutations_of_a_round_fail_alone() -> None:
    def boom(items: list[int]) -> list[int]:
        items.append(99)  # changed in place, then raised: must not leak into the round
        raise ValueError("boom")

    batch = [Pending(append(1), []), Pending(boom), Pending(append(2)),
             Pending(lambda items: {1, 2})]
    applied = apply_mutations("k", b"[]", batch, max_bytes=1000)
    assert applied.body == b"[1,2]" and applied.value == [1, 2] and applied.by is batch[2]
    assert [type(p.error).__name__ if p.error else None for p in batch] == [
        None, "ValueError", None, "InvalidValueError"]


def test_a_missing_document_starts_from_each_callers_default() -> None:
    batch = [Pending(append(1)), Pending(append(2), default=[0]), Pending(append(3))]
    assert apply_mutations("k", None, batch, max_bytes=1000).body == b"[0,2,3]"
    assert type(batch[0].error).__name__ == "NotFoundError"


def test_callers_that_queue_during_a_round_share_the_next_one() -> None:
    group = GroupCommit()
    batches: list[int] = []
    first_round_started, release = threading.Event(), threading.Event()

    def flush(batch: list[Pending]) -> None:
        batches.append(len(batch))
        if len(batches) == 1:
            first_round_started.set()
            assert release.wait(10)
        for pending in batch:
            pending.result = len(batches)
            pending.settled = True

    leader = Pending(append(0))
    threads = [threading.Thread(target=submit, args=(group, "k", leader, flush))]
    threads[0].start()
    assert first_round_started.wait(10)
    followers = [Pending(append(n)) for n in range(5)]
    for pending in followers:
        threads.append(threading.Thread(target=submit, args=(group, "k", pending, flush)))
        threads[-1].start()
    for _ in range(10_000):  # bounded: until all five have queued behind the round
        if group.queued("k") == 5:
            break
    release.set()
    for thread in threads:
        thread.join()
    assert batches == [1, 5]
    assert [p.outcome() for p in [leader, *followers]] == [1, 2, 2, 2, 2, 2]
    assert group._queues == {}


def concurrent_updates(store: JsonStore, mutations: list[Callable[[Any], Any]]) -> list[Any]:
    """Run each mutation as its own caller, released together; each caller's outcome."""
    barrier = threading.Barrier(len(mutations))
    outcomes: list[Any] = [None] * len(mutations)

    def caller(n: int) -> None:
        barrier.wait()
        try:
            outcomes[n] = store.update(KEY, mutations[n], default=[])
        except Exception as exc:
            outcomes[n] = exc

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(len(mutations))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_concurrent_updates_share_writes_and_each_sees_its_own(local_s3: LocalS3) -> None:
    local_s3.set_faults(FaultPlan(latency=0.05))  # a round trip long enough to queue behind
    store = JsonStore(local_s3.client(), local_s3.bucket, retry=FAST_RETRY)
    local_s3.clear_requests()
    outcomes = concurrent_updates(store, [append(n) for n in range(12)])
    for n, document in enumerate(outcomes):
        assert n in document.value  # the round that holds its mutation
    assert sorted(store.get(KEY).value) == list(range(12))
    assert len(requests_for(local_s3, "PUT")) < 12  # rounds were shared


def test_a_raising_mutation_fails_only_its_caller(local_s3: LocalS3) -> None:
    local_s3.set_faults(FaultPlan(latency=0.05))
    store = JsonStore(local_s3.client(), local_s3.bucket, retry=FAST_RETRY)

    def boom(items: list[int]) -> list[int]:
        raise KeyError("boom")

    mutations: list[Callable[[Any], Any]] = [append(n) for n in range(8)]
    mutations[3] = boom
    outcomes = concurrent_updates(store, mutations)
    assert isinstance(outcomes[3], KeyError)
    assert sorted(store.get(KEY).value) == [0, 1, 2, 4, 5, 6, 7]


def test_group_commit_composes_with_lost_answers(local_s3: LocalS3) -> None:
    local_s3.set_faults(FaultPlan(latency=0.02))
    store = JsonStore(local_s3.client(read_timeout=0.3), local_s3.bucket,
                      retry=RetryPolicy(sleep=lambda _: None))
    store.create(KEY, [])
    local_s3.inject("error_after_write")  # the first round's answer is lost,
    local_s3.inject("drop_after_write")  # and the second's
    outcomes = concurrent_updates(store, [append(n) for n in range(10)])
    assert not [o for o in outcomes if isinstance(o, Exception)]
    assert sorted(store.get(KEY).value) == list(range(10))  # each exactly once
    assert local_s3.stats()["faults"] == {"error_after_write": 1, "drop_after_write": 1}


def test_without_group_commit_each_update_writes_alone(local_s3: LocalS3) -> None:
    local_s3.set_faults(FaultPlan(latency=0.02))
    store = JsonStore(local_s3.client(), local_s3.bucket, retry=FAST_RETRY, group_commit=False)
    store.create(KEY, [])
    local_s3.clear_requests()
    concurrent_updates(store, [append(n) for n in range(6)])
    assert requests_for(local_s3, "PUT").count(200) == 6
    assert sorted(store.get(KEY).value) == list(range(6))


# -- first touch: new keys written without a read -----------------------------------------


def test_a_store_that_keeps_creating_documents_stops_reading_first(local_s3: LocalS3) -> None:
    store = JsonStore(local_s3.client(), local_s3.bucket)
    local_s3.clear_requests()
    for job in range(6):
        store.update(f"jobs/{job}.json", append("step-1"), default=[])
    gets = [r.key for r in local_s3.requests if r.method == "GET"]
    assert gets == ["jobs/0.json", "jobs/1.json", "jobs/2.json"]  # then it knew
    assert all(r.status == 200 for r in local_s3.requests if r.method == "PUT")


def test_a_wrong_guess_that_a_key_is_new_loses_nothing(local_s3: LocalS3) -> None:
    store = JsonStore(local_s3.client(), local_s3.bucket)
    for job in range(3):
        store.update(f"jobs/{job}.json", append("step-1"), default=[])
    other = JsonStore(local_s3.client(), local_s3.bucket)
    other.update("jobs/existing.json", append("theirs"), default=[])
    local_s3.clear_requests()
    result = store.update("jobs/existing.json", append("mine"), default=[])
    assert result.value == ["theirs", "mine"]
    assert [(r.method, r.status) for r in local_s3.requests] == [
        ("PUT", 412), ("GET", 200), ("PUT", 200)]


def test_first_touch_guess_needs_evidence_and_backs_off() -> None:
    guess = FirstTouch()
    assert not guess.likely_new()
    for _ in range(3):
        guess.saw(new=True)
    assert guess.likely_new()
    guess.saw(new=False, weight=2)
    assert not guess.likely_new()


def test_a_round_found_landed_later_answers_each_caller_as_that_write_did(
    local_s3: LocalS3, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A round's first write is lost, then found to have landed while a later attempt
    runs. A mutation that failed in that first write is not in S3: its caller must
    get its error, not an acknowledgement (and the reverse)."""
    store = JsonStore(local_s3.client(), local_s3.bucket, cache_size=0,
                      retry=RetryPolicy(sleep=lambda _: None))
    store.create(KEY, [])
    sent: list[bytes] = []

    def send(key: str, body: bytes, value: Any, *, base: Any, lost: Any,
             arguments: Any = None) -> Any:
        yield from ()  # steps, like the writer's own (no request: the answer is made up)
        sent.append(body)
        if len(sent) == 1:  # the first attempt's answer is lost, and nobody can tell yet
            lost.sent["first"] = value
            lost.open.add("first")
            return Resolution(Outcome.UNKNOWN)
        landed = Landed("first", '"etag-of-the-first-write"')  # found: the first one landed
        lost.landed = (landed, lost.sent["first"], False)
        return landed

    monkeypatch.setattr(store._writer, "send", send)
    attempts = 0

    def fails_first(items: list[str]) -> list[str]:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise LookupError("not yet")
        return [*items, "k"]

    # Idempotent callers: after an unknown outcome, the round may apply them again.
    batch = [Pending(append("a"), idempotent=True), Pending(fails_first, idempotent=True)]
    store._run(store._commit(KEY, batch))
    assert sent == [b'["a"]', b'["a","k"]']
    assert batch[0].outcome().value == ["a"]
    with pytest.raises(LookupError):
        batch[1].outcome()  # its mutation is not in what landed
