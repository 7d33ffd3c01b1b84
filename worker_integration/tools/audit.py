"""Auditing jobs' execution steps: what the incident (and any lost update) leaves behind.

A job is audited against what its complete form holds: the `expected_steps` its record
got when it started, else the workflow the caller names (`--workflow`). Kinds of finding:

| kind                        | meaning                                                     |
|-----------------------------|-------------------------------------------------------------|
| `gap`                       | an expected step has no record (without expected steps: a   |
|                             | workflow `step_order` below the last stored one)            |
| `unexpected_step`           | a record whose `(step_order, step_type)` the job does not   |
|                             | expect (a step at another order, or of another type)        |
| `duplicate`                 | one `(step_order, step_type)` is stored more than once      |
| `missing_html_generation`   | no `html_generation` record (or no steps document at all)   |
| `misplaced_html_generation` | `html_generation` not at the order the job expects it (the  |
|                             | incident's `len(list) + 1`); without expected steps: not    |
|                             | after every stored workflow step, or at order 1             |
| `corrupt`                   | the document is not a JSON array of valid step records      |

A job whose record says it is still `pending` or `processing`, or that `failed`, is
not expected to be complete: gaps and a missing `html_generation` are not findings
there (it is counted as unfinished). A job with no finding whose expected steps are
unknown (no record, or one from before `expected_steps`, and no workflow named) is
never "clean": nobody can tell how long its workflow is, so it is counted as *cannot
tell*, with the reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from s3store import (
    CorruptDocumentError,
    DocumentTooLargeError,
    JsonStore,
    NotFoundError,
)
from worker_integration.db_service import DBService, parse_steps
from worker_integration.job_record import JobRecord, JobStatus, StepIdentity
from worker_integration.models import ExecutionStep, StepType
from worker_integration.tools.job_listing import JobRef
from worker_integration.workflow import Workflow

__all__ = ["FINDING_KINDS", "Finding", "FindingKind", "JobAudit", "audit_job", "audit_records",
           "audit_steps"]

FindingKind = Literal["gap", "unexpected_step", "duplicate", "missing_html_generation",
                      "misplaced_html_generation", "corrupt"]
FINDING_KINDS: Final[tuple[FindingKind, ...]] = get_args(FindingKind)
"""Every kind of finding, in the order summaries list them."""

_HTML: Final = StepType.HTML_GENERATION.value
_NOT_WORKFLOW: Final = frozenset({_HTML, StepType.FORM_SUBMISSION.value})
_COMPLETENESS: Final[frozenset[FindingKind]] = frozenset({"gap", "missing_html_generation"})
_UNFINISHED: Final = frozenset({JobStatus.PENDING, JobStatus.PROCESSING, JobStatus.FAILED})


@dataclass(frozen=True)
class Finding:
    """One thing wrong with a job's steps: its kind and a sentence for people."""

    kind: FindingKind
    detail: str


def _orders(orders: Sequence[int]) -> str:
    return ", ".join(str(order) for order in orders)


def _duplicates(steps: Sequence[ExecutionStep]) -> list[Finding]:
    return [Finding("duplicate", f"({order}, {step_type}) is stored {count} times")
            for (order, step_type), count in sorted(Counter(s.identity for s in steps)
                                                    .items()) if count > 1]


def audit_records(steps: Sequence[ExecutionStep],
                  expected: Sequence[StepIdentity] | None = None) -> list[Finding]:
    """The findings on a job's parsed step records against the records it `expected`
    (pure; see the module's table). Without `expected`, only what is wrong whatever the
    workflow: gaps below the last stored step, html_generation not after them."""
    if expected is not None:
        return _against(steps, expected)
    findings = _duplicates(steps)
    workflow = {s.step_order for s in steps if s.step_type not in _NOT_WORKFLOW}
    last_workflow = max(workflow, default=0)
    html = sorted({s.step_order for s in steps if s.step_type == _HTML})
    placed = [order for order in html if order > max(last_workflow, 1)]
    for order in html:
        if order not in placed:
            where = (f"not after the last workflow step ({last_workflow})" if last_workflow
                     else "with no workflow step stored before it")
            findings.append(Finding("misplaced_html_generation",
                                    f"html_generation at step_order {order}, {where}"))
    for order in placed[1:]:
        findings.append(Finding("misplaced_html_generation",
                                f"html_generation stored again at step_order {order}"))
    end = placed[0] - 1 if placed else last_workflow
    gaps = [order for order in range(1, end + 1) if order not in workflow]
    if gaps:
        findings.append(Finding("gap", f"no record for step_order {_orders(gaps)}"))
    if not html:
        findings.append(Finding("missing_html_generation", "no html_generation record"))
    return findings


def _against(steps: Sequence[ExecutionStep],
             expected: Sequence[StepIdentity]) -> list[Finding]:
    findings = _duplicates(steps)
    wanted = set(expected)
    html_orders = [order for order, step_type in expected if step_type == _HTML]
    stored = {s.identity for s in steps}
    for order, step_type in sorted(stored - wanted):
        if step_type == _HTML:
            where = (f"expected at {html_orders[0]}" if html_orders
                     else "the job expects none")
            findings.append(Finding("misplaced_html_generation",
                                    f"html_generation at step_order {order}, {where}"))
        elif step_type in _NOT_WORKFLOW:
            continue  # a form submission is the job's input, not one of its steps
        else:
            findings.append(Finding("unexpected_step", f"({order}, {step_type}) is not a "
                                                       "step this job expects"))
    gaps = [(order, step_type) for order, step_type in expected
            if step_type != _HTML and (order, step_type) not in stored]
    if gaps:
        findings.append(Finding("gap", "no record for step_order " + ", ".join(
            f"{order} ({step_type})" for order, step_type in gaps)))
    if html_orders and not any(step_type == _HTML for _, step_type in stored):
        findings.append(Finding("missing_html_generation", "no html_generation record"))
    return findings


def audit_steps(value: Any, *, key: str,
                expected: Sequence[StepIdentity] | None = None) -> list[Finding]:
    """The findings on a stored steps document's value (pure): `corrupt` if it does not
    parse, else those of `audit_records`."""
    try:
        steps = parse_steps(value, key=key)
    except CorruptDocumentError as exc:
        return [Finding("corrupt", exc.message)]
    return audit_records(steps, expected)


@dataclass(frozen=True)
class JobAudit:
    """A job's audit: its findings, whether its record says it is unfinished, and, when
    nothing says which steps it must hold, why it `cannot_tell` whether it is complete."""

    job: JobRef
    findings: tuple[Finding, ...]
    unfinished: bool = False
    cannot_tell: str | None = None

    @property
    def clean(self) -> bool:
        """Checked against what it expects, finished, and nothing found."""
        return not self.findings and not self.unfinished and self.cannot_tell is None


def _job_record(db: DBService, job: JobRef) -> tuple[JobRecord | None, str | None]:
    """The job's record, or None with why it could not be used."""
    if not job.has_record:
        return None, "the job has no record"
    try:
        return db.get_job(job.customer_id, job.job_id), None
    except NotFoundError:
        return None, "the job has no record"
    except (CorruptDocumentError, DocumentTooLargeError) as exc:
        return None, f"its record cannot be read ({exc.message})"


def audit_job(store: JsonStore, job: JobRef, *, workflow: Workflow | None = None) -> JobAudit:
    """Read the job's steps and its record, and audit the steps against the records the
    job expects: its record's `expected_steps`, else `workflow`'s.

    Raises the store's errors other than a missing, corrupt or oversized document.
    """
    record, unreadable = _job_record(DBService(store), job)
    expected = record.expected_steps if record is not None else None
    if expected is None and workflow is not None:
        expected = workflow.expected_steps
    findings: list[Finding]
    if not job.has_steps:
        findings = [Finding("missing_html_generation", "no execution steps stored")]
    else:
        try:
            findings = audit_steps(store.get(job.steps_key).value, key=job.steps_key,
                                   expected=expected)
        except NotFoundError:  # deleted since it was listed
            findings = [Finding("missing_html_generation", "no execution steps stored")]
        except (CorruptDocumentError, DocumentTooLargeError) as exc:
            findings = [Finding("corrupt", exc.message)]
    unfinished = record is not None and record.status in _UNFINISHED
    if unfinished:
        findings = [f for f in findings if f.kind not in _COMPLETENESS]
    cannot_tell = None
    if expected is None and not findings and not unfinished:
        cannot_tell = (f"{unreadable or 'its record does not say which steps it holds'}, "
                       "and no workflow was named: nobody can tell how long its workflow is")
    return JobAudit(job, tuple(findings), unfinished=unfinished and not findings,
                    cannot_tell=cannot_tell)
