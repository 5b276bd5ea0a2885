"""The asyncio client: the same operations as :class:`interlock.Client`, as awaitables, with
``async with`` locks and ``async for`` watches. Cancelling an awaiting acquire removes its
waiter entry.

>>> import interlock.aio
>>> db = await interlock.aio.connect("sqlite:///tmp/app.db")        # doctest: +SKIP
>>> async with db.lock("printer/first-floor") as held:              # doctest: +SKIP
...     await print_job(fence=held.fencing_token)
>>> await db.close()                                                # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import builtins
import os
from collections.abc import AsyncIterator, Awaitable, Generator, Iterable
from types import TracebackType
from typing import Any, Callable, TypeVar

from . import _native
from ._common import (
    DEFAULT_TTL,
    check_attempts,
    check_blocking,
    check_callback,
    check_index,
    check_key,
    check_keys,
    check_lock_arguments,
    check_timeout,
    check_ttl,
    check_unsigned,
    closed_error,
    forked_mem_error,
    lease_id,
    native_lease,
    note_close_failure,
    resolve_url,
    stale,
)
from ._native import Entry, Event, LockWaiter, Page, PutResult
from .errors import (
    ConcurrencyError,
    InterlockError,
    InvalidArgumentError,
    LockLostError,
    LockTimeoutError,
)

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
    resolved = resolve_url(url, options)
    return AsyncClient(resolved, await _native.connect_async(resolved, token), token=token)


class AsyncClient:
    """A connection to one store whose operations are awaitables."""

    def __init__(self, url: str, native: _native.Client, *, token: str | None = None) -> None:
        self._url = url
        # Kept for reconnecting after a fork; never part of the URL or the repr.
        self._token = token
        self._pid = os.getpid()
        self._client: _native.Client | None = native
        self._closed = False
        # Watches made by this client that are still starting: an operation awaited after a
        # watch was made waits for them, so the watch sees what that operation writes.
        self._starting: builtins.list[asyncio.Future[Any]] = []

    async def _ready(self) -> _native.Client:
        """The native client, once every watch made before this call has started."""
        pending = [f for f in self._starting if not f.done()]
        self._starting = pending
        if pending:
            await asyncio.wait(pending)
        return self._handle()

    def _handle(self) -> _native.Client:
        if self._closed or self._client is None:
            raise closed_error(self._url)
        if self._pid != os.getpid():
            if self._url.startswith("mem:"):
                raise forked_mem_error(self._url)
            self._client = _native.connect(self._url, self._token)
            self._pid = os.getpid()
        return self._client

    @property
    def url(self) -> str:
        """The URL of the store."""
        return self._url

    def describe(self) -> str:
        """What the client is connected to (the store's URL, without its password)."""
        return self._handle().describe()

    def __repr__(self) -> str:
        return f"interlock.aio.AsyncClient({self._url!r})"

    async def __aenter__(self) -> AsyncClient:
        if self._closed:
            raise closed_error(self._url)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.close()
        except InterlockError as failed:
            if exc is None:
                raise
            note_close_failure(exc, failed)  # the body's exception is the one that matters

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def close(self) -> Awaitable[None]:
        """Closes the client (``await db.close()``): revokes its leases, so every lock it holds
        is free for others at once (those lock objects become lost and ``release()`` raises
        LockLostError), ends its waits (an awaiting acquire raises InvalidArgumentError) and its
        watches.
        Every later call on the client, or on what was made from it, raises InvalidArgumentError.
        The close starts at the call; awaiting waits until the leases are revoked. Outside a
        running event loop it closes before returning. Idempotent."""
        if self._closed:
            return _Done()
        self._closed = True
        native, self._client = self._client, None
        if native is None or self._pid != os.getpid():
            return _Done()
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            native.close()
            return _Done()
        return native.close_async()

    async def get(self, key: str) -> Entry | None:
        """The entry at `key`, or None if absent."""
        check_key(key, "the key of get")
        return await (await self._ready()).get_async(key)

    async def get_many(self, keys: Iterable[str]) -> builtins.list[Entry]:
        """The entries of `keys` that exist, read in one snapshot."""
        return await (await self._ready()).get_many_async(check_keys(keys, "the keys of get_many"))

    async def list(
        self, prefix: str = "", *, after: str | None = None, limit: int | None = None
    ) -> Page:
        """One page of entries under `prefix` in key order, after the key `after`."""
        check_key(prefix, "the prefix of list")
        if after is not None:
            check_key(after, "the after of list")
        check_unsigned(limit, "the list limit")
        return await (await self._ready()).list_async(prefix, after, limit)

    async def scan(self, prefix: str = "", *, page_size: int = 1000) -> AsyncIterator[Entry]:
        """Every entry under `prefix`, page by page."""
        after = None
        while True:
            page = await self.list(prefix, after=after, limit=page_size)
            for entry in page.entries:
                yield entry
            if not page.more or not page.entries:
                return
            after = page.entries[-1].key

    async def index(self) -> int:
        """The store's current index."""
        return await (await self._ready()).index_async()

    async def put(self, key: str, value: Any, index: int, *, lease: object = None) -> PutResult:
        """Compare-exchange (see :meth:`interlock.Client.put`)."""
        check_key(key, "the key of put")
        check_index(index, f"the index of put '{key}'")
        return await (await self._ready()).put_async(key, value, index, lease_id(lease))

    async def set(self, key: str, value: Any, *, lease: object = None) -> int:
        """Writes `key` unconditionally; returns the new index."""
        check_key(key, "the key of set")
        return (await (await self._ready()).put_async(key, value, None, lease_id(lease))).index

    async def delete(self, key: str, index: int | None = None) -> PutResult:
        """Deletes `key`; with `index`, only if it is at that index."""
        check_key(key, "the key of delete")
        check_unsigned(index, f"the index for '{key}'")
        return await (await self._ready()).delete_async(key, index)

    def txn(self) -> AsyncTxn:
        """A transaction; ``await txn.commit()`` sends it."""
        if self._closed:
            raise closed_error(self._url)
        return AsyncTxn(self)

    def watch(self, prefix: str = "", from_index: int | None = None) -> AsyncWatch:
        """Changes under `prefix` in index order: ``async for event in client.watch(...)``. The
        watch starts here, when it is made: what is written from now on (by this client, from
        its next awaited operation) is seen, even before the first iteration."""
        check_key(prefix, "the prefix of watch")
        check_unsigned(from_index, "the watch's from_index")
        native = self._handle()
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            # No event loop to start it on: started here, blocking.
            return AsyncWatch(self, native.watch(prefix, from_index))
        start: asyncio.Future[_native.Watch] = asyncio.ensure_future(
            native.watch_async(prefix, from_index)
        )
        # A watch that fails to start reports it at its first iteration, not as an error
        # "never retrieved" if it is dropped unread.
        start.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._starting.append(start)
        return AsyncWatch(self, start)

    async def grant(self, ttl: float) -> int:
        """Grants a bare lease nobody keeps alive; returns its id."""
        return await (await self._ready()).grant_async(check_ttl(ttl))

    async def keepalive(self, lease: object) -> float:
        """Renews a lease once; returns its TTL."""
        return await (await self._ready()).keepalive_async(_required(lease))

    async def revoke(self, lease: object) -> bool:
        """Revokes a lease, deleting its entries."""
        return await (await self._ready()).revoke_async(_required(lease))

    async def time_to_live(self, lease: object) -> float | None:
        """Seconds left on a lease, or None if it is gone."""
        return await (await self._ready()).time_to_live_async(_required(lease))

    async def lease(self, ttl: float) -> AsyncLease:
        """A lease kept alive in the background until revoked."""
        return AsyncLease(await (await self._ready()).lease_async(check_ttl(ttl)), self)

    def lock(
        self,
        name: str,
        ttl: float = DEFAULT_TTL,
        timeout: float | None = None,
        *,
        owner: str | None = None,
        lease: object = None,
        on_lost: Callable[[], object] | None = None,
    ) -> AsyncLock:
        """A fair lock: ``async with client.lock(name) as held:`` (LockTimeoutError after `timeout`
        seconds). A bad ttl, timeout or lease raises InvalidArgumentError here."""
        if self._closed:
            raise closed_error(self._url)
        return AsyncLock(self, name, ttl, timeout, owner, lease, on_lost)

    async def lock_queue(self, name: str) -> builtins.list[LockWaiter]:
        """The holder and waiters of a lock, holder first."""
        check_key(name, "the lock name of lock_queue")
        return await (await self._ready()).lock_queue_async(name)

    def session(self, *, optimistic: bool = True) -> AsyncSession:
        """A unit of work over documents."""
        return AsyncSession(self._handle().session(optimistic), self)

    async def retry(self, fn: Callable[[], Awaitable[T]], attempts: int = 10) -> T:
        """Awaits ``fn()`` until it does not raise ConcurrencyError, backing off with jitter
        (the core's schedule); after `attempts` (an integer from 1: 1 runs `fn` once) the last
        ConcurrencyError is raised."""
        attempts = check_attempts(attempts)
        check_callback(fn, "the function of retry")
        for attempt in range(attempts):
            try:
                return await fn()
            except ConcurrencyError:
                if attempt + 1 >= attempts:
                    raise
            await asyncio.sleep(_native.retry_delay(attempt))
        raise AssertionError("unreachable")


class _Done:
    """An awaitable that is already complete."""

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield


def _required(lease: object) -> int:
    lid = lease_id(lease)
    if lid is None:
        raise InvalidArgumentError("a lease is required")
    return lid


class AsyncTxn:
    """An atomic transaction; methods chain, ``await commit()`` sends it."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client
        self._steps: list[Callable[[_native.Txn], None]] = []

    def check(self, key: str, index: int) -> AsyncTxn:
        """Requires `key` to be at `index` (0: absent)."""
        check_key(key, "the key of check")
        check_unsigned(index, f"the index for '{key}'")
        self._steps.append(lambda t: t.check(key, index))
        return self

    def put(self, key: str, value: Any, index: int, *, lease: object = None) -> AsyncTxn:
        """Writes `key` only if it is at `index` (0: only if absent); :meth:`set` writes
        unconditionally."""
        check_key(key, "the key of put")
        check_index(index, f"the index of put '{key}'")
        lid = lease_id(lease)
        self._steps.append(lambda t: t.put(key, value, index, lid))
        return self

    def set(self, key: str, value: Any, *, lease: object = None) -> AsyncTxn:
        """Writes `key` unconditionally."""
        check_key(key, "the key of set")
        lid = lease_id(lease)
        self._steps.append(lambda t: t.put(key, value, None, lid))
        return self

    def delete(self, key: str, index: int | None = None) -> AsyncTxn:
        """Deletes `key`; with `index`, only if it is at that index."""
        check_unsigned(index, f"the index for '{key}'")
        self._steps.append(lambda t: t.delete(key, index))
        return self

    def require(self, lock: AsyncLock) -> AsyncTxn:
        """Commits only while `lock` is still held."""
        self._steps.append(lambda t: t.require(lock._handle()))
        return self

    def __len__(self) -> int:
        return len(self._steps)

    async def commit(self) -> int:
        """Commits atomically; returns the new index."""
        txn = (await self._client._ready()).txn()
        for step in self._steps:
            step(txn)
        return await txn.commit_async()


class AsyncWatch:
    """An async iterator over changes in index order, started when it was made."""

    def __init__(
        self, client: AsyncClient, native: _native.Watch | asyncio.Future[_native.Watch]
    ) -> None:
        self._client = client
        self._start = native
        self._closed = False
        self._pid = os.getpid()

    async def _handle(self) -> _native.Watch:
        if self._client.closed:
            raise closed_error(self._client.url)
        if self._closed:
            raise InvalidArgumentError("the watch is closed")
        if self._pid != os.getpid():
            raise stale("watch", self._pid)
        start = self._start
        if isinstance(start, asyncio.Future):
            watch = await start
            self._start = watch
            return watch
        return start

    def __aiter__(self) -> AsyncWatch:
        return self

    async def __anext__(self) -> Event:
        event = await (await self._handle()).next_async(None)
        if event is False or event is None:
            raise StopAsyncIteration
        return event

    async def next(self, timeout: float | None = None) -> Event | None:
        """The next event, or None if `timeout` seconds pass first."""
        timeout = check_timeout(timeout)
        event = await (await self._handle()).next_async(timeout)
        return None if event is False else event

    def close(self) -> None:
        """Stops watching."""
        self._closed = True

    async def __aenter__(self) -> AsyncWatch:
        await self._handle()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class AsyncLease:
    """A lease renewed in the background; ``lost`` turns True as soon as it is lost."""

    def __init__(self, native: _native.Lease, client: AsyncClient) -> None:
        self._lease = native
        self._client = client
        self._pid = os.getpid()

    def _native_lease(self) -> _native.Lease:
        if self._pid != os.getpid():
            raise stale("lease", self._pid)
        return self._lease

    def _check_open(self) -> _native.Lease:
        if self._client.closed:
            raise closed_error(self._client.url)
        return self._native_lease()

    @property
    def id(self) -> int:
        """The lease id."""
        return self._lease.id

    @property
    def ttl(self) -> float:
        """The TTL in seconds."""
        return self._lease.ttl

    @property
    def lost(self) -> bool:
        """True once the lease is lost (or revoked)."""
        return self._native_lease().lost

    def on_lost(self, callback: Callable[[], object]) -> None:
        """Calls `callback()` (on a thread of its own) when the lease is lost."""
        check_callback(callback, "the on_lost callback of a lease")
        self._check_open().on_lost(callback)

    async def wait_lost(self, timeout: float | None = None) -> bool:
        """Resolves when the lease is lost; False if `timeout` passed first."""
        return await self._check_open().wait_lost_async(check_timeout(timeout))

    async def revoke(self) -> bool:
        """Revokes the lease, deleting its entries."""
        return await self._check_open().revoke_async()

    async def __aenter__(self) -> AsyncLease:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if not self._client.closed:  # closing the client revoked it
            await self.revoke()


class AsyncLock:
    """A fair, non-reentrant lock with fencing tokens: ``async with lock as held:``, or
    :meth:`acquire` and :meth:`release` (which behave like ``asyncio.Lock``'s and
    ``threading.Lock``'s)."""

    def __init__(
        self,
        client: AsyncClient,
        name: str,
        ttl: object,
        timeout: object,
        owner: str | None,
        lease: object,
        on_lost: Callable[[], object] | None,
    ) -> None:
        # Bad options are refused now, not at the first acquire.
        check_lock_arguments(name, owner, on_lost)
        self._ttl = check_ttl(ttl)
        self._timeout = check_timeout(timeout)
        native_lease(lease)
        self._client = client
        self._name = name
        self._owner = owner
        self._lease = lease
        self._callbacks: list[Callable[[], object]] = [on_lost] if on_lost else []
        self._lock: _native.Lock | None = None
        self._pid = os.getpid()
        self._held_by: int | None = None

    def _handle(self) -> _native.Lock:
        if self._lock is None or self._pid != os.getpid():
            self._lock = self._client._handle().lock(
                self._name, self._ttl, self._owner, native_lease(self._lease)
            )
            for callback in self._callbacks:
                self._lock.on_lost(callback)
            self._pid = os.getpid()
        return self._lock

    def _mine(self) -> _native.Lock | None:
        """The native lock, if this process made it and holds the lock through it."""
        if self._lock is None or self._pid != os.getpid() or not self._held_here():
            return None
        return self._lock

    def _held_here(self) -> bool:
        return self._held_by == os.getpid()

    def _check_not_inherited(self) -> None:
        if self._held_by is not None and self._held_by != os.getpid():
            raise InterlockError(
                f"lock '{self._name}' is held by process {self._held_by}; this copy of the "
                f"lock object was made by fork, and process {os.getpid()} does not hold it"
            )

    def __repr__(self) -> str:
        return f"interlock.aio.AsyncLock({self._name!r}, fencing_token={self.fencing_token})"

    @property
    def name(self) -> str:
        """The lock's name."""
        return self._name

    @property
    def fencing_token(self) -> int | None:
        """The fencing token of the current acquisition while held, else None."""
        native = self._mine()
        return None if native is None else native.fencing_token

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        native = self._mine()
        return native is not None and native.held

    @property
    def lost(self) -> bool:
        """True if the lock is held but its lease was lost (expired, revoked, or its client
        closed)."""
        native = self._mine()
        return native is not None and native.lost

    async def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Takes the lock: waits until it is free, up to `timeout` seconds (None: the timeout
        given to ``client.lock``, else without a limit), and returns True; False if the timeout
        passes first. With ``blocking=False`` takes it only if it is free now, else returns
        False. The fencing token is :attr:`fencing_token`. (``async with lock:`` raises
        LockTimeoutError instead of returning False.)"""
        check_blocking(blocking, timeout)
        if not blocking:
            return await self.try_acquire()
        wait = self._timeout if timeout is None else check_timeout(timeout)
        self._check_not_inherited()
        await self._client._ready()
        try:
            await self._handle().acquire_async(wait)
        except LockTimeoutError:
            return False
        except InterlockError as e:
            self._raise_closed_instead(e)
            raise
        self._held_by = os.getpid()
        return True

    async def try_acquire(self) -> bool:
        """Takes the lock only if it is free now; True if it did."""
        self._check_not_inherited()
        await self._client._ready()
        try:
            token = await self._handle().try_acquire_async()
        except InterlockError as e:
            self._raise_closed_instead(e)
            raise
        if token is None:
            return False
        self._held_by = os.getpid()
        return True

    def _raise_closed_instead(self, error: InterlockError) -> None:
        """For the error of a wait that its client's close() ended (the wait may see its
        waiter entry vanish before it sees the close), raises InvalidArgumentError naming the
        closed client instead."""
        if self._client.closed:
            raise closed_error(self._client.url) from error

    async def release(self) -> None:
        """Releases the lock; LockLostError if its lease was lost while held (also when its client
        was closed)."""
        self._check_not_inherited()
        try:
            await self._handle().release_async()
        finally:
            if self._lock is not None and not self._lock.held:
                self._held_by = None

    def on_lost(self, callback: Callable[[], object]) -> None:
        """Calls `callback()` (on a thread of its own) when a held lock's lease is lost."""
        check_callback(callback, f"the on_lost callback of lock '{self._name}'")
        if self._client.closed:
            raise closed_error(self._client.url)
        # The native lock is made first: making it registers every callback already listed.
        native = self._handle()
        self._callbacks.append(callback)
        native.on_lost(callback)

    async def wait_lost(self, timeout: float | None = None) -> bool:
        """Resolves when the held lock is lost (at once if it already is): True, or False if
        `timeout` seconds pass first (None: no limit). Raises InvalidArgumentError at once if
        the lock is not held (it would never be lost): never acquired, released, or its client
        closed."""
        wait = check_timeout(timeout)
        if self._client.closed:
            raise closed_error(self._client.url)
        self._check_not_inherited()
        native = self._mine()
        if native is None or not native.held:
            raise InvalidArgumentError(f"lock '{self._name}' is not held by this lock object")
        return await native.wait_lost_async(wait)

    async def queue(self) -> list[LockWaiter]:
        """The holder and waiters of this lock, holder first."""
        return await self._client.lock_queue(self._name)

    async def __aenter__(self) -> AsyncLock:
        """Acquires, waiting up to the lock's timeout; LockTimeoutError when it passes."""
        self._check_not_inherited()
        await self._client._ready()
        try:
            await self._handle().acquire_async(self._timeout)
        except LockTimeoutError:
            raise
        except InterlockError as e:
            self._raise_closed_instead(e)
            raise
        self._held_by = os.getpid()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.release()
        except (LockLostError, InterlockError):
            if exc_type is None:
                raise


class AsyncSession:
    """A unit of work over documents (see :class:`interlock.Session`)."""

    def __init__(self, native: _native.Session, client: AsyncClient) -> None:
        self._session = native
        self._client = client
        self._pid = os.getpid()
        self._tracked: dict[str, Any] = {}

    def _handle(self) -> _native.Session:
        if self._client.closed:
            raise closed_error(self._client.url)
        if self._pid != os.getpid():
            raise stale("session", self._pid)
        return self._session

    async def load(self, key: str) -> Any:
        """The value at `key` (None if absent), tracked for save_changes."""
        if key in self._tracked:
            return self._tracked[key]
        await self._client._ready()
        value = await self._handle().load_async(key)
        self._tracked[key] = value
        return value

    async def load_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """Loads several keys in one snapshot; absent keys map to None."""
        keys = list(keys)
        missing = [k for k in keys if k not in self._tracked]
        if missing:
            for k, v in zip(missing, await self._handle().load_many_async(missing)):
                self._tracked[k] = v
        return {k: self._tracked[k] for k in keys}

    def store(self, key: str, value: Any) -> None:
        """Stores a new or replacing value (tracked from now on)."""
        self._handle().store(key, value)
        self._tracked[key] = value

    def delete(self, key: str) -> None:
        """Deletes `key` at save time."""
        self._handle().delete(key)
        self._tracked.pop(key, None)

    def loaded_index(self, key: str) -> int | None:
        """The index `key` had when loaded (0: absent), or None if it was not loaded."""
        return self._handle().loaded_index(key)

    def put_compare_exchange(self, key: str, value: Any, index: int) -> None:
        """Stages a compare-exchange put that commits with the documents."""
        check_unsigned(index, f"the index for '{key}'")
        self._handle().put_compare_exchange(key, value, index)

    def delete_compare_exchange(self, key: str, index: int) -> None:
        """Stages a compare-exchange delete that commits with the documents."""
        check_unsigned(index, f"the index for '{key}'")
        self._handle().delete_compare_exchange(key, index)

    def _sync(self) -> _native.Session:
        native = self._handle()
        for key, value in self._tracked.items():
            native.update(key, value)
        return native

    @property
    def has_changes(self) -> bool:
        """Whether save_changes would write anything."""
        return self._sync().has_changes()

    async def save_changes(self) -> int | None:
        """Writes every change in one transaction; returns the new index."""
        await self._client._ready()
        return await self._sync().save_changes_async()

    async def __aenter__(self) -> AsyncSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass
