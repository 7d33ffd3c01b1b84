"""`s3store recover`: restore lost execution steps from the bucket's older object versions.

See `worker_integration.tools.recovery` for what is restored and why a live worker loses
nothing. Dry run by default; `--apply` writes.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from s3store import CorruptDocumentError, DocumentTooLargeError, NotFoundError
from worker_integration.db_service import execution_steps_key
from worker_integration.tools.cli_context import (
    CommandContext,
    CommandHelp,
    Progress,
    add_workflow_option,
    workflow_of,
)
from worker_integration.tools.job_listing import DEFAULT_PAGE_SIZE, list_jobs, parse_lookalike
from worker_integration.tools.recovery import JobRecovery, recover_job
from worker_integration.workflow import Workflow

__all__ = ["RECOVER", "RecoverCommand"]

_MISSING: Final = ("no execution steps document: nothing to restore into (recover never "
                   "recreates a deleted document)")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


@dataclass(frozen=True)
class _Outcome:
    """One job: its recovery, or why there is none (`problem`)."""

    customer_id: str
    job_id: str
    recovery: JobRecovery | None = None
    problem: str | None = None
    skipped_key: str | None = None

    @property
    def status(self) -> str:
        if self.skipped_key is not None:
            return "skipped"
        if self.recovery is None:
            return "missing" if self.problem == _MISSING else "corrupt"
        if not self.recovery.restoration.changes:
            return "nothing_to_restore"
        return "restored" if self.recovery.applied else "would_restore"


def _record_summary(record: dict[str, Any]) -> dict[str, Any]:
    return {name: record.get(name)
            for name in ("step_order", "step_type", "step_name", "completed_at")}


def _as_json(outcome: _Outcome) -> dict[str, Any]:
    result: dict[str, Any] = {
        "customer_id": outcome.customer_id, "job_id": outcome.job_id,
        "key": outcome.skipped_key or execution_steps_key(outcome.customer_id, outcome.job_id),
        "status": outcome.status, "problem": outcome.problem,
    }
    recovery = outcome.recovery
    if recovery is not None:
        move = recovery.restoration.html_move
        result.update({
            "versions": len(recovery.versions),
            "unreadable_versions": sum(1 for v in recovery.versions if v.records is None),
            "skipped_records": sum(v.skipped for v in recovery.versions),
            "records_before": recovery.current_count,
            "restored": [_record_summary(r) for r in recovery.restoration.added],
            "html_moved": None if move is None else {"from": move.from_order,
                                                     "to": move.to_order},
            "html_not_moved": recovery.restoration.html_unmoved,
            "expected_steps_from": recovery.expected_from,
            "etag": recovery.etag,
        })
    return result


def _print_job(ctx: CommandContext, outcome: _Outcome) -> None:
    name = f"{outcome.customer_id}/{outcome.job_id}"
    recovery = outcome.recovery
    if recovery is None:
        print(f"{name}: {outcome.problem}", file=ctx.out)
        return
    unreadable = sum(1 for v in recovery.versions if v.records is None)
    restoration = recovery.restoration
    verb = "restored" if recovery.applied else "to restore"
    line = (f"{name}: {_plural(len(recovery.versions), 'version')} read"
            + (f" ({unreadable} unreadable)" if unreadable else "")
            + f", {_plural(recovery.current_count, 'record')} stored, "
              f"{len(restoration.added)} {verb}")
    if restoration.html_move is not None:
        moved = "moved" if recovery.applied else "to move"
        line += (f"; html_generation {moved} from step_order "
                 f"{restoration.html_move.from_order} to {restoration.html_move.to_order}")
    if restoration.html_unmoved is not None:
        line += f"; {restoration.html_unmoved}"
    print(line, file=ctx.out)
    if restoration.added:
        rows = [tuple("-" if r.get(f) is None else str(r.get(f))
                      for f in ("step_order", "step_type", "step_name", "completed_at"))
                for r in restoration.added]
        print(file=ctx.out)
        ctx.print_table(("order", "type", "name", "completed_at"), rows, right={0})
        print(file=ctx.out)


class RecoverCommand(CommandHelp):
    """`s3store recover CUSTOMER JOB` or `s3store recover --prefix P`: restore lost steps.

    Reads every version of each job's execution steps document (the bucket must keep
    versions), rebuilds the union of their step records (per (step_order, step_type)
    the record of the latest attempt, then the one that first appeared latest: never a
    stale copy written back later), and shows what the current document lacks. With
    --apply, adds exactly those records through a conditional update (a worker writing
    at the same time loses nothing; nothing stored is removed) and moves an
    html_generation stored at the wrong order to the order the job's workflow puts it
    (from the job record's expected steps, else --workflow; with neither it is left
    where it is, and the report says so). Without versioning it says so and changes
    nothing. With --json: {"bucket", "versioning", "apply", "jobs": [{"customer_id",
    "job_id", "key", "status", "problem", "versions", "unreadable_versions",
    "skipped_records", "records_before", "restored": [...], "html_moved",
    "html_not_moved", "expected_steps_from", "etag"}], "summary": {...}}. Exit status
    0 done (dry run included), 1 no versioning or a job's document missing or corrupt,
    2 errors.
    """

    help = "restore lost steps from older object versions (dry run unless --apply)"
    passthrough = False

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """CUSTOMER JOB, or `--prefix`; `--apply`; `--page-size`; `--workflow`."""
        parser.add_argument("customer_id", metavar="CUSTOMER", nargs="?", help="customer id")
        parser.add_argument("job_id", metavar="JOB", nargs="?", help="job id")
        parser.add_argument("--prefix", help="recover every job under this key prefix")
        parser.add_argument("--apply", action="store_true",
                            help="write the restored records (default: a dry run)")
        parser.add_argument("--page-size", type=int, default=DEFAULT_PAGE_SIZE,
                            help=f"keys per listing request (default {DEFAULT_PAGE_SIZE})")
        add_workflow_option(parser, use="where html_generation belongs")

    def _jobs(self, ctx: CommandContext, args: argparse.Namespace,
              skipped: list[str]) -> Iterator[tuple[str, str]]:
        if args.prefix is None:
            execution_steps_key(args.customer_id, args.job_id)  # bad ids: a usage error
            yield args.customer_id, args.job_id
            return
        for job in list_jobs(ctx.store(), prefix=args.prefix,
                             page_size=args.page_size, skipped=skipped):
            if job.has_steps:
                yield job.customer_id, job.job_id

    def run(self, ctx: CommandContext, args: argparse.Namespace) -> int:
        """Recover the jobs asked for; see the class docstring for the exit status."""
        one_job = args.customer_id is not None and args.job_id is not None
        if (not one_job) if args.prefix is None else args.customer_id is not None:
            ctx.usage_error("give CUSTOMER and JOB, or --prefix (not both)")
        if not 1 <= args.page_size <= DEFAULT_PAGE_SIZE:
            ctx.usage_error(f"--page-size must be 1 to {DEFAULT_PAGE_SIZE}")
        workflow = workflow_of(ctx, args)
        versioning = ctx.store().versioning()
        if versioning == "off":
            message = (f"bucket {ctx.bucket} does not keep object versions (versioning was "
                       "never enabled): there are no older versions to recover steps from. "
                       "Nothing was changed.")
            if ctx.json:
                ctx.print_json({"bucket": ctx.bucket, "versioning": versioning,
                                "apply": args.apply, "error": message, "jobs": []})
            else:
                print(f"s3store recover: {message}", file=ctx.err)
            return 1
        if versioning == "Suspended":
            print("s3store recover: warning: versioning is suspended on this bucket; only "
                  "versions written while it was enabled can be read", file=ctx.err)
        outcomes = self._recover_all(ctx, args, workflow)
        return _summary(ctx, args, versioning, outcomes)

    def _recover_all(self, ctx: CommandContext, args: argparse.Namespace,
                     workflow: Workflow | None) -> list[_Outcome]:
        store, client, progress = ctx.store(), ctx.client(), Progress(ctx.err)
        outcomes = []
        skipped: list[str] = []
        for customer_id, job_id in self._jobs(ctx, args, skipped):
            try:
                recovery = recover_job(store, client, customer_id, job_id, apply=args.apply,
                                       page_size=args.page_size, workflow=workflow)
                outcome = _Outcome(customer_id, job_id, recovery)
            except NotFoundError:
                outcome = _Outcome(customer_id, job_id, problem=_MISSING)
            except CorruptDocumentError as exc:
                outcome = _Outcome(customer_id, job_id, problem=f"corrupt: {exc.message}")
            except DocumentTooLargeError as exc:  # one job's problem: the others go on
                outcome = _Outcome(customer_id, job_id, problem=f"unreadable: {exc.message}")
            outcomes.append(outcome)
            if not ctx.json and (args.prefix is None or outcome.status != "nothing_to_restore"):
                progress.clear()
                _print_job(ctx, outcome)
            progress.update(f"recover: {len(outcomes)} jobs read")
        progress.clear()
        for key in skipped:  # a job document with ids this tool cannot address
            customer_id, job_id = parse_lookalike(key) or (key, "")
            outcome = _Outcome(customer_id, job_id, skipped_key=key,
                               problem=f"skipped: {key} has ids this tool cannot address "
                                       "(letters, digits, '_' and '-' only); not recovered")
            outcomes.append(outcome)
            if not ctx.json:
                _print_job(ctx, outcome)
        return outcomes


def _summary(ctx: CommandContext, args: argparse.Namespace, versioning: str,
             outcomes: Sequence[_Outcome]) -> int:
    recoveries = [o.recovery for o in outcomes if o.recovery is not None]
    changed = [r for r in recoveries if r.restoration.changes]
    restored = sum(len(r.restoration.added) for r in recoveries)
    moved = sum(1 for r in recoveries if r.restoration.html_move is not None)
    problems = sum(1 for o in outcomes if o.problem is not None)
    if ctx.json:
        ctx.print_json({
            "bucket": ctx.bucket, "versioning": versioning, "apply": args.apply,
            "jobs": [_as_json(o) for o in outcomes],
            "summary": {"jobs": len(outcomes), "jobs_changed": len(changed),
                        "records_restored": restored, "html_moved": moved,
                        "problems": problems},
        })
    elif args.apply:
        print(f"restored {_plural(restored, 'record')} and moved {moved} html_generation in "
              f"{len(changed)} of {_plural(len(outcomes), 'job')} (conditional writes: records "
              f"written meanwhile are kept); {problems} with problems", file=ctx.out)
    else:
        print(f"dry run: {_plural(restored, 'record')} to restore and {moved} html_generation "
              f"to move in {len(changed)} of {_plural(len(outcomes), 'job')}; {problems} with "
              "problems. Nothing was written: run again with --apply to write.", file=ctx.out)
    return 1 if problems else 0


RECOVER: Final = RecoverCommand()
"""`s3store recover`."""
