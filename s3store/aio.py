"""`AsyncJsonStore`: the store on an asyncio event loop, with aiobotocore.

The same decision core as `JsonStore` (`s3store._core`, steps that do no I/O: what to
send, what an answer means, how a lost answer is resolved, how a round's callers are
answered); only the performing differs. Requests are made with an aiobotocore S3 client,
retry waits are `asyncio.sleep`, and concurrent `update()` tasks of one key wait for their
group-commit round on the loop. Everything `JsonStore` promises holds here: its errors,
options, figures, write ids and lost-answer resolution, the read cache, group commit.

One store belongs to one event loop (its group-commit queues are the loop's); `mutate`
stays a plain function, and may run more than once.

Cancellation is an outcome, never a leak:

- a task cancelled while queued for a round simply leaves the queue;
- a task cancelled while its round's write is in flight gets `CancelledError`, and the
  outcome of that write is **unknown to it**: the write may still land. The round is
  not dropped: another caller of the same round carries it on (resolving the lost
  answer first), and every other caller is answered as usual; when it was the only
  caller, nobody resolves it, exactly as when a thread is interrupted mid-request.
  A caller that must know re-reads the key (`get`), or uses `idempotent=True` and
  retries the call.
- the key is never left blocked for the other tasks.

Install with the `aio` extra (`pip install 's3store[aio]'`).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, Unpack, overload

import aiohttp

from s3store._codec import Codec
from s3store._commit import NO_DEFAULT, GroupCommit
from s3store._core import Document, StoreCore, StoreOptions
from s3store._objects import Listing, ObjectVersion, exchange, prepare_client, writing
from s3store._options import WriteOptions
from s3store._probe import ProbeReport
from s3store._retry import RetryPolicy
from s3store._steps import Effect, Request, Sleep, Steps, drive, resume

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

__all__ = ["AsyncJsonStore"]

V = TypeVar("V")
W = TypeVar("W")
T = TypeVar("T")


async def awaited(process: Generator[Any, Any, T]) -> T:
    """Run `process` (`s3store._steps.drive`, `s3store._objects.exchange`) on the loop:
    each of its yields is awaited, and the outcome (or the exception) sent back in."""
    outcome: Any = None
    error: BaseException | None = None
    while not (step := resume(process, outcome, error))[0]:
        outcome = error = None
        try:
            outcome = await step[1]
        except GeneratorExit:  # this coroutine is being closed: nothing more can be awaited
            raise
        except BaseException as exc:  # a cancellation too: the steps decide what it does
            error = exc
    return step[1]  # type: ignore[no-any-return]


class _Condition:
    """What a group-commit queue waits on, on an event loop: one thread, so no lock; a
    waiter wakes when notified or when its timeout passes."""

    def __init__(self, lock: Any = None) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    async def wait(self, timeout: float | None = None) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except TimeoutError:
            pass
        finally:
            self._waiters.remove(waiter)

    def notify_all(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)


class _NoLock:
    """The group-commit lock on an event loop: the loop runs one task at a time, and the
    steps never await while they decide."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        return None


AIOHTTP_FLOOR = (3, 11)
"""The first aiohttp whose sessions can be told not to resend a request (`_retry_connection`)."""


def no_silent_resends(client: Any) -> None:
    """Keep aiohttp from resending the store's writes behind botocore's back.

    aiohttp sends a request again, once and silently, when the connection breaks before the
    answer (`ClientOSError`, `ServerDisconnectedError`) for every method it deems idempotent
    — PUT and DELETE among them. For a conditional write that first attempt may have
    landed: the resend is then refused (412), the store sees a conflict for its own write,
    and an update is applied twice. botocore's `needs-retry` handlers never see it happen.

    So the store's writes (and only they: the caller's own requests on the client are left
    as they are) go through a second aiohttp session on the same connection pool that never
    resends (aiohttp >= 3.11); botocore's answer then carries the broken connection, and the
    store resolves it as any lost answer. Clients on another transport (aiobotocore's httpx
    session) are left as they are: httpx does not resend. Once per client."""
    http: Any = getattr(getattr(client, "_endpoint", None), "http_session", None)
    if type(http).__name__ != "AIOHTTPSession" or getattr(http, "_s3store_writes", False):
        return
    version = tuple(int(part) for part in aiohttp.__version__.split(".")[:2])
    if version < AIOHTTP_FLOOR:
        raise RuntimeError(f"aiohttp {aiohttp.__version__} resends a PUT whose connection broke "
                           "and cannot be told not to: AsyncJsonStore needs aiohttp >= 3.11")
    real = http._get_session
    writes: dict[Any, aiohttp.ClientSession] = {}

    async def get_session(proxy_url: Any) -> aiohttp.ClientSession:
        session: aiohttp.ClientSession = await real(proxy_url)
        if not writing():
            return session
        sibling = writes.get(proxy_url)
        if sibling is None:
            sibling = aiohttp.ClientSession(
                connector=session.connector, connector_owner=False, timeout=session.timeout,
                skip_auto_headers=session.skip_auto_headers,
                auto_decompress=session.auto_decompress)
            sibling._retry_connection = False
            writes[proxy_url] = await http._exit_stack.enter_async_context(sibling)
        return sibling

    http._get_session = get_session
    http._s3store_writes = True


def _group() -> GroupCommit:
    return GroupCommit(condition=_Condition, lock=_NoLock)


async def _sleep(effect: Sleep) -> None:
    if effect.sleep is time.sleep:  # the policy's default: never block the loop
        await asyncio.sleep(effect.seconds)
        return
    slept = effect.sleep(effect.seconds)  # a test's own: awaited if it is a coroutine
    if inspect.isawaitable(slept):
        await slept


class AsyncJsonStore(StoreCore):
    """JSON documents in one S3 bucket, with optimistic concurrency, for asyncio.

    `client` is an aiobotocore S3 client (`session.create_client("s3")`, entered); the
    options are `JsonStore`'s, with the same defaults and meaning. Each method is
    `JsonStore`'s, awaited, with the same arguments, answers and errors; a task cancelled
    in the middle of a call gets `CancelledError` (see this module's docstring for what
    became of its write).
    """

    def __init__(self, client: S3Client, bucket: str, **options: Unpack[StoreOptions]) -> None:
        super().__init__(bucket, group=_group, identity=asyncio.current_task, **options)
        prepare_client(client)
        no_silent_resends(client)
        self.client = client

    def _perform(self, effect: Effect) -> Awaitable[Any]:
        if isinstance(effect, Request):
            return awaited(exchange(self.client, effect))
        if isinstance(effect, Sleep):
            return _sleep(effect)
        waited: Awaitable[Any] = effect.condition.wait(effect.timeout)
        return waited

    async def _run(self, steps: Steps[T]) -> T:
        return await awaited(drive(steps, self._perform))

    async def _listed(self, listing: Listing[T]) -> AsyncIterator[T]:
        while (page := await self._run(listing.page())) is not None:
            for item in page:
                yield item

    @overload
    async def get(self, key: str) -> Document[Any]: ...
    @overload
    async def get(self, key: str, *, codec: Codec[V]) -> Document[V]: ...

    async def get(self, key: str, *, codec: Codec[Any] | None = None) -> Document[Any]:
        """`JsonStore.get`, awaited."""
        return await self._run(self._get_steps(key, codec))

    async def create(self, key: str, value: V, *, options: WriteOptions | None = None,
                     retry: RetryPolicy | None = None, deadline: float | None = None,
                     codec: Codec[V] | None = None) -> Document[V]:
        """`JsonStore.create`, awaited."""
        return await self._run(self._create_steps(key, value, options=options, retry=retry,
                                                  deadline=deadline, codec=codec))

    async def replace(self, key: str, value: V, *, etag: str,
                      options: WriteOptions | None = None, retry: RetryPolicy | None = None,
                      deadline: float | None = None,
                      codec: Codec[V] | None = None) -> Document[V]:
        """`JsonStore.replace`, awaited."""
        return await self._run(self._replace_steps(key, value, etag=etag, options=options,
                                                   retry=retry, deadline=deadline,
                                                   codec=codec))

    async def update(
        self, key: str, mutate: Callable[[V], W], *, default: V = NO_DEFAULT,
        idempotent: bool = False, allow_none: bool = False, options: WriteOptions | None = None,
        retry: RetryPolicy | None = None, deadline: float | None = None,
        codec: Codec[V] | None = None,
    ) -> Document[W]:
        """`JsonStore.update`, awaited: `mutate` is a plain function (it may run more than
        once); concurrent tasks updating one key share rounds of one write each."""
        return await self._run(self._update_steps(
            key, mutate, default=default, idempotent=idempotent, allow_none=allow_none,
            options=options, retry=retry, deadline=deadline, codec=codec))

    async def delete(self, key: str, *, etag: str | None = None,
                     retry: RetryPolicy | None = None, deadline: float | None = None) -> None:
        """`JsonStore.delete`, awaited."""
        await self._run(self._delete_steps(key, etag=etag, retry=retry, deadline=deadline))

    def keys(self, prefix: str = "", *, page_size: int = 1000) -> AsyncIterator[str]:
        """`JsonStore.keys`, as an async iterator (`async for key in store.keys(...)`)."""
        return self._listed(self._key_listing(prefix, page_size))

    def versions(self, key: str, *, page_size: int = 1000) -> AsyncIterator[ObjectVersion]:
        """`JsonStore.versions`, as an async iterator."""
        return self._listed(self._version_listing(key, page_size))

    async def versioning(self) -> str:
        """`JsonStore.versioning`, awaited."""
        return await self._run(self._versioning_steps())

    async def probe(self, *, prefix: str = "") -> ProbeReport:
        """`JsonStore.probe`, awaited."""
        return await self._run(self._probe_steps(prefix))

    async def verify_conditional_writes(self, *, prefix: str = "") -> None:
        """`JsonStore.verify_conditional_writes`, awaited."""
        await self._run(self._verify_steps(prefix))
