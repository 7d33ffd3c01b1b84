"""AWS Lambda entry points: one invocation per step, delivered at least once.

Each handler is `handler(event, context)`, as Lambda calls it. The event names the job
and the workflow (a shipped or deployed definition, `workflow.named_workflow`), never
carries the workflow itself:

    {"customer_id": "cust_1", "job_id": "job_42", "workflow": "demo",
     "step_index": 0,                 # step events only: the 0-based workflow step
     "attempt_id": "req-123",         # optional: default, the invocation's request id
     "fan_in": true,                  # step events only, optional (default true)
     "wait": true}                    # step events only, optional (default true)

- `start`: creates the job record if there is none, with what the complete job holds
  (`expected_steps`), and marks it processing. Safe to deliver twice, and late: a job
  already finished is left as it is, and one whose steps all came first fans in.
- `step`: runs workflow step `step_index` as one attempt (`StepProcessor.process_step`:
  a duplicate delivery of a recorded step does not run again; a late older attempt never
  replaces a newer one). Then the completion gate: when every workflow step is recorded,
  the invocation that sees it runs `html_generation` and finalises the job (`fan_in`);
  with `"fan_in": false` the caller's orchestrator (Step Functions) invokes `html` itself.
  Two steps finishing together may both run the page: its record has one slot, and the
  page of the later attempt stays (it read the steps later), so the job holds exactly
  one, built from every step. A job that is not processing is not fanned in (completed
  or failed: nothing runs again; pending: its `start` fans in). A step or html event
  whose workflow is not the one the job was started with (its expected steps differ) is
  refused, and a step of a job without a record is refused (`NotFoundError`) before
  anything runs. With `"wait": false` a step whose dependencies are not
  all recorded does not wait for them (billed idle time): it returns
  `{"status": "dependencies_not_recorded", "missing": [...]}` at once, having claimed
  and written nothing, for the orchestrator to invoke it again later (a Step Functions
  `Retry`, or a `Wait` state).
- `html`: `html_generation` (waiting for the workflow's steps), then finalisation, which
  completes the job only if every expected record is stored.

The remaining time of the invocation (`context.get_remaining_time_in_millis()`), less a
safety margin, is one deadline for every store call of the invocation (not one per call),
and a dependency wait takes at most half of the time left (`wait_share`), so that the
step's work and its writes keep the rest: a handler gives up (typed error) before Lambda
kills it mid-write. An
invocation with less time left than the margin raises `InvocationTimeError` before any
request. A bad event raises `InvalidEventError` naming the field, before any request.
Each handler returns a JSON-ready dict that says what it did.

Wire it up in the function's own module, with the executor that calls the models::

    from worker_integration.lambda_handler import Handlers
    handlers = Handlers.from_environment(executor=MyExecutor())  # S3STORE_BUCKET, ...
    start, step, html = handlers.start, handlers.step, handlers.html
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from s3store import InvalidKeyError, JsonStore, RetryPolicy
from worker_integration.db_service import DBService, check_id
from worker_integration.errors import WorkerError
from worker_integration.executor import Executor
from worker_integration.invocations import BotoConnector
from worker_integration.job_record import IllegalTransitionError, JobRecord, JobStatus
from worker_integration.services.job_completion_service import JobCompletionService
from worker_integration.services.step_processor import (
    DependencyTimeoutError,
    StepProcessor,
    wait_for_records,
)
from worker_integration.services.workflow_orchestrator import WorkflowOrchestrator
from worker_integration.workflow import WORKFLOWS, Workflow, named_workflow

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["DEFAULT_SAFETY_MARGIN", "Handlers", "InvalidEventError", "InvocationTimeError",
           "LambdaContext", "StepEvent"]

DEFAULT_SAFETY_MARGIN: Final = 2.0
"""Seconds kept back from the invocation's remaining time: to report, and for the last
request in flight to end."""

_FIELDS: Final = frozenset({"customer_id", "job_id", "workflow", "step_index", "attempt_id",
                            "fan_in", "wait"})


class LambdaContext(Protocol):
    """What the handlers use of Lambda's context object."""

    @property
    def aws_request_id(self) -> str:
        """The invocation's id (a retry of the same event gets a new one)."""
        ...

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before Lambda stops the invocation."""
        ...


class InvalidEventError(WorkerError, ValueError):
    """An event the handlers cannot use; `field` names what is wrong."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(f"event field {field!r}: {message}")
        self.field = field


class InvocationTimeError(WorkerError, RuntimeError):
    """Too little of the invocation's time is left to start (nothing was sent)."""


@dataclass(frozen=True)
class StepEvent:
    """A parsed event: the job, the workflow's name, the step (None for start and html),
    the attempt id given (None: the request id), whether a step may fan in, and whether
    it waits for its dependencies."""

    customer_id: str
    job_id: str
    workflow: str
    step_index: int | None = None
    attempt_id: str | None = None
    fan_in: bool = True
    wait: bool = True

    @classmethod
    def parse(cls, event: Any, *, step: bool) -> StepEvent:
        """Check `event`'s shape (a step event needs `step_index`; other events must not
        have one). Raises `InvalidEventError`."""
        if not isinstance(event, Mapping):
            raise InvalidEventError("the event must be a JSON object", field="event")
        unknown = sorted(set(event) - _FIELDS)
        if unknown:
            raise InvalidEventError(f"unknown fields {unknown}", field=unknown[0])
        for name in ("customer_id", "job_id", "workflow"):
            if not isinstance(event.get(name), str):
                raise InvalidEventError("must be a string", field=name)
        for name in ("customer_id", "job_id"):
            try:
                check_id(name, event[name])
            except InvalidKeyError as exc:
                raise InvalidEventError(exc.message, field=name) from None
        index = event.get("step_index")
        if step and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
            raise InvalidEventError("must be a 0-based step index", field="step_index")
        if not step and "step_index" in event:
            raise InvalidEventError("only step events have one", field="step_index")
        attempt_id = event.get("attempt_id")
        if attempt_id is not None and (not isinstance(attempt_id, str) or not attempt_id):
            raise InvalidEventError("must be a non-empty string", field="attempt_id")
        flags = {}
        for name in ("fan_in", "wait"):
            flags[name] = event.get(name, True)
            if not isinstance(flags[name], bool) or (not step and name in event):
                raise InvalidEventError("a step event's boolean", field=name)
        return cls(event["customer_id"], event["job_id"], event["workflow"], index,
                   attempt_id, **flags)


@dataclass(frozen=True, kw_only=True)
class Handlers:
    """The Lambda handlers of one function, sharing one boto3 client (per container).

    `workflows` is where named workflows are defined (`{name}.json`); `safety_margin`
    the seconds kept back from each invocation's remaining time; `retry` the store's
    policy (default: `RetryPolicy`'s, without its 10 s deadline: every call stops at the
    invocation's end instead); `wait_share` the part of the
    time left a dependency wait may take, polling the steps every `poll_interval`
    seconds (two GETs a poll); `sleep` how dependency waits sleep.
    """

    client: S3Client
    bucket: str
    executor: Executor
    workflows: Path = WORKFLOWS
    safety_margin: float = DEFAULT_SAFETY_MARGIN
    # No deadline of the policy's own: the invocation's end is every call's (`store_until`).
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(deadline=None))
    wait_share: float = 0.5
    poll_interval: float = 0.5
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)

    @classmethod
    def from_environment(cls, *, executor: Executor,
                         environ: Mapping[str, str] = os.environ) -> Handlers:
        """Handlers on `S3STORE_BUCKET` (required), with the standard AWS configuration
        (`AWS_ENDPOINT_URL_S3` included) and `WORKER_WORKFLOWS` (a folder of definitions;
        default: the shipped ones). Raises `ValueError` without a bucket."""
        bucket = environ.get("S3STORE_BUCKET")
        if not bucket:
            raise ValueError("S3STORE_BUCKET is not set: the handlers need a bucket")
        return cls(client=BotoConnector()(), bucket=bucket, executor=executor,
                   workflows=Path(environ.get("WORKER_WORKFLOWS") or WORKFLOWS))

    def start(self, event: Any, context: LambdaContext) -> dict[str, Any]:
        """Create (if needed) and start the job the event names. A job already finished
        is left as it is; one whose steps are all recorded (they came first) fans in."""
        parsed, workflow = self._parse(event, step=False)
        end = self._end(context)
        db = DBService(self.store_until(end))
        try:
            job = WorkflowOrchestrator(db=db, executor=self.executor).start_job(
                parsed.customer_id, parsed.job_id, workflow)
        except IllegalTransitionError:  # a late duplicate of a start: the job is done
            job = db.get_job(parsed.customer_id, parsed.job_id)
        status = job.status.value
        if job.status is JobStatus.PROCESSING and self._all_recorded(db, parsed, workflow):
            status = self._complete(db, parsed, workflow, end)
        return {"customer_id": job.customer_id, "job_id": job.job_id, "status": status,
                "expected_steps": len(job.expected_steps or ())}

    def step(self, event: Any, context: LambdaContext) -> dict[str, Any]:
        """Run the event's workflow step as one attempt; fan in when it is the last."""
        parsed, workflow = self._parse(event, step=True)
        assert parsed.step_index is not None  # noqa: S101 - parse() checked it
        if parsed.step_index >= len(workflow.steps):
            raise InvalidEventError(f"workflow {parsed.workflow!r} has "
                                    f"{len(workflow.steps)} steps", field="step_index")
        end = self._end(context)
        db = DBService(self.store_until(end))
        self._check_job(db, parsed, workflow)
        if not parsed.wait and not self._recorded(db, parsed, workflow):
            try:  # looked at once: a dependency not recorded is not waited for
                wait_for_records(db, parsed.customer_id, parsed.job_id,
                                 workflow.dependency_orders(parsed.step_index),
                                 timeout=0.0, poll_interval=1.0)
            except DependencyTimeoutError as exc:
                return {"customer_id": parsed.customer_id, "job_id": parsed.job_id,
                        "step_order": workflow.step_order(parsed.step_index),
                        "status": "dependencies_not_recorded", "missing": sorted(exc.missing)}
        record = StepProcessor(db=db, executor=self.executor,
                               dependency_timeout=self._wait_budget(end),
                               poll_interval=self.poll_interval,
                               sleep=self.sleep).process_step(
            parsed.customer_id, parsed.job_id, workflow, parsed.step_index,
            attempt_id=parsed.attempt_id or context.aws_request_id)
        complete = self._all_recorded(db, parsed, workflow)
        result: dict[str, Any] = {
            "customer_id": parsed.customer_id, "job_id": parsed.job_id,
            "step_order": record.step_order, "status": "recorded", "success": record.success,
            "attempt": record.attempt, "attempt_id": record.attempt_id,
            "all_steps_recorded": complete, "job_status": None}
        if complete and parsed.fan_in:
            result["job_status"] = self._complete(db, parsed, workflow, end)
        return result

    def html(self, event: Any, context: LambdaContext) -> dict[str, Any]:
        """Generate the job's page and finalise it (the orchestrator's fan-in)."""
        parsed, workflow = self._parse(event, step=False)
        end = self._end(context)
        db = DBService(self.store_until(end))
        status = self._complete(db, parsed, workflow, end)
        return {"customer_id": parsed.customer_id, "job_id": parsed.job_id,
                "job_status": status}

    # -- internals -------------------------------------------------------------

    def _parse(self, event: Any, *, step: bool) -> tuple[StepEvent, Workflow]:
        parsed = StepEvent.parse(event, step=step)
        try:
            return parsed, named_workflow(parsed.workflow, directory=self.workflows)
        except ValueError as exc:
            raise InvalidEventError(str(exc), field="workflow") from None

    def _end(self, context: LambdaContext) -> float:
        """When (`time.monotonic()`) this invocation must be done: its remaining time less
        the safety margin. Raises `InvocationTimeError` if that is already past."""
        left = context.get_remaining_time_in_millis() / 1000 - self.safety_margin
        if left <= 0:
            raise InvocationTimeError(
                f"{context.get_remaining_time_in_millis()} ms left, less than the "
                f"{self.safety_margin} s safety margin: not started")
        return time.monotonic() + left

    def _wait_budget(self, end: float) -> float:
        """How long a dependency wait may take: `wait_share` of the time left, so that
        the step's own work and its writes keep the rest."""
        return max(0.0, (end - time.monotonic()) * self.wait_share)

    def store_until(self, end: float) -> JsonStore:
        """A store for one invocation: the handlers' retry policy, each call giving up at
        `end` (`time.monotonic()`) at the latest — one deadline for the invocation, not
        one per call."""
        return JsonStore(self.client, self.bucket, retry=_Until.of(self.retry, end))

    def _check_job(self, db: DBService, parsed: StepEvent, workflow: Workflow) -> JobRecord:
        """The job's record; refuse an event whose workflow is not the one the job was
        started with."""
        job = db.get_job(parsed.customer_id, parsed.job_id)
        if job.expected_steps is not None and job.expected_steps != workflow.expected_steps:
            raise InvalidEventError(
                f"job {parsed.customer_id}/{parsed.job_id} was started with another workflow "
                f"than {parsed.workflow!r} (its expected steps differ): nothing written",
                field="workflow")
        return job

    def _recorded(self, db: DBService, parsed: StepEvent, workflow: Workflow) -> bool:
        """Whether the event's step is already recorded as a success (a duplicate: it
        runs nothing, whatever its dependencies are doing)."""
        assert parsed.step_index is not None  # noqa: S101 - a step event
        identity = (workflow.step_order(parsed.step_index),
                    workflow.steps[parsed.step_index].step_type)
        return any(step.identity == identity and step.success
                   for step in db.get_execution_steps(parsed.customer_id, parsed.job_id))

    def _all_recorded(self, db: DBService, parsed: StepEvent, workflow: Workflow) -> bool:
        """Every workflow step recorded, by the rule the page's wait applies."""
        try:
            wait_for_records(db, parsed.customer_id, parsed.job_id,
                             [workflow.step_order(i) for i in range(len(workflow.steps))],
                             timeout=0.0, poll_interval=1.0)
        except DependencyTimeoutError:
            return False
        return True

    def _complete(self, db: DBService, parsed: StepEvent, workflow: Workflow,
                  end: float) -> str:
        """The page and finalisation, for a job that is processing; the status of one that
        is not (pending: its start fans in; completed or failed: nothing to do)."""
        job = self._check_job(db, parsed, workflow)
        if job.status is not JobStatus.PROCESSING:
            return job.status.value
        completion = JobCompletionService(db=db, executor=self.executor,
                                          dependency_timeout=self._wait_budget(end),
                                          poll_interval=self.poll_interval,
                                          sleep=self.sleep)
        completion.generate_html(parsed.customer_id, parsed.job_id, workflow)
        return completion.finalize_job(parsed.customer_id, parsed.job_id,
                                       workflow).status.value


@dataclass(frozen=True, kw_only=True)
class _Until(RetryPolicy):
    """A retry policy whose calls give up at the absolute time `end` (`time.monotonic()`)
    at the latest, or at the policy's own deadline or the call's, whichever comes first."""

    end: float

    @classmethod
    def of(cls, policy: RetryPolicy, end: float) -> _Until:
        return cls(max_attempts=policy.max_attempts, base_delay=policy.base_delay,
                   max_delay=policy.max_delay, deadline=policy.deadline, sleep=policy.sleep,
                   end=end)

    def ends_at(self, started: float, deadline: float | None = None) -> float | None:
        """The policy's end for a call started at `started`, never after `end`."""
        own = super().ends_at(started, deadline)
        return self.end if own is None else min(own, self.end)
