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

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import tenacity

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """Retry settings for conflicts in `JsonStore.update()`.

    Defaults: up to 20 attempts (the first included) within 60 s, waiting between
    attempts a random time in [0, min(max_delay, base_delay * 2**n)] — exponential
    backoff with full jitter, so that writers who collided do not collide again.
    `sleep` is injectable so that tests never really wait.
    """

    max_attempts: int = 20
    base_delay: float = 0.025
    max_delay: float = 1.0
    deadline: float | None = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must not be negative")
        if self.deadline is not None and self.deadline <= 0:
            raise ValueError("deadline must be positive (or None for no deadline)")

    def retrying(self, retry_on: type[BaseException] | tuple[type[BaseException], ...]) -> Any:
        """A `tenacity.Retrying` that retries only `retry_on`, within this policy."""
        stop: Any = tenacity.stop_after_attempt(self.max_attempts)
        if self.deadline is not None:
            stop = stop | tenacity.stop_after_delay(self.deadline)
        return tenacity.Retrying(
            stop=stop,
            wait=tenacity.wait_random_exponential(multiplier=self.base_delay, max=self.max_delay),
            retry=tenacity.retry_if_exception_type(retry_on),
            sleep=self.sleep,
            reraise=False,
        )
