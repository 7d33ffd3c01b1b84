"""The work a step does (an AI call, a webhook), behind a small interface.

`Executor.run(request) -> StepResult` does the work; anything it raises is recorded
as a failed step. `SimulatedExecutor` is the only executor shipped: it calls no
model and no webhook.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from worker_integration.errors import WorkerError
from worker_integration.models import StepType, UsageInfo

__all__ = ["Executor", "SimulatedExecutor", "SimulatedStepError", "StepRequest", "StepResult"]


@dataclass(frozen=True, kw_only=True)
class StepRequest:
    """What a step is asked to do. `context` maps step orders to the outputs it builds on."""

    customer_id: str
    job_id: str
    step_order: int
    step_type: str
    step_name: str
    model: str | None = None
    instructions: str = ""
    context: Mapping[int, Any] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class StepResult:
    """What a step produced: its output, what it cost, and any artifact or images."""

    output: Any
    model: str | None = None
    usage: UsageInfo | None = None
    artifact_id: str | None = None
    image_urls: tuple[str, ...] = ()


class Executor(Protocol):
    """Does the work of one step. Raising any exception marks the step as failed."""

    def run(self, request: StepRequest) -> StepResult:
        """Do the work of `request`; raise if it failed."""
        ...


class SimulatedStepError(WorkerError, RuntimeError):
    """The failure `SimulatedExecutor` raises for the steps it was told to fail."""


# Made-up prices, US dollars per 1,000 tokens (input, output): this is a simulation.
_SIMULATED_PRICES: Final[Mapping[str, tuple[float, float]]] = {
    "gpt-4o": (0.0025, 0.01),
    "gpt-4o-mini": (0.00015, 0.0006),
}
_DEFAULT_PRICE: Final = (0.001, 0.002)
_WORDS: Final = ("market", "audience", "offer", "headline", "outline", "insight", "hook",
                 "benefit", "proof", "story", "checklist", "summary", "angle", "lead", "guide",
                 "persona")


@dataclass(frozen=True, kw_only=True)
class SimulatedExecutor:
    """A SIMULATED executor: it calls no AI model and no webhook.

    Its output, token counts, cost and artifact id are derived deterministically
    from the request (the same request always gives the same result), after
    sleeping `delay` seconds to stand in for the real call. Steps whose name is in
    `fail_steps` raise `SimulatedStepError`. Costs use made-up prices. Picklable,
    so that it can be sent to worker processes.
    """

    delay: float = 0.0
    fail_steps: frozenset[str] = frozenset()
    sleep: Callable[[float], None] = time.sleep

    def run(self, request: StepRequest) -> StepResult:
        """The simulated result of `request`. Raises `SimulatedStepError` for `fail_steps`."""
        if self.delay:
            self.sleep(self.delay)
        if request.step_name in self.fail_steps:
            raise SimulatedStepError(f"simulated failure of step {request.step_name!r}")
        digest = hashlib.sha256(repr((
            request.customer_id, request.job_id, request.step_order, request.step_type,
            request.step_name, request.model, request.instructions,
            sorted((order, repr(output)) for order, output in request.context.items()),
        )).encode()).digest()
        words = " ".join(_WORDS[b % len(_WORDS)] for b in digest[:8])
        if request.step_type == StepType.WEBHOOK:
            return StepResult(output={"status_code": 200, "simulated": True,
                                      "body": f"delivered: {words}"})
        input_tokens = 40 + len(request.instructions) // 4 + sum(
            len(repr(output)) // 4 for output in request.context.values())
        output_tokens = 60 + int.from_bytes(digest[8:10], "big") % 400
        price_in, price_out = _SIMULATED_PRICES.get(request.model or "", _DEFAULT_PRICE)
        usage = UsageInfo(
            model=request.model, input_tokens=input_tokens, output_tokens=output_tokens,
            total_tokens=input_tokens + output_tokens,
            cost_usd=round((input_tokens * price_in + output_tokens * price_out) / 1000, 6),
            service_type="simulated",
        )
        if request.step_type == StepType.HTML_GENERATION:
            sections = "".join(f"<section data-step=\"{order}\"></section>"
                               for order in sorted(request.context))
            output: Any = f"<html><!-- simulated: {words} -->{sections}</html>"
        else:
            output = f"[simulated] {request.step_name}: {words}"
        return StepResult(output=output, model=request.model, usage=usage,
                          artifact_id=f"art_{digest[10:18].hex()}")
