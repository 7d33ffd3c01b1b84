"""Every fenced code block of README.md and docs/*.md is run, checked, or marked as output.

One test per block, its id the page and the line of its opening fence (`README.md:L42`).
The block's info string says what is done with it (docs/development.md says the same):

- ```` ```python ````: run with `exec` (```` ```python needs-aio ````: only where the
  `aio` extra is installed, skipped elsewhere with that reason). The blocks of one page
  run in order in one namespace, so a page can build on its earlier blocks (running one
  block alone runs the page's earlier python blocks first). A block starts the `LocalS3`
  it needs itself; it must need no network and no credentials (the AWS credential
  variables and files are hidden from it).
- ```` ```sh ````: each line is a command (blank lines and `#` comments skipped, a
  trailing `\\` joins the next line; no pipes, redirections or `;`). Two programs only:
  - `make TARGET ...` is checked with `make -n TARGET ...` in the checkout: the target
    exists and its recipe expands; nothing is built or installed. For `make demo` and
    `make bench`, `ARGS=...` is parsed as the demo or the benchmark parses it.
  - `s3store ...` (or `.venv/bin/s3store ...`) runs in this process through
    `s3store.cli.main`, against the block's own `LocalS3` (versioned; one per sh block,
    shared by its lines), given as `--endpoint-url URL --bucket BUCKET` before the line's own
    arguments, with fake credentials. It must exit 0, unless the line's comment says
    otherwise with `[exit N]`.
  ```` ```sh after-demo ````: before the block the test runs the demo once for the page
  on that `LocalS3` (`worker_integration.demo.run.main`, threads, no delays), and
  `$CUSTOMER` and `$JOB` (or `${CUSTOMER}`, `${JOB}`) stand for the ids of its job. Any
  other `$NAME` fails.
  A line of any other program (aws, pip, docker, python, an environment assignment)
  fails, unless the block says why it is not run: ```` ```sh not-run: REASON ````, with
  REASON one of `NOT_RUN_REASONS`. Such a block must hold no line the test could run:
  those go in a block of their own.
- ```` ```text ````: output, not run. ```` ```json ````: must parse as JSON.
  ```` ```toml ````: must parse as TOML (`tomllib`).
- Any other info string, or none, fails: every block is run, checked, or marked. Code the
  reader does not collect (a fence in a blockquote or indented by a tab, `<pre>`) fails
  `test_no_page_has_code_the_reader_would_miss`.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import pytest

from benchmarks.cli import parse_args as bench_args
from s3store import JsonStore
from s3store.cli import main as s3store_main
from s3store.testing import LocalS3
from tests.cli_harness import fake_aws
from tests.docs.markdown import ROOT, Block, code_blocks, doc_files
from tests.docs.shell import OPERATORS, Command, UnknownPlaceholderError, commands, substitute
from worker_integration.demo.run import main as demo_main
from worker_integration.demo.run import parse_args as demo_args

NOT_RUN_REASONS: Final = {
    "real-endpoint": "needs an S3 endpoint of yours and its credentials (AWS, MinIO, R2)",
    "long-running": "starts servers that run until they are stopped, or runs for minutes",
}
"""Why a ```` ```sh ```` block may be left unrun: `sh not-run: REASON`."""

KINDS: Final = ("python", "sh", "text", "json", "toml")
NEEDS_AIO: Final = "needs-aio"
"""A python block's one option: it runs where the `aio` extra is installed, and says so."""
"""The info strings' first words the test knows."""

S3STORE_PROGRAMS: Final = ("s3store", ".venv/bin/s3store")
ARGUMENT_PARSERS: Final[dict[str, Callable[[list[str]], object]]] = {
    "demo": demo_args, "bench": bench_args}
"""The make targets whose ARGS=... the test parses as the program they run would."""
"""How an `s3store` line may name the command (`make` installs it in .venv/bin)."""

DEMO_ARGS: Final = ("--threads", "--step-delay", "0", "--latency", "0")
"""The demo an `after-demo` block gets: nine steps in threads, nothing slowed down."""

_EXIT: Final = re.compile(r"\[exit (\d+)\]")
_JOB_RECORD: Final = re.compile(r"^(?P<customer>[\w-]+)/jobs/(?P<job>[\w-]+)/job\.json$")

BLOCKS: Final = [block for page in doc_files() for block in code_blocks(page)]


# -- the state a page's blocks share ------------------------------------------------------------


@dataclass
class Page:
    """What the blocks of one page share: the python namespace, a LocalS3, the demo's job."""

    path: str
    started: list[LocalS3]
    """Every page's LocalS3s, in the order they started (stopped in reverse)."""
    namespace: dict[str, Any] = field(default_factory=lambda: {"__name__": "__main__"})
    """As a script's: an `if __name__ == "__main__":` body runs too."""
    ran: dict[int, BaseException | None] = field(default_factory=dict)
    """Python blocks run so far, by line: None if it passed, else what it raised."""
    s3: LocalS3 | None = None
    variables: dict[str, str] | None = None
    """`$CUSTOMER` and `$JOB` once the demo ran for an `after-demo` block."""

    def local_s3(self) -> LocalS3:
        """The LocalS3 of the page's current sh block (versioned, so that `s3store recover` has
        versions to read): each block starts on a fresh one."""
        if self.s3 is None:
            # moto's buckets live as long as the process: a name no other test uses
            name = re.sub(r"[^a-z0-9]+", "-", self.path.lower()).strip("-")
            self.s3 = LocalS3(bucket=f"docs-{name}-{uuid.uuid4().hex[:8]}", versioning=True)
            self.started.append(self.s3.start())
        return self.s3


@dataclass
class Pages:
    """Every page's state, made on first use."""

    by_path: dict[str, Page] = field(default_factory=dict)
    started: list[LocalS3] = field(default_factory=list)

    def page(self, path: str) -> Page:
        """The state of the page at `path`."""
        return self.by_path.setdefault(path, Page(path, self.started))

    def stop(self) -> None:
        """Stop the pages' LocalS3s, in reverse: each undoes the patches of moto it made."""
        while self.started:
            self.started.pop().stop()


@pytest.fixture(scope="module")
def pages() -> Iterator[Pages]:
    """The pages' shared state, for this module."""
    state = Pages()
    yield state
    state.stop()


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing of the developer's AWS setup: a block that needs AWS fails at once."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name == "S3STORE_BUCKET":
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


# -- python ------------------------------------------------------------------------------------


def _run_python(block: Block, page: Page) -> None:
    """Run the page's python blocks up to `block`, each once, in order."""
    for earlier in (b for b in BLOCKS if b.path == block.path and b.kind == "python"):
        if earlier.line not in page.ran:
            # Blank lines before the code make tracebacks name the page's own lines.
            code = compile("\n" * earlier.line + earlier.body, str(ROOT / earlier.path), "exec")
            try:
                exec(code, page.namespace)  # noqa: S102 - running the documentation is the test
            except Exception as exc:  # kept, so that a later block says which one failed
                page.ran[earlier.line] = exc
                if earlier is block:
                    raise
            else:
                page.ran[earlier.line] = None
        failure = page.ran[earlier.line]
        if earlier is block:
            return
        if failure is not None:
            pytest.fail(f"the page's earlier python block {earlier.id} failed: "
                        f"{type(failure).__name__}: {failure}")


# -- sh ----------------------------------------------------------------------------------------


def _check_make(command: Command, argv: list[str], where: str) -> None:
    make = shutil.which("make")
    assert make is not None, "make is not installed"
    options = argv[1:]
    targets = [a for a in options if "=" not in a and not a.startswith("-")]
    assert targets, f"{where}: `{command.text}` names no target"
    result = subprocess.run([make, "-n", *options], cwd=ROOT, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, (
        f"{where}: `make -n {shlex.join(options)}` exited {result.returncode}:\n"
        f"{result.stdout}{result.stderr}")
    passed = [a.removeprefix("ARGS=") for a in options if a.startswith("ARGS=")]
    for target in targets:
        parse = ARGUMENT_PARSERS.get(target)
        if parse is not None:  # the arguments the target passes on must be ones it takes
            try:
                parse(shlex.split(passed[-1]) if passed else [])
            except SystemExit as exc:
                pytest.fail(f"{where}: `{command.text}`: {target} refuses its ARGS (exit "
                            f"{exc.code})")


def _demo_variables(page: Page, where: str) -> dict[str, str]:
    """Run the demo once for the page; `$CUSTOMER` and `$JOB` are its job's ids."""
    if page.variables is None:
        s3 = page.local_s3()
        store = JsonStore(s3.client(), s3.bucket)
        before = set(store.keys())
        out = io.StringIO()
        code = demo_main([*DEMO_ARGS, "--endpoint-url", s3.endpoint_url, "--bucket", s3.bucket],
                         out=out)
        assert code == 0, f"{where}: the demo exited {code}:\n{out.getvalue()}"
        jobs = [m for key in sorted(set(store.keys()) - before)
                if (m := _JOB_RECORD.match(key))]
        assert len(jobs) == 1, f"{where}: the demo should have made one job, made {jobs}"
        page.variables = {"CUSTOMER": jobs[0]["customer"], "JOB": jobs[0]["job"]}
    return page.variables


def _run_s3store(command: Command, argv: list[str], page: Page, where: str,
                 capsys: pytest.CaptureFixture[str]) -> None:
    expected = int(m.group(1)) if (m := _EXIT.search(command.comment)) else 0
    s3 = page.local_s3()
    capsys.readouterr()
    code = s3store_main(["--endpoint-url", s3.endpoint_url, "--bucket", s3.bucket, *argv[1:]])
    captured = capsys.readouterr()
    assert code == expected, (
        f"{where}: `{command.text}` exited {code}, the page expects {expected}\n"
        f"--- stdout\n{captured.out}--- stderr\n{captured.err}")


def _runnable(command: Command) -> bool:
    """Whether the test knows how to run or check `command`."""
    return command.program == "make" or command.program in S3STORE_PROGRAMS


def _argv(command: Command, variables: dict[str, str], where: str) -> list[str]:
    try:
        return substitute(command.argv, variables)
    except UnknownPlaceholderError as exc:
        known = ", ".join(f"${n}" for n in variables) or "none: the block is not after-demo"
        pytest.fail(f"{where}: ${exc.args[0]} is not a placeholder the test fills in ({known})")


def _run_sh(block: Block, page: Page, capsys: pytest.CaptureFixture[str]) -> None:
    options = block.options
    try:
        lines = commands(block)
    except ValueError as exc:
        pytest.fail(str(exc))
    if options.startswith("not-run:"):
        reason = options.removeprefix("not-run:").strip()
        assert reason in NOT_RUN_REASONS, (
            f"{block.id}: `not-run: {reason}` is not one of the reasons allowed "
            f"({', '.join(NOT_RUN_REASONS)})")
        runnable = [c.text for c in lines if _runnable(c)]
        assert not runnable, (
            f"{block.id}: {runnable[0]!r} is a line the test runs (make, s3store): give it a "
            "block of its own, so that `not-run` hides nothing the test could check")
        return
    assert options in ("", "after-demo"), (
        f"{block.id}: unknown sh option {options!r} (after-demo, or not-run: REASON)")
    assert lines, f"{block.id}: an sh block without a command"
    page.s3, page.variables = None, None  # each sh block on an S3 of its own
    for command in lines:
        where = f"{block.path}:L{command.line}"
        assert _runnable(command), (
            f"{where}: `{command.text}` is neither `make TARGET` nor `s3store ...`: mark the "
            f"block `sh not-run: REASON` ({', '.join(NOT_RUN_REASONS)}) if it must stay")
        assert not OPERATORS & set(command.argv), (
            f"{where}: one command per line, without pipes, redirections or `;`")
        variables = _demo_variables(page, where) if options == "after-demo" else {}
        argv = _argv(command, variables, where)
        if command.program == "make":
            _check_make(command, argv, where)
        else:
            _run_s3store(command, argv, page, where, capsys)


# -- the test ----------------------------------------------------------------------------------


@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_code_block(block: Block, pages: Pages, capsys: pytest.CaptureFixture[str],
                    monkeypatch: pytest.MonkeyPatch, no_credentials: None) -> None:
    """The block runs, parses, or is output, as its info string says (module docstring)."""
    assert block.closed, f"{block.id}: the code block is never closed"
    page = pages.page(block.path)
    if block.kind == "python":
        assert block.options in ("", NEEDS_AIO), (
            f"{block.id}: a python block takes no options but {NEEDS_AIO!r}")
        if block.options == NEEDS_AIO and importlib.util.find_spec("aiobotocore") is None:
            pytest.skip("the `aio` extra is not installed here (make test-min): make test and "
                        "make test-min-aio run this block")
        _run_python(block, page)
    elif block.kind == "sh":
        fake_aws(monkeypatch)  # the page's LocalS3 takes any credentials; no real ones
        _run_sh(block, page, capsys)
    elif block.kind == "text":
        pass  # output, shown as it was printed: nothing to run
    elif block.kind == "json":
        json.loads(block.body)
    elif block.kind == "toml":
        tomllib.loads(block.body)
    else:
        pytest.fail(f"{block.id}: info string {block.info!r}: a block must be one of "
                    f"{', '.join(KINDS)} (sh may be `sh after-demo` or `sh not-run: REASON`)")


def test_every_page_has_a_block_the_test_runs() -> None:
    """Each page shows at least one example the test runs: python, or sh that is not not-run."""
    for page in doc_files():
        name = page.relative_to(ROOT).as_posix()
        runs = [b for b in BLOCKS if b.path == name and (
            b.kind == "python" or (b.kind == "sh" and not b.options.startswith("not-run")))]
        assert runs, f"{name} has no python or runnable sh block"


def test_not_run_needs_a_known_reason_and_hides_no_line_the_test_could_run(
        capsys: pytest.CaptureFixture[str]) -> None:
    """`not-run` cannot hide a line the test could run, nor give a reason of its own."""
    page = Pages().page("p.md")
    _run_sh(Block(path="p.md", line=1, info="sh not-run: real-endpoint",
                  body="aws s3 ls\npip install x\n"), page, capsys)
    for body in ("make demo\n.venv/bin/s3store probe\n", "aws s3 ls\nmake demo\n"):
        with pytest.raises(AssertionError, match="give it a block of its own"):
            _run_sh(Block(path="p.md", line=1, info="sh not-run: long-running", body=body),
                    page, capsys)
    with pytest.raises(AssertionError, match="not one of the reasons allowed"):
        _run_sh(Block(path="p.md", line=1, info="sh not-run: slow", body="aws s3 ls\n"),
                page, capsys)
    assert page.s3 is None  # nothing was run
