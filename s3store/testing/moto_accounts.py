"""Each LocalS3 its own account in moto's in-process S3 backend, discarded when it stops.

moto keeps its S3 state in one process-wide `s3_backends`, keyed by account id (then by
partition), and bucket names in one namespace across those accounts, as S3 does
(`s3_backends.bucket_accounts`). Every request a LocalS3 serves names the instance's own
account (moto's `x-moto-account-id` header), so two LocalS3s never share an object, and
discarding the account frees its objects and its bucket names.

moto's own `reset()` would not do: it closes the buffers of every key of every account
(the keys of another LocalS3 still running included), and so does `mock_aws` when it
starts and stops.
"""

from __future__ import annotations

import uuid
from typing import Any

__all__ = ["bucket_account", "discard_account", "new_account_id", "s3_backend"]

_PARTITION = "aws"  # LocalS3's region, us-east-1, is in the `aws` partition


def new_account_id() -> str:
    """A fresh 12-digit account id, for one LocalS3."""
    return f"{uuid.uuid4().int % 10**12:012d}"


def s3_backend(account_id: str) -> Any:
    """The moto S3 backend of `account_id` (moto makes it on first use)."""
    from moto.s3.models import s3_backends  # noqa: PLC0415 - moto is an optional extra

    return s3_backends[account_id][_PARTITION]


def bucket_account(bucket: str) -> str | None:
    """The account whose bucket named `bucket` is in moto's memory now, or None."""
    from moto.s3.models import s3_backends  # noqa: PLC0415

    owner: tuple[str, str] | None = s3_backends.bucket_accounts.get(bucket)
    return None if owner is None else owner[1]


def discard_account(account_id: str) -> None:
    """Forget `account_id`'s S3 state: its buckets' names freed, their objects' buffers closed.

    Call once no request for the account is in flight. An account that moto never made, or
    that `mock_aws` reset already, is left as it is.
    """
    from moto.core.base_backend import backend_lock  # noqa: PLC0415
    from moto.s3.models import s3_backends  # noqa: PLC0415

    with backend_lock:
        account = s3_backends.pop(account_id, None)
    if account is None:
        return
    for backend in list(account.values()):
        for bucket in list(backend.buckets.values()):
            if s3_backends.bucket_accounts.get(bucket.name, (None, None))[1] == account_id:
                s3_backends.bucket_accounts.pop(bucket.name, None)
            for _, versions in bucket.keys.lists():
                for version in versions:
                    if hasattr(version, "dispose"):  # a delete marker holds no buffer
                        version.dispose()
            for multipart in list(bucket.multiparts.values()):
                multipart.dispose()
            backend.buckets.clear()
