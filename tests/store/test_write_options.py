"""Write options (issue 11): SSE-KMS and the other `PutObject` options reach S3 on every
write — create, replace, update, its retry after a conflict, a resend after a lost answer,
the probe's — as the request log shows, and malformed options are refused with nothing
sent. Against the strict LocalS3 over HTTP.
"""

from __future__ import annotations

import base64
import copy
import json
import pickle
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import s3store._options
from s3store import (
    Document,
    InvalidOptionsError,
    JsonStore,
    S3StoreError,
    StorageError,
    WriteOptions,
)
from s3store._objects import WRITE_ID_METADATA
from s3store._options import put_arguments
from s3store.testing import LocalS3, RequestRecord
from tests.helpers import FAST_RETRY
from tests.hooks import HeldRound, act_before, answer

KEY = "docs/a.json"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
WRITE_ID_HEADER = "x-amz-meta-" + WRITE_ID_METADATA
BOUND = 20.0  # seconds a wait here may take before the test fails instead of hanging

KMS = WriteOptions(server_side_encryption="aws:kms", sse_kms_key_id=KEY_ARN,
                   sse_kms_encryption_context={"app": "docs"}, bucket_key_enabled=True)
EVERYTHING = KMS.merged(WriteOptions(
    cache_control="no-store", tagging={"team": "data", "env": "prod one"},
    checksum_algorithm="SHA256", storage_class="STANDARD_IA", metadata={"Owner": "jobs"}))


@pytest.fixture
def s3() -> Iterator[LocalS3]:
    with LocalS3() as local:
        yield local


def make_store(s3: LocalS3, options: WriteOptions | None = None, **kwargs: Any) -> JsonStore:
    return JsonStore(s3.client(), s3.bucket, retry=FAST_RETRY, write_options=options, **kwargs)


def store_puts(s3: LocalS3) -> list[RequestRecord]:
    """The PUTs the store sent (stamped with a write id), oldest first."""
    return [r for r in s3.requests if r.method == "PUT" and WRITE_ID_HEADER in r.headers]


def object_requests(s3: LocalS3) -> list[RequestRecord]:
    """The requests the server saw about objects (the bucket's creation left out)."""
    return [r for r in s3.requests if r.key]


def expected_headers(options: WriteOptions) -> dict[str, str]:
    """The headers `options` must put on a PutObject, as the server sees them."""
    sent = {
        "x-amz-server-side-encryption": options.server_side_encryption,
        "x-amz-server-side-encryption-aws-kms-key-id": options.sse_kms_key_id,
        "x-amz-server-side-encryption-bucket-key-enabled": (
            None if options.bucket_key_enabled is None else str(options.bucket_key_enabled)),
        "Cache-Control": options.cache_control,
        "x-amz-storage-class": options.storage_class,
        "x-amz-sdk-checksum-algorithm": options.checksum_algorithm,
    }
    if options.sse_kms_encryption_context:
        sent["x-amz-server-side-encryption-context"] = base64.b64encode(json.dumps(
            dict(options.sse_kms_encryption_context), sort_keys=True,
            separators=(",", ":")).encode()).decode()
    if options.tagging:
        sent["x-amz-tagging"] = urllib.parse.urlencode(sorted(options.tagging.items()),
                                                       quote_via=urllib.parse.quote)
    for name, value in (options.metadata or {}).items():
        sent[f"x-amz-meta-{name}"] = value
    return {name: value for name, value in sent.items() if value is not None}


def assert_sent_with(record: RequestRecord, options: WriteOptions) -> None:
    # botocore spells a boolean header "true" (1.36+) or "True" (1.35): compare folded
    got = {name: value.lower() for name, value in record.headers.items()}
    for name, value in expected_headers(options).items():
        assert got.get(name) == value.lower(), (name, record.headers)
    absent = {"x-amz-server-side-encryption", "x-amz-server-side-encryption-aws-kms-key-id",
              "x-amz-server-side-encryption-context", "Cache-Control", "x-amz-tagging",
              "x-amz-storage-class", "x-amz-server-side-encryption-bucket-key-enabled"}
    for name in absent - set(expected_headers(options)):
        assert name not in record.headers, (name, record.headers)
    if options.checksum_algorithm is not None:
        assert f"x-amz-checksum-{options.checksum_algorithm.lower()}" in record.headers


# -- every write carries the options --------------------------------------------------------


def test_every_option_reaches_put_object_on_create_replace_and_update(s3: LocalS3) -> None:
    store = make_store(s3, EVERYTHING)
    created = store.create(KEY, {"n": 1})
    replaced = store.replace(KEY, {"n": 2}, etag=created.etag)
    updated = store.update(KEY, lambda doc: {"n": doc["n"] + 1})
    assert updated.value == {"n": 3} and replaced.etag != updated.etag
    puts = store_puts(s3)
    assert [p.headers.get("If-None-Match") for p in puts] == ["*", None, None]
    for put in puts:
        assert_sent_with(put, EVERYTHING)
    # ...and S3 kept them: what a bucket policy and a reader see
    client = s3.client()
    head = client.head_object(Bucket=s3.bucket, Key=KEY)
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"], head["BucketKeyEnabled"],
            head["StorageClass"], head["CacheControl"], head["ContentType"]) == (
        "aws:kms", KEY_ARN, True, "STANDARD_IA", "no-store", "application/json")
    assert head["Metadata"] == {"owner": "jobs", WRITE_ID_METADATA: head["Metadata"][
        WRITE_ID_METADATA]}
    tags = client.get_object_tagging(Bucket=s3.bucket, Key=KEY)["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags} == {"team": "data", "env": "prod one"}
    assert store.get(KEY).value == {"n": 3}


def test_without_options_nothing_more_is_sent(s3: LocalS3) -> None:
    store = make_store(s3)
    store.create(KEY, [1])
    store.update(KEY, lambda items: [*items, 2])
    for put in store_puts(s3):
        assert_sent_with(put, WriteOptions())
        assert [h for h in put.headers if h.startswith("x-amz-meta-")] == [WRITE_ID_HEADER]


def test_per_call_options_override_the_store_s_field_by_field(s3: LocalS3) -> None:
    store = make_store(s3, EVERYTHING)
    call = WriteOptions(cache_control="max-age=60", tagging={}, metadata={"run": "7"})
    created = store.create(KEY, [1], options=call)
    store.replace(KEY, [2], etag=created.etag, options=call)
    store.update(KEY, lambda items: [*items, 3], options=call)
    merged = EVERYTHING.merged(call)
    assert (merged.cache_control, merged.tagging, merged.metadata, merged.sse_kms_key_id) == (
        "max-age=60", {}, {"run": "7"}, KEY_ARN)
    puts = store_puts(s3)
    assert len(puts) == 3
    for put in puts:
        assert_sent_with(put, merged)
        assert "x-amz-tagging" not in put.headers and "x-amz-meta-owner" not in put.headers
    # the store's own options are untouched: its next write sends them again
    store.update(KEY, lambda items: [*items, 4])
    assert_sent_with(store_puts(s3)[-1], EVERYTHING)


def test_a_call_that_names_another_encryption_drops_the_store_s_kms_fields(s3: LocalS3) -> None:
    store = make_store(s3, KMS)
    store.create(KEY, [1], options=WriteOptions(server_side_encryption="AES256"))
    put = store_puts(s3)[-1]
    assert put.headers["x-amz-server-side-encryption"] == "AES256"
    assert not [h for h in put.headers if h.startswith("x-amz-server-side-encryption-")]
    head = s3.client().head_object(Bucket=s3.bucket, Key=KEY)
    assert head["ServerSideEncryption"] == "AES256" and "SSEKMSKeyId" not in head


def test_content_type_may_name_another_json_media_type(s3: LocalS3) -> None:
    media = "application/vnd.example+json; charset=utf-8"
    store = make_store(s3, WriteOptions(content_type=media))
    store.create(KEY, {"a": 1})
    assert s3.client().head_object(Bucket=s3.bucket, Key=KEY)["ContentType"] == media
    assert store.get(KEY).value == {"a": 1}


def test_tags_and_encryption_context_are_encoded_as_s3_wants(s3: LocalS3) -> None:
    tags = {"path": "a/b=c:d@e", "plus": "1+1", "space": "x y", "unicode": "café", "empty": ""}
    context = {"tenant": "été", "job": "j-1"}
    store = make_store(s3, WriteOptions(server_side_encryption="aws:kms",
                                        sse_kms_encryption_context=context, tagging=tags))
    store.create(KEY, [])
    put = store_puts(s3)[-1]
    sent_context = put.headers["x-amz-server-side-encryption-context"]
    assert json.loads(base64.b64decode(sent_context)) == context
    assert dict(urllib.parse.parse_qsl(put.headers["x-amz-tagging"],
                                       keep_blank_values=True)) == tags
    stored = s3.client().get_object_tagging(Bucket=s3.bucket, Key=KEY)["TagSet"]
    assert {t["Key"]: t["Value"] for t in stored} == tags


@pytest.mark.parametrize("algorithm", ["CRC32", "SHA1", "SHA256"])
def test_the_checksum_algorithm_is_computed_and_sent(s3: LocalS3, algorithm: Any) -> None:
    store = make_store(s3, WriteOptions(checksum_algorithm=algorithm))
    store.create(KEY, {"a": 1})
    put = store_puts(s3)[-1]
    assert put.headers["x-amz-sdk-checksum-algorithm"] == algorithm
    assert put.headers[f"x-amz-checksum-{algorithm.lower()}"]


def test_update_s_retry_after_a_conflict_sends_the_same_options(s3: LocalS3) -> None:
    client = s3.client()
    store = JsonStore(client, s3.bucket, retry=FAST_RETRY, write_options=KMS)
    store.create(KEY, [1])
    other = s3.client()  # another writer gets in just before the store's next PUT
    act_before(client, "PutObject",
               lambda _: other.put_object(Bucket=s3.bucket, Key=KEY, Body=b"[1,9]"))
    call = WriteOptions(tagging={"step": "2"})
    assert store.update(KEY, lambda items: [*items, 2], options=call).value == [1, 9, 2]
    puts = store_puts(s3)
    assert [p.status for p in puts] == [200, 412, 200]  # create, refused, retried
    for put in puts[1:]:
        assert_sent_with(put, KMS.merged(call))


@pytest.mark.parametrize("operation", ["create", "replace", "update"])
def test_a_resend_after_a_lost_answer_sends_the_same_options(operation: str) -> None:
    # Versioned, so that a lost create is proven not to have landed (and sent again).
    with LocalS3(versioning=True) as s3:
        store = make_store(s3, KMS)
        call = WriteOptions(cache_control="no-cache", metadata={"op": operation})
        etag = store.create("other.json", [0]).etag if operation != "create" else ""
        s3.inject("error_before_write")  # a 500 that did not land: resolved, then resent
        if operation == "create":
            document: Document[Any] = store.create(KEY, [1], options=call)
        elif operation == "replace":
            document = store.replace("other.json", [1], etag=etag, options=call)
        else:
            document = store.update("other.json", lambda items: [*items, 1], options=call)
        assert document.value in ([1], [0, 1])
        puts = store_puts(s3)[-2:]
        assert [p.status for p in puts] == [500, 200]
        assert puts[0].headers[WRITE_ID_HEADER] != puts[1].headers[WRITE_ID_HEADER]
        for put in puts:
            assert_sent_with(put, KMS.merged(call))


def test_a_write_found_after_a_lost_answer_kept_its_options(s3: LocalS3) -> None:
    store = make_store(s3, KMS)
    store.create(KEY, [1])
    s3.inject("error_after_write")  # lands, then a 500: found by its write id
    store.update(KEY, lambda items: [*items, 2], options=WriteOptions(metadata={"n": "2"}))
    head = s3.client().head_object(Bucket=s3.bucket, Key=KEY)
    assert head["ServerSideEncryption"] == "aws:kms" and head["Metadata"]["n"] == "2"
    assert [p.status for p in store_puts(s3)] == [200, 500]  # nothing sent twice


# -- group commit: a round is sent with one set of options ------------------------------------


def queue_behind_a_held_round(s3: LocalS3, options: list[WriteOptions]) -> dict[str, Any]:
    """A leader's round is held in flight while one caller per entry of `options` queues
    behind it, in that order; then it is released. Each caller's document, by name."""
    client = s3.client()
    store = JsonStore(client, s3.bucket, retry=FAST_RETRY)
    store.create(KEY, [])
    held = HeldRound(client)
    outcomes: dict[str, Any] = {}

    def call(name: str, call_options: WriteOptions | None) -> threading.Thread:
        def target() -> None:
            outcomes[name] = store.update(KEY, lambda items: [*items, name],
                                          options=call_options)
        thread = threading.Thread(target=target)
        thread.start()
        return thread

    threads = [call("leader", None)]
    assert held.started.wait(BOUND)
    for n, call_options in enumerate(options, start=1):
        threads.append(call(f"caller{n}", call_options))
        while store._group is not None and store._group.queued(KEY) < n:
            threading.Event().wait(0.001)  # the queue is polled, never slept on for long
    held.release()
    for thread in threads:
        thread.join(BOUND)
        assert not thread.is_alive()
    return outcomes


def test_callers_with_different_options_never_share_a_round(s3: LocalS3) -> None:
    a, b = WriteOptions(metadata={"who": "a"}), WriteOptions(metadata={"who": "b"})
    outcomes = queue_behind_a_held_round(s3, [a, b, a])
    puts = [p for p in store_puts(s3) if p.status == 200][1:]  # after the create
    # the leader alone, then both a's in one round (the oldest queued goes first), then b
    assert [p.headers.get("x-amz-meta-who") for p in puts] == [None, "a", "b"]
    assert outcomes["caller1"] == outcomes["caller3"] != outcomes["caller2"]
    assert sorted(outcomes["caller2"].value) == ["caller1", "caller2", "caller3", "leader"]


def test_control_callers_with_equal_options_share_a_round(s3: LocalS3) -> None:
    a = WriteOptions(metadata={"who": "a"})
    outcomes = queue_behind_a_held_round(s3, [a, WriteOptions(metadata={"who": "a"}), a])
    puts = [p for p in store_puts(s3) if p.status == 200][1:]
    assert [p.headers.get("x-amz-meta-who") for p in puts] == [None, "a"]
    assert outcomes["caller1"] == outcomes["caller2"] == outcomes["caller3"]


# -- a bucket that requires SSE-KMS -----------------------------------------------------------


def require_sse_kms(client: Any, key_id: str) -> list[Any]:
    """The bucket policy of such a bucket, judged on each PutObject's wire headers just
    before it is sent (`before-send`: after signing, nothing changes them later): Deny
    unless `x-amz-server-side-encryption` is aws:kms with this key — answered 403
    AccessDenied as S3 does, and not sent. Returns the requests it refused."""
    refused: list[Any] = []

    def policy(request: Any, **_: Any) -> Any:
        headers = {k.lower(): _text(v) for k, v in request.headers.items()}
        if (headers.get("x-amz-server-side-encryption") == "aws:kms"
                and headers.get("x-amz-server-side-encryption-aws-kms-key-id") == key_id):
            return None
        refused.append(request)
        return answer(403, "AccessDenied", "Access Denied")

    client.meta.events.register("before-send.s3.PutObject", policy)
    return refused


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def test_a_bucket_that_requires_sse_kms_refuses_a_store_without_the_option(
        s3: LocalS3) -> None:
    client = s3.client()
    refused = require_sse_kms(client, KEY_ARN)
    store = JsonStore(client, s3.bucket, retry=FAST_RETRY)
    with pytest.raises(StorageError) as caught:
        store.create(KEY, [1])
    assert (caught.value.code, caught.value.transient) == ("AccessDenied", False)
    assert len(refused) == 1  # refused at once, never retried
    assert object_requests(s3) == []
    with pytest.raises(StorageError):
        store.verify_conditional_writes()


def test_a_bucket_that_requires_sse_kms_accepts_the_store_s_writes_with_it(
        s3: LocalS3) -> None:
    client = s3.client()
    refused = require_sse_kms(client, KEY_ARN)
    store = JsonStore(client, s3.bucket, retry=FAST_RETRY,
                      write_options=WriteOptions(server_side_encryption="aws:kms",
                                                 sse_kms_key_id=KEY_ARN))
    created = store.create(KEY, [1])
    replaced = store.replace(KEY, [1, 2], etag=created.etag,
                             options=WriteOptions(cache_control="no-store"))
    assert store.update(KEY, lambda items: [*items, 3]).etag != replaced.etag
    store.verify_conditional_writes()  # the probe's writes carry the options too
    assert refused == []
    head = s3.client().head_object(Bucket=s3.bucket, Key=KEY)
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", KEY_ARN)
    # a call that names another encryption is what the policy refuses
    with pytest.raises(StorageError) as caught:
        store.update(KEY, lambda items: [*items, 4],
                     options=WriteOptions(server_side_encryption="AES256"))
    assert caught.value.code == "AccessDenied" and len(refused) == 1


# -- malformed options are refused, with nothing sent -----------------------------------------

LONG = "k" * 129
MALFORMED: list[tuple[str, dict[str, Any]]] = [
    ("server_side_encryption", {"server_side_encryption": "aws:fsx"}),
    ("server_side_encryption", {"server_side_encryption": "aes256"}),
    ("server_side_encryption", {"server_side_encryption": ""}),
    ("sse_kms_key_id", {"sse_kms_key_id": KEY_ARN}),
    ("sse_kms_key_id", {"server_side_encryption": "AES256", "sse_kms_key_id": KEY_ARN}),
    ("sse_kms_key_id", {"server_side_encryption": "aws:kms", "sse_kms_key_id": ""}),
    ("sse_kms_key_id", {"server_side_encryption": "aws:kms", "sse_kms_key_id": "my key"}),
    ("sse_kms_key_id", {"server_side_encryption": "aws:kms", "sse_kms_key_id": "k" * 2049}),
    ("sse_kms_encryption_context", {"sse_kms_encryption_context": {"a": "1"}}),
    ("sse_kms_encryption_context", {"server_side_encryption": "AES256",
                                    "sse_kms_encryption_context": {"a": "1"}}),
    ("sse_kms_encryption_context", {"server_side_encryption": "aws:kms",
                                    "sse_kms_encryption_context": {"aws:s3:arn": "x"}}),
    ("sse_kms_encryption_context", {"server_side_encryption": "aws:kms",
                                    "sse_kms_encryption_context": {"": "x"}}),
    ("sse_kms_encryption_context", {"server_side_encryption": "aws:kms",
                                    "sse_kms_encryption_context": {"n": 1}}),
    ("sse_kms_encryption_context", {"server_side_encryption": "aws:kms",
                                    "sse_kms_encryption_context": "a=1"}),
    ("sse_kms_encryption_context", {"server_side_encryption": "aws:kms",
                                    "sse_kms_encryption_context": {"a": "\ud800"}}),
    ("bucket_key_enabled", {"bucket_key_enabled": True}),
    ("bucket_key_enabled", {"server_side_encryption": "AES256", "bucket_key_enabled": False}),
    ("bucket_key_enabled", {"server_side_encryption": "aws:kms:dsse",
                            "bucket_key_enabled": True}),
    ("bucket_key_enabled", {"server_side_encryption": "aws:kms", "bucket_key_enabled": 1}),
    ("cache_control", {"cache_control": "no-store\r\nx-amz-acl: public-read"}),
    ("cache_control", {"cache_control": "max-âge=1"}),
    ("cache_control", {"cache_control": " no-store"}),
    ("cache_control", {"cache_control": 60}),
    ("content_type", {"content_type": "text/plain"}),
    ("content_type", {"content_type": "application/xml"}),
    ("content_type", {"content_type": "application/+json"}),
    ("content_type", {"content_type": "application/json; charset=latin-1"}),
    ("content_type", {"content_type": "application/json; =x"}),
    ("content_type", {"content_type": "application/json\n"}),
    ("tagging", {"tagging": {f"k{n}": "v" for n in range(11)}}),
    ("tagging", {"tagging": {"": "v"}}),
    ("tagging", {"tagging": {LONG: "v"}}),
    ("tagging", {"tagging": {"k": "v" * 257}}),
    ("tagging", {"tagging": {"a&b": "v"}}),
    ("tagging", {"tagging": {"k": "v?"}}),
    ("tagging", {"tagging": {"aws:created": "v"}}),
    ("tagging", {"tagging": {"k": 1}}),
    ("tagging", {"tagging": "k=v"}),
    ("checksum_algorithm", {"checksum_algorithm": "MD5"}),
    ("checksum_algorithm", {"checksum_algorithm": "crc32"}),
    ("storage_class", {"storage_class": "GLACIER"}),
    ("storage_class", {"storage_class": "DEEP_ARCHIVE"}),
    ("storage_class", {"storage_class": "standard"}),
    ("storage_class", {"storage_class": "FSX_OPENZFS"}),
    ("metadata", {"metadata": {WRITE_ID_METADATA: "mine"}}),
    ("metadata", {"metadata": {"S3Store-Write-Id": "mine"}}),
    ("metadata", {"metadata": {"s3store-anything": "x"}}),
    ("metadata", {"metadata": {"two words": "x"}}),
    ("metadata", {"metadata": {"café": "x"}}),
    ("metadata", {"metadata": {"a:b": "x"}}),
    ("metadata", {"metadata": {"": "x"}}),
    ("metadata", {"metadata": {"owner": "café"}}),
    ("metadata", {"metadata": {"owner": "a\nb"}}),
    ("metadata", {"metadata": {"owner": "x "}}),
    ("metadata", {"metadata": {"owner": 7}}),
    ("metadata", {"metadata": {"Owner": "a", "owner": "b"}}),
    ("metadata", {"metadata": {"k": "x" * 2000}}),
    ("metadata", {"metadata": ["owner"]}),
]


@pytest.mark.parametrize(("option", "fields"), MALFORMED,
                         ids=[f"{o}-{n}" for n, (o, _) in enumerate(MALFORMED)])
def test_malformed_options_are_refused_naming_the_option(option: str,
                                                         fields: dict[str, Any]) -> None:
    with pytest.raises(InvalidOptionsError) as caught:
        WriteOptions(**fields)
    assert caught.value.option == option and str(caught.value).startswith(option)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, S3StoreError)


@pytest.mark.parametrize(("option", "fields"), MALFORMED[::7])
def test_nothing_is_sent_with_malformed_options(s3: LocalS3, option: str,
                                                fields: dict[str, Any]) -> None:
    store = make_store(s3)
    calls: list[Callable[[WriteOptions], Any]] = [
        lambda o: make_store(s3, o),
        lambda o: store.create(KEY, [1], options=o),
        lambda o: store.replace(KEY, [1], etag='"e"', options=o),
        lambda o: store.update(KEY, lambda items: items, default=[], options=o),
    ]
    for call in calls:
        with pytest.raises(InvalidOptionsError):
            call(WriteOptions(**fields))
    assert object_requests(s3) == []


def test_options_of_another_type_are_refused_before_anything_is_sent(s3: LocalS3) -> None:
    store = make_store(s3)
    wrong: Any = {"server_side_encryption": "aws:kms"}
    calls: list[Callable[[], Any]] = [
        lambda: make_store(s3, wrong), lambda: store.create(KEY, [1], options=wrong),
        lambda: store.update(KEY, lambda v: v, default=[], options=wrong)]
    for call in calls:
        with pytest.raises(TypeError):
            call()
    assert object_requests(s3) == []


def test_a_checksum_this_botocore_cannot_compute_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # As without awscrt: CRC32C and CRC64NVME need it (and CRC64NVME botocore 1.36).
    monkeypatch.setattr(s3store._options, "checksum_algorithms",
                        lambda: frozenset({"CRC32", "SHA1", "SHA256"}))
    for algorithm in ("CRC32C", "CRC64NVME"):
        with pytest.raises(InvalidOptionsError, match="botocore"):
            WriteOptions(checksum_algorithm=algorithm)
    monkeypatch.setattr(s3store._options, "checksum_algorithms",
                        lambda: frozenset({"CRC32", "CRC32C", "CRC64NVME"}))
    assert WriteOptions(checksum_algorithm="CRC64NVME").checksum_algorithm == "CRC64NVME"


def test_metadata_may_fill_s3_s_two_kilobytes_with_the_write_id_counted() -> None:
    # 2048 bytes of names and values in all; the store's write id entry takes 54 of them
    # ("s3store-write-id" and up to 38 characters of id).
    room = 2048 - len(WRITE_ID_METADATA) - 38
    assert WriteOptions(metadata={"k": "x" * (room - 1)}).metadata == {"k": "x" * (room - 1)}
    with pytest.raises(InvalidOptionsError, match="2048"):
        WriteOptions(metadata={"k": "x" * room})


def test_well_formed_edge_values_are_accepted() -> None:
    WriteOptions(tagging={f"k{n}": "" for n in range(10)})
    WriteOptions(tagging={"k" * 128: "v" * 256, "Ünïcode ключ": "值 1+1=2 a/b:c@d_e.f-g"})
    WriteOptions(metadata={"x-trace!#$%&'*+.^_`|~": "any printable: ;,=\"'()"})
    WriteOptions(content_type="Application/JSON; charset=\"UTF-8\"")
    WriteOptions(server_side_encryption="aws:kms:dsse", sse_kms_key_id="alias/docs")
    WriteOptions(server_side_encryption="aws:kms", bucket_key_enabled=False)
    for storage_class in s3store._options.STORAGE_CLASSES:
        WriteOptions(storage_class=storage_class)


# -- the value --------------------------------------------------------------------------------


def test_options_are_a_frozen_value() -> None:
    tags = {"team": "data"}
    options = WriteOptions(tagging=tags, metadata={"Owner": "jobs"})
    tags["team"] = "changed"  # the caller's mapping is copied
    assert options.tagging == {"team": "data"} and options.metadata == {"owner": "jobs"}
    with pytest.raises(TypeError):
        options.tagging["team"] = "x"  # type: ignore[index]
    with pytest.raises(AttributeError):
        options.cache_control = "x"  # type: ignore[misc]
    same = WriteOptions(metadata={"owner": "jobs"}, tagging={"team": "data"})
    assert options == same and hash(options) == hash(same)
    assert options != WriteOptions(tagging={"team": "data"})


def test_merged_takes_the_other_s_set_fields() -> None:
    store = EVERYTHING
    assert store.merged(None) is store and store.merged(WriteOptions()) == store
    call = WriteOptions(storage_class="STANDARD", metadata={})
    merged = store.merged(call)
    assert (merged.storage_class, merged.metadata, merged.tagging) == (
        "STANDARD", {}, store.tagging)
    # encryption is one option: a call's encryption comes with its own KMS fields only
    dsse = store.merged(WriteOptions(server_side_encryption="aws:kms:dsse"))
    assert (dsse.server_side_encryption, dsse.sse_kms_key_id, dsse.bucket_key_enabled,
            dsse.sse_kms_encryption_context) == ("aws:kms:dsse", None, None, None)
    assert "Metadata" not in put_arguments(merged)  # an empty mapping sends nothing


def test_put_arguments_are_botocore_s_parameters() -> None:
    assert put_arguments(WriteOptions()) == {}
    assert put_arguments(EVERYTHING) == {
        "ServerSideEncryption": "aws:kms", "SSEKMSKeyId": KEY_ARN,
        "SSEKMSEncryptionContext": base64.b64encode(b'{"app":"docs"}').decode(),
        "BucketKeyEnabled": True, "CacheControl": "no-store",
        "Tagging": "env=prod%20one&team=data", "ChecksumAlgorithm": "SHA256",
        "StorageClass": "STANDARD_IA", "Metadata": {"owner": "jobs"}}


def test_the_error_copies_and_pickles_with_its_option() -> None:
    with pytest.raises(InvalidOptionsError) as caught:
        WriteOptions(storage_class="GLACIER")  # type: ignore[arg-type]
    error = caught.value
    for again in (copy.copy(error), pickle.loads(pickle.dumps(error))):  # noqa: S301 - ours
        assert type(again) is InvalidOptionsError and vars(again) == vars(error)
        assert str(again) == str(error) and again.option == "storage_class"
