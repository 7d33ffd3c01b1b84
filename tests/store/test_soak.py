"""The fault soak (see tests/store/soak.py) with write-id resolution, and its negative control.

`pytest tests/store/test_soak.py --soak-updates 20000` runs a larger one.
"""

from __future__ import annotations

import pytest

from tests.store.soak import SoakConfig, SoakReport, run_soak


@pytest.fixture
def updates(request: pytest.FixtureRequest) -> int:
    value: int = request.config.getoption("--soak-updates")
    return value


def summary(report: SoakReport) -> str:
    faulted = sum(report.faults.values())
    return (f"{report.updates} updates, {report.requests} requests, {faulted} faulted"
            f" ({faulted / report.requests:.0%}): {report.faults};"
            f" {report.acknowledged} acknowledged,"
            f" {report.failed} failed, {report.unknown} unknown, {len(report.lost)} lost,"
            f" {len(report.duplicated)} duplicated, {len(report.failed_but_present)} failed but"
            " present")


def test_soak_every_acknowledged_update_lands_exactly_once(updates: int) -> None:
    report = run_soak(SoakConfig(updates=updates))
    print(summary(report))
    assert report.updates == updates
    assert sum(report.faults.values()) > report.requests * 0.15  # the faults did happen
    assert report.lost == []
    assert report.duplicated == []
    assert report.failed_but_present == []
    assert report.acknowledged > updates * 0.9


def test_negative_control_soak_without_resolution_duplicates_updates(updates: int) -> None:
    # A quarter of the soak is enough to show it (2,000 duplicated 149; 500 about 37;
    # the default 250 about 18).
    report = run_soak(SoakConfig(updates=max(updates // 4, 200), resolve=False))
    print(summary(report))
    assert report.duplicated != []
