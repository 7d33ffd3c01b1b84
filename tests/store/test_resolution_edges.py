"""Edges of lost-answer resolution that the earlier suite let through (issue 9's list of
mutants that survived): the same-second tie in a version listing with the cache off, and
a retry budget that runs out while an answer is still open."""

from __future__ import annotations

from itertools import groupby
from typing import Any

import pytest

from s3store import JsonStore, OutcomeUnknownError, RetryPolicy
from s3store.testing import LocalS3
from tests.hooks import act_before

KEY = "doc.json"


def reverse_within_each_second(parsed: dict[str, Any], **_: Any) -> None:
    """A listing that orders the versions of one second oldest first (as some servers
    do): still newest first from second to second."""
    versions = parsed.get("Versions", [])
    regrouped = []
    for _second, group in groupby(versions, key=lambda v: v["LastModified"].replace(
            microsecond=0)):
        regrouped += list(group)[::-1]
    parsed["Versions"] = regrouped


def test_a_write_listed_behind_its_base_in_the_same_second_is_found() -> None:
    with LocalS3(versioning=True) as s3:
        client = s3.client()
        store = JsonStore(client, s3.bucket, cache_size=0, retry=RetryPolicy(sleep=lambda _: None))
        rival = JsonStore(s3.client(), s3.bucket)
        store.create(KEY, ["a"])
        client.meta.events.register("after-call.s3.ListObjectVersions",
                                    reverse_within_each_second)
        act_before(client, "HeadObject", lambda _: rival.update(KEY, lambda v: [*v, "rival"]))
        s3.inject("error_after_write")
        result = store.update(KEY, lambda v: [*v, "b"])  # base read fresh: cache off
        assert result.value == ["a", "b"]
        assert store.get(KEY).value == ["a", "b", "rival"]  # "b" once, never re-applied


def test_a_budget_spent_while_an_answer_is_open_is_unknown_not_exhausted() -> None:
    """Idempotent: an unknown answer is applied again; when conflicts then use up the
    attempts, the first write may still have landed (it did): OutcomeUnknownError, never
    RetriesExhaustedError, which would say it had no effect."""
    with LocalS3() as s3:
        client = s3.client()
        store = JsonStore(client, s3.bucket,
                          retry=RetryPolicy(max_attempts=2, sleep=lambda _: None))
        rival = JsonStore(s3.client(), s3.bucket)
        store.create(KEY, [])
        # The rival overwrites our landed write before we can check it (erasing "b"), then
        # beats our second attempt too.
        act_before(client, "HeadObject", lambda _: rival.update(KEY, lambda v: ["r1"]))
        act_before(client, "PutObject", lambda _: rival.update(KEY, lambda v: [*v, "r2"]),
                   skip=1)
        s3.inject("error_after_write")

        def add_b(items: list[str]) -> list[str]:
            return items if "b" in items else [*items, "b"]

        with pytest.raises(OutcomeUnknownError):
            store.update(KEY, add_b, idempotent=True)
        assert store.get(KEY).value == ["r1", "r2"]  # "b" landed, then was overwritten
