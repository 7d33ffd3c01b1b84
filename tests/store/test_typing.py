"""A user's code type-checks with precise types under `mypy --strict`: the suite checks such a
file, and a file of wrong mutations that mypy must refuse (each on its own line)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api", reason="mypy is in the test extra")

GOOD = '''
from dataclasses import asdict, dataclass
from typing import Any, TypedDict

from s3store import JSON_CODEC, Document, JsonStore


class Step(TypedDict):
    name: str
    done: bool


def add_step(steps: list[Step]) -> list[Step]:
    return [*steps, {"name": "render", "done": False}]


def client() -> Any:  # a boto3 client (typed by boto3-stubs, where they are installed)
    return None


store = JsonStore(client(), "bucket")
no_steps: list[Step] = []
reveal_type(store.update("job/1.json", add_step, default=no_steps))  # R1
reveal_type(store.update("job/1.json", add_step))  # R2
reveal_type(store.update("n.json", lambda n: n + 1, default=0))  # R3
reveal_type(store.create("job/2.json", no_steps))  # R4
reveal_type(store.get("job/1.json"))  # R5
typed: Document[list[Step]] = store.update("job/1.json", add_step, default=no_steps)
reveal_type(typed.value[0]["name"])  # R6


@dataclass
class Task:
    name: str


class Tasks:  # a model codec: the store depends on no model library
    def encode(self, value: list[Task], /) -> bytes:
        return JSON_CODEC.encode([asdict(task) for task in value])

    def decode(self, data: bytes, /) -> list[Task]:
        return [Task(**item) for item in JSON_CODEC.decode(data)]


TASKS = Tasks()
reveal_type(store.get("tasks.json", codec=TASKS))  # R7
reveal_type(store.update("tasks.json", lambda ts: [*ts, Task("x")], codec=TASKS))  # R8
reveal_type(store.create("tasks.json", [Task("y")], codec=TASKS))  # R9
'''

BAD = '''
from typing import Any, cast

from s3store import Codec, JsonStore

JSON_CODEC_OF_INTS = cast(Codec[int], None)


def client() -> Any:
    return None


def bump(n: int) -> int:
    return n + 1


store = JsonStore(client(), "bucket")
store.update("k", bump, default=[])  # E1: an int -> int mutation on a list default
store.update("k", lambda steps: steps.append("x"), default=[])  # E2: append to list[Never]
wrong: list[int] = store.update("k", lambda n: str(n), default=0).value  # E3: the result type
store.get("k", codec=1)  # E4: not a codec
store.create("k", "text", codec=JSON_CODEC_OF_INTS)  # E5: a value the codec does not take
'''


def run_mypy(tmp_path: Path) -> dict[str, list[str]]:
    """mypy --strict over the two files: its lines, by the marker (R1, E2, ...) they are on."""
    for name, text in (("good.py", GOOD), ("bad.py", BAD)):
        (tmp_path / name).write_text(textwrap.dedent(text))
    (tmp_path / "mypy.ini").write_text("[mypy]\n")  # the user's configuration, not ours
    stdout, stderr, _ = mypy_api.run([
        "--config-file", str(tmp_path / "mypy.ini"), "--strict", "--no-incremental",
        "--cache-dir", str(tmp_path / "cache"),
        "--python-version", "3.11", "--show-error-codes", "--no-color-output",
        str(tmp_path / "good.py"), str(tmp_path / "bad.py")])
    sources = {name: (tmp_path / name).read_text().splitlines() for name in ("good.py", "bad.py")}
    found: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        match = re.match(r".*?(good|bad)\.py:(\d+): (.*)", line)
        if match is None:
            continue
        source = sources[f"{match[1]}.py"][int(match[2]) - 1]
        marker = re.search(r"# ([RE]\d+)", source)
        text = match[3].replace("builtins.", "").replace("'", "")  # as mypy 1.11 and 2 print
        found.setdefault(marker[1] if marker else f"{match[1]}:{match[2]}", []).append(text)
    assert stderr == ""
    return found


def test_a_users_typed_code_gets_precise_types_and_wrong_mutations_fail(tmp_path: Path) -> None:
    found = run_mypy(tmp_path)
    revealed = {marker: lines[0] for marker, lines in found.items() if marker.startswith("R")}
    steps = "list[TypedDict(good.Step, {name: str, done: bool})]"
    assert revealed == {
        "R1": f'note: Revealed type is "s3store._core.Document[{steps}]"',
        "R2": f'note: Revealed type is "s3store._core.Document[{steps}]"',
        "R3": 'note: Revealed type is "s3store._core.Document[int]"',
        "R4": f'note: Revealed type is "s3store._core.Document[{steps}]"',
        "R5": 'note: Revealed type is "s3store._core.Document[Any]"',
        "R6": 'note: Revealed type is "str"',
        "R7": 'note: Revealed type is "s3store._core.Document[list[good.Task]]"',
        "R8": 'note: Revealed type is "s3store._core.Document[list[good.Task]]"',
        "R9": 'note: Revealed type is "s3store._core.Document[list[good.Task]]"',
    }, found
    errors = {marker for marker, lines in found.items()
              if marker.startswith("E") and any(" error: " in f" {line}" for line in lines)}
    assert errors == {"E1", "E2", "E3", "E4", "E5"}, found
    assert set(found) == set(revealed) | errors, found  # nothing else: the good file is clean
