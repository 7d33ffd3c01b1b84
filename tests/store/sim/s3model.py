"""An in-memory S3 bucket that answers botocore's prepared requests, for the simulator.

Enough of S3 for the store: `GetObject` / `HeadObject` (also of one version),
conditional `PutObject` (`If-Match`, `If-None-Match: *`, user metadata), conditional
and plain `DeleteObject` (a delete marker on a versioned bucket), `ListObjectVersions`
with pages, and `GetBucketVersioning`. Answers are real HTTP responses (status,
headers, XML) that botocore parses with its own parsers. ETags are the MD5 of the
bytes (so the same bytes give the same ETag, as on S3); `Last-Modified` comes from a
virtual clock with whole seconds, so versions often share a second.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

from botocore.awsrequest import AWSResponse, HTTPHeaders

__all__ = ["Bucket", "Version", "error_answer"]


class _Raw(io.BytesIO):
    def stream(self, **_: Any) -> Iterator[bytes]:
        data = self.read()
        if data:
            yield data


@dataclass
class Version:
    """One version of a key: bytes and metadata, or a delete marker (`body` None)."""

    version_id: str
    body: bytes | None
    metadata: dict[str, str]
    modified: int  # virtual seconds

    @property
    def etag(self) -> str:
        return '"' + hashlib.md5(self.body or b"").hexdigest() + '"'  # noqa: S324 - S3's ETag


@dataclass
class Bucket:
    """The bucket's state. `versioned`: every write keeps the versions before it."""

    name: str
    versioned: bool
    keys: dict[str, list[Version]] = field(default_factory=dict)  # oldest first
    now: int = 1_700_000_000
    serial: int = 0
    shuffle_ties: Any = None  # a random.Random: list versions of one second in any order

    # -- state ----------------------------------------------------------------------

    def current(self, key: str) -> Version | None:
        versions = self.keys.get(key)
        if not versions or versions[-1].body is None:
            return None
        return versions[-1]

    def value(self, key: str) -> bytes | None:
        """The bytes at `key` now (None: no object)."""
        current = self.current(key)
        return None if current is None else current.body

    def write(self, key: str, body: bytes | None, metadata: dict[str, str]) -> Version:
        self.serial += 1
        version = Version(f"v{self.serial:05d}" if self.versioned else "null", body,
                          metadata, self.now)
        history = self.keys.setdefault(key, [])
        if not self.versioned:
            history.clear()
        if body is None and not self.versioned:
            del self.keys[key]
        else:
            history.append(version)
        return version

    # -- the protocol ---------------------------------------------------------------

    def serve(self, request: Any, *, apply: bool = True) -> AWSResponse:  # noqa: PLR0911 - one answer per request kind
        """Answer one request. `apply=False` answers as if it had been refused before
        any effect (used for faults that happen before the write)."""
        url = urlsplit(request.url)
        path = unquote(url.path).lstrip("/")
        bucket, _, key = path.partition("/")
        query = parse_qs(url.query, keep_blank_values=True)
        headers = {k.lower(): _text(v) for k, v in request.headers.items()}
        method = request.method
        if bucket != self.name:
            return error_answer(404, "NoSuchBucket")
        if not key:
            if "versioning" in query:
                status = "<Status>Enabled</Status>" if self.versioned else ""
                return _xml(200, f"<VersioningConfiguration>{status}</VersioningConfiguration>")
            if "versions" in query:
                return self._list_versions(query)
            return error_answer(501, "NotImplemented")
        version_id = query.get("versionId", [None])[0]
        if method in ("GET", "HEAD"):
            return self._read(key, version_id, head=method == "HEAD")
        if method == "PUT":
            return self._put(key, request, headers, apply=apply)
        if method == "DELETE":
            return self._delete(key, headers, apply=apply)
        return error_answer(501, "NotImplemented")

    def _read(self, key: str, version_id: str | None, *, head: bool) -> AWSResponse:
        if version_id is not None:
            found = [v for v in self.keys.get(key, []) if v.version_id == version_id]
            version = found[0] if found and found[0].body is not None else None
        else:
            version = self.current(key)
        if version is None:
            return error_answer(404, "NoSuchKey", head=head)
        assert version.body is not None
        response = HTTPHeaders()
        response["ETag"] = version.etag
        response["Content-Length"] = str(len(version.body))
        response["Content-Type"] = "application/json"
        response["Last-Modified"] = formatdate(version.modified, usegmt=True)
        if self.versioned:
            response["x-amz-version-id"] = version.version_id
        for name, value in version.metadata.items():
            response[f"x-amz-meta-{name}"] = value
        return AWSResponse("http://sim", 200, response, _Raw(b"" if head else version.body))

    def _put(self, key: str, request: Any, headers: dict[str, str], *,
             apply: bool) -> AWSResponse:
        current = self.current(key)
        if headers.get("if-none-match") == "*" and current is not None:
            return error_answer(412, "PreconditionFailed")
        if "if-match" in headers:
            if current is None:
                return error_answer(404, "NoSuchKey")
            if current.etag != headers["if-match"]:
                return error_answer(412, "PreconditionFailed")
        body = request.body
        data = body if isinstance(body, bytes) else (body.read() if body else b"")
        if hasattr(body, "seek"):
            body.seek(0)
        if not apply:
            return error_answer(500, "InternalError")
        metadata = {k[len("x-amz-meta-"):]: v for k, v in headers.items()
                    if k.startswith("x-amz-meta-")}
        version = self.write(key, data, metadata)
        response = HTTPHeaders()
        response["ETag"] = version.etag
        if self.versioned:
            response["x-amz-version-id"] = version.version_id
        return AWSResponse("http://sim", 200, response, _Raw(b""))

    def _delete(self, key: str, headers: dict[str, str], *, apply: bool) -> AWSResponse:
        current = self.current(key)
        if "if-match" in headers:
            if current is None:
                return error_answer(404, "NoSuchKey")
            if current.etag != headers["if-match"]:
                return error_answer(412, "PreconditionFailed")
        if not apply:
            return error_answer(500, "InternalError")
        if current is not None or self.versioned:
            self.write(key, None, {})
        return AWSResponse("http://sim", 204, HTTPHeaders(), _Raw(b""))

    def _list_versions(self, query: dict[str, list[str]]) -> AWSResponse:
        prefix = query.get("prefix", [""])[0]
        limit = int(query.get("max-keys", ["1000"])[0])
        key_marker = query.get("key-marker", [""])[0]
        version_marker = query.get("version-id-marker", [""])[0]
        listed: list[tuple[str, Version, bool]] = []
        for key in sorted(k for k in self.keys if k.startswith(prefix)):
            newest_first = list(reversed(self.keys[key]))
            if self.shuffle_ties is not None:
                newest_first = self._shuffled_within_seconds(newest_first)
            listed += [(key, v, v is self.keys[key][-1]) for v in newest_first]
        if key_marker:
            at = next((i for i, (k, v, _) in enumerate(listed)
                       if (k, v.version_id) == (key_marker, version_marker)), len(listed))
            listed = listed[at + 1:]
        page, truncated = listed[:limit], len(listed) > limit
        entries = []
        for key, version, latest in page:
            stamp = _iso(version.modified)
            if version.body is None:
                entries.append(f"<DeleteMarker><Key>{escape(key)}</Key><VersionId>"
                               f"{version.version_id}</VersionId><IsLatest>{_bool(latest)}"
                               f"</IsLatest><LastModified>{stamp}</LastModified></DeleteMarker>")
            else:
                entries.append(f"<Version><Key>{escape(key)}</Key><VersionId>"
                               f"{version.version_id}</VersionId><IsLatest>{_bool(latest)}"
                               f"</IsLatest><LastModified>{stamp}</LastModified><ETag>"
                               f"{escape(version.etag)}</ETag><Size>{len(version.body)}</Size>"
                               "<StorageClass>STANDARD</StorageClass></Version>")
        tail = ""
        if truncated:
            last_key, last, _ = page[-1]
            tail = (f"<NextKeyMarker>{escape(last_key)}</NextKeyMarker>"
                    f"<NextVersionIdMarker>{last.version_id}</NextVersionIdMarker>")
        return _xml(200, f"<ListVersionsResult><Name>{self.name}</Name><Prefix>{escape(prefix)}"
                         f"</Prefix><MaxKeys>{limit}</MaxKeys><IsTruncated>{_bool(truncated)}"
                         f"</IsTruncated>{tail}{''.join(entries)}</ListVersionsResult>")

    def _shuffled_within_seconds(self, versions: list[Version]) -> list[Version]:
        out: list[Version] = []
        group: list[Version] = []
        for version in [*versions, None]:
            if version is not None and (not group or group[0].modified == version.modified):
                group.append(version)
                continue
            self.shuffle_ties.shuffle(group)
            out += group
            group = [version] if version is not None else []
        return out


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _iso(seconds: int) -> str:
    import datetime  # noqa: PLC0415 - only here

    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z")


def _xml(status: int, body: str) -> AWSResponse:
    headers = HTTPHeaders()
    headers["Content-Type"] = "application/xml"
    return AWSResponse("http://sim", status, headers,
                       _Raw(('<?xml version="1.0" encoding="UTF-8"?>' + body).encode()))


def error_answer(status: int, code: str, *, head: bool = False) -> AWSResponse:
    headers = HTTPHeaders()
    headers["x-amz-request-id"] = "SIM"
    if head:
        return AWSResponse("http://sim", status, headers, _Raw(b""))
    headers["Content-Type"] = "application/xml"
    body = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f"<Message>simulated</Message><RequestId>SIM</RequestId></Error>")
    return AWSResponse("http://sim", status, headers, _Raw(body.encode()))
