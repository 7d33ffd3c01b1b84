"""`s3store probe`: is this endpoint and bucket safe for s3store?

Checks, with objects under `{prefix}.s3store-probe/` that it deletes again:

1. conditional `PutObject`: `If-None-Match: *` on an existing key and `If-Match` with
   a wrong ETag are refused, `If-Match` with the right ETag is accepted
   (`JsonStore.verify_conditional_writes`);
2. conditional `DeleteObject`: `If-Match` with a wrong ETag is refused, with the right
   one accepted;
3. bucket versioning (reported, not required: without it `s3store recover` has no
   older versions to read).

An endpoint that accepts a write it should refuse turns every compare-and-swap into a
blind overwrite: concurrent writers would silently erase each other's updates.
"""

from __future__ import annotations

import argparse
import inspect
import uuid
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Final

from s3store import ConditionalWritesUnsupportedError, ConflictError, JsonStore, StorageError
from s3store.cli.context import Context

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["PROBE", "Check", "ProbeCommand", "probe"]

_WRONG_ETAG: Final = '"' + "0" * 32 + '"'


@dataclass(frozen=True)
class Check:
    """One probe: its name, whether it passed, what was seen, and whether safety needs it."""

    name: str
    ok: bool
    result: str
    detail: str
    required: bool = True


def _conditional_put(store: JsonStore, prefix: str) -> Check:
    name = "conditional PutObject"
    try:
        store.verify_conditional_writes(prefix=prefix)
    except ConditionalWritesUnsupportedError as exc:
        return Check(name, False, "IGNORED", exc.message)
    return Check(name, True, "honoured",
                 "If-None-Match: * on a taken key and a wrong If-Match refused, "
                 "the right If-Match accepted")


def _conditional_delete(store: JsonStore, prefix: str) -> Check:
    name = "conditional DeleteObject"
    key = f"{prefix}.s3store-probe/{uuid.uuid4().hex}.json"
    document = store.create(key, {"probe": "conditional delete"})
    try:
        try:
            store.delete(key, etag=_WRONG_ETAG)
        except ConflictError:
            pass
        else:
            return Check(name, False, "IGNORED",
                         "the endpoint deleted an object although If-Match named an ETag "
                         "it does not have")
        try:
            store.delete(key, etag=document.etag)
        except (ConflictError, StorageError) as exc:
            return Check(name, False, "REFUSED",
                         f"a delete with the object's own ETag was refused: {exc.message}")
        return Check(name, True, "honoured",
                     "a wrong If-Match refused, the right If-Match accepted")
    finally:
        store.delete(key)  # unconditional; deleting a missing key is not an error


def _versioning(client: S3Client, bucket: str) -> Check:
    name = "bucket versioning"
    try:
        status = client.get_bucket_versioning(Bucket=bucket).get("Status")
    except Exception as exc:  # a missing permission must not hide the other results
        return Check(name, False, "unknown", f"could not read it: {exc}", required=False)
    if status == "Enabled":
        return Check(name, True, "Enabled",
                     "overwritten documents stay as older versions (s3store recover)",
                     required=False)
    if status == "Suspended":
        return Check(name, False, "Suspended",
                     "only versions from before the suspension are kept: later "
                     "overwrites cannot be recovered", required=False)
    return Check(name, False, "off",
                 "never enabled: an overwritten or deleted document cannot be recovered",
                 required=False)


def probe(store: JsonStore, client: S3Client, bucket: str, *, prefix: str = "") -> list[Check]:
    """Run every check against `bucket`; see the module's docstring.

    Raises `StorageError` (and the store's other errors) when S3 refuses the probe's
    own requests (`AccessDenied`, `NoSuchBucket`...).
    """
    return [_conditional_put(store, prefix), _conditional_delete(store, prefix),
            _versioning(client, bucket)]


class ProbeCommand:
    """`s3store probe`: does the endpoint honour conditional writes and deletes?

    Writes and deletes a few small objects under PREFIX.s3store-probe/ (on a versioned
    bucket their old versions remain). Exit status 0 when conditional requests are
    honoured (versioning is only reported), 1 when they are not, 2 on errors.
    """

    help = "check that the endpoint honours conditional writes; report versioning"
    passthrough = False

    @property
    def description(self) -> str:
        """The text of `s3store probe --help`."""
        return inspect.cleandoc(self.__doc__ or "")

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """`--prefix`: where the probe objects go (default: the bucket's root)."""
        parser.add_argument("--prefix", default="",
                            help="write the probe objects under this prefix (e.g. one your "
                                 "credentials may write to)")

    def run(self, ctx: Context, args: argparse.Namespace) -> int:
        """Probe, print the checks, return 0 (safe) or 1 (unsafe)."""
        checks = probe(ctx.store(), ctx.client(), ctx.bucket, prefix=args.prefix)
        safe = all(check.ok for check in checks if check.required)
        if ctx.json:
            ctx.print_json({"endpoint": ctx.client().meta.endpoint_url, "bucket": ctx.bucket,
                            "safe": safe, "checks": [asdict(check) for check in checks]})
            return 0 if safe else 1
        print(f"endpoint  {ctx.client().meta.endpoint_url}\nbucket    {ctx.bucket}\n",
              file=ctx.out)
        ctx.print_table(("check", "result", "detail"),
                        [(check.name, check.result, check.detail) for check in checks])
        if safe:
            print("\nsafe: conditional writes and deletes are honoured; s3store can be used "
                  "on this bucket.", file=ctx.out)
            return 0
        print("\nUNSAFE: this endpoint accepted requests it had to refuse. s3store's "
              "compare-and-swap would\nsilently turn into blind overwrites here: concurrent "
              "writers would erase each other's\nupdates. Do not use this endpoint for "
              "documents more than one writer updates.", file=ctx.out)
        return 1


PROBE: Final = ProbeCommand()
"""The `probe` command."""
