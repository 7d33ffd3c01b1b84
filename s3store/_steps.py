"""The store's decisions as steps that do no I/O, and the two loops that perform them.

Everything the store decides — what to send next, what an answer means, how a lost
answer is resolved, how a round's callers are answered — is written once, as generators
(the sans-I/O style of `h11` and `httpcore`): they `yield` what must be done and are
sent back what came of it. Only three things are ever yielded:

- `Request`: one S3 API call (a botocore operation and its parameters, and how its
  errors read); the answer is its response (`Answer`), or its error thrown in, already
  translated into the store's (`s3store._objects.translated`).
- `Sleep`: a retry's wait.
- `Wait`: a group-commit caller waiting for its turn (`Wait.condition`, lock held).

`drive()` hands each effect to a front end's `perform` and its outcome back: `run()`
performs them with a blocking boto3 client (`JsonStore`); `s3store.aio` with aiobotocore
on an event loop (`AsyncJsonStore`). A `BaseException` out of a request or
a wait (Ctrl-C, a cancelled task) is thrown into the steps at that point, as if the
request had raised it there: the steps decide what it does to a round.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import tenacity

__all__ = ["Answer", "Effect", "Request", "Sleep", "Steps", "Wait", "drive", "resolved", "resume",
           "retried", "run"]

T = TypeVar("T")


@dataclass(frozen=True)
class Request:
    """One S3 API call for a front end to make: `operation` (the client's method name,
    `"get_object"`), its `params`, and what its errors mean (`s3store._objects`):

    - `key` / `etag` / `if_none_match` / `header`: what the request named, for the error;
    - `write`: a conditional write — botocore does not retry it, and an answer that may
      have come after it landed is the private `AnswerLost`;
    - `body_limit`: read the response's body, refusing more than this many bytes.
    """

    operation: str
    params: Mapping[str, Any]
    key: str
    etag: str | None = None
    if_none_match: bool = False
    write: bool = False
    header: str | None = None
    body_limit: int | None = None


@dataclass(frozen=True)
class Answer:
    """A request's response (botocore's parsed dict), and its body when it was read."""

    response: Mapping[str, Any]
    body: bytes | None = None


@dataclass(frozen=True)
class Sleep:
    """Wait `seconds` before a retry, with the retry policy's `sleep` (`time.sleep` unless
    a test injected its own; an asyncio front end waits with `asyncio.sleep` instead of
    `time.sleep`, and awaits what another `sleep` returns)."""

    seconds: float
    sleep: Callable[[float], Any]


class Condition(Protocol):
    """What a group-commit queue waits on: `threading.Condition` for threads."""

    def wait(self, timeout: float | None = None) -> Any: ...

    def notify_all(self) -> None: ...


@dataclass(frozen=True)
class Wait:
    """Wait on `condition` (its lock held by the steps) until notified or `timeout`."""

    condition: Condition = field(compare=False)
    timeout: float | None = None


Effect = Request | Sleep | Wait
Steps = Generator[Effect, Any, T]
"""Steps that end with a `T`: each `yield` is an `Effect`, answered as its type says."""


def drive(steps: Steps[T], perform: Callable[[Effect], Any]) -> Generator[Any, Any, T]:
    """`steps`, each effect handed to `perform`: this yields what `perform` returned and
    is sent back its outcome — the same value for a blocking front end (`resolved`), the
    awaited result of a coroutine for an asyncio one (`awaited`). An exception out of
    `perform` (or thrown in at the yield) goes into the steps where the effect was."""
    answer: Any = None
    error: BaseException | None = None
    while True:
        finished, effect = resume(steps, answer, error)
        if finished:
            return effect  # type: ignore[no-any-return]
        answer = error = None
        try:
            answer = yield perform(effect)
        except BaseException as exc:  # thrown into the steps where it happened
            error = exc


def resume(process: Generator[Any, Any, Any], answer: Any,
           error: BaseException | None) -> tuple[bool, Any]:
    """Send `answer` into `process` (or throw `error`): (False, what it yields next), or
    (True, what it returned)."""
    try:
        return False, process.send(answer) if error is None else process.throw(error)
    except StopIteration as done:
        return True, done.value


def resolved(process: Generator[Any, Any, T]) -> T:
    """Run `process` (`drive`, `s3store._objects.exchange`) in this thread, where each of
    its yields is already its own outcome."""
    try:
        outcome = next(process)
        while True:
            outcome = process.send(outcome)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def run(steps: Steps[T], perform: Callable[[Request], Any]) -> T:
    """Perform `steps` in this thread: requests by `perform`, sleeps and waits blocking."""
    def blocking(effect: Effect) -> Any:
        if isinstance(effect, Request):
            return perform(effect)
        if isinstance(effect, Sleep):
            return effect.sleep(effect.seconds)
        return effect.condition.wait(effect.timeout)
    return resolved(drive(steps, blocking))


def retried(retrying: tenacity.Retrying, attempt: Callable[[], Steps[T]]) -> Steps[T]:
    """`retrying(attempt)` as steps: tenacity decides (stop, wait, retry) and the front end
    sleeps — the loop of tenacity's own `AsyncRetrying`, with `Sleep` for its sleep. Raises
    what `retrying` would: `tenacity.RetryError`, or an exception it does not retry."""
    _begin(retrying)
    state = tenacity.RetryCallState(retrying, None, (), {})
    while True:
        do = retrying.iter(retry_state=state)
        if isinstance(do, tenacity.DoAttempt):
            try:
                result = yield from attempt()
            except GeneratorExit:
                raise
            except BaseException:  # tenacity judges it: retried, or raised again by iter()
                state.set_exception(sys.exc_info())  # type: ignore[arg-type]
            else:
                state.set_result(result)
        elif isinstance(do, tenacity.DoSleep):
            state.prepare_for_next_attempt()
            yield Sleep(float(do), retrying.sleep)
        else:
            return do  # type: ignore[no-any-return]


def _begin(retrying: tenacity.Retrying) -> None:
    """Reset `retrying`'s statistics as its own loop does (tenacity 6 takes the function)."""
    try:
        retrying.begin()
    except TypeError:  # tenacity < 8.0: begin(fn)
        retrying.begin(None)  # type: ignore[call-arg]
