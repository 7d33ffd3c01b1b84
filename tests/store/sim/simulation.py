"""A deterministic simulation of store users against S3 (FoundationDB's idea, small).

Several actors — threads running the real `JsonStore` through real boto3 clients —
share one in-memory bucket (`tests.store.sim.s3model`). Only one actor runs at a time: each
hands control back to a seeded scheduler at every request boundary (a botocore
`before-send` hook), at every retry sleep (botocore's and the store's), and when it
waits in group commit. At each boundary the scheduler decides who runs next and what
S3 does with the request: answer it, apply it and lose the answer (a 500, a closed
connection, an SSL EOF, a read timeout, a raw urllib3 error), refuse it before any
effect (503, 409, a connection that never opened, a 500 before the write), refuse a
version listing. The same seed replays the same interleaving and the same faults.

Every operation's invocation, completion and outcome is recorded as a history that
`tests.store.sim.checker` judges against the sequential model of a key.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import logging
import random
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.endpoint
import urllib3.exceptions
from botocore.config import Config as BotoConfig
from botocore.exceptions import (
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
    SSLError,
)

from s3store import (
    AlreadyExistsError,
    ConflictError,
    JsonStore,
    NotFoundError,
    OutcomeUnknownError,
    RetryPolicy,
    S3StoreError,
)
from s3store._commit import GroupCommit
from s3store._objects import RACING_CONDITIONAL_WRITES, AnswerLost
from s3store._writer import Again
from tests.store.sim.checker import (
    ABSENT,
    NO_DEFAULT,
    Kind,
    Op,
    Status,
    Verdict,
    apply_mutation,
    check,
)
from tests.store.sim.s3model import Bucket, error_answer

__all__ = ["Config", "Simulation", "Stuck", "run_seed"]

BOUND = 30.0  # seconds without progress before a simulation is declared stuck
KEY = "sim/doc.json"
BUCKET = "sim-bucket"
ENDPOINT = "http://sim.invalid"


Choice = tuple[Kind, tuple[Any, ...], Callable[[], Any], bool]
"""An operation drawn: its kind, its arguments (as the checker reads them), the call, and
whether it may be applied more than once."""


class Stuck(Exception):
    """No actor can run (a deadlock), or one ran for BOUND seconds without a boundary."""


class Scheduler:
    """One actor runs at a time; at each boundary the seeded RNG picks the next one."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._cv = threading.Condition()
        self._state: dict[str, str] = {}
        self._running: str | None = None
        self._local = threading.local()
        self._delayed: dict[str, int] = {}
        self.steps = 0

    def delay(self, steps: int) -> None:
        """Let the others run `steps` times before the current actor runs again (while they
        can): a fault's aftermath is where interleavings matter most."""
        name = self.current()
        if name is not None:
            self._delayed[name] = steps

    def register(self, name: str) -> None:
        self._state[name] = "new"

    def current(self) -> str | None:
        return getattr(self._local, "name", None)

    def enter(self, name: str) -> None:
        self._local.name = name
        self._park("ready")

    def boundary(self) -> None:
        if self.current() is not None:
            self._park("ready")

    def block(self) -> None:
        self._park("blocked")

    def unblock(self, name: str) -> None:
        with self._cv:
            if self._state.get(name) == "blocked":
                self._state[name] = "ready"

    def finish(self) -> None:
        with self._cv:
            name = self.current()
            assert name is not None
            self._state[name] = "done"
            self._running = None
            self._cv.notify_all()

    def _park(self, state: str) -> None:
        name = self.current()
        with self._cv:
            self._state[name or "?"] = state
            if self._running == name:
                self._running = None
            self._cv.notify_all()
            if not self._cv.wait_for(lambda: self._running == name, timeout=BOUND):
                raise Stuck(f"{name} was never scheduled again: {self._state}")

    def run(self) -> None:
        with self._cv:
            while True:
                settled = self._cv.wait_for(
                    lambda: self._running is None
                    and all(s != "new" for s in self._state.values()), timeout=BOUND)
                if not settled:
                    raise Stuck(f"{self._running} ran without reaching a boundary: "
                                f"{self._state}")
                ready = sorted(n for n, s in self._state.items() if s == "ready")
                eager = [n for n in ready if self._delayed.get(n, 0) <= 0]
                for name in self._delayed:
                    self._delayed[name] -= 1
                ready = eager or ready
                if not ready:
                    if all(s == "done" for s in self._state.values()):
                        return
                    raise Stuck(f"deadlock: {self._state}")
                choice = self.rng.choice(ready)
                self._running = choice
                self._state[choice] = "running"
                self.steps += 1
                self._cv.notify_all()


class SimCondition:
    """A `threading.Condition` for group commit whose waits are scheduler boundaries."""

    def __init__(self, scheduler: Scheduler, lock: Any) -> None:
        self._scheduler = scheduler
        self._lock = lock
        self._waiters: list[str] = []

    def wait(self, timeout: float | None = None) -> None:  # time is the scheduler's
        name = self._scheduler.current()
        assert name is not None
        self._waiters.append(name)
        self._lock.release()
        try:
            self._scheduler.block()
        finally:
            self._lock.acquire()

    def notify_all(self) -> None:
        for name in self._waiters:
            self._scheduler.unblock(name)
        self._waiters.clear()


@dataclass(frozen=True)
class Config:
    """One simulated run, all drawn from its seed (see `Config.from_seed`)."""

    seed: int
    workload: str = "counter"
    versioned: bool = False
    actors: int = 4
    stores: int = 2
    ops: int = 4
    cache: bool = True
    p_lost: float = 0.15
    p_refused: float = 0.1
    p_read_fault: float = 0.05
    p_deny_listing: float = 0.1
    p_interrupt: float = 0.02  # a signal in the actor's thread at a request (Ctrl-C, a timeout)
    shuffle_ties: bool = False
    resolve: bool = True
    lost_kinds: tuple[str, ...] = ("500", "closed", "ssl", "timeout", "urllib3", "http.client",
                                   "cancelled")

    @classmethod
    def from_seed(cls, seed: int, **overrides: Any) -> Config:
        rng = random.Random(f"config-{seed}")
        drawn: dict[str, Any] = {
            "workload": rng.choice(["counter", "list", "register", "churn"]),
            "versioned": rng.random() < 0.5,
            "actors": rng.choice([2, 3, 4]),
            "stores": rng.choice([1, 2, 3]),
            "ops": rng.choice([3, 4, 5]),
            "cache": rng.random() < 0.7,
            "shuffle_ties": rng.random() < 0.3,
        }
        drawn.update(overrides)
        return cls(seed=seed, **drawn)


@dataclass
class Outcome:
    """A simulated run: its history, the checker's verdict, and counts."""

    config: Config
    history: list[Op]
    verdict: Verdict
    faults: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"seed {self.config.seed}: {self.config}",
                 f"{len(self.history)} ops, {self.requests} requests, faults {self.faults}",
                 *self.errors, *self.notes, self.verdict.explanation]
        lines += [f"  {op}" for op in self.history]
        return "\n".join(lines)


class Simulation:
    """Actors, their stores and clients, the bucket, the scheduler and the history."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.rng = random.Random(f"run-{config.seed}")
        self.scheduler = Scheduler(self.rng)
        self.bucket = Bucket(BUCKET, versioned=config.versioned,
                             shuffle_ties=random.Random(config.seed) if config.shuffle_ties
                             else None)
        self.history: list[Op] = []
        self.faults: dict[str, int] = {}
        self.requests = 0
        self.errors: list[str] = []
        self.notes: list[str] = []
        self._seq = 0
        session = boto3.session.Session(aws_access_key_id="sim",
                                        aws_secret_access_key="sim",  # noqa: S106 - not a secret
                                        region_name="us-east-1")
        client_config = BotoConfig(retries={"mode": "standard", "total_max_attempts": 3},
                                s3={"addressing_style": "path"})
        retry = RetryPolicy(max_attempts=6, sleep=lambda _: self.scheduler.boundary())
        self.stores: list[JsonStore] = []
        for _ in range(config.stores):
            client = session.client("s3", endpoint_url=ENDPOINT, config=client_config)
            client.meta.events.register("before-send.s3", self._serve)
            store = JsonStore(client, BUCKET, retry=retry, cache_size=1024 if config.cache else 0,
                              resolve_lost_responses=config.resolve)
            store._group = GroupCommit(condition=lambda lock: SimCondition(self.scheduler, lock))
            self.stores.append(store)
        self.initial: Any = ABSENT
        if config.workload == "counter":  # written by another tool: no write id
            self.bucket.write(KEY, b"0", {})
            self.initial = 0

    # -- S3, and what happens to each request ---------------------------------------

    def _serve(self, request: Any, **_: Any) -> Any:  # noqa: PLR0911 - one answer per fault
        self.scheduler.boundary()  # others may act before this request reaches S3
        self.requests += 1
        if self.rng.random() < 0.3:
            self.bucket.now += 1  # virtual time: versions often share a second
        is_object = "?" not in request.url.split(f"/{BUCKET}/", 1)[-1] and \
            f"/{BUCKET}/" in request.url
        method = request.method
        conditional = any(h.lower() in ("if-match", "if-none-match") for h in request.headers)
        if self.rng.random() < self.config.p_interrupt:
            # A signal while the request is on the wire: sent and applied, or not sent.
            kind = self.rng.choice(["interrupt-before", "interrupt-after"])
            self._count(kind)
            if kind == "interrupt-after":
                self.bucket.serve(request)
            raise KeyboardInterrupt
        roll = self.rng.random()
        if is_object and method in ("PUT", "DELETE") and conditional:
            if roll < self.config.p_lost:
                kind = self.rng.choice(self.config.lost_kinds)
                answer = self.bucket.serve(request)
                return self._lose(kind, answer, request.url)
            if roll < self.config.p_lost + self.config.p_refused:
                kind = self.rng.choice(["503", "409", "unsent", "500-before"])
                self._count(kind)
                if kind == "503":
                    return error_answer(503, "SlowDown")
                if kind == "409":
                    return error_answer(409, RACING_CONDITIONAL_WRITES)
                if kind == "unsent":
                    raise EndpointConnectionError(endpoint_url=request.url)
                return self.bucket.serve(request, apply=False)
        elif "versions" in request.url and roll < self.config.p_deny_listing:
            self._count("listing-denied")
            return error_answer(403, "AccessDenied")
        elif method in ("GET", "HEAD") and roll < self.config.p_read_fault:
            self._count("read-503")
            return error_answer(503, "SlowDown")
        return self.bucket.serve(request)

    def _lose(self, kind: str, answer: Any, url: str) -> Any:
        self._count(f"lost-{kind}")
        self.scheduler.delay(self.rng.randint(0, 8))
        if kind == "500":
            return error_answer(500, "InternalError")
        if kind == "closed":
            raise ConnectionClosedError(endpoint_url=url)
        if kind == "ssl":
            raise SSLError(endpoint_url=url,
                           error=ssl.SSLEOFError(8, "EOF occurred in violation of protocol"))
        if kind == "timeout":
            raise ReadTimeoutError(endpoint_url=url)
        if kind == "http.client":
            raise http.client.IncompleteRead(b"partial")
        if kind == "cancelled":
            raise concurrent.futures.CancelledError
        raise urllib3.exceptions.ProtocolError("Connection aborted.",
                                               ConnectionResetError(104, "reset"))

    def _count(self, kind: str) -> None:
        self.faults[kind] = self.faults.get(kind, 0) + 1

    # -- actors ----------------------------------------------------------------------

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _actor(self, index: int) -> None:
        name = f"a{index}"
        store = self.stores[index % len(self.stores)]
        rng = random.Random(f"actor-{self.config.seed}-{index}")
        last_etag: str | None = None
        self.scheduler.enter(name)
        try:
            for n in range(self.config.ops):
                last_etag = self._one_op(name, store, rng, index * 100 + n, last_etag)
        except Exception as exc:
            self.errors.append(f"{name} crashed: {type(exc).__name__}: {exc}")
        finally:
            self.scheduler.finish()

    def _one_op(self, name: str, store: JsonStore, rng: random.Random, tag: int,
                last_etag: str | None) -> str | None:
        kind, args, call, repeatable = self._choose(store, rng, tag, last_etag)
        invoked = self._next_seq()
        op_id = invoked  # sequence numbers are unique
        status: Status = "ok"
        result: Any = None
        etag = last_etag
        try:
            try:
                document = call()
            except S3StoreError as exc:
                self._no_internals_in(name, exc)
                raise
            if document is not None:
                result, etag = document.value, document.etag
        except (OutcomeUnknownError, KeyboardInterrupt):
            status = "unknown"  # a caller interrupted mid-call knows nothing of its outcome
        except AlreadyExistsError:
            status, result = "fail", "already_exists"
        except ConflictError as exc:
            status, result = "fail", ("other" if exc.code == RACING_CONDITIONAL_WRITES
                                      else "conflict")
        except NotFoundError:
            status, result = "fail", "not_found"
        except S3StoreError as exc:
            status, result = "fail", "other"  # throttled, gave up: must have had no effect
            self.notes.append(f"#{op_id} {name}: {type(exc).__name__}: {exc}")
        if kind == "delete" and status == "ok":
            etag = None
        self.history.append(Op(id=op_id, process=name, kind=kind, args=args, invoked=invoked,
                               completed=self._next_seq(), status=status,
                               result=result, repeatable=repeatable))
        return etag

    def _no_internals_in(self, name: str, error: BaseException) -> None:
        """The store's private signals never reach a caller, not even as a cause."""
        seen: BaseException | None = error
        while seen is not None:
            if type(seen) in (Again, AnswerLost):
                self.errors.append(f"{name}: {type(error).__name__} carries the internal "
                                   f"{type(seen).__name__}")
            seen = seen.__cause__ or seen.__context__

    def _choose(self, store: JsonStore, rng: random.Random, tag: int,
                etag: str | None) -> Choice:
        if rng.random() < 0.15:
            return "get", (), lambda: store.get(KEY), False
        workload: Callable[..., Choice] = getattr(self, f"_{self.config.workload}_op")
        return workload(store, rng.random(), rng, tag, etag)

    def _counter_op(self, store: JsonStore, roll: float, rng: random.Random, tag: int,
                    etag: str | None) -> Choice:
        """+1 / -1 on a number written by another tool: the same bytes come back (ABA)."""
        if roll < 0.15 and etag is not None:
            value = rng.choice([0, 1, 2])
            return "replace", (value, etag), lambda: store.replace(KEY, value, etag=etag), False
        mutation: tuple[Any, ...] = ("inc",) if roll < 0.55 else ("dec",)
        return "update", (mutation, NO_DEFAULT), self._update(store, mutation, NO_DEFAULT), False

    def _list_op(self, store: JsonStore, roll: float, rng: random.Random, tag: int,
                 etag: str | None) -> Choice:
        """Blind appends beside idempotent upserts (at least once), creates and deletes."""
        item = [1000 + tag, tag]  # [id, value] pairs, so that upserts can share the list
        if roll < 0.1:
            return "delete", (None,), lambda: store.delete(KEY), False
        if roll < 0.2:
            return "create", ([item],), lambda: store.create(KEY, [item]), False
        if roll < 0.6:
            mutation: tuple[Any, ...] = ("upsert", tag % 3, tag)
            return ("update", (mutation, []), self._update(store, mutation, [], idempotent=True),
                    True)
        mutation = ("append", item)
        return "update", (mutation, []), self._update(store, mutation, []), False

    def _churn_op(self, store: JsonStore, roll: float, rng: random.Random, tag: int,
                  etag: str | None) -> Choice:
        """A key created, deleted and created again."""
        item = [1000 + tag, tag]
        if roll < 0.45:
            return "delete", (None,), lambda: store.delete(KEY), False
        if roll < 0.7:
            return "create", ([item],), lambda: store.create(KEY, [item]), False
        mutation: tuple[Any, ...] = ("append", item)
        return "update", (mutation, []), self._update(store, mutation, []), False

    def _register_op(self, store: JsonStore, roll: float, rng: random.Random, tag: int,
                     etag: str | None) -> Choice:
        """A few values written by create, compare-and-set and conditional delete (ABA)."""
        value = rng.choice([0, 1, 2])
        if roll < 0.35:
            return "create", (value,), lambda: store.create(KEY, value), False
        if roll < 0.6 and etag is not None:
            return "replace", (value, etag), lambda: store.replace(KEY, value, etag=etag), False
        if roll < 0.7 and etag is not None:
            return "delete", (etag,), lambda: store.delete(KEY, etag=etag), False
        mutation: tuple[Any, ...] = ("set", value)
        return "update", (mutation, 0), self._update(store, mutation, 0), False

    @staticmethod
    def _update(store: JsonStore, mutation: tuple[Any, ...], default: Any, *,
                idempotent: bool = False) -> Callable[[], Any]:
        def call() -> Any:
            options: dict[str, Any] = {} if default is NO_DEFAULT else {"default": default}
            return store.update(KEY, lambda value: apply_mutation(mutation, value),
                                idempotent=idempotent, **options)

        return call

    def run(self) -> Outcome:
        threads = []
        for index in range(self.config.actors):
            self.scheduler.register(f"a{index}")
            thread = threading.Thread(target=self._actor, args=(index,), name=f"sim-a{index}",
                                      daemon=True)
            threads.append(thread)
        with _botocore_sleeps(self.scheduler), _signals_at_log_lines(self):
            for thread in threads:
                thread.start()
            self.scheduler.run()
            for thread in threads:
                thread.join(BOUND)
        verdict = check(self.history, initial=self.initial)
        return Outcome(self.config, self.history, verdict, dict(self.faults), self.requests,
                       self.errors, self.notes)


@contextmanager
def _botocore_sleeps(scheduler: Scheduler) -> Iterator[None]:
    """botocore's retry backoff sleeps become scheduler boundaries (no real waiting)."""
    real = getattr(botocore.endpoint, "time")  # noqa: B009 - the module botocore sleeps with

    class _Time:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        @staticmethod
        def sleep(seconds: float) -> None:
            if scheduler.current() is not None:
                scheduler.boundary()
            else:
                real.sleep(seconds)

    setattr(botocore.endpoint, "time", _Time())  # noqa: B010
    try:
        yield
    finally:
        setattr(botocore.endpoint, "time", real)  # noqa: B010


class _SignalAtLogLine(logging.Handler):
    """A signal can be delivered at any bytecode; the store's log lines (a write to a
    stream, where pending signals run) are where one is modelled: between an answer and
    what the store makes of it."""

    def __init__(self, simulation: Simulation) -> None:
        super().__init__(logging.DEBUG)
        self._simulation = simulation

    def emit(self, record: logging.LogRecord) -> None:
        simulation = self._simulation
        if simulation.scheduler.current() is None:
            return
        if simulation.rng.random() < simulation.config.p_interrupt:
            simulation._count("interrupt-at-log")
            raise KeyboardInterrupt


@contextmanager
def _signals_at_log_lines(simulation: Simulation) -> Iterator[None]:
    logger = logging.getLogger("s3store")
    handler, level, propagate = _SignalAtLogLine(simulation), logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # thousands of records: kept here, not captured
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def run_seed(seed: int, **overrides: Any) -> Outcome:
    """Run the simulation drawn from `seed` (with `overrides` of its config)."""
    return Simulation(Config.from_seed(seed, **overrides)).run()

