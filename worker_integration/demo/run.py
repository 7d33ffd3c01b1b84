"""The incident, replayed: `s3store demo` (or `make demo`, `python -m worker_integration.demo.run`).

Runs a job of 9 workflow steps, each as an independent invocation (a spawned
process by default, `--threads` for threads) sharing nothing but S3, then
`html_generation` and finalisation; prints progress, the stored execution steps
as a table, and a verdict line (`10/10 execution steps stored`). `--jobs N` runs N
jobs at once; `--compare` then runs the old code path on the same backend and
shows what it loses. The AI calls are SIMULATED (`SimulatedExecutor`). Durations are
in milliseconds, as in `s3store bench`.

S3: a local S3 (moto, made strict, with network-like latency) unless a bucket is
given with `--bucket` or `S3STORE_BUCKET`; the endpoint then comes from
`--endpoint-url`, `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` (else AWS itself),
credentials from the standard AWS configuration. Exit status 1 if the new path
stored fewer than all steps of any job, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import TextIO

from s3store import JsonStore, RetryPolicy
from s3store.testing import FaultPlan, LocalS3, connect
from worker_integration.db_service import DBService, execution_steps_key
from worker_integration.demo.legacy import run_legacy_jobs
from worker_integration.demo.report import Verdict, progress_line, steps_table, verdict_of
from worker_integration.executor import SimulatedExecutor
from worker_integration.invocations import (
    BotoConnector,
    InvocationReport,
    Invoker,
    ProcessInvoker,
    S3Target,
    ThreadInvoker,
)
from worker_integration.services.workflow_orchestrator import WorkflowOrchestrator
from worker_integration.workflow import named_workflow

__all__ = ["DEMO_WORKFLOW", "main", "parse_args"]

CUSTOMER_ID = "cust_demo"

DEMO_WORKFLOW = named_workflow("demo")
"""Nine steps, as in the incident; the dependencies form a graph four steps deep."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The demo's arguments, checked; `SystemExit(2)` with a usage line if wrong."""
    parser = argparse.ArgumentParser(prog="s3store demo",
                                     description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=1, help="jobs to run at once (default 1)")
    parser.add_argument("--compare", action="store_true",
                        help="also run the old code path and show what it loses")
    parser.add_argument("--threads", action="store_true",
                        help="invocations in threads instead of spawned processes")
    parser.add_argument("--workers", type=int, default=9,
                        help="concurrent invocations (default 9)")
    parser.add_argument("--step-delay", type=float, default=400.0, metavar="MS",
                        help="how long a simulated step takes, in milliseconds (default 400)")
    parser.add_argument("--latency", type=float, default=10.0, metavar="MS",
                        help="latency the local S3 adds to every request, in milliseconds "
                             "(default 10)")
    parser.add_argument("--fail", action="append", default=[], metavar="STEP_NAME",
                        help="make this step fail (recorded with success: false)")
    parser.add_argument("--endpoint-url", metavar="URL", help="S3 endpoint (with --bucket)")
    parser.add_argument("--bucket", metavar="BUCKET", help="use this bucket instead of a local S3")
    args = parser.parse_args(argv)
    args.bucket = args.bucket or os.environ.get("S3STORE_BUCKET")
    if args.endpoint_url and not args.bucket:
        parser.error("--endpoint-url needs --bucket (or S3STORE_BUCKET)")
    if args.jobs < 1 or args.workers < 1:
        parser.error("--jobs and --workers must be at least 1")
    if args.step_delay < 0 or args.latency < 0:
        parser.error("--step-delay and --latency must be >= 0")
    return args


@contextlib.contextmanager
def _backend(args: argparse.Namespace, out: TextIO) -> Iterator[S3Target]:
    if args.bucket:
        endpoint = (args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3")
                    or os.environ.get("AWS_ENDPOINT_URL"))
        target = S3Target(bucket=args.bucket, connector=BotoConnector(endpoint_url=endpoint))
        report = JsonStore(target.client(), target.bucket).probe(prefix=f"{CUSTOMER_ID}/")
        print(f"S3: bucket {args.bucket} at {endpoint or 'AWS'}: {report.summary()}",
              file=out)
        if not report.writes_safe:  # the same verdicts as `s3store probe`
            raise SystemExit(f"demo: not running on this endpoint ({report.summary()})")
        yield target
        return
    with LocalS3(faults=FaultPlan(latency=args.latency / 1000)) as s3:
        print(f"S3: local S3 at {s3.endpoint_url}, bucket {s3.bucket}, "
              f"{args.latency:g} ms latency per request", file=out)
        # Threads can share the server's session (clients are cheap from it); processes
        # get a picklable factory and make their own.
        connector = (s3.client if args.threads
                     else functools.partial(connect, s3.endpoint_url))
        yield S3Target(bucket=s3.bucket, connector=connector, retry=RetryPolicy())


def _invoker(args: argparse.Namespace) -> contextlib.AbstractContextManager[Invoker]:
    if args.threads:
        return contextlib.nullcontext(ThreadInvoker(workers=args.workers))
    return ProcessInvoker(args.workers)


def _progress(total: int, out: TextIO) -> Callable[[InvocationReport], None]:
    done = 0

    def report(event: InvocationReport) -> None:
        nonlocal done
        done += 1
        print("  " + progress_line(event, done=done, total=total), file=out, flush=True)

    return report


def _show(db: DBService, jobs: Sequence[tuple[str, str]], *, label: str,
          out: TextIO) -> list[Verdict]:
    """Print the first jobs' tables and every job's verdict; return the verdicts."""
    verdicts = []
    for index, (customer_id, job_id) in enumerate(jobs):
        steps = db.get_execution_steps(customer_id, job_id)
        verdicts.append(verdict := verdict_of(DEMO_WORKFLOW, steps))
        if index < 2:  # two tables say it; more would bury the verdicts
            print(f"\n{label}: {execution_steps_key(customer_id, job_id)}\n", file=out)
            print(steps_table(steps), file=out)
        if len(jobs) > 1:
            print(f"{label} ({job_id}): {verdict.line()}", file=out)
        elif label == "new path":
            print(verdict.line(), file=out)  # the bare verdict: `10/10 execution steps stored`
        else:
            print(f"{label}: {verdict.line()}", file=out)
    return verdicts


def _total(label: str, verdicts: Sequence[Verdict]) -> str:
    stored = sum(v.stored for v in verdicts)
    expected = sum(v.expected for v in verdicts)
    return f"{label}: {stored}/{expected} execution steps stored across {len(verdicts)} job(s)"


def main(argv: Sequence[str] | None = None, *, out: TextIO = sys.stdout) -> int:
    """Run the demo; return the exit status (0: every new-path job complete)."""
    args = parse_args(argv)
    executor = SimulatedExecutor(delay=args.step_delay / 1000, fail_steps=frozenset(args.fail))
    run = uuid.uuid4().hex[:8]
    per_job = len(DEMO_WORKFLOW.steps) + 1
    mode = "threads" if args.threads else "spawned processes"
    totals = []
    with _backend(args, out) as target, _invoker(args) as invoker:
        db = target.db()
        jobs = [(CUSTOMER_ID, f"job_{run}_{n}") for n in range(1, args.jobs + 1)]
        print(f"new path: {args.jobs} job(s) x {len(DEMO_WORKFLOW.steps)} workflow steps as "
              f"independent invocations ({args.workers} {mode}; AI calls simulated)", file=out)
        started = time.monotonic()
        orchestrator = WorkflowOrchestrator(db=db, executor=executor)
        orchestrator.run_jobs(jobs, DEMO_WORKFLOW, target=target, invoker=invoker,
                              on_report=_progress(per_job * len(jobs), out))
        print(f"(new path ran in {time.monotonic() - started:.1f} s)", file=out)
        verdicts = _show(db, jobs, label="new path", out=out)
        totals.append(_total("new path", verdicts))
        if args.compare:
            for label, reload in (("old path", False), ("old path + report's fix", True)):
                old_jobs = [(CUSTOMER_ID, f"{job_id}_{'oldfix' if reload else 'old'}")
                            for _, job_id in jobs]
                print(f"\n{label}: the same jobs, each step loading the list, running, "
                      f"appending and overwriting it; html_generation "
                      f"{'reloads first' if reload else 'appends to the list it was handed'}",
                      file=out)
                run_legacy_jobs(old_jobs, DEMO_WORKFLOW, target=target, executor=executor,
                                invoker=invoker, reload=reload,
                                on_report=_progress(per_job * len(jobs), out))
                totals.append(_total(label, _show(db, old_jobs, label=label, out=out)))
    if len(totals) > 1 or len(jobs) > 1:
        print("\n" + "\n".join(totals), file=out)
    return 0 if all(v.complete for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
