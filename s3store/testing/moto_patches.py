"""Two narrow patches of moto's in-process S3 backend, installed and removed by LocalS3.

- `slow_writes`: the backend's write sleeps first, widening moto's window between
  checking a precondition and writing (tests show what LocalS3's lock prevents).
- `fast_version_listing`: `ListObjectVersions` without a delimiter or markers,
  served from the matching keys only, newest first in exact write order. moto's own
  deep-copies every version of every key of the bucket per call (seconds, once a
  bucket holds thousands of versions) and orders versions of one millisecond
  oldest first. Other listings go to moto unchanged.

Each LocalS3 patches the backend of its own moto account (`moto_accounts`); each patch
returns a function that restores what was there before (call in LIFO order).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

__all__ = ["fast_version_listing", "slow_writes"]

Restore = Callable[[], None]


def _patch(backend: Any, name: str, replacement: Callable[..., Any]) -> Restore:
    previous = backend.__dict__.get(name)
    setattr(backend, name, replacement)

    def restore() -> None:
        if previous is None:
            # gone already if moto reset the backend meanwhile (mock_aws resets them all)
            backend.__dict__.pop(name, None)
        else:
            setattr(backend, name, previous)

    return restore


def slow_writes(backend: Any, bucket: str, delay: float) -> Restore:
    """Make every object write into `bucket` sleep `delay` seconds before it writes."""
    original = backend.put_object

    def put_object(bucket_name: str, *args: Any, **kwargs: Any) -> Any:
        if bucket_name == bucket:
            time.sleep(delay)
        return original(bucket_name, *args, **kwargs)

    return _patch(backend, "put_object", put_object)


class _Listed:
    """A version as listed: the stored key, with the listing's own `is_latest`."""

    def __init__(self, key: Any, *, is_latest: bool) -> None:
        self._key = key
        self.is_latest = is_latest

    def __getattr__(self, name: str) -> Any:
        return getattr(self._key, name)


def fast_version_listing(backend: Any) -> Restore:
    """Serve plain `ListObjectVersions` (prefix, max-keys) from the matching keys only."""
    from moto.s3.models import FakeKey  # noqa: PLC0415

    original = backend.list_object_versions

    def list_object_versions(  # noqa: PLR0917 - moto's own signature
        bucket_name: str, delimiter: str | None = None,
        key_marker: str | None = None, max_keys: int | None = 1000,
        prefix: str = "", version_id_marker: str | None = None,
    ) -> Any:
        if delimiter or key_marker or version_id_marker:
            return original(bucket_name, delimiter=delimiter, key_marker=key_marker,
                            max_keys=max_keys, prefix=prefix,
                            version_id_marker=version_id_marker)
        bucket = backend.get_bucket(bucket_name)
        listed: list[_Listed] = []
        for name in sorted(name for name in bucket.keys if name.startswith(prefix or "")):
            newest_first = reversed(bucket.keys.getlist(name))
            listed.extend(_Listed(key, is_latest=n == 0) for n, key in enumerate(newest_first))
        limit = len(listed) if max_keys is None else max_keys
        page, truncated = listed[:limit], len(listed) > limit
        versions = [item for item in page if isinstance(item._key, FakeKey)]
        markers = [item for item in page if not isinstance(item._key, FakeKey)]
        if not truncated or not page:
            return versions, [], markers, None, None
        return versions, [], markers, page[-1].name, page[-1].version_id

    return _patch(backend, "list_object_versions", list_object_versions)
