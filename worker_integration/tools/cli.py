"""The job-aware `s3store` subcommands: `steps`, `audit`, `recover`, `demo`, `bench`.

They plug into s3store's command line through the `s3store.commands` entry points
declared in `pyproject.toml`; s3store never imports this package. Each command is
an object with `help`, `description`, `passthrough`, `configure(parser)` and
`run(ctx, args)`; `ctx` is s3store's `Context`, seen here through `CommandContext`
(`worker_integration.tools.cli_context`). `recover` is in `worker_integration.tools.cli_recover`.

Exit status, as for every s3store command: 0 ok / clean, 1 a problem found, 2 usage
or other errors.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from s3store import CorruptDocumentError, DocumentTooLargeError, NotFoundError
from worker_integration.db_service import execution_steps_key, parse_steps
from worker_integration.demo.report import step_row
from worker_integration.models import ExecutionStep
from worker_integration.tools.audit import FINDING_KINDS, JobAudit, audit_job
from worker_integration.tools.cli_context import (
    CommandContext,
    CommandHelp,
    Progress,
    add_workflow_option,
    workflow_of,
)
from worker_integration.tools.job_listing import DEFAULT_PAGE_SIZE, list_jobs

__all__ = ["AUDIT", "BENCH", "DEMO", "STEPS", "STEPS_HEADER", "project_root", "steps_rows"]


def steps_rows(steps: Sequence[ExecutionStep]) -> list[tuple[str, ...]]:
    """Table rows for `steps`, in the order given (see `STEPS_HEADER`)."""
    return [step_row(step) for step in steps]


STEPS_HEADER: Final = ("order", "type", "name", "success", "duration", "tokens", "cost",
                       "artifact")
STEPS_RIGHT: Final = frozenset({0, 4, 5, 6})


class StepsCommand(CommandHelp):
    """`s3store steps CUSTOMER JOB`: a job's execution steps as a table, with the ETag.

    Columns: order, type, name, success, duration, tokens, cost, artifact. With --json:
    {"customer_id", "job_id", "key", "etag", "steps": [the stored records, as stored]}.
    Exit status 1 when the job has no steps document or it is corrupt.
    """

    help = "show a job's execution steps (order, type, name, success, cost, ...)"
    passthrough = False

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """CUSTOMER and JOB ids."""
        parser.add_argument("customer_id", metavar="CUSTOMER", help="customer id")
        parser.add_argument("job_id", metavar="JOB", help="job id")

    def run(self, ctx: CommandContext, args: argparse.Namespace) -> int:
        """Print the steps; 1 if there are none or they do not parse."""
        key = execution_steps_key(args.customer_id, args.job_id)
        try:
            document = ctx.store().get(key)
            steps = parse_steps(document.value, key=key)
        except NotFoundError:
            print(f"s3store steps: no execution steps stored for {args.customer_id}/"
                  f"{args.job_id} (key {key})", file=ctx.err)
            return 1
        except (CorruptDocumentError, DocumentTooLargeError) as exc:
            print(f"s3store steps: {exc}", file=ctx.err)
            return 1
        if ctx.json:
            ctx.print_json({"customer_id": args.customer_id, "job_id": args.job_id,
                            "key": key, "etag": document.etag, "steps": document.value})
            return 0
        print(f"key   {key}\netag  {document.etag}\n", file=ctx.out)
        ordered = sorted(steps, key=lambda step: step.step_order)
        ctx.print_table(STEPS_HEADER, steps_rows(ordered), right=STEPS_RIGHT)
        tokens = sum(s.usage_info.total_tokens for s in steps if s.usage_info is not None)
        cost = sum(s.usage_info.cost_usd for s in steps if s.usage_info is not None)
        failed = sum(1 for s in steps if not s.success)
        print(f"\n{len(steps)} step{'' if len(steps) == 1 else 's'} ({failed} failed), "
              f"{tokens} tokens, ${cost:.6f}", file=ctx.out)
        return 0


class AuditCommand(CommandHelp):
    """`s3store audit --prefix P`: find jobs whose execution steps are damaged.

    Walks every job under the prefix (a paginated listing; progress on stderr when it
    is a terminal) and checks its steps against the records its complete form holds:
    the expected steps its record got when the job started, else those of --workflow.
    Reports: gap (an expected step with no record), unexpected_step, duplicate (one
    (step_order, step_type) stored twice), missing_html_generation,
    misplaced_html_generation (not at the order the job expects, as the incident
    stored it), corrupt. Unfinished jobs (their record says pending, processing or
    failed) are not expected to be complete. A job with nothing found whose expected
    steps are unknown is counted as "cannot tell", never clean. Summary counts at the
    end. With --json: {"bucket", "prefix", "workflow", "jobs_checked",
    "jobs_with_findings", "jobs_clean", "jobs_unfinished", "jobs_cannot_tell",
    "counts": {kind: n}, "findings": [{"customer_id", "job_id", "key", "kind",
    "detail"}], "cannot_tell": [{"customer_id", "job_id", "key", "reason"}],
    "skipped_keys": [...]}. The prefix ends at a path boundary (cust_1 is not cust_10).
    Documents laid out as a job's whose ids are not valid ids (acme.com) are listed as
    not checked. Exit status 0 every job clean or unfinished, 1 findings, jobs it
    cannot tell about, or documents not checked, 2 errors.
    """

    help = "find jobs with gaps, duplicates, a missing html_generation, corrupt steps"
    passthrough = False

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """`--prefix`, `--page-size`, `--workflow`."""
        parser.add_argument("--prefix", default="",
                            help="audit the jobs under this key prefix (default: all)")
        parser.add_argument("--page-size", type=int, default=DEFAULT_PAGE_SIZE,
                            help=f"keys per listing request (default {DEFAULT_PAGE_SIZE})")
        add_workflow_option(parser, use="audited against it")

    def run(self, ctx: CommandContext, args: argparse.Namespace) -> int:
        """Audit every job under the prefix; 1 if any has findings."""
        if not 1 <= args.page_size <= DEFAULT_PAGE_SIZE:
            ctx.usage_error(f"--page-size must be 1 to {DEFAULT_PAGE_SIZE}")
        workflow = workflow_of(ctx, args)
        store, progress = ctx.store(), Progress(ctx.err)
        results: list[JobAudit] = []
        skipped: list[str] = []
        for job in list_jobs(ctx.store(), prefix=args.prefix,
                             page_size=args.page_size, skipped=skipped):
            results.append(result := audit_job(store, job, workflow=workflow))
            if result.findings and not ctx.json:
                progress.clear()
                for finding in result.findings:
                    print(f"{finding.kind:<26}{job.name}  {finding.detail}", file=ctx.out)
            damaged = sum(1 for r in results if r.findings)
            progress.update(f"audit: checked {len(results)} jobs, {damaged} with findings")
        progress.clear()
        return _audit_summary(ctx, args, results, skipped)


def _audit_summary(ctx: CommandContext, args: argparse.Namespace, results: Sequence[JobAudit],
                   skipped: Sequence[str]) -> int:
    prefix = args.prefix
    counts = Counter(finding.kind for result in results for finding in result.findings)
    damaged = sum(1 for result in results if result.findings)
    unfinished = sum(1 for result in results if result.unfinished and not result.findings)
    unknown = [result for result in results if result.cannot_tell is not None]
    clean = sum(1 for result in results if result.clean)
    if ctx.json:
        ctx.print_json({
            "bucket": ctx.bucket, "prefix": prefix, "workflow": args.workflow,
            "jobs_checked": len(results), "jobs_with_findings": damaged, "jobs_clean": clean,
            "jobs_unfinished": unfinished, "jobs_cannot_tell": len(unknown),
            "counts": {kind: counts[kind] for kind in FINDING_KINDS},
            "findings": [{"customer_id": r.job.customer_id, "job_id": r.job.job_id,
                          "key": r.job.steps_key, "kind": f.kind, "detail": f.detail}
                         for r in results for f in r.findings],
            "cannot_tell": [{"customer_id": r.job.customer_id, "job_id": r.job.job_id,
                             "key": r.job.steps_key, "reason": r.cannot_tell}
                            for r in unknown],
            "skipped_keys": list(skipped),
        })
    else:
        if damaged:
            print(file=ctx.out)
        print(f"checked {len(results)} job{'' if len(results) == 1 else 's'} under "
              f"{prefix!r}: {damaged} with findings, "
              f"{clean} clean, {unfinished} unfinished, {len(unknown)} cannot tell",
              file=ctx.out)
        print("findings: " + ", ".join(f"{kind} {counts[kind]}" for kind in FINDING_KINDS),
              file=ctx.out)
        if unknown:
            print(f"cannot tell whether complete: {len(unknown)} job(s) whose record does "
                  "not say which steps they hold (name their workflow with --workflow): "
                  + ", ".join(r.job.name for r in unknown), file=ctx.out)
        if skipped:
            print(f"NOT checked: {len(skipped)} job document(s) whose ids this tool cannot "
                  f"address: {', '.join(skipped)}", file=ctx.out)
    return 1 if damaged or skipped or unknown else 0


class DemoCommand(CommandHelp):
    """`s3store demo [ARGS...]`: the incident replayed, as `make demo` runs it.

    Runs `python -m worker_integration.demo.run ARGS` in this process: a job's nine steps as
    independent invocations on an embedded local S3, then html_generation; --compare
    also runs the old code path. `s3store demo --help` shows the demo's own options.
    A global --bucket / --endpoint-url (given before `demo`) is passed on.
    """

    help = "replay the incident on a local S3 (what `make demo` runs; args passed on)"
    passthrough = True
    global_options = ("endpoint_url", "bucket", "verbose")

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Nothing: every argument is the demo's."""

    def run(self, ctx: CommandContext, args: argparse.Namespace) -> int:
        """Run the demo with the arguments given; its exit status."""
        from worker_integration.demo import run as demo  # noqa: PLC0415 - only this command needs it

        forwarded = []
        for option in ("endpoint_url", "bucket"):
            value = getattr(args, option, None)
            if value:
                forwarded += [f"--{option.replace('_', '-')}", value]
        return demo.main([*forwarded, *args.args], out=ctx.out)


def project_root() -> Path:
    """The directory holding this package: the project's checkout, for an editable install."""
    return Path(__file__).resolve().parents[2]


class BenchCommand(CommandHelp):
    """`s3store bench [ARGS...]`: the benchmarks, as `make bench` runs them.

    Runs `python -m benchmarks ARGS` with this Python and the project's checkout on its
    import path (the benchmarks are not part of the installed package), in the caller's
    working directory: a relative `--output` is the caller's. Its exit status.
    """

    help = "run the benchmarks (what `make bench` runs; args passed on)"
    passthrough = True

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Nothing: every argument is the benchmarks'."""

    def run(self, ctx: CommandContext, args: argparse.Namespace) -> int:
        """Run the benchmarks; 2 if there are none in this checkout."""
        root = project_root()
        if not (root / "benchmarks").is_dir():
            print(f"s3store bench: no benchmarks in {root} (they run from the project's "
                  "checkout: `make bench`, or `python -m benchmarks` there)", file=ctx.err)
            return 2
        # -P: the caller's directory is not on the import path, so a `benchmarks` module
        # there cannot stand in for the checkout's.
        command = [sys.executable, "-P", "-m", "benchmarks", *args.args]
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(root), *([path] if path else [])])}
        ctx.out.flush()
        # The operator's own arguments, to this same Python: nothing is run through a shell.
        return subprocess.run(command, env=env, check=False).returncode  # noqa: S603


STEPS: Final = StepsCommand()
"""`s3store steps`."""
AUDIT: Final = AuditCommand()
"""`s3store audit`."""
DEMO: Final = DemoCommand()
"""`s3store demo`."""
BENCH: Final = BenchCommand()
"""`s3store bench`."""
