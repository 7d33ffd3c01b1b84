"""Does an endpoint honour what s3store relies on? One verdict per check, always all of them.

Each check writes its own small object under `{prefix}.s3store-probe/` with plain
requests (no retries beyond botocore's for reads, no lost-answer resolution: a verdict
must come from the server's own answer, never from the store's reasoning about a lost
one), and deletes it:

| check                                | honoured when                                            |
|--------------------------------------|----------------------------------------------------------|
| `If-None-Match` on PutObject         | a create on a free key lands, on a taken key is 412       |
| `If-Match` on PutObject              | a wrong ETag is 412, the object's own ETag accepted       |
| `If-Match` on PutObject, missing key | 404 `NoSuchKey` (or 412), and no object appears           |
| `If-Match` on DeleteObject           | a wrong ETag is 412 (object kept), the right one deletes |
| bucket versioning                    | reported only (`recover` needs it; the store does not)    |

Verdicts: `honoured`; `IGNORED` (the endpoint did what it had to refuse: UNSAFE);
`REFUSED` (it refused what it had to accept, e.g. the object's own ETag: unusable);
`not supported` (501 `NotImplemented` for the conditional request, e.g. LocalStack's
conditional delete: the store then fails loudly, never silently); `error` (the check
could not tell: a lost answer, a 409 race, a refused permission; the server's code is
kept). One check's error never hides another's verdict.
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from s3store._errors import ConflictError, NotFoundError, S3StoreError, StorageError
from s3store._objects import RACING_CONDITIONAL_WRITES, AnswerLost, ObjectClient
from s3store._steps import Steps

__all__ = ["DELETE", "PUT_CHECKS", "Check", "ProbeReport", "Verdict", "probe", "run_checks"]

log = logging.getLogger(__name__)

WRONG_ETAG: Final = '"' + "0" * 32 + '"'
_PRECONDITION_FAILED: Final = "PreconditionFailed"

CREATE: Final = "If-None-Match on PutObject"
REPLACE: Final = "If-Match on PutObject"
MISSING: Final = "If-Match on PutObject, missing key"
DELETE: Final = "If-Match on DeleteObject"
VERSIONING: Final = "bucket versioning"
PUT_CHECKS: Final = (CREATE, REPLACE, MISSING)
"""The checks every store write depends on (`JsonStore.verify_conditional_writes`)."""

T = TypeVar("T")


class Verdict(enum.Enum):
    """What a check found."""

    HONOURED = "honoured"
    IGNORED = "IGNORED"
    REFUSED = "REFUSED"
    NOT_SUPPORTED = "not supported"
    ERROR = "error"
    REPORTED = "reported"  # versioning: a fact, not a pass or fail


@dataclass(frozen=True)
class Check:
    """One check: its name, verdict, what was seen, the server's error code (for
    `not supported`, `REFUSED` and `error`) and the probe object's key. `error` is the
    exception behind an `error` verdict."""

    name: str
    verdict: Verdict
    detail: str
    code: str | None = None
    key: str | None = None
    error: S3StoreError | None = field(default=None, compare=False, repr=False)

    def as_json(self) -> dict[str, Any]:
        """The check for `--json`."""
        return {"name": self.name, "verdict": self.verdict.value, "detail": self.detail,
                "code": self.code, "key": self.key}


class _Verdict(Exception):
    """A check's outcome other than `honoured`, raised from inside its body."""

    def __init__(self, verdict: Verdict, detail: str, code: str | None = None,
                 error: S3StoreError | None = None) -> None:
        super().__init__(detail)
        self.verdict, self.detail, self.code, self.error = verdict, detail, code, error


def _ignored(detail: str) -> _Verdict:
    return _Verdict(Verdict.IGNORED, detail)


def _refused_by_server(exc: ConflictError, *codes: str) -> bool:
    """Was this the server's own refusal (and not a 409 race, where nothing was judged)?"""
    return exc.code in codes


def _conditional(request: Steps[T]) -> Steps[T]:
    """Send the conditional request under test: a 501 is `not supported`, a 409 race and
    a lost answer are errors (the server judged nothing we can see)."""
    try:
        return (yield from request)
    except AnswerLost as exc:
        raise _Verdict(Verdict.ERROR, f"an answer was lost ({exc.detail}): the verdict is "
                       "unknown, probe again", code="AnswerLost") from None
    except ConflictError as exc:
        if exc.code == RACING_CONDITIONAL_WRITES:
            raise _Verdict(Verdict.ERROR, "another conditional write raced this one (409): "
                           "nothing was judged, probe again", code=exc.code, error=exc) from None
        raise
    except StorageError as exc:
        if exc.status == 501 or exc.code == "NotImplemented":
            raise _Verdict(Verdict.NOT_SUPPORTED, exc.message,
                           code=exc.code or "501") from None
        raise


def _put(objects: ObjectClient, key: str, n: int, **condition: Any) -> Steps[str]:
    body = b'{"probe":%d}' % n
    put = yield from _conditional(objects.put(key, body, write_id=f"probe-{uuid.uuid4().hex}",
                                              **condition))
    return put.etag


def _plain_put(objects: ObjectClient, key: str) -> Steps[str]:
    """The setup write of a check (no condition: its failures are the check's errors)."""
    try:
        put = yield from objects.put(key, b'{"probe":0}', write_id=f"probe-{uuid.uuid4().hex}")
        return put.etag
    except AnswerLost as exc:
        raise _Verdict(Verdict.ERROR, f"the setup write's answer was lost ({exc.detail}): "
                       "probe again", code="AnswerLost") from None


def _exists(objects: ObjectClient, key: str) -> Steps[bool]:
    try:
        yield from objects.head(key)
    except NotFoundError:
        return False
    return True


def _check_create(objects: ObjectClient, key: str) -> Steps[str]:
    try:
        yield from _put(objects, key, 1, if_none_match=True)
    except ConflictError as exc:
        raise _Verdict(Verdict.REFUSED, "a create with If-None-Match: * on a free key was "
                       f"refused ({exc.code})", code=exc.code) from None
    try:
        yield from _put(objects, key, 2, if_none_match=True)
    except ConflictError as exc:
        if _refused_by_server(exc, _PRECONDITION_FAILED):
            return "a create on a free key landed; on a taken key it was refused (412)"
        raise
    raise _ignored("the endpoint accepted If-None-Match: * on an existing key: a second "
                   "create overwrote the first")


def _check_replace(objects: ObjectClient, key: str) -> Steps[str]:
    etag = yield from _plain_put(objects, key)
    try:
        yield from _put(objects, key, 1, if_match=WRONG_ETAG)
    except ConflictError as exc:
        if not _refused_by_server(exc, _PRECONDITION_FAILED):
            raise
    else:
        raise _ignored("the endpoint accepted If-Match with an ETag the object does not have")
    try:
        yield from _put(objects, key, 2, if_match=etag)
    except ConflictError as exc:
        raise _Verdict(Verdict.REFUSED, "a write with the object's own ETag was refused "
                       f"({exc.code}): no replace or update can succeed here",
                       code=exc.code) from None
    return "a wrong ETag refused (412), the object's own ETag accepted"


def _check_missing(objects: ObjectClient, key: str) -> Steps[str]:
    try:
        yield from _put(objects, key, 1, if_match=WRONG_ETAG)
    except ConflictError as exc:
        if not _refused_by_server(exc, "NoSuchKey", _PRECONDITION_FAILED):
            raise
        if (yield from _exists(objects, key)):
            raise _ignored("the endpoint answered a PutObject whose If-Match named a missing "
                           "key as refused, and created the object") from None
        return f"refused ({exc.code}); nothing was created"
    raise _ignored("the endpoint created an object for a PutObject whose If-Match named a "
                   "key that does not exist")


def _check_delete(objects: ObjectClient, key: str) -> Steps[str]:
    etag = yield from _plain_put(objects, key)
    try:
        yield from _conditional(objects.delete(key, if_match=WRONG_ETAG))
    except ConflictError as exc:
        if not _refused_by_server(exc, _PRECONDITION_FAILED):
            raise
    else:
        if not (yield from _exists(objects, key)):
            raise _ignored("the endpoint deleted an object although If-Match named an ETag "
                           "it does not have")
        raise _ignored("the endpoint answered a delete with a wrong If-Match as done (the "
                       "object stayed: its answers cannot be trusted)")
    try:
        yield from _conditional(objects.delete(key, if_match=etag))
    except ConflictError as exc:
        raise _Verdict(Verdict.REFUSED, "a delete with the object's own ETag was refused "
                       f"({exc.code})", code=exc.code) from None
    return "a wrong ETag refused (412), the object's own ETag accepted"


_BODIES: Final[dict[str, Callable[[ObjectClient, str], Steps[str]]]] = {
    CREATE: _check_create, REPLACE: _check_replace, MISSING: _check_missing,
    DELETE: _check_delete,
}


def _run(objects: ObjectClient, name: str, key: str) -> Steps[Check]:
    try:
        return Check(name, Verdict.HONOURED, (yield from _BODIES[name](objects, key)), key=key)
    except _Verdict as outcome:
        return Check(name, outcome.verdict, outcome.detail, code=outcome.code, key=key,
                     error=outcome.error)
    except S3StoreError as exc:
        return Check(name, Verdict.ERROR, f"{type(exc).__name__}: {exc.message}",
                     code=exc.code, key=key, error=exc)


def _cleanup(objects: ObjectClient, key: str) -> Steps[str | None]:
    """Delete a probe object (unconditionally); the key if that failed."""
    try:
        yield from objects.delete(key)
    except (S3StoreError, AnswerLost) as exc:
        log.warning("probe: could not delete %s (%s); delete it by hand", key,
                    getattr(exc, "code", None) or type(exc).__name__)
        return key
    return None


def run_checks(objects: ObjectClient, names: Iterable[str], *, prefix: str = "",
               left: list[str] | None = None) -> Steps[list[Check]]:
    """Run the named checks (`PUT_CHECKS`, `DELETE`), each on its own object under
    `{prefix}.s3store-probe/`, deleted afterwards (a key that could not be deleted is
    appended to `left`); never raises for a check (its verdict says what happened)."""
    checks = []
    for name in names:
        key = f"{prefix}.s3store-probe/{uuid.uuid4().hex}.json"
        try:
            checks.append((yield from _run(objects, name, key)))
        finally:
            failed = yield from _cleanup(objects, key)
            if failed is not None and left is not None:
                left.append(failed)
    return checks


def versioning_check(status: str | None, error: S3StoreError | None = None) -> Check:
    """The versioning report from `GetBucketVersioning`'s status (or the error reading it)."""
    if error is not None:
        return Check(VERSIONING, Verdict.ERROR, f"could not read it: {error.message}",
                     code=error.code, error=error)
    details = {
        "Enabled": "overwritten documents stay as older versions (s3store recover); a lost "
                   "answer can be resolved from them",
        "Suspended": "only versions from before the suspension are kept: later overwrites "
                     "cannot be recovered",
    }
    return Check(VERSIONING, Verdict.REPORTED,
                 details.get(status or "", "never enabled: an overwritten or deleted "
                                           "document cannot be recovered"),
                 code=status or "off")


def probe(objects: ObjectClient, *, prefix: str = "") -> Steps[ProbeReport]:
    """Every check against the bucket; never raises for a check (its verdict says what
    happened). `JsonStore.probe()` is the public way in."""
    left: list[str] = []
    checks = yield from run_checks(objects, [*PUT_CHECKS, DELETE], prefix=prefix, left=left)
    try:
        versioning = versioning_check(
            (yield from objects.versioning_status(f"{prefix}.s3store-probe/")))
    except S3StoreError as exc:  # a missing permission must not hide the other results
        versioning = versioning_check(None, exc)
    return ProbeReport([*checks, versioning], left_behind=left)


@dataclass(frozen=True)
class ProbeReport:
    """Every check's verdict, what follows for the store, and any probe object that could
    not be deleted."""

    checks: list[Check]
    left_behind: list[str] = field(default_factory=list)

    def verdict_of(self, name: str) -> Verdict | None:
        """The verdict of the check `name` (None if it was not run)."""
        return next((c.verdict for c in self.checks if c.name == name), None)

    def _named(self, *verdicts: Verdict, among: Iterable[str] = (*PUT_CHECKS, DELETE)
               ) -> list[str]:
        return [name for name in among if self.verdict_of(name) in verdicts]

    @property
    def writes_safe(self) -> bool:
        """Every conditional PutObject check honoured: create, replace, update are safe."""
        return all(self.verdict_of(name) is Verdict.HONOURED for name in PUT_CHECKS)

    @property
    def exit_status(self) -> int:
        """0 usable as reported, 1 unsafe or unusable, 2 some check could not tell."""
        if self._named(Verdict.IGNORED, Verdict.REFUSED) or self._named(
                Verdict.NOT_SUPPORTED, among=PUT_CHECKS):
            return 1
        return 2 if self._named(Verdict.ERROR) else 0

    def summary(self) -> str:
        """What an operator must know, in a few sentences: the writes, then deletes."""
        parts = [self._writes(), self._deletes()]
        if self.left_behind:
            parts.append(f"Could not delete the probe objects {', '.join(self.left_behind)}: "
                         "delete them by hand.")
        return " ".join(part for part in parts if part)

    def _writes(self) -> str:
        ignored = self._named(Verdict.IGNORED, among=PUT_CHECKS)
        if ignored:
            return ("UNSAFE: this endpoint accepted requests it had to refuse "
                    f"({'; '.join(ignored)}). s3store's compare-and-swap would silently "
                    "turn into blind overwrites here: concurrent writers would erase each "
                    "other's updates. Do not use this endpoint for documents more than one "
                    "writer updates.")
        unusable = self._named(Verdict.REFUSED, Verdict.NOT_SUPPORTED, among=PUT_CHECKS)
        if unusable:
            return (f"UNUSABLE: the endpoint refuses or does not implement "
                    f"{'; '.join(unusable)}: the s3store writes that need it fail with an "
                    "error (loudly; nothing is overwritten).")
        errors = self._named(Verdict.ERROR, among=PUT_CHECKS)
        if errors:
            return (f"UNKNOWN: {'; '.join(errors)} could not be checked (see the detail); "
                    "fix the cause (a permission, the network) and probe again.")
        return ("safe: conditional writes are honoured: create, replace, update and get "
                "are safe.")

    def _deletes(self) -> str:
        return _DELETES.get(self.verdict_of(DELETE) or Verdict.ERROR, _DELETES[Verdict.ERROR])


_DELETES: Final = {
    Verdict.HONOURED: "Conditional deletes are honoured too.",
    Verdict.IGNORED: "UNSAFE for delete(key, etag=...): this endpoint does not honour If-Match "
                     "on DeleteObject; do not use conditional deletes here (the worker never "
                     "deletes).",
    Verdict.REFUSED: "delete(key, etag=...) cannot succeed here: the endpoint refuses a "
                     "conditional delete with the object's own ETag (the worker never "
                     "deletes).",
    Verdict.NOT_SUPPORTED: "Conditional deletes are not supported here: delete(key, etag=...) "
                           "raises StorageError (an unconditional delete works); the worker "
                           "never deletes.",
    Verdict.ERROR: "Conditional deletes could not be checked (see the detail): probe again "
                   "before relying on delete(key, etag=...).",
}
