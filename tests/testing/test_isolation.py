"""Each LocalS3 starts with its bucket empty and shares no object with another (issue 11).

moto keeps one S3 state for the whole process; a LocalS3 keeps its objects in a moto
account of its own and discards them when it stops. Bucket names are one namespace, as on
S3: a second running instance of one name is refused, by name.
"""

from __future__ import annotations

import uuid

import pytest
from moto import mock_aws
from moto.s3.models import s3_backends

from s3store import JsonStore
from s3store.testing import BucketInUseError, FaultPlan, LocalS3
from s3store.testing.moto_accounts import bucket_account

KEY = "jobs/job_1.json"


def fresh_name() -> str:
    """A bucket name no other test uses (the tests reuse it within themselves)."""
    return f"isolation-{uuid.uuid4().hex[:12]}"


def store_of(s3: LocalS3) -> JsonStore:
    return JsonStore(s3.client(), s3.bucket)


def test_a_second_local_s3_of_the_same_bucket_starts_empty() -> None:
    name = fresh_name()
    with LocalS3(bucket=name) as first:
        store_of(first).create(KEY, {"n": 1})
    with LocalS3(bucket=name) as second:
        store = store_of(second)
        assert list(store.keys()) == []
        store.create(KEY, {"n": 2})  # the user's second test: no AlreadyExistsError
        assert store.get(KEY).value == {"n": 2}


def test_no_version_survives_into_the_next_instance() -> None:
    name = fresh_name()
    with LocalS3(bucket=name, versioning=True) as first:
        store = store_of(first)
        store.create(KEY, [1])
        store.update(KEY, lambda v: [*v, 2])
        assert len(list(store.versions(KEY))) == 2
    with LocalS3(bucket=name, versioning=True) as second:
        assert list(store_of(second).versions(KEY)) == []


def test_stop_discards_the_bucket_and_its_account() -> None:
    s3 = LocalS3(bucket=fresh_name()).start()
    store_of(s3).create(KEY, {"n": 1})
    assert bucket_account(s3.bucket) == s3.account_id
    s3.stop()
    assert bucket_account(s3.bucket) is None
    assert s3.account_id not in s3_backends
    assert s3.requests, "the request log outlives the server"
    s3.stop()  # twice: nothing


def test_a_running_instance_holds_its_bucket_name() -> None:
    name = fresh_name()
    with LocalS3(bucket=name) as first:
        store_of(first).create(KEY, {"n": 1})
        second = LocalS3(bucket=name)
        with pytest.raises(BucketInUseError, match=f"bucket '{name}' is already in this "
                           "process's moto.*another LocalS3 still running"):
            second.start()
        assert not second.running
        assert store_of(first).get(KEY).value == {"n": 1}, "the refused one took nothing"
    with second:  # the name is free once the first stopped
        assert list(store_of(second).keys()) == []


def test_two_running_instances_share_no_object() -> None:
    with LocalS3() as first, LocalS3() as second:
        assert first.account_id != second.account_id
        store_of(first).create(KEY, {"by": "first"})
        store_of(second).create(KEY, {"by": "second"})  # the same key, free in its bucket
        assert store_of(first).get(KEY).value == {"by": "first"}
        assert store_of(second).get(KEY).value == {"by": "second"}
        assert {r.bucket for r in first.requests} == {first.bucket}
        assert {r.bucket for r in second.requests} == {second.bucket}


def test_reset_makes_a_running_instance_as_new() -> None:
    plan = FaultPlan(seed=3)
    with LocalS3(versioning=True, faults=plan) as s3:
        endpoint = s3.endpoint_url
        store = store_of(s3)
        store.create(KEY, [1])
        store.update(KEY, lambda v: [*v, 2])
        s3.set_faults(FaultPlan(slow_down=0.5))
        s3.inject("access_denied", count=3)
        s3.reset()

        assert s3.endpoint_url == endpoint and s3.faults == plan
        assert s3.stats()["faults"] == {}
        assert [(r.method, r.key) for r in s3.requests] == [("PUT", ""), ("PUT", "")], (
            "only the bucket's creation and its versioning, as after start()")
        assert list(store.keys()) == [] and list(store.versions(KEY)) == []
        assert store.versioning() == "Enabled"
        store.create(KEY, [3])  # no fault is left queued
        assert store.get(KEY).value == [3]


def test_reset_needs_a_running_instance() -> None:
    s3 = LocalS3()
    with pytest.raises(RuntimeError, match="not started"):
        s3.reset()
    with s3:
        pass
    with pytest.raises(RuntimeError, match="not started"):
        s3.reset()


def test_a_stopped_instance_starts_again_empty() -> None:
    s3 = LocalS3(bucket=fresh_name())
    with s3:
        store_of(s3).create(KEY, {"n": 1})
    with s3:
        assert list(store_of(s3).keys()) == []
    with s3, pytest.raises(RuntimeError, match="already started"):
        s3.start()


def test_moto_account_id_would_merge_the_instances_and_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "111122223333")
    s3 = LocalS3()
    with pytest.raises(RuntimeError, match="MOTO_ACCOUNT_ID is set"):
        s3.start()
    assert not s3.running


def test_reset_brings_the_bucket_back_after_mock_aws_wiped_it() -> None:
    """mock_aws resets all of moto when it starts and stops: the plugin's session LocalS3
    must survive a mock_aws test between two of its own."""
    with LocalS3(versioning=True) as s3:
        store_of(s3).create(KEY, {"n": 1})
        with mock_aws():
            pass
        s3.reset()
        store = store_of(s3)
        assert list(store.keys()) == [] and store.versioning() == "Enabled"
        store.create(KEY, {"n": 2})
        store.update(KEY, lambda v: {**v, "m": 3})
        assert len(list(store.versions(KEY))) == 2, "the version-listing patch is back"
