"""Recovering lost execution steps from the older versions of a job's steps document.

Where the bucket keeps object versions, every overwritten steps document is still
there. Recovery reads each version (`ListObjectVersions`, paginated, then
`GetObject` by `VersionId`), rebuilds the union of their step records, and writes
back what the current document lacks, through `JsonStore.update()`.

Which record of a step is restored, when the versions hold several: the one of the
latest attempt (`attempt`, claimed in the job record by each invocation), and among
records of the same attempt (or without one) the one that *first appeared* latest.
A copy that reappears later — an old-path writer saving what it read before a rerun,
a writer restoring an edited record's old bytes — counts from the version it first
appeared in, so it never wins over the rerun or the edit. Timestamps are not used:
a host's clock can be minutes behind, and an edit keeps `completed_at`.

- a record whose identity the current document lacks is added, exactly as it was
  stored; nothing the current document holds is removed or changed, so a worker
  writing at the same time loses nothing (the update is a compare-and-swap). A job
  has one `html_generation`: it is added only if the document has none (the one
  chosen as above among every `html_generation` the versions hold);
- an `html_generation` stored at another order than the job's workflow puts it (the
  incident's `len(list) + 1`) is moved there, all its fields kept — unless a record
  already holds that place. Where it belongs comes from the job record's
  `expected_steps`, else from the workflow the caller names; when neither says, it is
  not moved (`Restoration.html_unmoved` says why): the last stored step is not the
  last step of a job whose later steps are still running or were lost.

Versions that are not a JSON array, and records in them that do not parse, are
skipped and counted. Recovery never creates a document that is gone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from s3store import (
    DEFAULT_MAX_DOCUMENT_BYTES,
    CorruptDocumentError,
    DocumentTooLargeError,
    JsonStore,
    NotFoundError,
)
from worker_integration.db_service import DBService, execution_steps_key, parse_steps
from worker_integration.job_record import StepIdentity
from worker_integration.models import ExecutionStep, InvalidRecordError, StepType
from worker_integration.workflow import Workflow

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "Found",
    "HtmlMove",
    "Identity",
    "JobRecovery",
    "Record",
    "Restoration",
    "StoredVersion",
    "read_versions",
    "recover_job",
    "restore_steps",
    "union_of_versions",
]

_HTML: Final = StepType.HTML_GENERATION.value
_NOT_WORKFLOW: Final = frozenset({_HTML, StepType.FORM_SUBMISSION.value})

Identity = tuple[int, str]
"""A step's identity: `(step_order, step_type)`."""
Record = dict[str, Any]
"""A step record as stored (unknown fields included)."""


@dataclass(frozen=True)
class StoredVersion:
    """One version of a steps document: its id, when it was written, and its valid
    records (`None` if the version is not a JSON array); `skipped` counts records that
    did not parse."""

    version_id: str
    last_modified: datetime
    records: tuple[Record, ...] | None
    skipped: int = 0


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _records_of(body: bytes) -> tuple[tuple[Record, ...] | None, int]:
    try:
        value = json.loads(body, parse_constant=_reject_constant)
    except ValueError:  # invalid UTF-8 or JSON, NaN, Infinity
        return None, 0
    if not isinstance(value, list):
        return None, 0
    records: list[Record] = []
    for record in value:
        try:
            ExecutionStep.from_stored(record)  # an identity is all recovery needs
        except InvalidRecordError:
            continue
        records.append(record)
    return tuple(records), len(value) - len(records)


def read_versions(store: JsonStore, client: S3Client, key: str, *, page_size: int = 1000,
                  max_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES) -> list[StoredVersion]:
    """Every version of `key` (delete markers left out), oldest first, with its records.

    A version over `max_bytes` counts as unreadable (records `None`). On a bucket
    that never had versioning, the one current object. Raises `StorageError` when the
    listing fails or loops (code `RepeatedListingPage`), what boto3 raises on a read.
    """
    listed = list(store.versions(key, page_size=page_size))
    bucket = store.bucket
    versions = []
    for version_id, last_modified in ((v.version_id, v.last_modified)
                                      for v in reversed(listed)):  # listed newest first
        response = client.get_object(Bucket=bucket, Key=key, VersionId=version_id)
        body = response["Body"]
        try:
            data = body.read(max_bytes + 1)
        finally:
            body.close()
        records, skipped = (None, 0) if len(data) > max_bytes else _records_of(data)
        versions.append(StoredVersion(version_id, last_modified, records, skipped))
    return versions


def _identity(record: Record) -> Identity:
    return int(record["step_order"]), str(record["step_type"])


def _attempt(record: Record) -> int:
    value = record.get("attempt")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(frozen=True)
class Found:
    """A step record found in the versions: the record as stored, and when its content
    first appeared (`first_seen`: the version's index, oldest first, and the record's
    position in it)."""

    record: Record
    first_seen: tuple[int, int]

    @property
    def rank(self) -> tuple[int, tuple[int, int]]:
        """Greater is newer: the attempt, then the first appearance."""
        return _attempt(self.record), self.first_seen


def _canonical(value: Any) -> Any:
    """`value` with integral floats as ints, so that a copy re-saved by a writer that
    re-serialises numbers (JavaScript writes `1200.0` as `1200`) is the same content."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def _content(record: Record) -> str:
    """A record's content, as the same whatever key order or number spelling it has."""
    return json.dumps(_canonical(record), sort_keys=True, separators=(",", ":"))


def union_of_versions(versions: Iterable[StoredVersion]) -> dict[Identity, Found]:
    """For each `(step_order, step_type)` in `versions` (oldest first), the record that
    stays: the latest attempt, then the latest first appearance (see the module's
    docstring). Pure."""
    first: dict[tuple[Identity, str], Found] = {}
    for index, version in enumerate(versions):
        for position, record in enumerate(version.records or ()):
            seen = (_identity(record), _content(record))
            if seen not in first:
                first[seen] = Found(record, (index, position))
    union: dict[Identity, Found] = {}
    for (identity, _), found in first.items():
        held = union.get(identity)
        if held is None or found.rank > held.rank:
            union[identity] = found
    return union


@dataclass(frozen=True)
class HtmlMove:
    """`html_generation` moved from the order it was stored at to after the last step."""

    from_order: int
    to_order: int


@dataclass(frozen=True)
class Restoration:
    """What one application of `restore_steps` did: the records it added (as stored
    in the older versions), the `html_generation` it moved, if any, and why one that
    looks misplaced was not moved (`html_unmoved`)."""

    added: tuple[Record, ...]
    html_move: HtmlMove | None
    html_unmoved: str | None = None

    @property
    def changes(self) -> bool:
        """Whether it changes the document at all."""
        return bool(self.added) or self.html_move is not None


def _looks_misplaced(records: Sequence[Record], order: int) -> bool:
    last = max((o for o, step_type in map(_identity, records)
                if step_type not in _NOT_WORKFLOW), default=0)
    return order <= max(last, 1)


def _place_html(records: list[Record],
                expected: Sequence[StepIdentity] | None) -> tuple[HtmlMove | None, str | None]:
    """Move `records`' one `html_generation` (in place) to the order `expected` puts it;
    the move, or why a misplaced-looking one stays."""
    html = [n for n, record in enumerate(records) if record["step_type"] == _HTML]
    if len(html) != 1:
        return None, None  # none, or several to choose from: audit reports them
    record = records[html[0]]
    order = _identity(record)[0]
    if expected is None:
        if not _looks_misplaced(records, order):
            return None, None
        return None, (f"html_generation at step_order {order} not moved: the job record does "
                      "not say where it belongs (name the job's workflow with --workflow)")
    targets = [o for o, step_type in expected if step_type == _HTML]
    if not targets or targets[0] == order:
        return None, None
    target = targets[0]
    if any(_identity(r)[0] == target for r in records):
        return None, (f"html_generation at step_order {order} not moved: step_order {target}, "
                      "where it belongs, is taken")
    records[html[0]] = {**record, "step_order": target}
    return HtmlMove(from_order=order, to_order=target), None


def restore_steps(current: Any, union: Mapping[Identity, Found], *, key: str,
                  expected: Sequence[StepIdentity] | None = None,
                  ) -> tuple[list[Record], Restoration]:
    """`current` (a stored steps value) with the records of `union` it lacks (an
    `html_generation` only if it has none), and its `html_generation` placed where
    `expected` (the job's complete records) puts it (see the module's docstring).

    Pure: the result is a new list; the records `current` had are the very objects
    read (except a moved `html_generation`, which is a copy). Sorted by `step_order`,
    stable. Raises `CorruptDocumentError` if `current` is not an array of valid steps.
    """
    present = {step.identity for step in parse_steps(current, key=key)}
    records: list[Record] = list(current)
    missing = [found for identity, found in sorted(union.items(), key=lambda i: i[0])
               if identity not in present]
    added = tuple(found.record for found in missing if found.record["step_type"] != _HTML)
    if not any(step_type == _HTML for _, step_type in present):
        # A job has one html_generation: restore the one that stays, never two.
        html = [found for found in missing if found.record["step_type"] == _HTML]
        if html:
            added += (max(html, key=lambda found: found.rank).record,)
    records += [dict(record) for record in added]
    move, unmoved = _place_html(records, expected)
    records.sort(key=lambda record: int(record["step_order"]))
    return records, Restoration(added, move, unmoved)


@dataclass(frozen=True)
class JobRecovery:
    """The outcome for one job: versions read, what was (or would be) restored, the ETag,
    and where the job's expected steps came from (`"job record"`, `"workflow"`, None)."""

    customer_id: str
    job_id: str
    versions: Sequence[StoredVersion]
    current_count: int
    restoration: Restoration
    applied: bool
    etag: str
    expected_from: str | None = None


def _expected(store: JsonStore, customer_id: str, job_id: str,
              workflow: Workflow | None) -> tuple[tuple[StepIdentity, ...] | None, str | None]:
    try:
        record = DBService(store).get_job(customer_id, job_id)
    except (NotFoundError, CorruptDocumentError, DocumentTooLargeError):
        record = None  # an unreadable record tells nothing; the steps are still recovered
    if record is not None and record.expected_steps is not None:
        return record.expected_steps, "job record"
    if workflow is not None:
        return workflow.expected_steps, "workflow"
    return None, None


def recover_job(store: JsonStore, client: S3Client, customer_id: str, job_id: str, *,
                apply: bool, page_size: int = 1000,
                workflow: Workflow | None = None) -> JobRecovery:
    """Plan (and with `apply`, write) the recovery of one job's steps.

    Where `html_generation` belongs comes from the job record's `expected_steps`, else
    from `workflow`. The dry run reads only. With `apply`, the restoration is
    recomputed on whatever the document holds when it is written (`JsonStore.update`),
    so records a worker wrote meanwhile stay. Raises `NotFoundError` if the document is
    gone (it is not recreated), `CorruptDocumentError` if the current one does not
    parse, and the store's and boto3's errors.
    """
    key = execution_steps_key(customer_id, job_id)
    expected, expected_from = _expected(store, customer_id, job_id, workflow)
    versions = read_versions(store, client, key, page_size=page_size,
                             max_bytes=store.max_document_bytes)
    union = union_of_versions(versions)
    document = store.get(key)
    _, planned = restore_steps(document.value, union, key=key, expected=expected)
    if not apply or not planned.changes:
        return JobRecovery(customer_id, job_id, versions, len(document.value), planned,
                           applied=False, etag=document.etag, expected_from=expected_from)
    done: list[Restoration] = []

    def mutate(value: Any) -> list[Record]:
        records, restoration = restore_steps(value, union, key=key, expected=expected)
        done.append(restoration)  # only observed: the last call is the one written
        return records

    # Restoring what is missing leaves a document that has it all as it is: idempotent.
    written = store.update(key, mutate, idempotent=True)
    return JobRecovery(customer_id, job_id, versions, len(document.value), done[-1],
                       applied=True, etag=written.etag, expected_from=expected_from)
