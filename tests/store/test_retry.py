"""RetryPolicy as tenacity strategies: explicit stop and retry, full jitter, no real sleeps."""

from __future__ import annotations

import pytest
import tenacity

from s3store import RetryPolicy


class Conflict(Exception):
    pass


def test_defaults_are_documented_values() -> None:
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.base_delay, policy.max_delay, policy.deadline) == (
        20, 0.025, 1.0, 10.0)


@pytest.mark.parametrize(
    "kwargs", [{"max_attempts": 0}, {"base_delay": -1.0}, {"max_delay": -1.0}, {"deadline": 0.0}]
)
def test_invalid_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is checked by eye, the type here
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_waits_are_full_jitter_exponential_and_capped() -> None:
    slept: list[float] = []
    policy = RetryPolicy(max_attempts=12, base_delay=0.1, max_delay=1.0, sleep=slept.append)
    calls = 0

    def always_conflicts() -> None:
        nonlocal calls
        calls += 1
        raise Conflict

    with pytest.raises(tenacity.RetryError):
        policy.retrying(Conflict)(always_conflicts)
    assert calls == 12 and len(slept) == 11
    for n, delay in enumerate(slept):
        assert 0.0 <= delay <= min(1.0, 0.1 * 2**n)
    assert len(set(slept)) > 1  # jittered, not a fixed schedule


def test_each_wait_is_drawn_anew_over_the_whole_range() -> None:
    """Full jitter, not a schedule: the n-th wait of many retries spreads over
    [0, cap]; a plain doubling (or equal jitter) would put every one at or above cap/2."""
    waits: dict[int, list[float]] = {n: [] for n in range(5)}
    for _ in range(60):
        slept: list[float] = []
        policy = RetryPolicy(max_attempts=6, base_delay=0.1, max_delay=10.0, sleep=slept.append)

        def always_conflicts() -> None:
            raise Conflict

        with pytest.raises(tenacity.RetryError):
            policy.retrying(Conflict)(always_conflicts)
        for n, delay in enumerate(slept):
            waits[n].append(delay)
    for n, drawn in waits.items():
        cap = 0.1 * 2**n
        assert len(set(drawn)) > 30
        assert min(drawn) < cap / 2 < max(drawn) <= cap  # chance of a false failure: 2**-59


def test_only_the_named_errors_are_retried() -> None:
    slept: list[float] = []
    policy = RetryPolicy(sleep=slept.append)

    def fails() -> None:
        raise KeyError("not a conflict")

    with pytest.raises(KeyError):
        policy.retrying(Conflict)(fails)
    assert slept == []


def test_success_after_conflicts_returns_the_value() -> None:
    slept: list[float] = []
    conflicts = iter([Conflict(), Conflict()])

    def flaky() -> str:
        for conflict in conflicts:
            raise conflict
        return "done"

    assert RetryPolicy(sleep=slept.append).retrying(Conflict)(flaky) == "done"
    assert len(slept) == 2
