"""Recovering lost execution steps from the older versions of a job's steps document.

Where the bucket keeps object versions, every overwritten steps document is still
there. Recovery reads each version (`ListObjectVersions`, paginated, then
`GetObject` by `VersionId`), rebuilds the union of their step records — for each
`(step_order, step_type)` the most recently completed record (by `completed_at`;
on a tie or without it, the later version) — and writes back what the current
document lacks, through `JsonStore.update()`:

- a record whose identity the current document lacks is added, exactly as it was
  stored; nothing the current document holds is removed or changed, so a worker
  writing at the same time loses nothing (the update is a compare-and-swap). A job
  has one `html_generation`: it is added only if the document has none (the most
  recently completed one, if the versions hold several);
- an `html_generation` stored before or at a workflow step's order (the incident's
  `len(list) + 1`) is moved to right after the last workflow step, all its fields
  kept — unless a record already holds that place. This is the one record recovery
  changes; audit reports it as misplaced otherwise.

Versions that are not a JSON array, and records in them that do not parse, are
skipped and counted. Recovery never creates a document that is gone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from s3store import DEFAULT_MAX_DOCUMENT_BYTES, JsonStore
from worker_integration.db_service import execution_steps_key, parse_steps
from worker_integration.models import ExecutionStep, InvalidRecordError, StepType

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
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


def _completed(record: Record) -> datetime | None:
    value = record.get("completed_at")
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _completion_rank(record: Record) -> tuple[bool, datetime]:
    """Sorts records without `completed_at` first, then by it."""
    completed = _completed(record)
    return completed is not None, completed or datetime.min.replace(tzinfo=UTC)


def _identity(record: Record) -> Identity:
    return int(record["step_order"]), str(record["step_type"])


def union_of_versions(versions: Iterable[StoredVersion]) -> dict[Identity, Record]:
    """For each `(step_order, step_type)` in `versions` (oldest first), the most
    recently completed record: the later `completed_at` wins; on a tie, or when
    either lacks one, the later version. Pure."""
    union: dict[Identity, Record] = {}
    for version in versions:
        for record in version.records or ():
            identity = _identity(record)
            held = union.get(identity)
            if held is not None:
                mine, theirs = _completed(record), _completed(held)
                if mine is not None and theirs is not None and mine < theirs:
                    continue
            union[identity] = record
    return union


@dataclass(frozen=True)
class HtmlMove:
    """`html_generation` moved from the order it was stored at to after the last step."""

    from_order: int
    to_order: int


@dataclass(frozen=True)
class Restoration:
    """What one application of `restore_steps` did: the records it added (as stored
    in the older versions) and the `html_generation` it moved, if any."""

    added: tuple[Record, ...]
    html_move: HtmlMove | None

    @property
    def changes(self) -> bool:
        """Whether it changes the document at all."""
        return bool(self.added) or self.html_move is not None


def _place_html(records: list[Record]) -> HtmlMove | None:
    """Move a misplaced `html_generation` (in `records`, in place) after the last step."""
    last = max((order for order, step_type in map(_identity, records)
                if step_type not in _NOT_WORKFLOW), default=0)
    html = [n for n, record in enumerate(records) if record["step_type"] == _HTML]
    target = last + 1
    if last == 0 or len(html) != 1 or _identity(records[html[0]])[0] > last:
        return None  # nothing to place it after, several to choose from, or well placed
    record = records[html[0]]
    moved = {**record, "step_order": target}
    records[html[0]] = moved
    return HtmlMove(from_order=int(record["step_order"]), to_order=target)


def restore_steps(current: Any, union: dict[Identity, Record], *,
                  key: str) -> tuple[list[Record], Restoration]:
    """`current` (a stored steps value) with the records of `union` it lacks (an
    `html_generation` only if it has none), and its `html_generation` placed after the
    last workflow step (see the module's docstring).

    Pure: the result is a new list; the records `current` had are the very objects
    read (except a moved `html_generation`, which is a copy). Sorted by `step_order`,
    stable. Raises `CorruptDocumentError` if `current` is not an array of valid steps.
    """
    present = {step.identity for step in parse_steps(current, key=key)}
    records: list[Record] = list(current)
    missing = [record for identity, record in sorted(union.items(), key=lambda i: i[0])
               if identity not in present]
    added = tuple(record for record in missing if record["step_type"] != _HTML)
    if not any(step_type == _HTML for _, step_type in present):
        # A job has one html_generation: restore the latest, never one it was moved from.
        html = [record for record in missing if record["step_type"] == _HTML]
        if html:
            added += (max(html, key=_completion_rank),)
    records += [dict(record) for record in added]
    move = _place_html(records)
    records.sort(key=lambda record: int(record["step_order"]))
    return records, Restoration(added, move)


@dataclass(frozen=True)
class JobRecovery:
    """The outcome for one job: versions read, what was (or would be) restored, the ETag."""

    customer_id: str
    job_id: str
    versions: Sequence[StoredVersion]
    current_count: int
    restoration: Restoration
    applied: bool
    etag: str


def recover_job(store: JsonStore, client: S3Client, customer_id: str, job_id: str, *,
                apply: bool, page_size: int = 1000) -> JobRecovery:
    """Plan (and with `apply`, write) the recovery of one job's steps.

    The dry run reads only. With `apply`, the restoration is recomputed on whatever
    the document holds when it is written (`JsonStore.update`), so records a worker
    wrote meanwhile stay. Raises `NotFoundError` if the document is gone (it is not
    recreated), `CorruptDocumentError` if the current one does not parse, and the
    store's and boto3's errors.
    """
    key = execution_steps_key(customer_id, job_id)
    versions = read_versions(store, client, key, page_size=page_size,
                             max_bytes=store.max_document_bytes)
    union = union_of_versions(versions)
    document = store.get(key)
    _, planned = restore_steps(document.value, union, key=key)
    if not apply or not planned.changes:
        return JobRecovery(customer_id, job_id, versions, len(document.value), planned,
                           applied=False, etag=document.etag)
    done: list[Restoration] = []

    def mutate(value: Any) -> list[Record]:
        records, restoration = restore_steps(value, union, key=key)
        done.append(restoration)  # only observed: the last call is the one written
        return records

    # Restoring what is missing leaves a document that has it all as it is: idempotent.
    written = store.update(key, mutate, idempotent=True)
    return JobRecovery(customer_id, job_id, versions, len(document.value), done[-1],
                       applied=True, etag=written.etag)
