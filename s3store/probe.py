"""Does an endpoint honour what s3store relies on? One verdict per check, always all of them.

Each check writes its own small object under `{prefix}.s3store-probe/` through the
store's public operations (the same requests the store sends in use), and deletes it:

| check                                | honoured when                                          |
|--------------------------------------|--------------------------------------------------------|
| `If-None-Match` on PutObject         | a create on a free key lands, on a taken key is refused |
| `If-Match` on PutObject              | a wrong ETag is refused, the right one accepted         |
| `If-Match` on PutObject, missing key | refused (S3 answers 404 `NoSuchKey`), nothing created   |
| `If-Match` on DeleteObject           | a wrong ETag is refused, the right one accepted         |
| bucket versioning                    | reported only (`recover` needs it; the store does not)  |

A verdict is `honoured`, `IGNORED` (the endpoint did what it had to refuse: UNSAFE),
`not supported` (it refused the header itself, e.g. LocalStack's 501 `NotImplemented`
on a conditional delete: the store then fails loudly, never silently) or `error` (the
check could not run: a refused permission, a lost answer; the server's code is kept).
One check's error never hides another's verdict.
"""

from __future__ import annotations

import enum
import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

from s3store.errors import (
    AlreadyExistsError,
    ConflictError,
    NotFoundError,
    S3StoreError,
    StorageError,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = ["DELETE", "PUT_CHECKS", "Check", "ProbeReport", "Verdict", "probe", "run_checks"]

log = logging.getLogger(__name__)

WRONG_ETAG: Final = '"' + "0" * 32 + '"'

CREATE: Final = "If-None-Match on PutObject"
REPLACE: Final = "If-Match on PutObject"
MISSING: Final = "If-Match on PutObject, missing key"
DELETE: Final = "If-Match on DeleteObject"
VERSIONING: Final = "bucket versioning"
PUT_CHECKS: Final = (CREATE, REPLACE, MISSING)
"""The checks every store write depends on (`JsonStore.verify_conditional_writes`)."""


class Verdict(enum.Enum):
    """What a check found."""

    HONOURED = "honoured"
    IGNORED = "IGNORED"
    NOT_SUPPORTED = "not supported"
    ERROR = "error"
    REPORTED = "reported"  # versioning: a fact, not a pass or fail


class _Store(Protocol):
    """What the probe needs of a `JsonStore` (its public operations)."""

    def create(self, key: str, value: Any) -> Any: ...

    def replace(self, key: str, value: Any, *, etag: str) -> Any: ...

    def delete(self, key: str, *, etag: str | None = None) -> None: ...

    def get(self, key: str) -> Any: ...

    def versioning(self) -> str: ...


@dataclass(frozen=True)
class Check:
    """One check: its name, verdict, what was seen, the server's error code (for
    `not supported` and `error`) and the probe object's key. `error` is the exception
    behind an `error` verdict."""

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


class _Ignored(Exception):
    """The endpoint accepted what it had to refuse (a check's internal verdict)."""


def _run(store: _Store, name: str, key: str) -> Check:
    try:
        return Check(name, Verdict.HONOURED, _BODIES[name](store, key), key=key)
    except _Ignored as exc:
        return Check(name, Verdict.IGNORED, str(exc), key=key)
    except StorageError as exc:
        if exc.status == 501 or exc.code == "NotImplemented":
            return Check(name, Verdict.NOT_SUPPORTED, exc.message, code=exc.code or "501",
                         key=key)
        return Check(name, Verdict.ERROR, exc.message, code=exc.code, key=key, error=exc)
    except S3StoreError as exc:
        return Check(name, Verdict.ERROR, f"{type(exc).__name__}: {exc.message}",
                     code=exc.code, key=key, error=exc)


def _cleanup(store: _Store, key: str) -> None:
    try:
        store.delete(key)  # unconditional; a missing key is not an error
    except S3StoreError as exc:
        log.warning("probe: could not delete %s (%s); delete it by hand", key,
                    exc.code or type(exc).__name__)


def _check_create(store: _Store, key: str) -> str:
    store.create(key, {"probe": "create"})
    try:
        store.create(key, {"probe": "create again"})
    except AlreadyExistsError:
        return "a create on a free key landed; on a taken key it was refused (412)"
    raise _Ignored("the endpoint accepted If-None-Match: * on an existing key: a second "
                   "create overwrote the first")


def _check_replace(store: _Store, key: str) -> str:
    document = store.create(key, {"probe": "replace"})
    try:
        store.replace(key, {"probe": "wrong etag"}, etag=WRONG_ETAG)
    except ConflictError:
        pass
    else:
        raise _Ignored("the endpoint accepted If-Match with an ETag the object does not have")
    store.replace(key, {"probe": "right etag"}, etag=document.etag)
    return "a wrong ETag refused (412), the object's own ETag accepted"


def _check_missing(store: _Store, key: str) -> str:
    try:
        store.replace(key, {"probe": "missing"}, etag=WRONG_ETAG)
    except ConflictError as exc:
        return f"refused ({exc.code or 'a conflict'}); nothing was created"
    raise _Ignored("the endpoint created an object for a PutObject whose If-Match named a "
                   "key that does not exist")


def _check_delete(store: _Store, key: str) -> str:
    document = store.create(key, {"probe": "conditional delete"})
    try:
        store.delete(key, etag=WRONG_ETAG)
    except ConflictError:
        pass
    else:
        try:
            store.get(key)
        except NotFoundError:
            raise _Ignored("the endpoint deleted an object although If-Match named an ETag "
                           "it does not have") from None
        raise _Ignored("the endpoint answered a delete with a wrong If-Match as done "
                       "(the object stayed: the answer cannot be trusted)") from None
    store.delete(key, etag=document.etag)
    return "a wrong ETag refused (412), the object's own ETag accepted"


_BODIES: Final[dict[str, Callable[[_Store, str], str]]] = {
    CREATE: _check_create, REPLACE: _check_replace, MISSING: _check_missing,
    DELETE: _check_delete,
}


def run_checks(store: _Store, names: Iterable[str], *, prefix: str = "") -> list[Check]:
    """Run the named conditional-request checks (`PUT_CHECKS`, `DELETE`), each on its own
    object under `{prefix}.s3store-probe/`, deleted afterwards; never raises for a check
    (its verdict says what happened)."""
    checks = []
    for name in names:
        key = f"{prefix}.s3store-probe/{uuid.uuid4().hex}.json"
        try:
            checks.append(_run(store, name, key))
        finally:
            _cleanup(store, key)
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


def probe(store: _Store, *, prefix: str = "") -> ProbeReport:
    """Every check against the store's bucket; never raises for a check (its verdict
    says what happened). `s3store probe` prints it; the demo runs it before it starts."""
    try:
        versioning = versioning_check(store.versioning())
    except S3StoreError as exc:  # a missing permission must not hide the other results
        versioning = versioning_check(None, exc)
    return ProbeReport([*run_checks(store, [*PUT_CHECKS, DELETE], prefix=prefix), versioning])


@dataclass(frozen=True)
class ProbeReport:
    """Every check's verdict, and what follows for the store."""

    checks: list[Check]

    def verdict_of(self, name: str) -> Verdict | None:
        """The verdict of the check `name` (None if it was not run)."""
        return next((c.verdict for c in self.checks if c.name == name), None)

    @property
    def writes_safe(self) -> bool:
        """Every conditional PutObject check honoured: create, replace, update are safe."""
        return all(self.verdict_of(name) is Verdict.HONOURED for name in PUT_CHECKS)

    @property
    def unsafe(self) -> bool:
        """Some check was IGNORED: the endpoint did what it had to refuse."""
        return any(c.verdict is Verdict.IGNORED for c in self.checks)

    @property
    def exit_status(self) -> int:
        """0 usable as reported, 1 unsafe or unusable, 2 some check could not tell."""
        if self.unsafe or any(self.verdict_of(n) is Verdict.NOT_SUPPORTED for n in PUT_CHECKS):
            return 1
        if any(c.verdict is Verdict.ERROR for c in self.checks if c.name != VERSIONING):
            return 2
        return 0

    def summary(self) -> str:
        """What an operator must know, in a few sentences."""
        problem = self._write_problem()
        if problem is not None:
            return problem
        delete = self.verdict_of(DELETE) or Verdict.ERROR
        return _WITH_DELETE.get(delete, _WITH_DELETE[Verdict.ERROR]).format(writes=_WRITES)

    def _write_problem(self) -> str | None:
        ignored = [n for n in PUT_CHECKS if self.verdict_of(n) is Verdict.IGNORED]
        if ignored:
            return ("UNSAFE: this endpoint accepted requests it had to refuse "
                    f"({'; '.join(ignored)}). s3store's compare-and-swap would silently "
                    "turn into blind overwrites here: concurrent writers would erase each "
                    "other's updates. Do not use this endpoint for documents more than one "
                    "writer updates.")
        unsupported = [n for n in PUT_CHECKS if self.verdict_of(n) is Verdict.NOT_SUPPORTED]
        if unsupported:
            return (f"UNUSABLE: the endpoint does not implement {'; '.join(unsupported)}: "
                    "every s3store write that needs it fails with StorageError (loudly; "
                    "nothing is overwritten).")
        if not self.writes_safe:
            errors = [n for n in PUT_CHECKS if self.verdict_of(n) is Verdict.ERROR]
            return (f"UNKNOWN: {'; '.join(errors)} could not be checked (see the detail); "
                    "fix the cause (a permission, the network) and probe again.")
        return None


_WRITES: Final = "conditional writes are honoured: create, replace, update and get are safe"
_WITH_DELETE: Final = {
    Verdict.HONOURED: "safe: {writes}, and so are conditional deletes.",
    Verdict.IGNORED: "UNSAFE for delete(key, etag=...): this endpoint does not honour If-Match "
                     "on DeleteObject; do not use conditional deletes here. Otherwise {writes} "
                     "(the worker never deletes).",
    Verdict.NOT_SUPPORTED: "safe: {writes}. Conditional deletes are not supported here: "
                           "delete(key, etag=...) raises StorageError (an unconditional delete "
                           "works); the worker never deletes.",
    Verdict.ERROR: "{writes}; conditional deletes could not be checked (see the detail): "
                   "probe again before relying on delete(key, etag=...).",
}
