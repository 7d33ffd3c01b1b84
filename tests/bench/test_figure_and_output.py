"""`make bench`'s figure, where its results go, and its options beside the demo's.

The figure is drawn from real measurements (a tiny sweep on the benchmark's own S3 host,
no latency): each panel has one line per option, plotting that option's figures, dashed
when it lost updates. A run writes only into `--output` (by default a folder git
ignores); only `--update-docs` touches the committed figure.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import benchmarks.cli as bench_cli
from benchmarks.harness import measure
from benchmarks.plot import PANELS, option_label, sweep_figure
from benchmarks.scenarios import SWEEP_OPTIONS, Results, Sizes, sweep_workloads
from benchmarks.server import S3Host
from benchmarks.updaters import option_named
from s3store.cli import main

TINY = Sizes(sweep_writers=(1, 4), sweep_updates=2)
CHECKOUT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_sweep() -> Results:
    """A real sweep of two options (one of which loses updates) at two writer counts."""
    results = Results(latency=0.0, sizes=TINY)
    with S3Host() as host:
        for name in ("unconditional", "s3store"):
            option = option_named(name)
            results.sweep[name] = {writers: measure(host, option, workload, latency=0.0)
                                   for writers, workload in sweep_workloads(TINY)}
    return results


def test_each_panel_plots_each_option_from_its_measurements(tiny_sweep: Results) -> None:
    figure = sweep_figure(tiny_sweep, quick=False)
    axes = figure.get_axes()
    assert [ax.get_ylabel() for ax in axes] == [label for label, _, _ in PANELS]
    assert [ax.get_yscale() for ax in axes] == [scale for _, scale, _ in PANELS]
    for ax, (_, _, value) in zip(axes, PANELS, strict=True):
        lines = ax.get_lines()
        assert len(lines) == len(tiny_sweep.sweep)
        for line, points in zip(lines, tiny_sweep.sweep.values(), strict=True):
            assert np.asarray(line.get_xdata()).tolist() == sorted(points)
            assert np.asarray(line.get_ydata()).tolist() == [value(points[w])
                                                             for w in sorted(points)]
            lost = any(m.lost for m in points.values())
            assert line.get_linestyle() == ("--" if lost else "-")
            assert str(line.get_label()).endswith("(loses updates)") == lost


def test_a_label_says_what_went_wrong(tiny_sweep: Results) -> None:
    """An option that gave up on updates, or acknowledged none at some writer count, says
    so (its points there are missing from the per-update panels)."""
    healthy = tiny_sweep.sweep["s3store"]
    assert option_label(healthy) == healthy[1].title
    worn = {w: m if w == 1 else dataclasses.replace(  # as measure() reports no latencies
                m, acked=0, failed=m.updates, p50_ms=math.nan, p99_ms=math.nan)
            for w, m in healthy.items()}
    assert option_label(worn) == (f"{healthy[1].title} (gave up on {worn[4].failed} updates; "
                                  "none acknowledged at 4 writers)")
    figure = sweep_figure(Results(latency=0.0, sizes=TINY, sweep={"worn": worn}), quick=False)
    for ax in figure.get_axes()[1:]:
        (line,) = ax.get_lines()
        assert np.isnan(np.asarray(line.get_ydata(), dtype=float)[1])


def test_an_empty_sweep_is_refused() -> None:
    with pytest.raises(ValueError, match="no sweep"):
        sweep_figure(Results(latency=0.0, sizes=TINY), quick=False)


def test_the_sweep_runs_every_option() -> None:
    assert {o.name for o in SWEEP_OPTIONS} == {
        "unconditional", "reload", "lock", "cas", "s3store-plain", "s3store"}


@pytest.fixture
def measured(monkeypatch: pytest.MonkeyPatch, tiny_sweep: Results,
             tmp_path: Path) -> Path:
    """`benchmarks.cli.main` with the tiny sweep instead of measuring; the committed
    figure stood in for by a file under tmp_path (returned)."""
    def run(parts: set[str], results: Results, _: object) -> None:
        results.sweep.update(tiny_sweep.sweep)

    class NoHost:
        def __enter__(self) -> None:
            return None

        def __exit__(self, *_: object) -> None:
            return None

    monkeypatch.setattr(bench_cli, "_run", run)
    monkeypatch.setattr(bench_cli, "S3Host", NoHost)
    docs_figure = tmp_path / "docs" / "bench-sweep.png"
    docs_figure.parent.mkdir()
    docs_figure.write_bytes(b"committed")
    monkeypatch.setattr(bench_cli, "DOCS_FIGURE", docs_figure)
    return docs_figure


def test_a_run_writes_into_output_only(measured: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert bench_cli.main(["--only", "sweep", "--output", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["bench-sweep.png", "latest.json"]
    assert (out / "bench-sweep.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert measured.read_bytes() == b"committed"
    assert "docs" not in capsys.readouterr().out.splitlines()[-1]


def test_update_docs_copies_the_figure(measured: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert bench_cli.main(["--only", "sweep", "--output", str(out), "--update-docs"]) == 0
    assert measured.read_bytes() == (out / "bench-sweep.png").read_bytes()


@pytest.mark.parametrize("argv", [["--only", "S1", "--update-docs"],
                                  ["--quick", "--update-docs"]], ids=["no-sweep", "quick"])
def test_update_docs_without_the_full_sweep_is_refused(
        measured: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        bench_cli.main(argv)
    assert exit_.value.code == 2
    assert "--update-docs needs the sweep at its default sizes" in capsys.readouterr().err
    assert measured.read_bytes() == b"committed"


def test_the_default_output_is_a_folder_git_ignores() -> None:
    git = shutil.which("git")
    if git is None or not (CHECKOUT / ".git").exists():
        pytest.skip("not a git checkout")  # an sdist: nothing is committed to keep clean
    for name in (bench_cli.JSON_NAME, bench_cli.FIGURE_NAME):
        path = bench_cli.DEFAULT_OUTPUT / name
        ignored = subprocess.run([git, "check-ignore", "-q", str(path)], cwd=CHECKOUT,
                                 check=False)
        assert ignored.returncode == 0, f"{path} is not ignored by git"


def test_demo_and_bench_take_durations_in_milliseconds(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--help"]) == 0
    demo = capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        bench_cli.main(["--help"])
    assert exit_.value.code == 0
    bench = capsys.readouterr().out
    assert bench.startswith("usage: s3store bench ")
    for help_text in (demo, bench):
        flat = " ".join(help_text.split())
        assert "--latency MS latency" in flat and "in milliseconds" in flat
    assert "--step-delay MS" in demo
