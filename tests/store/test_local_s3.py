"""LocalS3 itself: as strict as S3 (atomic check-and-write), and its faults do what they say.

Each atomicity test has its negative control on the same harness: bare moto
(`atomic=False`) with the same widened window lets several conditional writes win.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from s3store import JsonStore
from s3store.testing import FaultPlan, LocalS3
from tests.helpers import FAST_RETRY, raw_bytes

KEY = "doc.json"
WRITERS = 8


def race(writers: int, write: Callable[[int], object]) -> int:
    """Run `write(i)` in `writers` threads released together; how many succeeded.

    Every loser must have lost with 412 PreconditionFailed, nothing else.
    """
    barrier = threading.Barrier(writers)
    wins: list[int] = []
    other_errors: list[str] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            write(i)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "PreconditionFailed":
                other_errors.append(str(exc))
        else:
            wins.append(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert other_errors == []
    return len(wins)


def if_match_winners(s3: LocalS3) -> int:
    client = s3.client()
    # Not a body any writer sends: an equal body would have an equal ETag.
    etag = client.put_object(Bucket=s3.bucket, Key=KEY, Body=b"initial")["ETag"]
    return race(WRITERS, lambda i: client.put_object(
        Bucket=s3.bucket, Key=KEY, Body=str(i).encode(), IfMatch=etag))


def if_none_match_winners(s3: LocalS3) -> int:
    client = s3.client()
    return race(WRITERS, lambda i: client.put_object(
        Bucket=s3.bucket, Key=KEY, Body=str(i).encode(), IfNoneMatch="*"))


@pytest.mark.parametrize("contest", [if_match_winners, if_none_match_winners])
def test_concurrent_conditional_writes_have_exactly_one_winner(
    contest: Callable[[LocalS3], int],
) -> None:
    with LocalS3(write_delay=0.2) as s3:
        assert contest(s3) == 1


@pytest.mark.parametrize("contest", [if_match_winners, if_none_match_winners])
def test_negative_control_bare_moto_lets_several_win(contest: Callable[[LocalS3], int]) -> None:
    with LocalS3(atomic=False, write_delay=0.2) as s3:
        assert contest(s3) > 1


def cas_loop_lost_updates(s3: LocalS3) -> int:
    """8 threads x 5 correct update()s; how many acknowledged increments are missing."""
    JsonStore(s3.client(), s3.bucket).create(KEY, 0)
    acknowledged: list[int] = []

    def writer() -> None:
        store = JsonStore(s3.client(), s3.bucket, retry=FAST_RETRY)
        for _ in range(5):
            store.update(KEY, lambda n: n + 1)
            acknowledged.append(1)

    threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final: int = JsonStore(s3.client(), s3.bucket).get(KEY).value
    return len(acknowledged) - final


def test_a_correct_cas_loop_loses_nothing_on_local_s3() -> None:
    with LocalS3(write_delay=0.02) as s3:
        assert cas_loop_lost_updates(s3) == 0


def test_negative_control_a_correct_cas_loop_loses_updates_on_bare_moto() -> None:
    with LocalS3(atomic=False, write_delay=0.02) as s3:
        assert cas_loop_lost_updates(s3) > 0


def test_if_match_on_missing_key_is_404_no_such_key(local_s3: LocalS3) -> None:
    client = local_s3.client()
    with pytest.raises(ClientError) as caught:
        client.put_object(Bucket=local_s3.bucket, Key=KEY, Body=b"1", IfMatch='"abc"')
    assert caught.value.response["Error"]["Code"] == "NoSuchKey"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def one_shot(local_s3: LocalS3, **options: Any) -> Any:
    """A client that does not retry, so each injected fault is seen as it is."""
    return local_s3.client(max_attempts=1, **options)


@pytest.mark.parametrize(
    ("kind", "status", "code", "landed"),
    [
        ("slow_down", 503, "SlowDown", False),
        ("access_denied", 403, "AccessDenied", False),
        ("error_before_write", 500, "InternalError", False),
        ("conditional_conflict", 409, "ConditionalRequestConflict", False),
        ("error_after_write", 500, "InternalError", True),
    ],
)
def test_injected_error_answers(
    local_s3: LocalS3, kind: Any, status: int, code: str, landed: bool
) -> None:
    client = one_shot(local_s3)
    etag = client.put_object(Bucket=local_s3.bucket, Key=KEY, Body=b"old")["ETag"]
    local_s3.inject(kind)
    with pytest.raises(ClientError) as caught:
        client.put_object(Bucket=local_s3.bucket, Key=KEY, Body=b"new", IfMatch=etag)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert caught.value.response["Error"]["Code"] == code
    assert raw_bytes(client, local_s3.bucket, KEY) == (b"new" if landed else b"old")
    assert local_s3.stats()["faults"] == {kind: 1}


def test_conditional_conflict_spares_unconditional_writes(local_s3: LocalS3) -> None:
    client = one_shot(local_s3)
    local_s3.inject("conditional_conflict")
    client.put_object(Bucket=local_s3.bucket, Key=KEY, Body=b"plain")
    with pytest.raises(ClientError, match="ConditionalRequestConflict"):
        client.put_object(Bucket=local_s3.bucket, Key=KEY, Body=b"x", IfNoneMatch="*")


def test_dropped_connection_after_the_write_landed(local_s3: LocalS3) -> None:
    client = one_shot(local_s3)
    local_s3.inject("drop_after_write")
    with pytest.raises(ConnectionClosedError):
        client.put_object(Bucket=local_s3.bucket, Key=KEY, Body=b"new")
    assert raw_bytes(client, local_s3.bucket, KEY) == b"new"


def test_stalled_answer_after_the_write_landed(local_s3: LocalS3) -> None:
    local_s3.set_faults(FaultPlan(stall_seconds=0.6))
    client = one_shot(local_s3, read_timeout=0.2)
    local_s3.inject("stall_after_write")
    with pytest.raises(ReadTimeoutError):
        client.put_object(Bucket=local_s3.bucket, Key=KEY, Body=b"new")
    assert raw_bytes(local_s3.client(), local_s3.bucket, KEY) == b"new"


def test_a_lost_response_makes_botocore_retry_see_412_although_the_write_landed(
    local_s3: LocalS3,
) -> None:
    """What S3 does to a conditional write whose answer is lost — the store must cope."""
    client = local_s3.client(max_attempts=3)
    etag = client.put_object(Bucket=local_s3.bucket, Key=KEY, Body=b"old")["ETag"]
    local_s3.inject("error_after_write")
    with pytest.raises(ClientError) as caught:
        client.put_object(Bucket=local_s3.bucket, Key=KEY, Body=b"new", IfMatch=etag)
    assert caught.value.response["Error"]["Code"] == "PreconditionFailed"
    assert raw_bytes(client, local_s3.bucket, KEY) == b"new"
    assert [r.status for r in local_s3.requests if r.method == "PUT"][-2:] == [500, 412]


def test_ignore_conditions_mode_accepts_any_if_match(local_s3: LocalS3) -> None:
    client = local_s3.client()
    client.put_object(Bucket=local_s3.bucket, Key=KEY, Body=b"old")
    local_s3.set_faults(FaultPlan(ignore_conditions=True))
    client.put_object(Bucket=local_s3.bucket, Key=KEY, Body=b"new", IfMatch='"not-it"')
    assert raw_bytes(client, local_s3.bucket, KEY) == b"new"


def test_counters_and_request_log(local_s3: LocalS3) -> None:
    client = local_s3.client()
    local_s3.clear_requests()
    client.put_object(Bucket=local_s3.bucket, Key=KEY, Body=b"1", Metadata={"writer": "w1"})
    client.get_object(Bucket=local_s3.bucket, Key=KEY)
    with pytest.raises(ClientError):
        client.put_object(Bucket=local_s3.bucket, Key=KEY, Body=b"2", IfNoneMatch="*")
    stats = local_s3.stats()
    assert stats["requests"] == 3
    assert stats["by_method"] == {"PUT": 2, "GET": 1}
    assert stats["by_status"] == {200: 2, 412: 1}
    first, _, last = local_s3.requests
    assert (first.key, first.headers["x-amz-meta-writer"]) == (KEY, "w1")
    assert last.headers["If-None-Match"] == "*"


def test_seeded_faults_are_reproducible() -> None:
    def fault_pattern() -> list[int]:
        with LocalS3(faults=FaultPlan(seed=7, slow_down=0.3)) as s3:
            client = one_shot(s3)
            statuses = []
            for _ in range(30):
                try:
                    client.get_object(Bucket=s3.bucket, Key="absent")
                except ClientError as exc:
                    statuses.append(exc.response["ResponseMetadata"]["HTTPStatusCode"])
            return statuses

    first = fault_pattern()
    assert 503 in first and 404 in first
    assert fault_pattern() == first


def test_fault_plan_validates_probabilities() -> None:
    with pytest.raises(ValueError, match="probability"):
        FaultPlan(slow_down=1.5)
    with pytest.raises(ValueError, match="add up"):
        FaultPlan(slow_down=0.6, error_after_write=0.6)
