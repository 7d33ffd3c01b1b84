"""`ObjectClient.versions`: every version of exactly one key, newest first, page by page,
and a loud stop when a server's listing loops (LocalStack repeats pages for one key).

On `LocalS3` over HTTP for the walk itself; on botocore's `Stubber` for the loops no
honest server produces.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import Stubber

from s3store import StorageError
from s3store._objects import REPEATED_LISTING, UNORDERED_LISTING
from s3store.testing import LocalS3
from tests.steps import Blocking

KEY = "k"
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def versioned() -> Iterator[LocalS3]:
    with LocalS3(versioning=True) as s3:
        yield s3


def count_listings(objects: Blocking) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    objects.client.meta.events.register(
        "before-parameter-build.s3.ListObjectVersions",
        lambda params, **_: calls.append(dict(params)))
    return calls


@pytest.mark.parametrize("page_size", [1, 2, 100])
def test_every_version_of_the_key_newest_first_across_pages(
        versioned: LocalS3, page_size: int) -> None:
    client = versioned.client()
    etags = [client.put_object(Bucket=versioned.bucket, Key=KEY, Body=f"v{n}".encode())["ETag"]
             for n in range(3)]
    client.put_object(Bucket=versioned.bucket, Key="k/after", Body=b"other")  # "k" < "k/" < "k2"
    client.put_object(Bucket=versioned.bucket, Key="k2", Body=b"other")
    objects = Blocking(client, versioned.bucket)
    listed = list(objects.versions(KEY, page_size=page_size))
    assert [v.etag for v in listed] == etags[::-1]
    assert len({v.version_id for v in listed}) == 3
    assert all(v.version_id != "null" for v in listed)
    assert all(isinstance(v.last_modified, datetime) for v in listed)


def test_the_walk_stops_at_the_first_other_key_without_asking_for_more(
        versioned: LocalS3) -> None:
    client = versioned.client()
    for n in range(2):
        client.put_object(Bucket=versioned.bucket, Key=KEY, Body=f"v{n}".encode())
    for other in ("k/a", "k/b", "k2"):
        client.put_object(Bucket=versioned.bucket, Key=other, Body=b"other")
    objects = Blocking(client, versioned.bucket)
    calls = count_listings(objects)
    assert len(list(objects.versions(KEY, page_size=1))) == 2
    # Two pages of ours, then the page holding "k/a" ends the walk: "k/b" and "k2" are
    # never asked for.
    assert len(calls) == 3
    assert calls[0]["Prefix"] == KEY and calls[0]["MaxKeys"] == 1
    assert "KeyMarker" not in calls[0]
    assert calls[1]["KeyMarker"] == KEY and calls[1]["VersionIdMarker"]


def test_delete_markers_are_left_out_and_an_unversioned_object_is_null(
        versioned: LocalS3) -> None:
    client = versioned.client()
    etag = client.put_object(Bucket=versioned.bucket, Key=KEY, Body=b"one")["ETag"]
    client.delete_object(Bucket=versioned.bucket, Key=KEY)  # a delete marker on top
    objects = Blocking(client, versioned.bucket)
    assert [v.etag for v in objects.versions(KEY)] == [etag]
    with LocalS3() as plain:
        plain_client = plain.client()
        plain_client.put_object(Bucket=plain.bucket, Key=KEY, Body=b"one")
        listed = list(Blocking(plain_client, plain.bucket).versions(KEY))
        assert [v.version_id for v in listed] == ["null"]


def test_a_key_with_no_versions_lists_nothing(versioned: LocalS3) -> None:
    client = versioned.client()
    client.put_object(Bucket=versioned.bucket, Key="k2", Body=b"other")
    assert list(Blocking(client, versioned.bucket).versions(KEY)) == []


# --- servers that loop ------------------------------------------------------------------

def version(version_id: str, key: str = KEY) -> dict[str, Any]:
    return {"Key": key, "VersionId": version_id, "ETag": f'"{version_id}"',
            "LastModified": WHEN, "IsLatest": False, "Size": 1}


def page(*items: dict[str, Any], next_marker: tuple[str, str] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"Versions": list(items), "IsTruncated": next_marker is not None}
    if next_marker is not None:
        response["NextKeyMarker"], response["NextVersionIdMarker"] = next_marker
    return response


def stubbed(*pages: dict[str, Any], operation: str = "list_object_versions"
            ) -> tuple[Blocking, Stubber]:
    """An ObjectClient whose `operation` answers `pages` in turn (botocore's Stubber)."""
    with LocalS3() as s3:
        client = s3.client()
    stubber = Stubber(client)
    for response in pages:
        stubber.add_response(operation, response)
    stubber.activate()
    return Blocking(client, "bucket"), stubber


def test_stubbed_pages_are_followed_by_their_markers() -> None:
    objects, stubber = stubbed(page(version("3"), next_marker=(KEY, "3")),
                               page(version("2"), version("1")))
    assert [v.version_id for v in objects.versions(KEY)] == ["3", "2", "1"]
    stubber.assert_no_pending_responses()


def test_a_repeated_page_is_a_permanent_error_not_an_endless_walk() -> None:
    objects, _ = stubbed(page(version("3"), next_marker=(KEY, "3")),
                         page(version("2"), next_marker=(KEY, "3")))
    walk = objects.versions(KEY)
    assert [next(walk).version_id, next(walk).version_id] == ["3", "2"]
    with pytest.raises(StorageError) as caught:
        next(walk)
    assert caught.value.code == REPEATED_LISTING
    assert caught.value.transient is False
    assert caught.value.key == KEY
    assert "asked for twice" in str(caught.value)


def test_a_version_listed_twice_is_a_permanent_error() -> None:
    objects, _ = stubbed(page(version("3"), next_marker=(KEY, "3")),
                         page(version("3")))
    with pytest.raises(StorageError) as caught:
        list(objects.versions(KEY))
    assert caught.value.code == REPEATED_LISTING
    assert caught.value.transient is False
    assert "version 3 listed twice" in str(caught.value)


def test_a_truncated_page_without_markers_is_a_permanent_error() -> None:
    objects, _ = stubbed({"Versions": [version("3")], "IsTruncated": True})
    with pytest.raises(StorageError) as caught:
        list(objects.versions(KEY))
    assert caught.value.code == REPEATED_LISTING


def test_a_page_of_only_other_keys_before_ours_is_passed_over() -> None:
    """Keys that sort before ours cannot come under its prefix; a server that lists them
    anyway is not taken at its word: they are skipped, and the walk goes on."""
    objects, stubber = stubbed(page(version("x", key="a"), version("2"),
                                    next_marker=(KEY, "2")),
                               page(version("1"), version("y", key="k0")))
    assert [v.version_id for v in objects.versions(KEY)] == ["2", "1"]
    stubber.assert_no_pending_responses()


# --- ListObjectsV2 (JsonStore.keys) -----------------------------------------------------

def key_page(*keys: str, next_page: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"Contents": [{"Key": k, "Size": 1} for k in keys],
                                "IsTruncated": next_page is not None, "KeyCount": len(keys)}
    if next_page is not None:
        response["NextContinuationToken"] = next_page
    return response


def stubbed_keys(*pages: dict[str, Any]) -> Blocking:
    return stubbed(*pages, operation="list_objects_v2")[0]


def test_keys_follow_continuation_tokens() -> None:
    objects = stubbed_keys(key_page("a", "b", next_page="t1"), key_page("c"))
    assert list(objects.keys()) == ["a", "b", "c"]


def test_a_key_served_again_is_a_loop_not_disorder() -> None:
    objects = stubbed_keys(key_page("a", "b", next_page="t1"), key_page("a", "b", next_page="t2"))
    with pytest.raises(StorageError) as caught:
        list(objects.keys())
    assert caught.value.code == REPEATED_LISTING
    assert "ListObjectsV2 loops" in str(caught.value)


def test_an_unordered_listing_is_its_own_error() -> None:
    """A server listing keys out of order (S3 directory buckets do) is not looping, but
    the walks here rely on key order (a job's documents come together): a clear error."""
    objects = stubbed_keys(key_page("b/1", "a/1"))
    with pytest.raises(StorageError) as caught:
        list(objects.keys())
    assert caught.value.code == UNORDERED_LISTING and not caught.value.transient


def test_keys_walk_a_real_listing_under_a_prefix_page_by_page(versioned: LocalS3) -> None:
    client = versioned.client()
    for key in ("a/1", "a/2", "a/3", "b/1"):
        client.put_object(Bucket=versioned.bucket, Key=key, Body=b"x")
    objects = Blocking(client, versioned.bucket)
    calls: list[dict[str, Any]] = []
    client.meta.events.register("before-parameter-build.s3.ListObjectsV2",
                                lambda params, **_: calls.append(dict(params)))
    assert list(objects.keys("a/", page_size=2)) == ["a/1", "a/2", "a/3"]
    assert [(c["Prefix"], c["MaxKeys"]) for c in calls] == [("a/", 2), ("a/", 2)]
    calls.clear()
    assert list(objects.keys()) == ["a/1", "a/2", "a/3", "b/1"]  # by default: every key
    assert [(c["Prefix"], c["MaxKeys"]) for c in calls] == [("", 1000)]
    assert list(objects.keys("c/")) == []  # S3 leaves Contents out of an empty page


def test_a_key_repeated_across_pages_names_the_prefix() -> None:
    objects = stubbed_keys(key_page("a/1", "a/2", next_page="t1"), key_page("a/2", "a/3"))
    walk = objects.keys("a/")
    assert [next(walk), next(walk)] == ["a/1", "a/2"]
    with pytest.raises(StorageError) as caught:
        next(walk)
    assert caught.value.code == REPEATED_LISTING and caught.value.key == "a/"
    assert str(caught.value).startswith(
        "the server's ListObjectsV2 loops: key 'a/2' listed again after 'a/2'")


def test_a_continuation_token_served_twice_names_the_listing() -> None:
    objects = stubbed_keys(key_page("a", next_page="t1"), key_page("b", next_page="t1"))
    with pytest.raises(StorageError) as caught:
        list(objects.keys())
    assert caught.value.code == REPEATED_LISTING and not caught.value.transient
    assert str(caught.value).startswith("the server's ListObjectsV2 loops: ")


def test_an_unordered_listing_says_what_came_after_what() -> None:
    objects = stubbed_keys(key_page("b/1", "a/1"))
    with pytest.raises(StorageError) as caught:
        list(objects.keys("x"))
    assert caught.value.key == "x"
    assert str(caught.value).startswith(
        "the server lists keys out of order ('a/1' after 'b/1'); this walk needs S3's "
        "key order")


@pytest.mark.parametrize("page", [("a", "b", "b", "c"), ("a", "c", "b")],
                         ids=["repeated", "unordered"])
def test_the_keys_before_a_bad_one_on_its_page_are_listed_first(page: tuple[str, ...]) -> None:
    """A walk sees every good key before the error, as one key at a time would."""
    walk = stubbed_keys(key_page(*page)).keys()
    seen = [next(walk), next(walk)]
    with pytest.raises(StorageError):
        next(walk)
    assert seen == list(page[:2])


def test_the_versions_before_one_listed_twice_on_its_page_are_listed_first() -> None:
    objects, _ = stubbed(page(version("3"), version("2"), version("3")))
    walk = objects.versions(KEY)
    seen = [next(walk).version_id, next(walk).version_id]
    with pytest.raises(StorageError) as caught:
        next(walk)
    assert seen == ["3", "2"] and caught.value.code == REPEATED_LISTING
