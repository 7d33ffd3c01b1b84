"""The probe's verdicts on endpoints that misbehave in one way each, including the ways an
adversarial review found to make it lie: a verdict must come from the server's own answer
(never from the store resolving a lost one), a 409 race judges nothing, a setup write's
failure is not the check's verdict, and an ignored condition outranks every error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from s3store import ConditionalWritesUnsupportedError, ConflictError, JsonStore, StorageError
from s3store._objects import RACING_CONDITIONAL_WRITES
from s3store._probe import CREATE, DELETE, MISSING, REPLACE, Verdict
from s3store.testing import FaultPlan, LocalS3
from tests.hooks import answer


def drop_header(client: Any, header: str) -> None:
    """A server that ignores `header` on PutObject (it never reaches it)."""
    def drop(request: Any, **_: Any) -> None:
        if header in request.headers:
            del request.headers[header]
    client.meta.events.register("before-sign.s3.PutObject", drop)


def verdicts(store: JsonStore) -> dict[str, Verdict]:
    return {check.name: check.verdict for check in store.probe().checks}


@pytest.fixture
def versioned() -> Iterator[LocalS3]:
    with LocalS3(versioning=True) as s3:
        yield s3


def test_an_ignored_if_none_match_is_never_honoured_after_a_lost_answer(
        versioned: LocalS3) -> None:
    """The review's false 'safe': If-None-Match ignored, the second create answered 500
    before it landed. Resolved through the versions it looked like a refusal; the probe
    now takes no verdict from a lost answer."""
    client = versioned.client()
    drop_header(client, "If-None-Match")
    store = JsonStore(client, versioned.bucket)
    creates = 0

    def lose_the_second(request: Any, **_: Any) -> None:
        nonlocal creates
        if "If-None-Match" in request.headers:
            creates += 1
            if creates == 2:
                versioned.inject("error_before_write")
    client.meta.events.register_first("before-sign.s3.PutObject", lose_the_second)
    report = store.probe()
    assert report.verdict_of(CREATE) is not Verdict.HONOURED
    assert report.exit_status != 0 and not report.writes_safe


def test_an_ignored_if_none_match_alone_is_ignored(versioned: LocalS3) -> None:
    client = versioned.client()
    drop_header(client, "If-None-Match")
    found = verdicts(JsonStore(client, versioned.bucket))
    assert found[CREATE] is Verdict.IGNORED
    assert [found[n] for n in (REPLACE, MISSING, DELETE)] == [Verdict.HONOURED] * 3


def test_a_409_race_judges_nothing() -> None:
    """Every conditional write answered 409 on an endpoint that ignores If-Match: the
    missing-key check used to read the 409 as a refusal ('honoured')."""
    with LocalS3(faults=FaultPlan(ignore_conditions=True, conditional_conflict=1.0)) as s3:
        report = JsonStore(s3.client(), s3.bucket).probe()
    assert report.verdict_of(MISSING) is Verdict.ERROR
    assert all(c.verdict is not Verdict.HONOURED for c in report.checks[:4])


def test_a_501_on_if_none_match_is_not_taken_for_the_other_checks() -> None:
    """The replace and delete checks set up with a plain PUT: a 501 on If-None-Match is
    the create check's verdict alone, and an If-Match ignored on existing keys is still
    found (it was hidden behind 'not supported')."""
    with LocalS3() as s3:
        admin = s3.client()
        client = s3.client()

        def no_if_none_match(request: Any, **_: Any) -> Any:
            if "If-None-Match" in request.headers:
                return answer(501, "NotImplemented", extra="<Header>If-None-Match</Header>")
            return None

        def ignore_if_match_when_the_key_exists(request: Any, **_: Any) -> None:
            if "If-Match" in request.headers:
                key = unquote(urlsplit(request.url).path.split("/", 2)[2])
                if admin.list_objects_v2(Bucket=s3.bucket, Prefix=key).get("KeyCount"):
                    del request.headers["If-Match"]

        client.meta.events.register("before-send.s3.PutObject", no_if_none_match)
        client.meta.events.register("before-sign.s3.PutObject",
                                    ignore_if_match_when_the_key_exists)
        report = JsonStore(client, s3.bucket).probe()
    assert report.verdict_of(CREATE) is Verdict.NOT_SUPPORTED
    assert report.verdict_of(REPLACE) is Verdict.IGNORED
    assert report.summary().startswith("UNSAFE")


def test_a_server_refusing_the_right_etag_is_refused_and_unusable() -> None:
    with LocalS3() as s3:
        client = s3.client()

        def wrong(request: Any, **_: Any) -> None:
            if "If-Match" in request.headers:
                request.headers.replace_header("If-Match", '"' + "1" * 32 + '"')
        client.meta.events.register("before-sign.s3.PutObject", wrong)
        report = JsonStore(client, s3.bucket).probe()
    assert report.verdict_of(REPLACE) is Verdict.REFUSED
    assert report.exit_status == 1
    assert report.summary().startswith("UNUSABLE")


def test_verify_reports_an_ignored_condition_before_any_error() -> None:
    """An endpoint ignoring If-Match, and one refused request in the first check: the
    verdict that matters (unsafe) is raised, not the AccessDenied."""
    with LocalS3(faults=FaultPlan(ignore_conditions=True)) as s3:
        store = JsonStore(s3.client(), s3.bucket)
        s3.inject("access_denied")
        with pytest.raises(ConditionalWritesUnsupportedError):
            store.verify_conditional_writes()


@pytest.mark.parametrize("refused_first", [False, True], ids=["alone", "with-a-put-error"])
def test_an_ignored_conditional_delete_is_unsafe_for_deletes_and_says_so(
        refused_first: bool) -> None:
    with LocalS3() as s3:
        client = s3.client()

        def drop(request: Any, **_: Any) -> None:
            if "If-Match" in request.headers:
                del request.headers["If-Match"]
        client.meta.events.register("before-sign.s3.DeleteObject", drop)
        if refused_first:
            s3.inject("access_denied")  # the create check's first PUT
        report = JsonStore(client, s3.bucket).probe()
    summary = report.summary()
    assert report.verdict_of(DELETE) is Verdict.IGNORED
    assert report.exit_status == 1
    assert "UNSAFE for delete(key, etag=...)" in summary
    if refused_first:
        assert summary.startswith("UNKNOWN: If-None-Match on PutObject")
    else:
        assert report.writes_safe and summary.startswith("safe: conditional writes")


def test_verify_after_a_409_race_says_run_it_again() -> None:
    """A 409 `ConditionalRequestConflict` judged nothing: like a lost answer, it is the
    transient "run it again" error the docstring promises, not a `ConflictError`."""
    with LocalS3() as s3:
        store = JsonStore(s3.client(), s3.bucket)
        s3.inject("conditional_conflict")
        with pytest.raises(StorageError) as caught:
            store.verify_conditional_writes()
    assert type(caught.value) is StorageError
    assert caught.value.transient and caught.value.code == RACING_CONDITIONAL_WRITES
    assert caught.value.message.startswith(f"{CREATE} could not be checked (")
    assert caught.value.message.endswith("): run it again")
    assert isinstance(caught.value.__cause__, ConflictError)
