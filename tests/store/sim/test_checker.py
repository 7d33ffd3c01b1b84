"""The linearizability checker on hand-built histories, and on random sequential executions."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pickle
import random
from typing import Any

import pytest

from s3store._codec import encode
from tests.store.sim.checker import (
    ABSENT,
    NO_DEFAULT,
    CheckerLimitError,
    Op,
    apply_mutation,
    check,
    check_by_key,
    etag_of,
)


def op(  # noqa: PLR0917 - hand-built histories read best as positional rows
        i: int, kind: Any, args: tuple[Any, ...], inv: int, comp: int | None,
        status: Any = "ok", result: Any = None, *, repeatable: bool = False) -> Op:
    return Op(id=i, process=f"p{i}", kind=kind, args=args, invoked=inv, completed=comp,
              status=status, result=result, repeatable=repeatable)


def append(  # noqa: PLR0917 - as op()
        i: int, x: Any, inv: int, comp: int | None, status: Any = "ok",
        result: Any = None) -> Op:
    return op(i, "update", (("append", x), []), inv, comp, status, result)


def get(i: int, inv: int, comp: int, result: Any, status: Any = "ok") -> Op:
    return op(i, "get", (), inv, comp, status, result)


def created(i: int = 0, value: Any = None) -> Op:
    """An ok create of [] (or `value`) at sequence numbers 1-2."""
    return op(i, "create", ([] if value is None else value,), 1, 2)


def assert_ok(history: list[Op], **kwargs: Any) -> tuple[int, ...]:
    verdict = check(history, **kwargs)
    assert verdict.ok, verdict.explanation
    assert verdict.linearization is not None
    return verdict.linearization


def assert_violation(history: list[Op], **kwargs: Any) -> str:
    verdict = check(history, **kwargs)
    assert not verdict.ok, verdict.explanation
    assert verdict.linearization is None
    return verdict.explanation


# --- the model's pieces ---------------------------------------------------------------------

def test_etag_is_md5_of_the_stores_bytes() -> None:
    for value in ([], {"b": 1, "a": "é"}, 3, None, [["x", 1.5]]):
        data = encode("k", value, max_bytes=1 << 20)
        assert etag_of(value) == f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'


def test_apply_mutation() -> None:
    before = [["a", 1]]
    assert apply_mutation(("append", 2), [1]) == [1, 2]
    assert apply_mutation(("inc",), 4) == 5
    assert apply_mutation(("dec",), 4) == 3
    assert apply_mutation(("upsert", "a", 9), before) == [["a", 9]]
    assert apply_mutation(("upsert", "b", 2), before) == [["a", 1], ["b", 2]]
    assert before == [["a", 1]]
    assert apply_mutation(("set", {"x": 1}), 7) == {"x": 1}
    with pytest.raises(ValueError, match="unknown mutation"):
        apply_mutation(("triple",), 1)
    with pytest.raises(TypeError):
        apply_mutation(("inc",), [1])


def test_sentinels_survive_pickling() -> None:
    for marker in (ABSENT, NO_DEFAULT):
        assert pickle.loads(pickle.dumps(marker)) is marker  # noqa: S301 - our own bytes
    assert repr(ABSENT) == "ABSENT"


def test_malformed_history_is_refused() -> None:
    with pytest.raises(ValueError, match="op id used twice"):
        check([get(1, 1, 2, 0), get(1, 3, 4, 0)])
    with pytest.raises(ValueError, match="sequence number used twice"):
        check([get(1, 1, 2, 0), get(2, 2, 4, 0)])
    with pytest.raises(ValueError, match="unknown mutation"):
        check([op(1, "update", (("triple",), 0), 1, 2, result=0)])


# --- hand-built histories -------------------------------------------------------------------

def test_sequential_history() -> None:
    history = [
        created(1), append(2, "a", 3, 4, result=["a"]), get(3, 5, 6, ["a"]),
        op(4, "replace", (["b"], etag_of(["a"])), 7, 8),
        op(5, "delete", (etag_of(["a"]),), 9, 10, "fail", "conflict"),
        op(6, "delete", (None,), 11, 12), get(7, 13, 14, "not_found", "fail"),
        op(8, "update", (("append", 1), NO_DEFAULT), 15, 16, "fail", "not_found"),
        op(9, "put", ({"v": 1},), 17, 18), get(10, 19, 20, {"v": 1}),
    ]
    assert assert_ok(history) == tuple(range(1, 11))


def test_empty_history_and_initial_state() -> None:
    assert check([]).ok
    assert assert_ok([get(1, 1, 2, [7])], initial=[7]) == (1,)
    assert_violation([get(1, 1, 2, [7])])


@pytest.mark.parametrize("order", [(1, 2), (2, 1)])
def test_concurrent_appends_in_either_order(order: tuple[int, int]) -> None:
    first, second = order
    results = {first: [first], second: [first, second]}
    history = [created(), append(1, 1, 3, 6, result=results[1]),
               append(2, 2, 4, 5, result=results[2]), get(3, 7, 8, list(order))]
    assert assert_ok(history) == (0, *order, 3)


def test_lost_update_is_a_violation() -> None:
    history = [created(), append(1, 1, 3, 6, result=[1]), append(2, 2, 4, 5, result=[1, 2]),
               get(3, 7, 8, [2])]
    assert "#3 p3: get()" in assert_violation(history)


def test_lost_update_seen_by_the_writers_themselves_is_a_violation() -> None:
    assert_violation([created(), append(1, 1, 3, 6, result=[1]), append(2, 2, 4, 5, result=[2])])


def test_double_application_is_a_violation() -> None:
    assert_violation([created(), append(1, 1, 3, 4, result=[1]), get(2, 5, 6, [1, 1])])


@pytest.mark.parametrize(("seen", "ok"), [([1], True), ([], True), ([1, 1], False)])
def test_unknown_append(seen: list[int], ok: bool) -> None:
    history = [created(), append(1, 1, 3, None, "unknown"), get(2, 5, 6, seen)]
    assert check(history).ok is ok


def test_unknown_append_may_land_late_but_only_after_its_invocation() -> None:
    assert_ok([created(), append(1, 1, 3, 4, "unknown"), get(2, 5, 6, []), get(3, 7, 8, [1])])
    assert_violation([created(), get(2, 3, 4, [1]), append(1, 1, 5, None, "unknown")])


@pytest.mark.parametrize("repeatable", [True, False])
def test_repeatable_upsert_applied_twice_around_a_delete(repeatable: bool) -> None:
    upsert = op(1, "update", (("upsert", "a", 1), []), 3, 12, result=[["a", 1]],
                repeatable=repeatable)
    history = [created(), upsert, get(2, 4, 5, [["a", 1]]), op(3, "delete", (None,), 6, 7),
               get(4, 8, 9, "not_found", "fail"), get(5, 13, 14, [["a", 1]])]
    verdict = check(history)
    assert verdict.ok is repeatable, verdict.explanation
    if repeatable:
        assert verdict.linearization == (0, 1, 2, 3, 4, 1, 5)


def test_repeated_application_only_inside_the_window() -> None:
    upsert = op(1, "update", (("upsert", "a", 1), []), 3, 4, result=[["a", 1]], repeatable=True)
    history = [created(), upsert, get(2, 5, 6, [["a", 1]]), op(3, "delete", (None,), 7, 8),
               get(4, 9, 10, [["a", 1]])]
    assert_violation(history)  # an ok op's retries land before its caller hears back
    # An op whose outcome is unknown (say, its caller timed out) may land at any time later.
    crashed = dataclasses.replace(upsert, status="unknown", result=None)
    assert assert_ok([history[0], crashed, *history[2:]]) == (0, 1, 2, 3, 1, 4)


@dataclasses.dataclass(frozen=True)
class Double:
    """A mutation object: anything with an `apply(value)`."""

    def apply(self, value: Any) -> Any:
        return [*value, *value]


def test_mutation_objects() -> None:
    assert apply_mutation(Double(), [1]) == [1, 1]
    history = [created(value=[1]), op(1, "update", (Double(), NO_DEFAULT), 3, 4, result=[1, 1]),
               get(2, 5, 6, [1, 1])]
    assert assert_ok(history) == (0, 1, 2)
    assert_violation([*history[:2], get(2, 5, 6, [1])])


def test_failed_op_whose_effect_shows_up_is_a_violation() -> None:
    assert_violation([created(), append(1, 1, 3, 4, "fail", "other"), get(2, 5, 6, [1])])
    assert_ok([created(), append(1, 1, 3, 4, "fail", "other"), get(2, 5, 6, [])])


def test_already_exists_needs_an_object_inside_its_window() -> None:
    failing = op(1, "create", ([1],), 3, 6, "fail", "already_exists")
    assert "#1 p1: create([1]) -> fail 'already_exists'" in assert_violation([failing])
    # The same failure with another create landing inside the window: explainable.
    assert assert_ok([failing, op(2, "create", ([0],), 4, 5)]) == (2, 1)
    # But not when that create came only after the failure was reported.
    assert_violation([failing, op(2, "create", ([0],), 7, 8)])


def test_stale_read_after_an_acknowledged_update_is_a_violation() -> None:
    acked = append(1, 1, 3, 4, result=[1])
    assert_violation([created(), acked, get(2, 5, 6, [])])
    assert_ok([created(), acked, get(2, 13, 20, [1])])
    # A read concurrent with the update may see either state.
    assert_ok([created(), append(1, 1, 3, 6, result=[1]), get(2, 4, 5, [])])


def test_aba_replace_by_etag_forces_an_order() -> None:
    inc = op(1, "update", (("inc",), NO_DEFAULT), 1, 10, result=1)
    dec = op(2, "update", (("dec",), NO_DEFAULT), 2, 11, result=0)
    replace = op(3, "replace", (10, etag_of(0)), 3, 12)
    # Only inc, dec, replace: the etag of 0 matches again after 0 -> 1 -> 0 (ABA).
    assert assert_ok([inc, dec, replace, get(4, 13, 14, 10)], initial=0) == (1, 2, 3, 4)
    # The replace finished before the dec started: at its point the counter was 0
    # only before the inc, but then the inc could never have returned 1.
    early = op(3, "replace", (10, etag_of(0)), 3, 4)
    late_dec = op(2, "update", (("dec",), NO_DEFAULT), 5, 11, result=0)
    assert_violation([inc, late_dec, early, get(4, 13, 14, 10)], initial=0)
    # A conflict is explainable only while the counter is not 0.
    conflict = op(3, "replace", (10, etag_of(0)), 3, 12, "fail", "conflict")
    assert_ok([inc, dec, conflict, get(4, 13, 14, 0)], initial=0)
    assert_violation([op(3, "replace", (10, etag_of(0)), 1, 2, "fail", "conflict")], initial=0)


def test_update_result_may_include_a_later_batched_update() -> None:
    history = [created(), append(1, 1, 3, 8, result=[1, 2]), append(2, 2, 4, 7, result=[1, 2]),
               get(3, 9, 10, [1, 2])]
    assert assert_ok(history) == (0, 1, 2, 3)


def test_update_result_lacking_its_own_effect_is_a_violation() -> None:
    history = [created(), append(1, 1, 3, 8, result=[2]), append(2, 2, 4, 7, result=[2, 1]),
               get(3, 9, 10, [2, 1])]
    assert "#1 p1: update" in assert_violation(history)


def _eight_concurrent(order: list[int], final: list[int] | None = None) -> list[Op]:
    """A create, 8 overlapping appends (the even ones unknown), a final read. `order` is
    the order the appends landed in (unknown ones may be missing): each ok append returns
    the list up to its own element, the read returns `final` (default: the whole order)."""
    history = [created()]
    for i in range(1, 9):
        if i % 2:
            history.append(append(i, i, 2 + i, 40 - i, result=order[:order.index(i) + 1]))
        else:
            history.append(append(i, i, 2 + i, None, "unknown"))
    return [*history, get(9, 50, 51, order if final is None else final)]


def test_eight_concurrent_ops_with_four_unknown_are_decided() -> None:
    assert_ok(_eight_concurrent([1, 3, 5, 7]))
    assert_ok(_eight_concurrent([1, 2, 3, 4, 5, 6, 7, 8]))
    assert_ok(_eight_concurrent([8, 1, 6, 3, 5, 4, 7, 2]))
    assert_ok(_eight_concurrent([7, 5, 3, 1], [7, 5, 3, 1, 6, 2]))  # two landed late
    assert_violation(_eight_concurrent([1, 3, 5, 7], [1, 3, 5]))
    assert_violation(_eight_concurrent([1, 3, 5, 7], [1, 3, 5, 7, 2, 2]))
    assert_violation(_eight_concurrent([8, 1, 6, 3, 5, 4, 7, 2], [1, 8, 6, 3, 5, 4, 7, 2]))


def test_eight_concurrent_ops_with_an_unknown_overwrite_are_decided() -> None:
    # With a put among them, no shortcut for append-only histories applies.
    def history(final: list[int]) -> list[Op]:
        appends = [append(i, i, 2 + i, 32 + i, result=seen)
                   for i, seen in [(1, [1]), (3, [1, 3]), (5, [9, 5]), (7, [9, 5, 7])]]
        unknown = [append(i, i, 2 + i, None, "unknown") for i in (2, 4, 6)]
        put = op(8, "put", ([9],), 10, None, "unknown")
        return [created(), *appends, *unknown, put, get(9, 50, 51, final)]

    assert_ok(history([9, 5, 7]))
    assert_ok(history([9, 5, 7, 6, 2]))
    assert_violation(history([9, 7]))
    assert_violation(history([9, 5, 7, 2, 2]))
    assert_violation(history([1, 3, 5, 7]))


def test_the_search_gives_up_at_max_states() -> None:
    with pytest.raises(CheckerLimitError, match="gave up after 5 configurations"):
        check(_eight_concurrent([1, 3, 5, 7], [1, 3, 5]), max_states=5)


def test_violation_explanation_names_the_op_prefix_and_states() -> None:
    text = assert_violation([created(), op(1, "put", ([1],), 3, 4), get(2, 5, 6, [])])
    assert text.startswith("not linearizable: #2 p2: get() -> ok [] [5, 6]\n")
    assert "2 of 3 completions explained" in text
    assert "prefix (op ids): 0, 1\n" in text
    assert "states possible just before its completion: [1]\n" in text
    # A later read that rules out every way on is named too.
    text = assert_violation([created(), append(1, 1, 3, 4, result=[1]), get(2, 5, 6, [])])
    assert "the read of #2 could no longer come true: #2 p2: get() -> ok [] [5, 6]" in text


def test_check_by_key() -> None:
    history = [("a", created()), ("b", get(5, 11, 12, [9])), ("a", get(1, 3, 4, []))]
    verdicts = check_by_key(history, initial={"b": [9]})
    assert set(verdicts) == {"a", "b"}
    assert verdicts["a"].ok and verdicts["b"].ok
    assert not check_by_key(history)["b"].ok


# --- random sequential executions -----------------------------------------------------------

def _random_history(rng: random.Random, size: int, *, spread: float = 2.5, unknown: float = 0.1,
                    appends_only: bool = False) -> tuple[list[Op], Any]:
    """A random sequential execution against the model, with windows widened around each
    op's linearization point(s) (so it stays linearizable), and the initial state.

    `appends_only`: gets and appends of distinct items only, the simulator's main workload.
    """
    state: Any = rng.choice([ABSENT, [], [["k0", 0]]])
    initial, etags = state, [etag_of([]), etag_of([["k0", 0]])]
    points: list[tuple[float, float]] = []  # each op's first and last linearization point
    specs: list[dict[str, Any]] = []
    clock = 0.0
    for i in range(size):
        kind = rng.choice(["get", "update"] if appends_only else [
            "get", "get", "update", "update", "update", "create", "replace", "delete", "put"])
        args: tuple[Any, ...] = ()
        fate = rng.choices(["ok", "unknown", "other"], [0.9 - unknown, unknown, 0.1])[0]
        repeat = kind == "update" and fate != "other" and rng.random() < 0.3
        if kind == "update":
            upsert = not appends_only and (repeat or rng.random() < 0.5)
            mutation = ("upsert", f"k{rng.randrange(3)}", i) if upsert else ("append", [f"a{i}", i])
            args = (mutation, rng.choice([[], NO_DEFAULT]))
        elif kind in ("create", "put"):
            args = ([[f"c{i}", i]],)
        elif kind == "replace":
            args = ([[f"r{i}", i]], rng.choice(etags))
        elif kind == "delete":
            args = (rng.choice([None, *etags]),)
        applications = 0 if fate == "other" or (fate == "unknown" and rng.random() < 0.4) else (
            rng.choice([1, 2, 2, 3]) if repeat else 1)
        result, first = None, clock + 1
        for _ in range(max(applications, 1)):
            clock += 1
            ok, after = _step(kind, args, state)
            if applications:
                state = after if ok else state
            result = (after if ok else _failure(kind)) if kind in ("get", "update") or not ok \
                else None
            if state is not ABSENT:
                etags.append(etag_of(state))
        status = ("ok" if ok else "fail") if fate == "ok" else "fail" if fate == "other" else fate
        points.append((first, clock))
        specs.append({"kind": kind, "args": args, "status": status, "repeatable": repeat,
                      "result": "other" if fate == "other" else None if fate == "unknown"
                      else result, "never": fate == "unknown" and rng.random() < 0.5})
    # Widen each window around its points; ranks of the endpoints become sequence numbers.
    ends = sorted([(first - rng.uniform(0.01, spread), i, "inv") for i, (first, _) in
                   enumerate(points)] + [(last + rng.uniform(0.01, spread), i, "comp") for
                                         i, (_, last) in enumerate(points)])
    seq = {(i, what): n for n, (_, i, what) in enumerate(ends)}
    history = [Op(id=i, process=f"p{i % 3}", kind=s["kind"], args=s["args"],
                  invoked=seq[i, "inv"], completed=None if s["never"] else seq[i, "comp"],
                  status=s["status"], result=s["result"], repeatable=s["repeatable"])
               for i, s in enumerate(specs)]
    return history, initial


def _step(kind: str, args: tuple[Any, ...], state: Any) -> tuple[bool, Any]:
    """(ok, state after) for one op in the sequential model; for get: (found, value).
    Written independently of the checker's own model on purpose."""
    present = state is not ABSENT
    etag = etag_of(state) if present else None
    if kind in ("get", "create", "put"):
        ok = kind == "put" or present is (kind == "get")
    elif kind == "replace":
        ok = etag == args[1]
    elif kind == "delete":
        ok = args[0] is None or etag == args[0]
    else:
        ok = present or args[1] is not NO_DEFAULT
    if not ok or kind == "get":
        return ok, state
    if kind == "update":
        return True, apply_mutation(args[0], state if present else args[1])
    return True, ABSENT if kind == "delete" else args[0]


def _failure(kind: str) -> str:
    return {"get": "not_found", "update": "not_found", "create": "already_exists"}.get(
        kind, "conflict")


def _corrupt(rng: random.Random, history: list[Op], appends_only: bool) -> list[Op] | None:
    """The history with one ok read changed so that no linearization can explain it."""
    reads = [o for o in history if o.status == "ok" and o.kind in ("get", "update")]
    if not reads:
        return None
    victim = rng.choice(reads)
    result: Any = [["never", -1]]  # a value no state ever had
    if appends_only:  # lose an append acknowledged before the read began: a lost update
        done = {(o.args[0][1][0]) for o in history if o.kind == "update" and o.status == "ok"
                and o.completed is not None and o.completed < victim.invoked}
        lost = [item for item in victim.result if item[0] in done]
        if not lost:
            return None
        gone = rng.choice(lost)
        result = [item for item in victim.result if item != gone]
    bad = dataclasses.replace(victim, result=result)
    return [bad if o is victim else o for o in history]


@pytest.mark.parametrize("appends_only", [False, True])
def test_random_sequential_executions_are_linearizable_and_corrupted_reads_are_not(
        appends_only: bool) -> None:
    corrupted = 0
    for seed in range(100):
        rng = random.Random(seed)
        size = 60 if seed % 10 == 0 else rng.randrange(8, 40)  # some like the simulator's
        history, initial = _random_history(rng, size, unknown=0.15, appends_only=appends_only)
        verdict = check(history, initial=initial)
        assert verdict.ok, f"seed {seed}:\n{verdict.explanation}"
        broken = _corrupt(rng, history, appends_only)
        if broken is not None:
            assert not check(broken, initial=initial).ok, f"seed {seed}: corruption not seen"
            corrupted += 1
    assert corrupted > 60


# --- against a brute-force reference ----------------------------------------------------------

def _reference(history: list[Op], initial: Any) -> bool | None:
    """Whether some order of all the ops' steps, each inside its window, explains the history:
    an exhaustive search with none of the checker's shortcuts (None: too big to tell)."""
    ops = [(o, "unknown" if o.completed is None else o.status) for o in history]
    ops = [(o, mode) for o, mode in ops if not (mode == "fail" and o.result == "other")
           and not (mode == "unknown" and o.kind == "get")]
    seen: set[tuple[Any, ...]] = set()

    def fails(o: Op, state: Any) -> bool:
        ok, _ = _step(o.kind, o.args, state)
        kinds = {"get": "not_found", "update": "not_found", "create": "already_exists",
                 "replace": "conflict", "delete": "conflict"}
        return not ok and o.result == kinds.get(o.kind)

    def search(progress: tuple[tuple[int, bool], ...], state: Any, latest: int) -> bool:
        if all(mode == "unknown" or (n and (read or o.kind != "update" or mode == "fail"))
               for (o, mode), (n, read) in zip(ops, progress, strict=True)):
            return True
        memo = (progress, json.dumps(state) if state is not ABSENT else None, latest)
        if memo in seen or len(seen) > 20_000:
            return False
        seen.add(memo)
        for i, ((o, mode), (n, read)) in enumerate(zip(ops, progress, strict=True)):
            if mode != "unknown" and (o.completed or 0) <= latest:
                continue  # every step placed so far began after this op had ended
            sees = state is not ABSENT and json.dumps(state) == json.dumps(o.result)
            steps: list[tuple[tuple[int, bool], Any]] = []  # (its progress after, state after)
            if mode == "fail" or o.kind == "get":
                if not n and (fails(o, state) if mode == "fail" else sees):
                    steps.append(((1, read), state))
            else:
                if mode == "ok" and o.kind == "update" and n and not read and sees:
                    steps.append(((n, True), state))
                try:
                    ok, after = _step(o.kind, o.args, state)
                except TypeError:
                    ok = False
                if ok and n < (3 if o.repeatable else 1):
                    steps.append(((n + 1, read), after))
            for mine, after in steps:
                if search((*progress[:i], mine, *progress[i + 1:]), after, max(latest, o.invoked)):
                    return True
        return False

    found = search(tuple((0, False) for _ in ops), initial, -1)
    return None if not found and len(seen) > 20_000 else found


def test_agrees_with_a_brute_force_reference() -> None:
    agreed = {True: 0, False: 0}
    for seed in range(400):
        rng = random.Random(seed)
        history, initial = _random_history(rng, rng.randint(2, 6), spread=rng.choice([1, 3]),
                                           unknown=0.25, appends_only=seed % 2 == 0)
        if rng.random() < 0.7:  # an arbitrary change: a plausible result, status or flag
            i = rng.randrange(len(history))
            values = [o.result for o in history if isinstance(o.result, list)] + [[]]
            changes = [
                dataclasses.replace(history[i], status="fail", result=rng.choice(
                    ["not_found", "already_exists", "conflict", "other"])),
                dataclasses.replace(history[i], repeatable=not history[i].repeatable)]
            if history[i].status == "ok" and history[i].kind in ("get", "update"):
                changes.append(dataclasses.replace(history[i], result=rng.choice(values)))
            history[i] = rng.choice(changes)
        want = _reference(history, initial)
        if want is not None:
            assert check(history, initial=initial).ok is want, f"seed {seed}"
            agreed[want] += 1
    assert agreed[True] > 80 and agreed[False] > 80
