"""THE OLD, BROKEN CODE PATH — kept only to show what it loses (`demo --compare`, tests).

Never use it to store anything. It is the incident's code, rewritten faithfully:

- a step reads the list from S3 — or starts from `[]` when the object is missing
  *or the read fails* — runs (seconds, for an AI call), appends its record and
  writes the whole list back with a plain `PutObject`, no condition. Whatever
  another invocation saved in between is erased. (This is already *with* the bug
  report's fix, "reload before processing each step"; it only narrows the window.)
- completion appends `html_generation` to the list it was handed — in the incident,
  an empty or stale one — with `step_order = len(list) + 1`, and writes that list
  back: steps 1-9 vanish and `html_generation` is saved alone at order 1. With
  `reload=True` (the report's other fix) it reloads first, and still loses what
  the steps lost, and still takes its order from the list's length.

Steps on this path do not wait for their dependencies: the old worker did not.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from worker_integration.db_service import execution_steps_key
from worker_integration.executor import Executor
from worker_integration.invocations import (
    Invocation,
    InvocationReport,
    Invoker,
    ReportCallback,
    S3Target,
)
from worker_integration.services.execution_step_manager import (
    html_generation_request,
    workflow_step_request,
)
from worker_integration.services.step_processor import execute_step
from worker_integration.workflow import Workflow

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["LegacyHtmlInvocation", "LegacyStepInvocation", "LegacyStepStore", "run_legacy_jobs"]


class LegacyStepStore:
    """The old storage: load the list (or `[]` on any failure), save it unconditionally."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def load(self, customer_id: str, job_id: str) -> list[dict[str, Any]]:
        """The stored list, or `[]` if it is missing, unreadable or not a list (as before)."""
        try:
            response = self.client.get_object(
                Bucket=self.bucket, Key=execution_steps_key(customer_id, job_id))
            value = json.loads(response["Body"].read())
        except Exception:  # the incident's fallback: any failure means "empty"
            return []
        return value if isinstance(value, list) else []

    def save(self, customer_id: str, job_id: str, steps: Sequence[Mapping[str, Any]]) -> None:
        """Overwrite the stored list with `steps`: a plain `PutObject`, no condition."""
        self.client.put_object(Bucket=self.bucket, Key=execution_steps_key(customer_id, job_id),
                               Body=json.dumps(list(steps)).encode(),
                               ContentType="application/json")


@dataclass(frozen=True, kw_only=True)
class LegacyStepInvocation:
    """Workflow step `index` the old way: load, run, append, overwrite."""

    target: S3Target
    executor: Executor
    customer_id: str
    job_id: str
    workflow: Workflow
    index: int

    def __call__(self) -> InvocationReport:
        """Run the step the old way; raises what S3 raises on the final `PutObject`."""
        store = LegacyStepStore(self.target.client(), self.target.bucket)
        steps = store.load(self.customer_id, self.job_id)
        wanted = set(self.workflow.dependency_orders(self.index))
        context = {s["step_order"]: s.get("output") for s in steps
                   if s.get("step_order") in wanted}
        request = workflow_step_request(self.workflow, self.index,
                                        customer_id=self.customer_id, job_id=self.job_id,
                                        context=context)
        record = execute_step(self.executor, request)  # meanwhile others save their lists
        steps.append(record.to_dict())
        store.save(self.customer_id, self.job_id, steps)
        return InvocationReport.of(self.customer_id, self.job_id, record, path="old")


@dataclass(frozen=True, kw_only=True)
class LegacyHtmlInvocation:
    """`html_generation` the old way: append to the list handed over (or reloaded) at
    `step_order = len(list) + 1`, and overwrite."""

    target: S3Target
    executor: Executor
    customer_id: str
    job_id: str
    workflow: Workflow
    execution_steps: tuple[Mapping[str, Any], ...] = ()
    reload: bool = False

    def __call__(self) -> InvocationReport:
        """Generate the HTML the old way; raises what S3 raises on the `PutObject`."""
        store = LegacyStepStore(self.target.client(), self.target.bucket)
        steps = (store.load(self.customer_id, self.job_id) if self.reload
                 else [dict(step) for step in self.execution_steps])
        context = {s["step_order"]: s.get("output") for s in steps if "step_order" in s}
        request = replace(
            html_generation_request(self.workflow, customer_id=self.customer_id,
                                    job_id=self.job_id, context=context, model="gpt-4o-mini"),
            step_order=len(steps) + 1,  # the incident's bug: an order from a list's length
        )
        record = execute_step(self.executor, request)
        steps.append(record.to_dict())
        store.save(self.customer_id, self.job_id, steps)
        return InvocationReport.of(self.customer_id, self.job_id, record, path="old")


def run_legacy_jobs(jobs: Sequence[tuple[str, str]], workflow: Workflow, *, target: S3Target,
                    executor: Executor, invoker: Invoker, reload: bool = False,
                    on_report: ReportCallback | None = None) -> list[InvocationReport]:
    """Run jobs the old way, batched like `WorkflowOrchestrator.run_jobs`.

    Every workflow step is an invocation; then each job's `html_generation`, handed
    the orchestrator's own list — empty, since the steps ran elsewhere — or, with
    `reload`, reloading first. Returns every invocation's report.
    """
    steps: list[Invocation] = [
        LegacyStepInvocation(target=target, executor=executor, customer_id=customer_id,
                             job_id=job_id, workflow=workflow, index=index)
        for customer_id, job_id in jobs for index in range(len(workflow.steps))
    ]
    pages: list[Invocation] = [
        LegacyHtmlInvocation(target=target, executor=executor, customer_id=customer_id,
                             job_id=job_id, workflow=workflow, reload=reload)
        for customer_id, job_id in jobs
    ]
    return invoker.run(steps, on_report=on_report) + invoker.run(pages, on_report=on_report)
