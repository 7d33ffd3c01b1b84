"""Both front ends of the store behind one blocking interface, so that one suite runs on each.

Without the `aio` extra (`make test-min`, which tests the store's own floors) only "sync"
is in `FRONT_ENDS`; `make test-min-aio` runs the "async" half at the extra's floors.

`FRONT_ENDS` names them: "sync" is `JsonStore` as it is; "async" is `AsyncJsonStore` on an
aiobotocore client, its every call made as a task on one event loop that runs in a
thread of its own (a portal, like anyio's `BlockingPortal`). A test's threads calling the
"async" store concurrently are thus many tasks on one loop, which is what an asyncio
service does. Nothing but asyncio is used: no pytest plugin.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, TypeVar

from s3store import JsonStore

if TYPE_CHECKING:
    from s3store.aio import AsyncJsonStore

__all__ = ["FRONT_ENDS", "BlockingAsyncStore", "Portal", "async_client_like", "make_store",
           "portals"]

HAS_AIO = importlib.util.find_spec("aiobotocore") is not None
FRONT_ENDS = ("sync", "async") if HAS_AIO else ("sync",)

T = TypeVar("T")
BOUND = 60.0  # seconds a portal call may take before the test fails (never a hang)


class Portal:
    """An event loop in a thread of its own; `call(coroutine)` runs it there and blocks."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="portal",
                                        daemon=True)
        self._thread.start()
        self._exits = AsyncExitStack()

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(BOUND)

    async def enter(self, context: Any) -> Any:
        """Enter an async context manager (on the loop), exited by `close()`."""
        return await self._exits.enter_async_context(context)

    def close(self) -> None:
        self.call(self._exits.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(BOUND)
        self.loop.close()


def async_client_like(client: Any) -> Any:
    """An aiobotocore S3 client (an async context manager) for the endpoint, credentials,
    region and config of a boto3 `client`."""
    from aiobotocore.config import AioConfig  # noqa: PLC0415 - the `aio` extra's
    from aiobotocore.session import get_session  # noqa: PLC0415

    credentials = client._request_signer._credentials.get_frozen_credentials()
    options = dict(client.meta.config._user_provided_options)
    return get_session().create_client(
        "s3", endpoint_url=client.meta.endpoint_url, region_name=client.meta.region_name,
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key, config=AioConfig(**options))


class BlockingAsyncStore:
    """An `AsyncJsonStore` whose calls block: each runs as a task on the portal's loop.
    Everything else (its counters, its internals) is the async store's own."""

    def __init__(self, store: AsyncJsonStore, portal: Portal) -> None:
        self.store = store
        self.portal = portal

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.store, name)
        if name in ("keys", "versions"):
            return lambda *args, **kwargs: iter(self.portal.call(
                _collect(attribute(*args, **kwargs))))
        if not callable(attribute) or name == "counters":
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attribute(*args, **kwargs)
            return self.portal.call(result) if asyncio.iscoroutine(result) else result
        return call


async def _collect(items: Any) -> list[Any]:
    return [item async for item in items]


def make_store(front_end: str, client: Any, bucket: str, portal: Portal | None = None,
               **options: Any) -> Any:
    """A store on `bucket` through `front_end`: `JsonStore(client, ...)`, or an
    `AsyncJsonStore` on an aiobotocore client like `client`, made blocking on `portal`."""
    if front_end == "sync":
        return JsonStore(client, bucket, **options)
    if portal is None:
        raise ValueError("the async front end needs a portal")

    from s3store.aio import AsyncJsonStore  # noqa: PLC0415 - the `aio` extra's

    async def made() -> AsyncJsonStore:
        return AsyncJsonStore(await portal.enter(async_client_like(client)), bucket, **options)
    return BlockingAsyncStore(portal.call(made()), portal)


def portals() -> Iterator[Portal]:
    """A fixture's portal: made, yielded, closed."""
    portal = Portal()
    try:
        yield portal
    finally:
        portal.close()

