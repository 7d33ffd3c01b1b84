"""The issue's performance targets, checked against one run's measurements.

Each target is PASS or MISS on the numbers measured, which its line shows; a target
whose measurements were not run (`--only`) is skipped. Where the issue leaves a
word to interpret, the check says how it reads it:

- "no livelock as processes grow": at every process count (1, 2, 4) every update
  was acknowledged (none gave up) and throughput with the most processes is at least
  half of that with one.
- "grows with writers" / "does not": throughput with the most writers is at least /
  under twice that with one writer.
- "update() within 1.2x of the floor at every size": for each codec, the shipped store's
  CPU per update over the hand-written read-modify-write's, at each document size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.docsize import size_label
from benchmarks.harness import Measurement
from benchmarks.scenarios import Results

__all__ = ["Target", "check"]

SHIPPED = "s3store"
PLAIN_CAS = "cas"
ORIGINAL = "unconditional"
BARE = "bare-put"


@dataclass(frozen=True)
class Target:
    """One target: whether it was met (None: not measured) and the numbers behind it."""

    name: str
    passed: bool | None
    detail: str

    @property
    def verdict(self) -> str:
        """PASS, MISS or SKIP."""
        return {True: "PASS", False: "MISS", None: "SKIP"}[self.passed]


def _rate(m: Measurement) -> str:
    return f"{m.updates_per_s:.1f}/s"


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("inf")


def _s1(results: Results) -> list[Target]:
    name = "S1: s3store <= 1.05 requests per update"
    m, cas = results.get("S1", SHIPPED), results.get("S1", PLAIN_CAS)
    if m is None:
        return [Target(name, None, "S1 not run")]
    detail = f"{m.requests_per_ack:.2f} requests/update"
    if cas is not None:
        detail += f" (plain CAS loop {cas.requests_per_ack:.2f})"
    return [Target(name, m.requests_per_ack <= 1.05, detail)]


def _s2(results: Results) -> list[Target]:
    m, cas, orig = (results.get("S2", o) for o in (SHIPPED, PLAIN_CAS, ORIGINAL))
    names = ("S2: s3store >= 10x the plain CAS loop's updates/s",
             "S2: s3store faster than the unconditional original",
             "S2: s3store 0 lost, where the original loses")
    if m is None or cas is None or orig is None:
        return [Target(name, None, "S2 not run with options 1, 4 and 6") for name in names]
    speedup = _ratio(m.updates_per_s, cas.updates_per_s)
    return [
        Target(names[0], speedup >= 10, f"{_rate(m)} vs {_rate(cas)} = {speedup:.1f}x"),
        Target(names[1], m.updates_per_s > orig.updates_per_s,
               f"{_rate(m)} vs {_rate(orig)} = "
               f"{_ratio(m.updates_per_s, orig.updates_per_s):.2f}x"),
        Target(names[2], m.lost == 0 and orig.lost > 0,
               f"s3store lost {m.lost}/{m.acked} acknowledged, "
               f"original lost {orig.lost}/{orig.acked}"),
    ]


def _s3(results: Results) -> list[Target]:
    names = ("S3: s3store 0 lost", "S3: s3store <= 3 requests per acknowledged update",
             "S3: s3store no livelock as processes grow")
    m = results.get("S3", SHIPPED)
    if m is None:
        return [Target(name, None, "S3 not run") for name in names]
    targets = [
        Target(names[0], m.lost == 0, f"lost {m.lost} of {m.acked} acknowledged"),
        Target(names[1], m.requests_per_ack <= 3, f"{m.requests_per_ack:.2f} requests/update"),
    ]
    scaling = results.scaling
    if len(scaling) < 2:
        targets.append(Target(names[2], None, "fewer than two process counts run"))
        return targets
    counts = sorted(scaling)
    first, last = scaling[counts[0]], scaling[counts[-1]]
    failed = sum(s.failed for s in scaling.values())
    points = ", ".join(f"{p} proc {_rate(scaling[p])} ({scaling[p].failed} gave up)"
                       for p in counts)
    passed = failed == 0 and last.updates_per_s >= 0.5 * first.updates_per_s
    targets.append(Target(names[2], passed, points))
    return targets


def _s4(results: Results) -> list[Target]:
    name = "S4: s3store >= 0.9x bare put_object updates/s"
    m, bare = results.get("S4", SHIPPED), results.get("S4", BARE)
    if m is None or bare is None:
        return [Target(name, None, "S4 not run with option 6 and the baseline")]
    ratio = _ratio(m.updates_per_s, bare.updates_per_s)
    return [Target(name, ratio >= 0.9, f"{_rate(m)} vs {_rate(bare)} = {ratio:.2f}x")]


def _growth(results: Results, option: str) -> tuple[float, str] | None:
    points = results.sweep.get(option, {})
    if len(points) < 2:
        return None
    writers = sorted(points)
    growth = _ratio(points[writers[-1]].updates_per_s, points[writers[0]].updates_per_s)
    detail = ", ".join(f"{w}: {points[w].updates_per_s:.0f}" for w in writers)
    return growth, f"{growth:.1f}x from {writers[0]} to {writers[-1]} writers ({detail})"


def _sweep(results: Results) -> list[Target]:
    targets = []
    for option, name, grows in (
        (SHIPPED, "Sweep: s3store's updates/s grow with writers", True),
        (PLAIN_CAS, "Sweep: the plain CAS loop's updates/s do not", False),
    ):
        growth = _growth(results, option)
        if growth is None:
            targets.append(Target(name, None, "sweep not run"))
        else:
            targets.append(Target(name, (growth[0] >= 2) == grows, growth[1]))
    return targets


def _docsize(results: Results) -> list[Target]:
    codecs = list(dict.fromkeys(row.codec for row in results.docsize))
    if not codecs:
        return [Target("Sizes: s3store's CPU per update <= 1.2x the hand-written floor's",
                       None, "document sizes not run")]
    targets = []
    for codec in codecs:
        rows = [row for row in results.docsize if row.codec == codec]
        detail = ", ".join(f"{size_label(row.size)} {row.store_per_floor:.2f}x" for row in rows)
        targets.append(Target(
            f"Sizes: s3store's CPU per update <= 1.2x the hand-written floor's ({codec})",
            all(row.store_per_floor <= 1.2 for row in rows), detail))
    return targets


_CHECKS: tuple[Callable[[Results], list[Target]], ...] = (_s1, _s2, _s3, _s4, _sweep,
                                                          _docsize)


def check(results: Results) -> list[Target]:
    """Every target, in the issue's order."""
    return [target for checker in _CHECKS for target in checker(results)]
