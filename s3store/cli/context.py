"""What a command gets to work with: its options, its output streams, and S3.

The S3 client is made from the standard AWS configuration (`AWS_*` environment
variables, `~/.aws/config` and `~/.aws/credentials`, `--profile`, `--region`), for
`--endpoint-url` when one is given (else botocore's own choice, which honours
`AWS_ENDPOINT_URL_S3` and `AWS_ENDPOINT_URL`). It is made on first use, so that
`--help` and usage errors never touch the AWS configuration.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

import boto3

from s3store import JsonStore

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["BUCKET_ENVIRONMENT_VARIABLE", "Context", "UsageError", "format_table"]

BUCKET_ENVIRONMENT_VARIABLE = "S3STORE_BUCKET"
"""The bucket to use when `--bucket` is not given."""


class UsageError(Exception):
    """The command was called wrongly (a missing bucket, options that exclude each other).

    The CLI prints the message and exits with status 2.
    """


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]], *,
                 right: Collection[int] = ()) -> str:
    """`rows` under `header` in aligned columns, a rule under the header.

    Columns whose index is in `right` are right-aligned (numbers line up).
    """
    table = [list(header), *(list(row) for row in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
                       for i, cell in enumerate(row)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


class Context:
    """One run of a command: parsed options, `out` / `err`, and lazily made S3 objects.

    Commands print results to `out` (a table for people, or one JSON document with
    `--json`) and diagnostics and progress to `err`.
    """

    def __init__(self, args: argparse.Namespace, *, out: TextIO, err: TextIO) -> None:
        self.args = args
        self.out = out
        self.err = err
        self._client: S3Client | None = None
        self._store: JsonStore | None = None

    @property
    def json(self) -> bool:
        """Whether `--json` was given: print one JSON document instead of tables."""
        return bool(getattr(self.args, "json", False))

    @property
    def endpoint_url(self) -> str | None:
        """`--endpoint-url`, if given (else botocore decides, from the environment)."""
        value = getattr(self.args, "endpoint_url", None)
        return str(value) if value else None

    @property
    def bucket(self) -> str:
        """`--bucket`, else `$S3STORE_BUCKET`. Raises `UsageError` if neither is set."""
        bucket = getattr(self.args, "bucket", None) or os.environ.get(
            BUCKET_ENVIRONMENT_VARIABLE)
        if not bucket:
            raise UsageError(f"no bucket: give --bucket or set {BUCKET_ENVIRONMENT_VARIABLE}")
        return str(bucket)

    def client(self) -> S3Client:
        """The boto3 S3 client of this run, made on first use from the AWS configuration.

        Raises what boto3 raises for a profile that does not exist.
        """
        if self._client is None:
            session = boto3.session.Session(profile_name=getattr(self.args, "profile", None),
                                            region_name=getattr(self.args, "region", None))
            self._client = session.client("s3", endpoint_url=self.endpoint_url)
        return self._client

    def store(self) -> JsonStore:
        """A `JsonStore` on the bucket, with the default retry policy.

        Raises `UsageError` without a bucket.
        """
        if self._store is None:
            self._store = JsonStore(self.client(), self.bucket)
        return self._store

    def print_json(self, value: Any) -> None:
        """Print `value` to `out` as indented JSON (UTF-8, keys in insertion order)."""
        print(json.dumps(value, indent=2, ensure_ascii=False), file=self.out)

    def print_table(self, header: Sequence[str], rows: Sequence[Sequence[str]], *,
                    right: Collection[int] = ()) -> None:
        """Print `rows` as an aligned table to `out` (see `format_table`)."""
        print(format_table(header, rows, right=right), file=self.out)

    def usage_error(self, message: str) -> NoReturn:
        """Stop the command as wrongly called: raises `UsageError` (exit status 2)."""
        raise UsageError(message)
