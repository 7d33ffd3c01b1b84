"""The six ways to append an item to a JSON array in S3 that the benchmark compares.

Each option is an `Updater`: `append(key, item)` adds `item` to the JSON array at
`key` (an empty array if the key is missing) and returns once S3 has acknowledged
the write. One updater serves all threads of a process, as one client (or one
`JsonStore`) would in a worker.

| # | option            | per update                                          | can lose updates |
|---|-------------------|-----------------------------------------------------|------------------|
| 1 | unconditional RMW | GET, append, PUT (the incident's original code)     | yes              |
| 2 | reload-then-save  | GET at the step's start, GET again right before the | yes              |
|   |                   | save (the incident's first fix), append, PUT        |                  |
| 3 | lock object       | PUT lock `If-None-Match: *` (spin with backoff),    | no               |
|   |                   | GET, PUT, DELETE lock                               |                  |
| 4 | plain CAS loop    | GET value + ETag, PUT `If-Match`; on 412/409 retry  | no               |
|   |                   | with tenacity (hand-written on boto3)               |                  |
| 5 | s3store, plain    | `JsonStore.update` with cache and group commit off  | no               |
| 6 | s3store           | `JsonStore.update` as shipped                       | no               |

`BarePut` is not an option but the floor S4 compares against: one unconditional PUT
of a list kept in memory, no read (correct only while one writer owns each key).

Options 1-4 are written directly on boto3, the way a user would write them, so they
import botocore's `ClientError`; the backoff of 3 and 4 uses the same numbers as
`s3store.RetryPolicy`'s defaults, so that the comparison is about the method, not
about tuning.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

import tenacity
from botocore.exceptions import ClientError

from s3store import JsonStore, RetryPolicy

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "BARE_PUT",
    "OPTIONS",
    "BarePut",
    "LockObject",
    "LockTimeoutError",
    "Option",
    "PlainCasLoop",
    "ReloadThenSave",
    "UnconditionalRmw",
    "Updater",
    "option_named",
]

_DEFAULTS: Final = RetryPolicy()
# Writers retry conflicts this often and this long, whichever option they use.
MAX_ATTEMPTS: Final = _DEFAULTS.max_attempts
BASE_DELAY: Final = _DEFAULTS.base_delay
MAX_DELAY: Final = _DEFAULTS.max_delay
DEADLINE: Final = _DEFAULTS.deadline or 60.0


class Updater(Protocol):
    """Appends one item to the JSON array at a key; returns when S3 acknowledged it."""

    def append(self, key: str, item: str) -> None:
        """Append `item`; raise if the update was not acknowledged."""
        ...


def _encode(items: list[Any]) -> bytes:
    return json.dumps(items, ensure_ascii=False, separators=(",", ":")).encode()


def _read_list(client: S3Client, bucket: str, key: str) -> tuple[list[Any], str | None]:
    """The array at `key` and its ETag, or an empty array and None if the key is missing."""
    try:
        response = client.get_object(Bucket=bucket, Key=key)
    except client.exceptions.NoSuchKey:
        return [], None
    items: list[Any] = json.loads(response["Body"].read())
    return items, response["ETag"]


def _is_conflict(exc: BaseException) -> bool:
    """412 (precondition failed) or 409 (conditional writes raced): someone else won."""
    if not isinstance(exc, ClientError):
        return False
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status in (409, 412)


class UnconditionalRmw:
    """Option 1, the incident's original code: read (or start empty), append, PUT."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client, self._bucket = client, bucket

    def append(self, key: str, item: str) -> None:
        """GET, append, unconditional PUT."""
        items, _ = _read_list(self._client, self._bucket, key)
        items.append(item)
        self._client.put_object(Bucket=self._bucket, Key=key, Body=_encode(items))


class ReloadThenSave:
    """Option 2, the incident's first fix: reload the list right before saving it.

    The step loads the list when it starts (as the worker did), reloads it right
    before the save, falls back to the list in hand if the reload fails (as the fix
    did), appends and PUTs unconditionally. The benchmark runs no step work between
    load and save, so the fix costs a request and closes no window: the one between
    the reload and the PUT is the original's.
    """

    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client, self._bucket = client, bucket

    def append(self, key: str, item: str) -> None:
        """GET, GET again, append, unconditional PUT."""
        items, _ = _read_list(self._client, self._bucket, key)
        with contextlib.suppress(ClientError):  # the fix's fallback: the list in hand
            items, _ = _read_list(self._client, self._bucket, key)
        items.append(item)
        self._client.put_object(Bucket=self._bucket, Key=key, Body=_encode(items))


class LockTimeoutError(Exception):
    """The lock object stayed taken for longer than the deadline."""


class LockObject:
    """Option 3: a lock object `{key}.lock` around an unconditional read-modify-write.

    Takes the lock with `PutObject(IfNoneMatch="*")`, spinning with exponential
    backoff and full jitter while it is taken, then GET, PUT, DELETE the lock. (A
    holder that crashed would leave the lock behind for good: real code would need
    leases; the benchmark never crashes.)
    """

    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client, self._bucket = client, bucket

    def append(self, key: str, item: str) -> None:
        """Lock, GET, append, PUT, unlock; `LockTimeoutError` if the lock never came free."""
        lock_key = f"{key}.lock"
        self._acquire(lock_key)
        try:
            items, _ = _read_list(self._client, self._bucket, key)
            items.append(item)
            self._client.put_object(Bucket=self._bucket, Key=key, Body=_encode(items))
        finally:
            self._client.delete_object(Bucket=self._bucket, Key=lock_key)

    def _acquire(self, lock_key: str) -> None:
        give_up = time.monotonic() + DEADLINE
        attempt = 0
        while True:
            try:
                self._client.put_object(Bucket=self._bucket, Key=lock_key, Body=b"",
                                        IfNoneMatch="*")
                return
            except ClientError as exc:
                if not _is_conflict(exc):
                    raise
            if time.monotonic() > give_up:
                raise LockTimeoutError(f"{lock_key} stayed taken for {DEADLINE:.0f}s")
            time.sleep(random.uniform(0, min(MAX_DELAY, BASE_DELAY * 2**attempt)))
            attempt += 1


class PlainCasLoop:
    """Option 4: the compare-and-swap loop a user would write on boto3 and tenacity.

    GET the value and its ETag, append, `PutObject(IfMatch=etag)` (or
    `IfNoneMatch="*"` for a missing key); on 412/409 start over, with tenacity's
    `wait_random_exponential`, with `RetryPolicy`'s defaults (20 attempts within 10 s).
    """

    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client, self._bucket = client, bucket
        self._retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(MAX_ATTEMPTS) | tenacity.stop_after_delay(DEADLINE),
            wait=tenacity.wait_random_exponential(multiplier=BASE_DELAY, max=MAX_DELAY),
            retry=tenacity.retry_if_exception(_is_conflict),
            reraise=True,
        )

    def append(self, key: str, item: str) -> None:
        """Read, append, conditional PUT; again on conflict; raises the last conflict."""
        # A Retrying keeps per-call state: a copy per call, as tenacity's decorator does.
        self._retrying.copy()(self._attempt, key, item)

    def _attempt(self, key: str, item: str) -> None:
        items, etag = _read_list(self._client, self._bucket, key)
        items.append(item)
        if etag is None:
            self._client.put_object(Bucket=self._bucket, Key=key, Body=_encode(items),
                                    IfNoneMatch="*")
        else:
            self._client.put_object(Bucket=self._bucket, Key=key, Body=_encode(items),
                                    IfMatch=etag)


class StoreUpdater:
    """Options 5 and 6: `JsonStore.update` appending to the array (created empty)."""

    def __init__(self, store: JsonStore) -> None:
        self._store = store

    def append(self, key: str, item: str) -> None:
        """`store.update(key, append item, default=[])`."""
        self._store.update(key, lambda items: [*items, item], default=[])


class BarePut:
    """The floor for S4: PUT the key's list, kept in memory, with no read and no condition.

    Correct only while a single writer owns each key (as in S4), which is why it is
    a baseline and not an option.
    """

    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client, self._bucket = client, bucket
        self._lists: dict[str, list[Any]] = {}
        self._lock = threading.Lock()

    def append(self, key: str, item: str) -> None:
        """One unconditional PUT of the whole list."""
        with self._lock:
            items = self._lists.setdefault(key, [])
            items.append(item)
            body = _encode(items)
        self._client.put_object(Bucket=self._bucket, Key=key, Body=body)


def _plain_store(client: S3Client, bucket: str) -> Updater:
    return StoreUpdater(JsonStore(client, bucket, cache_size=0, group_commit=False))


def _shipped_store(client: S3Client, bucket: str) -> Updater:
    return StoreUpdater(JsonStore(client, bucket))


@dataclass(frozen=True)
class Option:
    """One way of updating, as the tables name it; `build` makes its updater."""

    number: int
    name: str
    label: str
    build: Callable[[S3Client, str], Updater]
    loses_updates: bool

    @property
    def title(self) -> str:
        """`4 plain CAS loop`, or the label alone for the baseline."""
        return f"{self.number} {self.label}" if self.number else self.label


OPTIONS: Final[tuple[Option, ...]] = (
    Option(1, "unconditional", "unconditional RMW", UnconditionalRmw, loses_updates=True),
    Option(2, "reload", "reload-then-save", ReloadThenSave, loses_updates=True),
    Option(3, "lock", "lock object", LockObject, loses_updates=False),
    Option(4, "cas", "plain CAS loop", PlainCasLoop, loses_updates=False),
    Option(5, "s3store-plain", "s3store, no cache/group", _plain_store, loses_updates=False),
    Option(6, "s3store", "s3store as shipped", _shipped_store, loses_updates=False),
)
"""The six options, in the issue's order."""

BARE_PUT: Final = Option(0, "bare-put", "bare put_object", BarePut, loses_updates=False)
"""S4's baseline."""


def option_named(name: str) -> Option:
    """The option (or the baseline) called `name`; `KeyError` if there is none."""
    for option in (*OPTIONS, BARE_PUT):
        if option.name == name:
            return option
    raise KeyError(name)
