"""The Makefile's recipes: each target's commands (and its prerequisites') are valid sh,
and each target installs exactly its own extras, with uv or with plain pip.

`make -n -B TARGET` prints every command the target would run from a fresh clone
(nothing is run); `sh -n` checks them. A comma inside `$(call install,...)` arguments,
for one, splits them and leaves a quote open: the recipe then fails only when run.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAKE, SH = shutil.which("make"), shutil.which("sh")
TARGETS = {  # target -> the extras it installs into .venv (the async front end: `aio`)
    "demo": ("testing",),
    "bench": ("bench", "aio"),
    "lint": ("lint",),
    "typecheck": ("typecheck",),
    "pytest": ("test", "aio"),
    "mutation": ("mutation",),
}


def dry_run(target: str, installer: str) -> str:
    assert MAKE is not None, "make is needed to build this project"
    result = subprocess.run([MAKE, "-n", "-B", target, f"INSTALLER={installer}"], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("installer", ["uv", "pip"])
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_each_targets_commands_are_valid_sh_and_install_its_extras(target: str,
                                                                   installer: str) -> None:
    commands = dry_run(target, installer)
    assert SH is not None
    checked = subprocess.run([SH, "-n"], input=commands, capture_output=True, text=True,
                             check=False)
    assert checked.returncode == 0, f"{checked.stderr}\n{commands}"
    installs = [line for line in commands.splitlines()
                if " install " in line and "-e '.[" in line]
    assert [next(extra for extra in TARGETS[target] if f"-e '.[{extra}]'" in line)
            for line in installs[-len(TARGETS[target]):]] == list(TARGETS[target]), installs
    tool = ".venv/bin/uv pip install" if installer == "uv" else ".venv/bin/python -m pip install"
    assert all(tool in line for line in installs), installs


def test_an_unknown_installer_is_refused() -> None:
    assert MAKE is not None
    result = subprocess.run([MAKE, "-n", "demo", "INSTALLER=conda"], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode != 0 and "INSTALLER must be uv or pip" in result.stderr
