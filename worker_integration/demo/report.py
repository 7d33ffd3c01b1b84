"""What the demo prints: progress lines, the table of stored steps, and verdicts.

Pure functions of the records; no storage, no output of step bodies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from worker_integration.invocations import InvocationReport
from worker_integration.models import ExecutionStep
from worker_integration.services.job_completion_service import expected_steps
from worker_integration.workflow import Workflow

__all__ = ["Verdict", "progress_line", "steps_table", "verdict_of"]


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """How a job's stored steps compare with what its workflow should have left.

    `stored` counts expected `(step_order, step_type)` records present once;
    `lost` lists the orders of those absent; `misplaced` lists records nobody
    expects (`html_generation` at order 1, say); `duplicated` lists identities
    stored more than once.
    """

    expected: int
    stored: int
    lost: tuple[int, ...]
    misplaced: tuple[tuple[int, str], ...]
    duplicated: tuple[tuple[int, str], ...]

    @property
    def complete(self) -> bool:
        """Every expected record is stored once, and nothing else is."""
        return self.stored == self.expected and not self.misplaced and not self.duplicated

    def line(self) -> str:
        """E.g. `10/10 execution steps stored`, or what was lost and what is wrong."""
        text = f"{self.stored}/{self.expected} execution steps stored"
        problems = []
        if self.lost:
            problems.append(f"lost orders {list(self.lost)}")
        problems += [f"{step_type} stored at step_order {order}"
                     for order, step_type in self.misplaced]
        problems += [f"({order}, {step_type}) stored more than once"
                     for order, step_type in self.duplicated]
        return text + (" — " + "; ".join(problems) if problems else "")


def verdict_of(workflow: Workflow, steps: Sequence[ExecutionStep]) -> Verdict:
    """The verdict on `steps`, the stored records of a job that ran `workflow`."""
    expected = expected_steps(workflow)
    counts = Counter(step.identity for step in steps)
    return Verdict(
        expected=len(expected),
        stored=sum(1 for identity in expected if counts[identity] >= 1),
        lost=tuple(order for order, step_type in expected if counts[(order, step_type)] == 0),
        misplaced=tuple(sorted(identity for identity in counts if identity not in expected)),
        duplicated=tuple(sorted(identity for identity, n in counts.items() if n > 1)),
    )


def _cell(value: object) -> str:
    return "-" if value is None else str(value)


def step_row(step: ExecutionStep) -> tuple[str, ...]:
    """One step as table cells: order, type, name, ok, duration, tokens, cost, artifact."""
    usage = step.usage_info
    return (
        str(step.step_order), step.step_type, _cell(step.step_name),
        "yes" if step.success else "FAILED",
        "-" if step.duration_ms is None else f"{step.duration_ms:.0f} ms",
        "-" if usage is None else str(usage.total_tokens),
        "-" if usage is None else f"${usage.cost_usd:.6f}",
        _cell(step.artifact_id),
    )


def steps_table(steps: Sequence[ExecutionStep]) -> str:
    """The steps as a text table: order, type, name, ok, duration, tokens, cost, artifact."""
    header = ("order", "type", "name", "ok", "duration", "tokens", "cost", "artifact")
    rows = [header, *(step_row(step) for step in steps)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    right = {0, 4, 5, 6}  # numbers line up on the right
    lines = ["  ".join(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
                       for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def progress_line(report: InvocationReport, *, done: int, total: int) -> str:
    """One line per finished invocation, e.g. `[ 3/10] job_x  step 4 ai_generation ...`."""
    width = len(str(total))
    status = "ok" if report.success else f"FAILED ({report.error})"
    duration = "" if report.duration_ms is None else f"{report.duration_ms:.0f} ms"
    return (f"[{done:>{width}}/{total}] {report.path} {report.job_id}  step "
            f"{report.step_order:>2} {report.step_type:<15} {_cell(report.step_name):<22} "
            f"{duration:>8}  {status}")
