"""How long `JsonStore.update()` keeps re-reading and re-applying after a conflict.

`RetryPolicy` is a plain value; `JsonStore` turns it into tenacity strategies with
`stop` and `retry` always explicit (tenacity's own defaults retry forever, on anything).

How the store's retries and botocore's combine — they never multiply:

- **botocore** retries one *request* on what the network and S3 do to it: throttling
  (503 `SlowDown`), other 5xx, timeouts, dropped connections — as many times as the
  client's retry config says (boto3's default "standard" mode: 3 attempts in all).
- **the store** retries one *update* on what other writers do to it: a lost
  conditional write (412, 404 on `If-Match`, 409 `ConditionalRequestConflict`). Each
  retry re-reads the document and re-applies the mutation; that is the only thing a
  retry can fix.
- A transient failure that outlives botocore's retries reaches the caller at once as
  `StorageError(transient=True)`: the store does not retry it again, so a dead
  endpoint costs botocore's attempts, not botocore's attempts times the store's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import tenacity

__all__ = ["DEFAULT_DEADLINE", "RetryPolicy", "log_retry"]

log = logging.getLogger(__name__)


DEFAULT_DEADLINE: Final = 10.0
"""Seconds a call keeps retrying by default: less than most Lambda timeouts. A call can
pass its own `deadline=` (e.g. the invocation's remaining time); the earlier one wins."""


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How long a call of `JsonStore` retries: after a conflict (`update()` re-reads and
    re-applies), a throttled or refused-before-landing write, a lost answer proven not to
    have landed.

    - `max_attempts` (default 20): attempts in all, the first included.
    - `base_delay` (default 0.025 s) and `max_delay` (default 1.0 s): the wait before
      attempt n+1 is a random time in [0, min(max_delay, base_delay * 2**n)] — exponential
      backoff with full jitter, so that writers who collided do not collide again.
    - `deadline` (default `DEFAULT_DEADLINE`, 10 s; None: none): no attempt starts this many
      seconds after the call's first, and no wait runs past it. A request already sent is
      bounded by the client's own timeouts (botocore's `connect_timeout`/`read_timeout`).
    - `sleep` (default `time.sleep`): injectable, so that tests never really wait.

    A call given up is `RetriesExhaustedError` (with its attempts and seconds), or
    `OutcomeUnknownError` when one of its writes' answers was lost on the way.
    """

    max_attempts: int = 20
    base_delay: float = 0.025
    max_delay: float = 1.0
    deadline: float | None = DEFAULT_DEADLINE
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must not be negative")
        if self.deadline is not None and self.deadline <= 0:
            raise ValueError("deadline must be positive (or None for no deadline)")

    def ends_at(self, started: float, deadline: float | None = None) -> float | None:
        """When (`time.monotonic()`) a call started at `started` must stop retrying: at this
        policy's deadline or the call's own `deadline` (seconds), whichever comes first."""
        limits = [started + limit for limit in (self.deadline, deadline) if limit is not None]
        return min(limits) if limits else None

    def retrying(self, retry_on: type[BaseException] | tuple[type[BaseException], ...], *,
                 ends_at: Ends = None, stop: Callable[[Any], bool] | None = None,
                 before_sleep: Callable[[Any], None] | None = None) -> Any:
        """A `tenacity.Retrying` that retries only `retry_on`, within this policy: at most
        `max_attempts`, none starting after `ends_at` (`time.monotonic()`, or a function
        giving it; None: this policy's `deadline` from now) and no wait running past it.
        `stop` replaces that rule (a round of several callers judges each by its own; its
        parameter must be named `retry_state`: tenacity 6 calls others the pre-5.0 way);
        `before_sleep` is called before each wait (`log_retry` logs it)."""
        if ends_at is None:
            ends_at = self.ends_at(time.monotonic())
        if stop is None:
            stop = _stop_rule(self.max_attempts, ends_at)
        return tenacity.Retrying(
            stop=stop,
            wait=_capped_wait(tenacity.wait_random_exponential(multiplier=self.base_delay,
                                                               max=self.max_delay), ends_at),
            retry=tenacity.retry_if_exception_type(retry_on),
            sleep=self.sleep,
            before_sleep=before_sleep,
            reraise=False,
        )


Ends = float | Callable[[], float | None] | None


def _end(ends_at: Ends) -> float | None:
    return ends_at() if callable(ends_at) else ends_at


def _stop_rule(max_attempts: int, ends_at: Ends) -> Callable[[Any], bool]:
    def stop(retry_state: Any) -> bool:
        end = _end(ends_at)
        return retry_state.attempt_number >= max_attempts or (
            end is not None and time.monotonic() >= end)
    return stop


def _capped_wait(wait: Any, ends_at: Ends) -> Callable[[Any], float]:
    """`wait`, never past `ends_at` (the attempt after it then sees the deadline passed)."""
    def capped(retry_state: Any) -> float:
        delay: float = wait(retry_state=retry_state)
        end = _end(ends_at)
        if end is not None:
            delay = max(0.0, min(delay, end - time.monotonic()))
        return delay
    return capped


def log_retry(operation: str, key: str) -> Callable[[Any], None]:
    """tenacity's `before_sleep` hook: each retry at DEBUG, with why and how long it waits
    (never a body). What an operator must see — a call given up — is logged at WARNING
    where the call gives up."""
    def before_sleep(retry_state: Any) -> None:
        error = retry_state.outcome.exception()
        why = error.__cause__ if error is not None and error.__cause__ is not None else error
        # the store's own signal to go again (no S3 error behind it): a lost answer proven
        # not to have landed, or a stale guess
        reason = "not landed" if type(why).__name__ == "Again" else type(why).__name__
        log.debug("%s %s: attempt %d did not land (%s); retrying in %.3f s", operation, key,
                  retry_state.attempt_number, reason, retry_state.next_action.sleep)
    return before_sleep
