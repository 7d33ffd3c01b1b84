"""A linearizability checker for histories of operations on one key of the JSON store.

A history (`Op`s with invocation and completion sequence numbers) is linearizable if every
op's effect can be put at one point inside its window (a repeatable op: up to three points;
an unknown op: any point after its invocation, or none) so that the sequential model of the
key — `ABSENT` or a JSON value — explains every ok result and every failure kind.

The search is Wing & Gong's depth-first search for a linearization (1993) in the form of
Lowe's "just-in-time linearization" (2017), memoised as in Porcupine and Knossos: walk the
completions in sequence order; the completing op must be linearized by then, so try it
first, then (on backtracking) other invoked, uncompleted ops before it, and move on as soon
as it is done. A configuration (completions passed, each op's progress, model state) is
expanded once; an ok update is two steps, its effect and then an implicit read of the
document it returned (which may include later updates batched with it). Exact reductions:
a passing check that leaves the state alone (get, failure, read) is taken at once; a
configuration is skipped if one that used fewer optional applications (unknown ops,
repeats) was seen with all else equal; and a read still due (also the next one to come)
that can no longer come true — no op left that could write its value, or, with only
appends/upserts left to act, a list read that the state no longer begins like — cuts the
branch. Values are compared as the store's JSON bytes (dict key order counts, as in ETags).
"""

from __future__ import annotations

import enum
import functools
import hashlib
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

__all__ = [
    "ABSENT", "NO_DEFAULT", "CheckerLimitError", "Kind", "Op", "Status", "Verdict",
    "apply_mutation", "check", "check_by_key", "etag_of",
]


class _Marker(enum.Enum):
    """Sentinels that keep their identity through pickling (an enum pickles by name)."""

    ABSENT = "ABSENT"
    NO_DEFAULT = "NO_DEFAULT"

    def __repr__(self) -> str:
        return self.value

    __str__ = __repr__


ABSENT: Final = _Marker.ABSENT          # the key holds no object
NO_DEFAULT: Final = _Marker.NO_DEFAULT  # update(mutation, NO_DEFAULT) fails "not_found" on ABSENT

Kind = Literal["get", "create", "replace", "update", "delete", "put"]
Status = Literal["ok", "fail", "unknown"]
FAILURES: Final = ("not_found", "already_exists", "conflict", "other")
MAX_APPLICATIONS: Final = 3  # how often the search may apply a repeatable op


class CheckerLimitError(RuntimeError):
    """The search visited more than `max_states` configurations without deciding."""


@dataclass(frozen=True)
class Op:
    """One operation on one key, as the simulator recorded it."""

    id: int
    process: str
    kind: Kind
    args: tuple[Any, ...]
    invoked: int
    completed: int | None
    status: Status
    result: Any = None
    repeatable: bool = False

    def __str__(self) -> str:
        shown = self.status == "fail" or (self.status == "ok" and self.kind in ("get", "update"))
        outcome = f"{self.status} {self.result!r}" if shown else self.status
        args = ", ".join(map(repr, self.args))
        return (f"#{self.id} {self.process}: {self.kind}({args}) -> {outcome} "
                f"[{self.invoked}, {'never' if self.completed is None else self.completed}]"
                + " repeatable" * self.repeatable)


@dataclass(frozen=True)
class Verdict:
    """The checker's answer; `linearization` lists op ids (a repeatable op once per effect)."""

    ok: bool
    explanation: str
    linearization: tuple[int, ...] | None


def encode(value: Any) -> str:
    """The JSON text the store writes for `value` (dict key order kept, as in its bytes)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


@functools.lru_cache(maxsize=1 << 16)
def _etag(text: str) -> str:
    return '"' + hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest() + '"'


def etag_of(value: Any) -> str:
    """The S3 ETag of the object the store writes for `value`."""
    return _etag(encode(value))


def apply_mutation(mutation: Any, value: Any) -> Any:
    """The new document: `mutation` applied to `value`, which is never modified.

    Mutations are tuples ("append", x), ("inc",), ("dec",), ("upsert", id, v) (on a list
    of [id, v] pairs), ("set", v), or objects with an `apply(value)` method. Raises
    ValueError for an unknown mutation, TypeError when the value has the wrong shape.
    """
    if not isinstance(mutation, tuple):
        apply = getattr(mutation, "apply", None)
        if callable(apply):
            return apply(value)
        raise ValueError(f"unknown mutation {mutation!r}")
    match mutation:
        case ("append", item) if isinstance(value, list):
            return [*value, item]
        case ("inc",) | ("dec",) if isinstance(value, int) and not isinstance(value, bool):
            return value + (1 if mutation[0] == "inc" else -1)
        case ("upsert", key, item) if isinstance(value, list) and all(map(_pair, value)):
            found = any(p[0] == key for p in value)
            return [[key, item] if p[0] == key else p for p in value] + [[key, item]][found:]
        case ("set", item):
            return item
        case ("append", _) | ("inc",) | ("dec",) | ("upsert", _, _):
            raise TypeError(f"{mutation!r} does not apply to {value!r}")
    raise ValueError(f"unknown mutation {mutation!r}")


@dataclass(frozen=True)
class _Entry:
    """An op prepared for the search, with its 4 bits in a configuration's `progress`:
    3 count its applications in unary (so fewer applications are a subset), 1 its read."""

    op: Op
    shift: int
    mode: Status            # "unknown" also for ops that never completed
    limit: int              # most applications (a fail op: its one no-effect check)
    deadline: int | None    # completion sequence number; None: open forever
    value_key: str | None   # encoding of the value written by create, replace, put
    result_key: str | None  # encoding of the value an ok get / update returned

    def apply(self, value: Any, key: str | None) -> tuple[Any, str | None] | None:
        """The state after one successful application, or None if the model refuses it."""
        kind, args = self.op.kind, self.op.args
        if kind in ("create", "replace", "put"):
            allowed = (kind == "put" or (kind == "create" and key is None)
                       or (kind == "replace" and key is not None and _etag(key) == args[1]))
            return (args[0], self.value_key) if allowed else None
        if kind == "delete":
            allowed = args[0] is None or (key is not None and _etag(key) == args[0])
            return (ABSENT, None) if allowed else None
        if kind != "update" or (key is None and args[1] is NO_DEFAULT):
            return None  # a get has no effect; update of ABSENT without default: not_found
        try:
            new = apply_mutation(args[0], args[1] if key is None else value)
        except TypeError:
            return None
        return new, encode(new)

    def fails(self, key: str | None) -> bool:
        """Whether the model gives this op's failure kind in a state with this encoding."""
        kind, args, want = self.op.kind, self.op.args, self.op.result
        if want == "not_found":
            return key is None and (kind == "get" or (kind == "update" and args[1] is NO_DEFAULT))
        if want == "already_exists":
            return kind == "create" and key is not None
        etag = args[1] if kind == "replace" else args[0] if kind == "delete" else None
        return want == "conflict" and etag is not None and (key is None or _etag(key) != etag)

    def count(self, progress: int) -> int:
        return (progress >> self.shift & 7).bit_length()

    def applied(self, progress: int) -> int:
        return progress + ((progress >> self.shift & 7) + 1 << self.shift)

    def done(self, progress: int) -> bool:
        read = progress >> self.shift & 8 or self.op.kind != "update" or self.result_key is None
        return self.count(progress) > 0 and bool(read)

    def could_write(self, target: Any, target_key: str | None) -> bool:
        """Whether an application might leave the document `target`."""
        if target_key is None or self.op.kind in ("get", "delete") or self.mode == "fail":
            return False
        if self.op.kind != "update":
            return self.value_key == target_key
        match self.op.args[0]:
            case ("append", item):
                could = isinstance(target, list) and target[-1:] == [item]
            case ("upsert", key, item):
                could = isinstance(target, list) and [key, item] in target
            case ("inc",) | ("dec",):
                could = isinstance(target, int) and not isinstance(target, bool)
            case ("set", item):
                could = item == target
            case _:
                could = True  # a mutation object: anything
        return bool(could)

    def mutation(self) -> str | None:
        """The name of an update's tuple mutation."""
        mutation = self.op.args[0] if self.op.kind == "update" else None
        return mutation[0] if isinstance(mutation, tuple) else None

    def grows(self) -> bool:
        """Whether the op cannot change a list but by appending or upserting."""
        return (self.op.kind == "get" or self.mode == "fail"
                or self.mutation() in ("append", "upsert"))


def _pair(item: Any) -> bool:
    return isinstance(item, list) and len(item) == 2


def _begins(target: list[Any], value: list[Any], upserts: bool) -> bool:
    """Whether appends (and upserts, which keep each [id, v]'s place and id) may still
    turn the list `value` into `target`."""
    return len(value) <= len(target) and (target[:len(value)] == value or (upserts and all(
        old == new or (_pair(old) and _pair(new) and old[0] == new[0])
        for old, new in zip(value, target, strict=False))))


_MUTATIONS: Final = [("append",), ("inc",), ("dec",), ("upsert",), ("set",)]
_ARITY: Final = {"get": 0, "create": 1, "put": 1, "replace": 2, "update": 2, "delete": 1}


def _prepare(history: Sequence[Op]) -> list[_Entry]:
    ids: set[int] = set()
    seqs: set[int | None] = {None}
    entries: list[_Entry] = []
    for op in history:
        mode: Status = "unknown" if op.completed is None else op.status
        mutation = op.args[0] if op.kind == "update" and op.args else None
        for bad, why in (
            (op.id in ids, "op id used twice"),
            (op.status not in ("ok", "fail", "unknown") or len(op.args) != _ARITY.get(op.kind),
             "bad kind, status or number of args"),
            (op.completed is not None and op.completed <= op.invoked, "completed before invoked"),
            (op.invoked in seqs or op.completed in seqs - {None}, "sequence number used twice"),
            (isinstance(mutation, tuple) and mutation[:1] not in _MUTATIONS, "unknown mutation"),
            (mode == "fail" and op.result not in FAILURES, f"failure kind not one of {FAILURES}"),
        ):
            if bad:
                raise ValueError(f"{why}: {op}")
        ids.add(op.id)
        seqs |= {op.invoked, op.completed}
        if (mode == "fail" and op.result == "other") or (mode == "unknown" and op.kind == "get"):
            continue  # no effect and no constraint
        repeat = op.repeatable and op.kind != "get" and mode != "fail"
        entries.append(_Entry(
            op=op, shift=4 * len(entries), mode=mode, limit=MAX_APPLICATIONS if repeat else 1,
            deadline=None if mode == "unknown" else op.completed,
            value_key=encode(op.args[0]) if op.kind in ("create", "replace", "put") else None,
            result_key=encode(op.result) if mode == "ok" and op.kind in ("get", "update")
            else None))
    return entries


# A configuration: (completions passed, progress bits of every op, model value, its encoding).
_Config = tuple[int, int, Any, str | None]
_Move = tuple[_Config, int | None]  # and the op id it linearized an effect or check of


class _Search:
    """Lowe's just-in-time depth-first search over configurations, memoised."""

    def __init__(self, entries: list[_Entry]) -> None:
        self.closing = sorted((e for e in entries if e.deadline is not None),
                              key=lambda e: e.deadline or 0)
        self.steps: dict[tuple[int, str | None], tuple[Any, str | None] | None] = {}
        self.blocked: dict[int, _Entry] = {}  # per completion: the last read found impossible
        # Applications that may be left out (an unknown op's, a repeatable ok op's after its
        # first): fewer of them, all else equal, can do all that more can (see run()).
        self.optional = sum((7 if e.mode == "unknown" else 6) << e.shift
                            for e in entries if e.limit > 1 or e.mode == "unknown")
        # Per completion: the ops that may be linearized before it (invoked, not completed),
        # the completing op x first, then those that could write what x read, ok before
        # unknown, by invocation; and those writers.
        self.available: list[list[_Entry]] = []
        self.writers: list[list[_Entry]] = []
        for x in self.closing:
            end, target = x.deadline or 0, x.op.result
            ops = [x, *(e for e in entries if e is not x and e.op.invoked < end
                        and (e.deadline is None or e.deadline > end))]
            writers = [e for e in ops if e.could_write(target, x.result_key)]
            self.writers.append(writers)
            writing = {e.shift for e in writers}
            self.available.append([x, *sorted(ops[1:], key=lambda e: (
                e.shift not in writing, e.mode == "unknown", e.op.invoked))])
        # Per completion, the ok ops reading a list (the available ones, and the next one
        # invoked after it), each with whether an upsert may act before its read, and the
        # ops other than appends and upserts that may: once those have no application left,
        # the state must grow into the list read.
        self.readers: list[list[tuple[_Entry, bool, list[_Entry]]]] = []
        lists = [e for e in entries if isinstance(e.op.result, list) and e.result_key]
        reading = {e.shift for e in lists}
        for x, ops in zip(self.closing, self.available, strict=True):
            end = x.deadline or 0
            open_ = [e for e in entries if e.deadline is None or e.deadline >= end]
            others = [e for e in open_ if not e.grows()]
            upsert = min((e.op.invoked for e in open_ if e.mutation() == "upsert"),
                         default=math.inf)
            later = min((e for e in lists if e.op.invoked > end), default=None,
                        key=lambda e: e.op.invoked)
            self.readers.append([
                (e, (e.deadline or 0) > upsert,
                 [o for o in others if o.op.invoked < (e.deadline or 0)])
                for e in [*ops, later] if e is not None and e.shift in reading])

    def dead(self, j: int, progress: int, value: Any, key: str | None) -> _Entry | None:
        """An op whose read, still due, can no longer come true: none is left that could
        write what the completing op read, or only appends and upserts may act until a list
        read that the state does not begin like."""
        x = self.closing[j]
        if x.result_key is not None and not x.done(progress) and key != x.result_key and all(
                e.count(progress) >= e.limit for e in self.writers[j]):
            return x
        if isinstance(value, list):
            for e, upserts, others in self.readers[j]:
                if not e.done(progress) and not _begins(e.op.result, value, upserts) and all(
                        o.count(progress) >= o.limit for o in others):
                    return e
        return None

    def moves(self, config: _Config) -> Iterator[_Move]:
        j, progress, value, key = config
        x = self.closing[j]
        if x.done(progress):
            yield (j + 1, progress & ~(15 << x.shift), value, key), None  # x is closed
            if x.count(progress) >= x.limit:
                return  # nothing else is due before this completion: defer the rest
        blocker = self.dead(j, progress, value, key)
        if blocker is not None:
            self.blocked[j] = blocker
            return
        for e in self.available[j]:  # a passing check that leaves the state alone: at once
            n = e.count(progress)
            if n == 0 and ((e.mode == "fail" and e.fails(key)) or (
                    e.op.kind == "get" and key is not None and key == e.result_key)):
                yield (j, e.applied(progress), value, key), e.op.id
                return
            if (e.op.kind == "update" and n and key == e.result_key
                    and not progress >> e.shift & 8):
                yield (j, progress | 8 << e.shift, value, key), None
                return
        for e in self.available[j]:
            if e.mode != "fail" and e.op.kind != "get" and e.count(progress) < e.limit:
                if (e.shift, key) not in self.steps:  # transitions repeat: cache them
                    self.steps[e.shift, key] = e.apply(value, key)
                state = self.steps[e.shift, key]
                if state is not None:
                    yield (j, e.applied(progress), *state), e.op.id

    def run(self, initial: Any, max_states: int) -> Verdict:
        # Memo: a configuration is skipped when one with the same completions passed, the
        # same required progress and state, and a subset of its optional applications was seen.
        seen: dict[tuple[int, int, str | None], list[int]] = {}
        start: _Config = (0, 0, initial, None if initial is ABSENT else encode(initial))
        stack: list[Iterator[_Move]] = [iter([(start, None)])]
        path: list[int | None] = []
        deepest, deepest_path, deepest_states = 0, list[int | None](), dict[str | None, Any]()
        visited = 0
        while stack:
            for config, label in stack[-1]:
                j, progress, value, key = config
                spare = progress & self.optional
                bucket = seen.setdefault((j, progress & ~self.optional, key), [])
                if any(used & ~spare == 0 for used in bucket):
                    continue
                bucket.append(spare)
                visited += 1
                if visited > max_states:
                    raise CheckerLimitError(
                        f"gave up after {max_states} configurations ({deepest} of "
                        f"{len(self.closing)} completions explained so far); raise max_states")
                path.append(label)
                if j == len(self.closing):
                    order = tuple(i for i in path if i is not None)
                    return Verdict(True, "linearizable; a linearization (op ids): "
                                   + ", ".join(map(str, order)), order)
                if j > deepest:
                    deepest, deepest_path, deepest_states = j, list(path), {}
                if j == deepest and len(deepest_states) < 6:
                    deepest_states[key] = value
                stack.append(self.moves(config))
                break
            else:
                stack.pop()
                if path:
                    path.pop()
        return self._violation(deepest, deepest_path, list(deepest_states.values()))

    def _violation(self, j: int, path: list[int | None], states: list[Any]) -> Verdict:
        prefix = ", ".join(str(i) for i in path if i is not None) or "-"
        shown = ", ".join(map(repr, states[:5])) + (" (and more)" if len(states) > 5 else "")
        others = "".join(f"\n    {e.op}" for e in self.available[j][1:]) or " none"
        blocker = self.blocked.get(j)
        why = [] if blocker is None else [
            f"  (a way on was cut short as the read of #{blocker.op.id} could no longer come"
            f" true: {blocker.op})"]
        return Verdict(False, "\n".join([
            f"not linearizable: {self.closing[j].op}",
            f"  cannot be linearized; {j} of {len(self.closing)} completions explained.", *why,
            f"  longest linearizable prefix (op ids): {prefix}",
            f"  model states possible just before its completion: {shown}",
            f"  other ops that could have been linearized there:{others}"]), None)


def check(history: Sequence[Op], *, initial: Any = ABSENT, max_states: int = 2_000_000) -> Verdict:
    """Whether the history of one key is linearizable against the store's model.

    `initial` is the key's state before the history (ABSENT or a JSON value). Raises
    ValueError for a malformed history, CheckerLimitError when the search visits more than
    `max_states` configurations.
    """
    if not history:
        return Verdict(True, "linearizable: an empty history", ())
    return _Search(_prepare(history)).run(initial, max_states)


def check_by_key(history: Sequence[tuple[str, Op]], *, initial: Mapping[str, Any] | None = None,
                 max_states: int = 2_000_000) -> dict[str, Verdict]:
    """Check each key's sub-history on its own (linearizability is local): key -> Verdict."""
    by_key: dict[str, list[Op]] = {}
    for key, op in history:
        by_key.setdefault(key, []).append(op)
    start = initial or {}
    return {key: check(ops, initial=start.get(key, ABSENT), max_states=max_states)
            for key, ops in by_key.items()}
