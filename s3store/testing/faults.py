"""Fault and latency injection for the local S3, at the HTTP layer.

A `FaultPlan` says how often each fault happens (seeded, so a run can be
replayed); `LocalS3.inject()` queues exact faults for the next matching requests.
Faults happen where S3's do:

| kind                   | applies to         | what the client sees             | landed? |
|------------------------|--------------------|----------------------------------|---------|
| `slow_down`            | any object request | 503 `SlowDown`                   | no      |
| `access_denied`        | any object request | 403 `AccessDenied`               | no      |
| `error_before_write`   | object writes      | 500 `InternalError`              | no      |
| `conditional_conflict` | conditional writes | 409 `ConditionalRequestConflict` | no      |
| `error_after_write`    | object writes      | 500 `InternalError`              | **yes** |
| `drop_after_write`     | object writes      | connection closed, no answer     | **yes** |
| `stall_after_write`    | object writes      | the answer after `stall_seconds` | **yes** |

"Object writes" are `PutObject` and `DeleteObject`; the last three are lost
responses: the write happened, the client cannot know it.
"""

from __future__ import annotations

import random
import threading
from collections import Counter, deque
from dataclasses import dataclass
from typing import Literal, get_args

__all__ = ["FAULT_KINDS", "FaultKind", "FaultPlan"]

FaultKind = Literal[
    "slow_down",
    "access_denied",
    "error_before_write",
    "conditional_conflict",
    "error_after_write",
    "drop_after_write",
    "stall_after_write",
]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)

LANDS: frozenset[FaultKind] = frozenset(
    {"error_after_write", "drop_after_write", "stall_after_write"}
)
"""Faults after which the write is in the bucket although the client was not told."""


@dataclass(frozen=True)
class FaultPlan:
    """Probabilities (0..1) of each fault per eligible request, and added latency.

    `latency` (seconds) is added to every request, outside the server's lock, the
    way network latency overlaps on a real endpoint. `ignore_conditions` makes the
    server drop `If-Match` / `If-None-Match` from writes, like some S3-compatible
    stores do silently. `cycle_listings` makes listings loop the way LocalStack's
    `ListObjectVersions` can with small pages: the request for a listing's third page
    is answered with its first, so page markers come back in a cycle (never the same
    one twice in a row, which is all boto3's paginator notices).
    `conditional_delete_not_implemented` answers every `DeleteObject` with `If-Match`
    by 501 `NotImplemented`, as LocalStack does (wrong, right or missing ETag alike).
    """

    seed: int = 0
    latency: float = 0.0
    slow_down: float = 0.0
    access_denied: float = 0.0
    error_before_write: float = 0.0
    conditional_conflict: float = 0.0
    error_after_write: float = 0.0
    drop_after_write: float = 0.0
    stall_after_write: float = 0.0
    stall_seconds: float = 2.0
    ignore_conditions: bool = False
    cycle_listings: bool = False
    conditional_delete_not_implemented: bool = False

    def __post_init__(self) -> None:
        for kind in FAULT_KINDS:
            if not 0.0 <= getattr(self, kind) <= 1.0:
                raise ValueError(f"{kind} must be a probability in [0, 1]")
        if sum(getattr(self, kind) for kind in FAULT_KINDS) > 1.0:
            raise ValueError("fault probabilities must add up to at most 1")
        if self.latency < 0 or self.stall_seconds < 0:
            raise ValueError("latency and stall_seconds must not be negative")


def eligible(kind: FaultKind, *, is_write: bool, conditional: bool) -> bool:
    """Whether a fault of `kind` can hit a request of this sort."""
    if kind in ("slow_down", "access_denied"):
        return True
    if kind == "conditional_conflict":
        return is_write and conditional
    return is_write


class FaultDealer:
    """Decides, request by request, which fault (if any) to inject. Thread-safe."""

    def __init__(self, plan: FaultPlan) -> None:
        self._lock = threading.Lock()
        self._plan = plan
        self._rng = random.Random(plan.seed)
        self._queued: deque[FaultKind] = deque()
        self.injected: Counter[str] = Counter()

    @property
    def plan(self) -> FaultPlan:
        return self._plan

    def set_plan(self, plan: FaultPlan) -> None:
        with self._lock:
            self._plan = plan
            self._rng = random.Random(plan.seed)
            self._queued.clear()

    def queue(self, kind: FaultKind, count: int) -> None:
        with self._lock:
            self._queued.extend([kind] * count)

    def draw(self, *, is_write: bool, conditional: bool) -> FaultKind | None:
        with self._lock:
            if self._queued and eligible(self._queued[0], is_write=is_write,
                                         conditional=conditional):
                kind: FaultKind | None = self._queued.popleft()
            else:
                kind = self._draw_random(is_write=is_write, conditional=conditional)
            if kind is not None:
                self.injected[kind] += 1
            return kind

    def _draw_random(self, *, is_write: bool, conditional: bool) -> FaultKind | None:
        roll = self._rng.random()
        for kind in FAULT_KINDS:
            if not eligible(kind, is_write=is_write, conditional=conditional):
                continue
            probability: float = getattr(self._plan, kind)
            if roll < probability:
                return kind
            roll -= probability
        return None
