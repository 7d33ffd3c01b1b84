"""`s3store get KEY`: one document, pretty-printed, with its ETag."""

from __future__ import annotations

import argparse
import inspect
import json
from typing import Final

from s3store import CorruptDocumentError, DocumentTooLargeError, NotFoundError
from s3store.cli.context import Context

__all__ = ["GET", "GetCommand"]


class GetCommand:
    """`s3store get KEY`: print the JSON document at KEY and its ETag.

    With --json: {"key": ..., "etag": ..., "value": ...}. Exit status 1 when there is
    no object at KEY or it is not a readable JSON document (corrupt, too large).
    """

    help = "print the JSON document at a key, with its ETag"
    passthrough = False

    @property
    def description(self) -> str:
        """The text of `s3store get --help`."""
        return inspect.cleandoc(self.__doc__ or "")

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """KEY: the object's key in the bucket."""
        parser.add_argument("key", metavar="KEY", help="the object's key")

    def run(self, ctx: Context, args: argparse.Namespace) -> int:
        """Print the document; 1 if it is missing or unreadable."""
        try:
            document = ctx.store().get(args.key)
        except (NotFoundError, CorruptDocumentError, DocumentTooLargeError) as exc:
            print(f"s3store get: {exc}", file=ctx.err)
            return 1
        if ctx.json:
            ctx.print_json({"key": document.key, "etag": document.etag,
                            "value": document.value})
        else:
            print(f"key   {document.key}\netag  {document.etag}\n", file=ctx.out)
            print(json.dumps(document.value, indent=2, ensure_ascii=False), file=ctx.out)
        return 0


GET: Final = GetCommand()
"""The `get` command."""
