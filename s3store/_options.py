"""`WriteOptions`: what a store's writes are sent with — encryption, caching, tags, checksum,
storage class, user metadata.

A plain value, checked whole when it is made: a malformed option raises
`InvalidOptionsError` naming it, so that nothing is ever sent with options S3 would
refuse, or with which the store could not read its documents back. A store has its own
(`JsonStore(..., write_options=...)`), and `create`, `replace` and `update` take more per
call (`options=`), merged over the store's field by field (`WriteOptions.merged`).
`put_arguments()` turns options into the `PutObject` parameters botocore takes.
"""

from __future__ import annotations

import base64
import json
import unicodedata
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from types import MappingProxyType
from typing import Any, Final, Literal

from s3store._errors import InvalidOptionsError
from s3store._objects import WRITE_ID_METADATA, checksum_algorithms

__all__ = [
    "CHECKSUM_ALGORITHMS",
    "SERVER_SIDE_ENCRYPTIONS",
    "STORAGE_CLASSES",
    "WriteOptions",
    "put_arguments",
]

ServerSideEncryption = Literal["AES256", "aws:kms", "aws:kms:dsse"]
ChecksumAlgorithm = Literal["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"]
StorageClass = Literal["STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA",
                       "INTELLIGENT_TIERING", "GLACIER_IR", "EXPRESS_ONEZONE", "OUTPOSTS",
                       "SNOW"]

SERVER_SIDE_ENCRYPTIONS: Final = ("AES256", "aws:kms", "aws:kms:dsse")
CHECKSUM_ALGORITHMS: Final = ("CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME")
STORAGE_CLASSES: Final = ("STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA",
                          "INTELLIGENT_TIERING", "GLACIER_IR", "EXPRESS_ONEZONE", "OUTPOSTS",
                          "SNOW")
# Archived at once: GetObject refuses them (InvalidObjectState) until they are restored.
_ARCHIVED: Final = ("GLACIER", "DEEP_ARCHIVE")
_KMS: Final = ("aws:kms", "aws:kms:dsse")

_MAX_TAGS: Final = 10  # S3's limits on an object's tag set
_MAX_TAG_KEY: Final = 128
_MAX_TAG_VALUE: Final = 256
_TAG_PUNCTUATION: Final = frozenset("+-=._:/@")
_MAX_METADATA_BYTES: Final = 2048  # S3's: the UTF-8 bytes of every key and value, summed
# The store's own entry counts too: its key and the longest write id it sends (a probe's,
# "probe-" and 32 hex digits; the store's writes send 32).
_WRITE_ID_ENTRY_BYTES: Final = len(WRITE_ID_METADATA) + len("probe-") + 32
_RESERVED_METADATA: Final = "s3store-"  # the store's prefix: its write id, and what may come
_HEADER_TOKEN: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~")
_MAX_KEY_ID: Final = 2048  # KMS's limit on a KeyId (an id, an ARN, an alias)


@dataclass(frozen=True, kw_only=True)
class WriteOptions:
    """Options every `PutObject` of a store (or of one call) is sent with.

    Every field defaults to None: not sent, so that S3's (or the bucket's) own default
    applies. Checked when made; a malformed field raises `InvalidOptionsError` (a
    `ValueError`) naming it, before anything is sent.

    - `server_side_encryption` (None: the bucket's default encryption, SSE-S3 unless the
      bucket sets another): "AES256" (SSE-S3), "aws:kms" (SSE-KMS) or "aws:kms:dsse"
      (DSSE-KMS). What a bucket policy that demands `s3:x-amz-server-side-encryption`
      checks.
    - `sse_kms_key_id` (None: the bucket's KMS key, else the account's `aws/s3` key): a KMS
      key id, key ARN or alias; only with an "aws:kms*" encryption.
    - `sse_kms_encryption_context` (None: S3's own context only): string pairs, sent as the
      base64 of their UTF-8 JSON as S3 wants; only with "aws:kms*"; no `aws:` keys.
    - `bucket_key_enabled` (None: the bucket's setting): S3 Bucket Keys; only with "aws:kms"
      (DSSE-KMS has none).
    - `cache_control` (None: no Cache-Control): printable ASCII.
    - `content_type` (None: "application/json"): a JSON media type only —
      "application/json" or "application/<name>+json", with parameters; a charset, if
      named, is utf-8. The body is always UTF-8 JSON: any other type would mislabel it.
    - `tagging` (None: no tags): at most 10 tags, keys of 1 to 128 characters, values up to
      256, of letters, digits, spaces and `+ - = . _ : / @`; no `aws:` keys. Sent URL-encoded,
      sorted by key, as `x-amz-tagging`.
    - `checksum_algorithm` (None: botocore's default — CRC32 from botocore 1.36, none
      before): "CRC32", "SHA1", "SHA256"; "CRC32C" and "CRC64NVME" need awscrt
      (`botocore[crt]`), and CRC64NVME botocore 1.36 — refused where botocore cannot
      compute it.
    - `storage_class` (None: STANDARD, or the bucket's): one a `GetObject` reads at once;
      GLACIER and DEEP_ARCHIVE are refused (the store could not read its documents).
    - `metadata` (None: only the store's write id): user metadata, keys lowercased as S3
      stores them (header-name characters; two that differ only in case are refused),
      values printable ASCII without surrounding spaces. Keys starting `s3store-` are the
      store's (its write id is `s3store-write-id`). With the write id's entry, at most
      2 KB (S3's limit: the UTF-8 bytes of every key and value).

    Not offered: Content-Encoding (the body is never encoded: a `gzip` label on plain JSON
    breaks every reader that honours it), SSE-C (customer keys would be needed on every
    read and on the HEADs that resolve lost answers), ACLs, object lock and expiry.
    """

    server_side_encryption: ServerSideEncryption | None = None
    sse_kms_key_id: str | None = None
    sse_kms_encryption_context: Mapping[str, str] | None = None
    bucket_key_enabled: bool | None = None
    cache_control: str | None = None
    content_type: str | None = None
    tagging: Mapping[str, str] | None = None
    checksum_algorithm: ChecksumAlgorithm | None = None
    storage_class: StorageClass | None = None
    metadata: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        _check_encryption(self)
        if self.cache_control is not None:
            _check_header_value("cache_control", self.cache_control)
        if self.content_type is not None:
            _check_content_type(self.content_type)
        if self.tagging is not None:
            object.__setattr__(self, "tagging", _checked_tags(self.tagging))
        if self.checksum_algorithm is not None:
            _check_checksum(self.checksum_algorithm)
        if self.storage_class is not None:
            _check_storage_class(self.storage_class)
        if self.metadata is not None:
            object.__setattr__(self, "metadata", _checked_metadata(self.metadata))

    def __hash__(self) -> int:
        return hash(tuple(frozenset(value.items()) if isinstance(value, Mapping) else value
                          for value in (getattr(self, f.name) for f in fields(self))))

    def merged(self, other: WriteOptions | None) -> WriteOptions:
        """These options with `other`'s set fields over them (`other` None: these).

        Field by field, a set field replaces this one whole (a mapping is not merged key by
        key: `tagging={}` sends no tags). Encryption is one option: when `other` sets
        `server_side_encryption`, the KMS fields come from `other` too (none of this one's
        key, context or bucket-key setting is kept for another encryption); when it does
        not, they come from this one (`other` cannot set them without it).
        """
        if other is None:
            return self
        changes = {f.name: getattr(other, f.name) for f in fields(other)
                   if getattr(other, f.name) is not None}
        if other.server_side_encryption is not None:
            for name in ("sse_kms_key_id", "sse_kms_encryption_context", "bucket_key_enabled"):
                changes[name] = getattr(other, name)
        return replace(self, **changes)


def put_arguments(options: WriteOptions) -> dict[str, Any]:
    """The `PutObject` parameters (botocore's names) that `options` sends; `Metadata` holds
    only the caller's entries (the write id is the writer's to add)."""
    arguments: dict[str, Any] = {}
    if options.server_side_encryption is not None:
        arguments["ServerSideEncryption"] = options.server_side_encryption
    if options.sse_kms_key_id is not None:
        arguments["SSEKMSKeyId"] = options.sse_kms_key_id
    if options.sse_kms_encryption_context:
        context = json.dumps(dict(options.sse_kms_encryption_context), sort_keys=True,
                             ensure_ascii=False, separators=(",", ":"))
        arguments["SSEKMSEncryptionContext"] = base64.b64encode(context.encode()).decode()
    if options.bucket_key_enabled is not None:
        arguments["BucketKeyEnabled"] = options.bucket_key_enabled
    if options.cache_control is not None:
        arguments["CacheControl"] = options.cache_control
    if options.content_type is not None:
        arguments["ContentType"] = options.content_type
    if options.tagging:
        arguments["Tagging"] = urllib.parse.urlencode(sorted(options.tagging.items()),
                                                      quote_via=urllib.parse.quote)
    if options.checksum_algorithm is not None:
        arguments["ChecksumAlgorithm"] = options.checksum_algorithm
    if options.storage_class is not None:
        arguments["StorageClass"] = options.storage_class
    if options.metadata:
        arguments["Metadata"] = dict(options.metadata)
    return arguments


# -- checks ---------------------------------------------------------------------------------


def _refuse(option: str, message: str) -> InvalidOptionsError:
    return InvalidOptionsError(f"{option}: {message}", option=option)


def _check_encryption(options: WriteOptions) -> None:
    sse = options.server_side_encryption
    if sse is not None and sse not in SERVER_SIDE_ENCRYPTIONS:
        raise _refuse("server_side_encryption", f"{sse!r} is none of "
                      f"{', '.join(SERVER_SIDE_ENCRYPTIONS)} (SSE-C is not supported)")
    kms_only = ("sse_kms_key_id", "sse_kms_encryption_context")
    for name in kms_only:
        if getattr(options, name) is not None and sse not in _KMS:
            raise _refuse(name, "needs server_side_encryption 'aws:kms' or 'aws:kms:dsse' in "
                          f"the same options (it is {_shown(sse)})")
    if options.bucket_key_enabled is not None:
        if not isinstance(options.bucket_key_enabled, bool):
            raise _refuse("bucket_key_enabled", "must be True or False")
        if sse != "aws:kms":
            raise _refuse("bucket_key_enabled", "needs server_side_encryption 'aws:kms' in "
                          f"the same options (it is {_shown(sse)}; DSSE-KMS has no bucket "
                          "keys)")
    key_id = options.sse_kms_key_id
    if key_id is not None and not (
            isinstance(key_id, str) and 0 < len(key_id) <= _MAX_KEY_ID
            and all("!" <= ch <= "~" for ch in key_id)):
        raise _refuse("sse_kms_key_id", f"must be a KMS key id, key ARN or alias: 1 to "
                      f"{_MAX_KEY_ID} printable ASCII characters, no spaces (got {key_id!r})")
    context = options.sse_kms_encryption_context
    if context is not None:
        if not isinstance(context, Mapping):
            raise _refuse("sse_kms_encryption_context", "must be a mapping of strings")
        for name, value in context.items():
            if not (isinstance(name, str) and name and isinstance(value, str)):
                raise _refuse("sse_kms_encryption_context",
                              f"keys must be non-empty strings, values strings ({name!r})")
            if name.lower().startswith("aws:"):
                raise _refuse("sse_kms_encryption_context",
                              f"key {name!r}: the aws: prefix is reserved")
            _check_unicode("sse_kms_encryption_context", name + value)
        object.__setattr__(options, "sse_kms_encryption_context",
                           MappingProxyType(dict(context)))


def _shown(sse: str | None) -> str:
    return "not set" if sse is None else repr(sse)


def _check_unicode(option: str, text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _refuse(option, f"{text!r} is not valid Unicode (a lone surrogate)") from None


def _check_header_value(option: str, value: object, *, what: str = "") -> None:
    """A value sent as an HTTP header as is: printable ASCII, nothing HTTP would trim."""
    what = what or "it"
    if not isinstance(value, str):
        raise _refuse(option, f"{what} must be a string (got {type(value).__name__})")
    if not all(" " <= ch <= "~" for ch in value):
        raise _refuse(option, f"{what}, {value!r}, holds a character other than printable "
                      "ASCII (an HTTP header carries no other)")
    if value != value.strip():
        raise _refuse(option, f"{what}, {value!r}, starts or ends with spaces (HTTP drops "
                      "them)")


def _check_content_type(content_type: str) -> None:
    _check_header_value("content_type", content_type)
    media, *parameters = (part.strip() for part in content_type.split(";"))
    kind, _, subtype = media.lower().partition("/")
    suffix = subtype.rpartition("+")
    if kind != "application" or not (subtype == "json" or (
            suffix[1] == "+" and suffix[2] == "json" and suffix[0]
            and set(suffix[0]) <= _HEADER_TOKEN)):
        raise _refuse("content_type", f"{content_type!r} is not a JSON media type "
                      "(application/json or application/<name>+json): the body is JSON")
    for parameter in parameters:
        name, equals, value = parameter.partition("=")
        name = name.strip().lower()
        if not (equals and name and set(name) <= _HEADER_TOKEN and value.strip()):
            raise _refuse("content_type", f"{content_type!r}: malformed parameter "
                          f"{parameter!r}")
        if name == "charset" and value.strip().strip('"').lower() != "utf-8":
            raise _refuse("content_type", f"{content_type!r}: the body is UTF-8, not "
                          f"{value.strip()}")


def _tag_text_ok(text: str) -> bool:
    return all(ch in _TAG_PUNCTUATION or unicodedata.category(ch)[0] in "LNZ" for ch in text)


def _checked_tags(tags: object) -> Mapping[str, str]:
    if not isinstance(tags, Mapping):
        raise _refuse("tagging", "must be a mapping of tag keys to values")
    if len(tags) > _MAX_TAGS:
        raise _refuse("tagging", f"{len(tags)} tags: S3 keeps at most {_MAX_TAGS} on an object")
    for name, value in tags.items():
        if not (isinstance(name, str) and isinstance(value, str)):
            raise _refuse("tagging", f"tag keys and values must be strings ({name!r})")
        if not 0 < len(name) <= _MAX_TAG_KEY:
            raise _refuse("tagging", f"tag key {name[:32]!r}: 1 to {_MAX_TAG_KEY} characters "
                          f"(it has {len(name)})")
        if len(value) > _MAX_TAG_VALUE:
            raise _refuse("tagging", f"tag {name!r}: values are at most {_MAX_TAG_VALUE} "
                          f"characters (it has {len(value)})")
        if not (_tag_text_ok(name) and _tag_text_ok(value)):
            raise _refuse("tagging", f"tag {name!r}={value!r}: only letters, digits, spaces "
                          "and + - = . _ : / @")
        if name.lower().startswith("aws:"):
            raise _refuse("tagging", f"tag key {name!r}: the aws: prefix is reserved")
    return MappingProxyType(dict(tags))


def _check_checksum(algorithm: str) -> None:
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise _refuse("checksum_algorithm", f"{algorithm!r} is none of "
                      f"{', '.join(CHECKSUM_ALGORITHMS)}")
    if algorithm not in checksum_algorithms():
        raise _refuse("checksum_algorithm", f"{algorithm} cannot be computed by this "
                      "botocore (CRC32C and CRC64NVME need awscrt: pip install botocore[crt]; "
                      "CRC64NVME needs botocore 1.36 or later)")


def _check_storage_class(storage_class: str) -> None:
    if storage_class in _ARCHIVED:
        raise _refuse("storage_class", f"{storage_class} objects are archived: GetObject "
                      "refuses them until restored, so the store could not read its documents")
    if storage_class not in STORAGE_CLASSES:
        raise _refuse("storage_class", f"{storage_class!r} is none of "
                      f"{', '.join(STORAGE_CLASSES)}")


def _checked_metadata(metadata: object) -> Mapping[str, str]:
    if not isinstance(metadata, Mapping):
        raise _refuse("metadata", "must be a mapping of names to values")
    normalised: dict[str, str] = {}
    for name, value in metadata.items():
        if not (isinstance(name, str) and name):
            raise _refuse("metadata", f"names must be non-empty strings ({name!r})")
        lowered = name.lower()
        if not set(lowered) <= _HEADER_TOKEN:
            raise _refuse("metadata", f"name {name!r}: only letters, digits and "
                          "!#$%&'*+-.^_`|~ (it is sent as an HTTP header's name)")
        if lowered.startswith(_RESERVED_METADATA):
            raise _refuse("metadata", f"name {name!r}: names starting {_RESERVED_METADATA!r} "
                          f"are the store's (its write id is {WRITE_ID_METADATA!r})")
        if lowered in normalised:
            raise _refuse("metadata", f"name {name!r} given twice (S3 lowercases names)")
        _check_header_value("metadata", value, what=f"the value of {name!r}")
        normalised[lowered] = value
    size = _WRITE_ID_ENTRY_BYTES + sum(len(k) + len(v) for k, v in normalised.items())
    if size > _MAX_METADATA_BYTES:
        raise _refuse("metadata", f"{size} bytes with the store's write id: S3 keeps at most "
                      f"{_MAX_METADATA_BYTES} bytes of user metadata (names and values)")
    return MappingProxyType(normalised)
