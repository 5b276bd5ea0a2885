"""The asyncio client: the same operations as :class:`interlock.Client`, as awaitables, with
``async with`` locks and ``async for`` watches. Cancelling an awaiting acquire removes its
waiter entry.

>>> import interlock.aio
>>> db = await interlock.aio.connect("sqlite:///tmp/app.db")        # doctest: +SKIP
>>> async with db.lock("printer/first-floor") as held:              # doctest: +SKIP
...     await print_job(fence=held.fencing_token)
>>> await db.close()                                                # doctest: +SKIP
"""

# Each class is a thin wrapper over the one implementation of its concept in ``_core`` (checks,
# closed-client and fork handling, the operations), run with the asyncio driver; what is here is
# what only the asyncio flavour has (async context managers and iterators, watches that start
# when they are made, a close that starts at the call, docstrings).

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Awaitable, Generator, Iterable
from typing import Any, Callable, TypeVar

from . import _core, _native, _shared
from ._common import note_close_failure, resolve_url
from ._core import run_async
from ._native import Entry, Event, LockWaiter, Page, PutResult
from .errors import InterlockError

__all__ = [
    "AsyncClient",
    "AsyncLease",
    "AsyncLock",
    "AsyncSession",
    "AsyncTxn",
    "AsyncWatch",
    "connect",
]

T = TypeVar("T")


async def connect(
    url: str | None = None, *, token: str | None = None, **options: Any
) -> AsyncClient:
    """Connects to a store (see :func:`interlock.connect`); `token` is the bearer token of an
    interlock server (without it, ``INTERLOCK_TOKEN``)."""
    resolved = resolve_url(url, token, options)
    return AsyncClient(resolved, await _native.connect_async(resolved, token), token=token)


class _Done:
    """An awaitable that is already complete."""

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield


class AsyncTxn(_shared.TxnBase["AsyncLock"]):
    """An atomic transaction; methods chain, ``await commit()`` sends it. Each step's arguments
    are checked at its call."""

    async def commit(self) -> int:
        """Commits atomically; returns the new index."""
        return await run_async(self._core.commit())


class AsyncWatch(_shared.WatchBase):
    """An async iterator over changes in index order, started when it was made."""

    def __aiter__(self) -> AsyncWatch:
        return self

    async def __anext__(self) -> Event:
        event = await run_async(self._core.next(None))
        if event is None:
            raise StopAsyncIteration
        return event

    async def next(self, timeout: float | None = None) -> Event | None:
        """The next event, or None if `timeout` seconds pass first."""
        return await run_async(self._core.next(timeout))

    async def __aenter__(self) -> AsyncWatch:
        start = self._core.handle()
        if isinstance(start, asyncio.Future):
            await start
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class AsyncLease(_shared.LeaseBase):
    """A lease renewed in the background; ``lost`` turns True as soon as it is lost."""

    async def wait_lost(self, timeout: float | None = None) -> bool:
        """Resolves when the lease is lost; False if `timeout` passed first."""
        return await run_async(self._core.wait_lost(timeout))

    async def revoke(self) -> bool:
        """Revokes the lease, deleting its entries."""
        return await run_async(self._core.revoke())

    async def __aenter__(self) -> AsyncLease:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await run_async(self._core.exit())


class AsyncLock(_shared.LockBase):
    """A fair, non-reentrant lock with fencing tokens: ``async with lock as held:``, or
    :meth:`acquire` and :meth:`release` (which behave like ``asyncio.Lock``'s and
    ``threading.Lock``'s)."""

    async def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Takes the lock: waits until it is free, up to `timeout` seconds (None: the timeout
        given to ``client.lock``, else without a limit), and returns True; False if the timeout
        passes first. With ``blocking=False`` takes it only if it is free now, else returns
        False. The fencing token is :attr:`fencing_token`. (``async with lock:`` raises
        LockTimeoutError instead of returning False.)"""
        return await run_async(self._core.acquire(blocking, timeout))

    async def try_acquire(self) -> bool:
        """Takes the lock only if it is free now; True if it did."""
        return await run_async(self._core.try_acquire())

    async def release(self) -> None:
        """Releases the lock; LockLostError if its lease was lost while held (also when its client
        was closed)."""
        await run_async(self._core.release())

    async def wait_lost(self, timeout: float | None = None) -> bool:
        """Resolves when the held lock is lost (at once if it already is): True, or False if
        `timeout` seconds pass first (None: no limit). Raises InvalidArgumentError at once if
        the lock is not held (it would never be lost): never acquired, released, or its client
        closed."""
        return await run_async(self._core.wait_lost(timeout))

    async def queue(self) -> list[LockWaiter]:
        """The holder and waiters of this lock, holder first."""
        return await run_async(self._core.queue())

    async def __aenter__(self) -> AsyncLock:
        """Acquires, waiting up to the lock's timeout; LockTimeoutError when it passes."""
        await run_async(self._core.enter())
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        await run_async(self._core.exit(exc_type))


class AsyncSession(_shared.SessionBase):
    """A unit of work over documents (see :class:`interlock.Session`)."""

    async def load(self, key: str) -> Any:
        """The value at `key` (None if absent), tracked for save_changes."""
        return await run_async(self._core.load(key))

    async def load_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """Loads several keys in one snapshot; absent keys map to None."""
        return await run_async(self._core.load_many(keys))

    async def save_changes(self) -> int | None:
        """Writes every change in one transaction; returns the new index."""
        return await run_async(self._core.save_changes())

    async def __aenter__(self) -> AsyncSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass


class AsyncClient(_shared.ClientBase[AsyncLock, AsyncTxn, AsyncSession]):
    """A connection to one store whose operations are awaitables."""

    _lock_class = AsyncLock
    _txn_class = AsyncTxn
    _session_class = AsyncSession

    async def __aenter__(self) -> AsyncClient:
        self._core.check_open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            await self.close()
        except InterlockError as failed:
            note_close_failure(exc_info[1], failed)

    def close(self) -> Awaitable[None]:
        """Closes the client (``await db.close()``): revokes its leases, so every lock it holds
        is free for others at once (those lock objects become lost and ``release()`` raises
        LockLostError), ends its waits (an awaiting acquire raises InvalidArgumentError) and its
        watches.
        Every later call on the client, or on what was made from it, raises InvalidArgumentError
        (a watch ends instead: ``next`` returns None).
        The close starts at the call; awaiting waits until the leases are revoked. Outside a
        running event loop it closes before returning. Idempotent."""
        native = self._core.closing()
        if native is None:
            return _Done()
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            native.close()
            return _Done()
        return native.close_async()

    async def get(self, key: str) -> Entry | None:
        """The entry at `key`, or None if absent."""
        return await run_async(self._core.get(key))

    async def get_many(self, keys: Iterable[str]) -> builtins.list[Entry]:
        """The entries of `keys` that exist, read in one snapshot."""
        return await run_async(self._core.get_many(keys))

    async def list(
        self, prefix: str = "", *, after: str | None = None, limit: int | None = None
    ) -> Page:
        """One page of entries under `prefix` in key order, after the key `after`."""
        return await run_async(self._core.list(prefix, after, limit))

    async def scan(self, prefix: str = "", *, page_size: int = 1000) -> AsyncIterator[Entry]:
        """Every entry under `prefix`, page by page."""
        after = None
        while True:
            page = await run_async(self._core.list(prefix, after, page_size, "page_size of scan"))
            for entry in page.entries:
                yield entry
            after = _core.resume_after(page)
            if after is None:
                return

    async def index(self) -> int:
        """The store's current index."""
        return await run_async(self._core.index())

    async def put(self, key: str, value: Any, index: int, *, lease: object = None) -> PutResult:
        """Compare-exchange (see :meth:`interlock.Client.put`)."""
        return await run_async(self._core.put(key, value, index, lease))

    async def set(self, key: str, value: Any, *, lease: object = None) -> int:
        """Writes `key` unconditionally; returns the new index."""
        return await run_async(self._core.set(key, value, lease))

    async def delete(self, key: str, index: int | None = None) -> PutResult:
        """Deletes `key`; with `index`, only if it is at that index."""
        return await run_async(self._core.delete(key, index))

    def watch(self, prefix: str = "", from_index: int | None = None) -> AsyncWatch:
        """Changes under `prefix` in index order: ``async for event in client.watch(...)``. The
        watch starts here, when it is made: what is written from now on (by this client, from
        its next awaited operation) is seen, even before the first iteration."""
        arguments = self._core.watch_arguments(prefix, from_index)
        native = self._core.handle()
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            # No event loop to start it on: started here, blocking.
            return AsyncWatch(native.watch(*arguments), self)
        start: asyncio.Future[_native.Watch] = asyncio.ensure_future(native.watch_async(*arguments))
        # A watch that fails to start reports it at its first iteration, not as an error
        # "never retrieved" if it is dropped unread.
        start.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._core.starting.append(start)
        return AsyncWatch(start, self)

    async def grant(self, ttl: float) -> int:
        """Grants a bare lease nobody keeps alive; returns its id."""
        return await run_async(self._core.grant(ttl))

    async def keepalive(self, lease: object) -> float:
        """Renews a lease once; returns its TTL."""
        return await run_async(self._core.keepalive(lease))

    async def revoke(self, lease: object) -> bool:
        """Revokes a lease, deleting its entries."""
        return await run_async(self._core.revoke(lease))

    async def time_to_live(self, lease: object) -> float | None:
        """Seconds left on a lease, or None if it is gone."""
        return await run_async(self._core.time_to_live(lease))

    async def lease(self, ttl: float) -> AsyncLease:
        """A lease kept alive in the background until revoked."""
        return AsyncLease(await run_async(self._core.lease(ttl)), self)

    async def lock_queue(self, name: str) -> builtins.list[LockWaiter]:
        """The holder and waiters of a lock, holder first."""
        return await run_async(self._core.lock_queue(name))

    async def retry(self, fn: Callable[[], Awaitable[T]], attempts: int = 10) -> T:
        """Awaits ``fn()`` until it does not raise ConcurrencyError, backing off with jitter
        (the core's schedule); after `attempts` (an integer from 1: 1 runs `fn` once) the last
        ConcurrencyError is raised."""
        result: T = await run_async(self._core.retry(fn, attempts))
        return result
