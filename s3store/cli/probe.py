"""`s3store probe`: is this endpoint and bucket safe for s3store?

The checks of `s3store._probe`, every one of them whatever the others found, each with its
verdict: `If-None-Match` create, `If-Match` replace, `If-Match` on a missing key,
conditional delete, and bucket versioning (reported, not required: without it
`s3store recover` has no older versions to read).

An endpoint that accepts a write it should refuse turns every compare-and-swap into a
blind overwrite: concurrent writers would silently erase each other's updates.
"""

from __future__ import annotations

import argparse
import inspect
from typing import Final

from s3store.cli.context import Context

__all__ = ["PROBE", "ProbeCommand"]


class ProbeCommand:
    """`s3store probe`: does the endpoint honour conditional writes and deletes?

    Writes and deletes a few small objects under PREFIX.s3store-probe/ (on a versioned
    bucket their old versions remain) and reports every check: honoured, IGNORED (unsafe),
    not supported (with the server's code) or error. Exit status 0 when s3store can be
    used as reported (conditional deletes may be unsupported: the worker never deletes),
    1 when the endpoint is unsafe or unusable, 2 when a check could not tell.
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
        """Probe, print every check's verdict, return the report's exit status."""
        report = ctx.store().probe(prefix=args.prefix)
        status = report.exit_status
        if ctx.json:
            ctx.print_json({"endpoint": ctx.client().meta.endpoint_url, "bucket": ctx.bucket,
                            "safe": status == 0, "writes_safe": report.writes_safe,
                            "summary": report.summary(), "left_behind": report.left_behind,
                            "checks": [check.as_json() for check in report.checks]})
            return status
        print(f"endpoint  {ctx.client().meta.endpoint_url}\nbucket    {ctx.bucket}\n",
              file=ctx.out)
        ctx.print_table(("check", "verdict", "detail"),
                        [(c.name, c.verdict.value + (f" ({c.code})" if c.code else ""),
                          c.detail) for c in report.checks])
        print(f"\n{report.summary()}", file=ctx.out)
        return status


PROBE: Final = ProbeCommand()
"""The `probe` command."""
