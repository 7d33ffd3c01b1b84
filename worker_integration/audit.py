"""Auditing jobs' execution steps: what the incident (and any lost update) leaves behind.

Kinds of finding, on a job's stored steps:

| kind                        | meaning                                                     |
|-----------------------------|-------------------------------------------------------------|
| `gap`                       | a workflow `step_order` below the last one has no record    |
| `duplicate`                 | one `(step_order, step_type)` is stored more than once      |
| `missing_html_generation`   | no `html_generation` record (or no steps document at all)   |
| `misplaced_html_generation` | `html_generation` is not after every workflow step — the    |
|                             | incident's `len(list) + 1` (a workflow has at least one     |
|                             | step, so it is never at order 1)                            |
| `corrupt`                   | the document is not a JSON array of valid step records      |

A job whose record says it is still `pending` or `processing`, or that `failed`, is
not expected to be complete: gaps and a missing `html_generation` are not findings
there (it is counted as unfinished). Jobs without a record are checked in full.
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
from worker_integration.job_listing import JobRef
from worker_integration.job_record import JobStatus
from worker_integration.models import ExecutionStep, StepType

__all__ = ["FINDING_KINDS", "Finding", "FindingKind", "JobAudit", "audit_job", "audit_records",
           "audit_steps"]

FindingKind = Literal["gap", "duplicate", "missing_html_generation",
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


def audit_records(steps: Sequence[ExecutionStep]) -> list[Finding]:
    """The findings on a job's parsed step records (pure; see the module's table)."""
    findings = [Finding("duplicate", f"({order}, {step_type}) is stored {count} times")
                for (order, step_type), count in sorted(Counter(s.identity for s in steps)
                                                        .items()) if count > 1]
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


def audit_steps(value: Any, *, key: str) -> list[Finding]:
    """The findings on a stored steps document's value (pure): `corrupt` if it does not
    parse, else those of `audit_records`."""
    try:
        steps = parse_steps(value, key=key)
    except CorruptDocumentError as exc:
        return [Finding("corrupt", exc.message)]
    return audit_records(steps)


@dataclass(frozen=True)
class JobAudit:
    """A job's audit: its findings, and whether its record says it is unfinished."""

    job: JobRef
    findings: tuple[Finding, ...]
    unfinished: bool = False


def _job_status(db: DBService, job: JobRef) -> JobStatus | None:
    if not job.has_record:
        return None
    try:
        return db.get_job(job.customer_id, job.job_id).status
    except (NotFoundError, CorruptDocumentError):
        return None  # without a readable record, the steps are checked in full


def audit_job(store: JsonStore, job: JobRef) -> JobAudit:
    """Read the job's steps (and, if they look incomplete, its record) and audit them.

    Raises the store's errors other than a missing, corrupt or oversized document.
    """
    findings: list[Finding]
    if not job.has_steps:
        findings = [Finding("missing_html_generation", "no execution steps stored")]
    else:
        try:
            findings = audit_steps(store.get(job.steps_key).value, key=job.steps_key)
        except NotFoundError:  # deleted since it was listed
            findings = [Finding("missing_html_generation", "no execution steps stored")]
        except (CorruptDocumentError, DocumentTooLargeError) as exc:
            findings = [Finding("corrupt", exc.message)]
    if not any(finding.kind in _COMPLETENESS for finding in findings):
        return JobAudit(job, tuple(findings))
    status = _job_status(DBService(store), job)
    if status is None:
        return JobAudit(job, tuple(findings))
    if status in _UNFINISHED:
        return JobAudit(job, tuple(f for f in findings if f.kind not in _COMPLETENESS),
                        unfinished=True)
    return JobAudit(job, tuple(findings))
