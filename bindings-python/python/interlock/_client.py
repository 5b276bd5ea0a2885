"""The blocking client. Every call releases the GIL while it waits, so other threads run.

Each class is a thin wrapper over the one implementation of its concept in ``_core`` (checks,
closed-client and fork handling, the operations), run with the blocking driver; what is here is
what only the blocking flavour has (context managers, iterators, docstrings)."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any, Callable, TypeVar

from . import _core, _native
from ._common import DEFAULT_TTL, note_close_failure
from ._core import run
from ._native import Entry, Event, LockWaiter, Page, PutResult
from .errors import InterlockError

T = TypeVar("T")


class Client:
    """A connection to one store (see :func:`interlock.connect`). Thread-safe, and fork-safe:
    in a forked child it reconnects to the same store on first use."""

    def __init__(self, url: str, native: _native.Client, *, token: str | None = None) -> None:
        self._core = _core.ClientCore(url, native, token)

    @property
    def url(self) -> str:
        """The URL of the store."""
        return self._core.url

    def describe(self) -> str:
        """What the client is connected to (the store's URL, without its password)."""
        return self._core.handle().describe()

    def __repr__(self) -> str:
        return f"interlock.Client({self._core.url!r})"

    def __enter__(self) -> Client:
        self._core.check_open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.close()
        except InterlockError as failed:
            if exc is None:
                raise
            note_close_failure(exc, failed)  # the body's exception is the one that matters

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._core.closed

    def close(self) -> None:
        """Closes the client, waiting until it is done: revokes its leases, so every lock it
        holds is free for others at once (those lock objects become lost: ``lost`` is True, their
        on_lost callbacks run and ``release()`` raises LockLostError), ends its waits (a blocked
        acquire raises InvalidArgumentError) and its watches. Every later call on the client, or
        on a lock, lease, session, transaction or watch made from it, raises
        InvalidArgumentError.
        Idempotent. In a forked child, closing a client made before the fork closes only the
        child's connection, never the parent's."""
        native = self._core.closing()
        if native is not None:
            native.close()

    def get(self, key: str) -> Entry | None:
        """The entry at `key`, or None if absent."""
        return run(self._core.get(key))

    def get_many(self, keys: Iterable[str]) -> builtins.list[Entry]:
        """The entries of `keys` that exist, read in one snapshot."""
        return run(self._core.get_many(keys))

    def list(self, prefix: str = "", *, after: str | None = None, limit: int | None = None) -> Page:
        """One page of entries under `prefix` in key order, after the key `after`."""
        return run(self._core.list(prefix, after, limit))

    def scan(self, prefix: str = "", *, page_size: int = 1000) -> Iterator[Entry]:
        """Every entry under `prefix`, page by page (each page is one snapshot)."""
        after = None
        while True:
            page = self.list(prefix, after=after, limit=page_size)
            yield from page.entries
            after = _core.resume_after(page)
            if after is None:
                return

    def index(self) -> int:
        """The store's current index."""
        return run(self._core.index())

    def put(self, key: str, value: Any, index: int, *, lease: object = None) -> PutResult:
        """Compare-exchange: with ``index=0`` creates `key` only if absent; with ``index=n``
        replaces it only if it is at n. A failed compare is a result (``.successful`` False,
        with the current ``.index`` and ``.value``), not an exception. :meth:`set` writes
        unconditionally."""
        return run(self._core.put(key, value, index, lease))

    def set(self, key: str, value: Any, *, lease: object = None) -> int:
        """Writes `key` unconditionally; returns the new index."""
        return run(self._core.set(key, value, lease))

    def delete(self, key: str, index: int | None = None) -> PutResult:
        """Deletes `key`; with `index`, only if it is at that index."""
        return run(self._core.delete(key, index))

    def txn(self) -> Txn:
        """A transaction: checks and ops that commit at one new index, or not at all."""
        return Txn(self)

    def watch(self, prefix: str = "", from_index: int | None = None) -> Watch:
        """Changes under `prefix` in index order, from `from_index` (default: from now)."""
        return Watch(run(self._core.watch(prefix, from_index)), self)

    def grant(self, ttl: float) -> int:
        """Grants a bare lease nobody keeps alive; returns its id."""
        return run(self._core.grant(ttl))

    def keepalive(self, lease: object) -> float:
        """Renews a lease once; returns its TTL. Raises LeaseExpiredError if it is gone."""
        return run(self._core.keepalive(lease))

    def revoke(self, lease: object) -> bool:
        """Revokes a lease, deleting its entries; False if it was already gone."""
        return run(self._core.revoke(lease))

    def time_to_live(self, lease: object) -> float | None:
        """Seconds left on a lease, or None if it is gone."""
        return run(self._core.time_to_live(lease))

    def lease(self, ttl: float) -> Lease:
        """A lease kept alive in the background until revoked (also on ``with`` exit)."""
        return Lease(run(self._core.lease(ttl)), self)

    def lock(
        self,
        name: str,
        ttl: float = DEFAULT_TTL,
        timeout: float | None = None,
        *,
        owner: str | None = None,
        lease: object = None,
        on_lost: Callable[[], object] | None = None,
    ) -> Lock:
        """A fair lock (not yet acquired). ``with client.lock(name) as held:`` acquires it,
        waiting up to `timeout` seconds (None: without a limit; LockTimeoutError after), and
        releases it on exit. A bad ttl, timeout or lease raises InvalidArgumentError here."""
        return Lock(self, name, ttl, timeout, owner, lease, on_lost)

    def lock_queue(self, name: str) -> builtins.list[LockWaiter]:
        """The holder and waiters of a lock, holder first."""
        return run(self._core.lock_queue(name))

    def session(self, *, optimistic: bool = True) -> Session:
        """A unit of work over documents. Optimistic concurrency is on by default."""
        return Session(self._core.session(optimistic), self)

    def retry(self, fn: Callable[[], T], attempts: int = 10) -> T:
        """Calls `fn` until it does not raise ConcurrencyError, backing off with jitter between
        attempts (the core's schedule); after `attempts` (an integer from 1: 1 runs `fn` once)
        the last ConcurrencyError is raised."""
        result: T = run(self._core.retry(fn, attempts))
        return result


class Txn:
    """An atomic transaction. Methods return the transaction, so calls chain; :meth:`commit`
    sends everything in one request and raises ConcurrencyError listing every failed check."""

    def __init__(self, client: Client) -> None:
        self._core = _core.TxnCore(client._core)

    def check(self, key: str, index: int) -> Txn:
        """Requires `key` to be at `index` (0: absent)."""
        self._core.check(key, index)
        return self

    def put(self, key: str, value: Any, index: int, *, lease: object = None) -> Txn:
        """Writes `key` only if it is at `index` (0: only if absent); :meth:`set` writes
        unconditionally."""
        self._core.put(key, value, index, lease)
        return self

    def set(self, key: str, value: Any, *, lease: object = None) -> Txn:
        """Writes `key` unconditionally."""
        self._core.set(key, value, lease)
        return self

    def delete(self, key: str, index: int | None = None) -> Txn:
        """Deletes `key`; with `index`, only if it is at that index."""
        self._core.delete(key, index)
        return self

    def require(self, lock: Lock) -> Txn:
        """Commits only while `lock` is still held (else LockLostError, nothing written)."""
        self._core.require(lock)
        return self

    def __len__(self) -> int:
        return len(self._core)

    def commit(self) -> int:
        """Commits atomically; returns the new index."""
        return run(self._core.commit())


class Watch:
    """An iterator over changes, in index order. Resume after a restart with
    ``client.watch(prefix, from_index=last.index + 1)``."""

    def __init__(self, native: _native.Watch, client: Client) -> None:
        self._core = _core.WatchCore(native, client._core)

    def __iter__(self) -> Watch:
        return self

    def __next__(self) -> Event:
        event = run(self._core.next(None))
        if event is None:
            raise StopIteration
        return event

    def next(self, timeout: float | None = None) -> Event | None:
        """The next event, or None if `timeout` seconds pass first (or the watch ended)."""
        return run(self._core.next(timeout))

    def close(self) -> None:
        """Stops watching."""
        self._core.closed = True

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Lease:
    """A lease renewed in the background at ttl/3. ``lost`` turns True as soon as renewal
    can no longer be confirmed before expiry."""

    def __init__(self, native: _native.Lease, client: Client) -> None:
        self._core = _core.LeaseCore(native, client._core)

    @property
    def id(self) -> int:
        """The lease id."""
        return self._core.native.id

    @property
    def ttl(self) -> float:
        """The TTL in seconds."""
        return self._core.native.ttl

    @property
    def lost(self) -> bool:
        """True once the lease is lost (or revoked, also by closing its client)."""
        return self._core.lost

    def on_lost(self, callback: Callable[[], object]) -> None:
        """Calls `callback()` (on a thread of its own) when the lease is lost."""
        self._core.on_lost(callback)

    def wait_lost(self, timeout: float | None = None) -> bool:
        """Blocks until the lease is lost; False if `timeout` passed first."""
        return run(self._core.wait_lost(timeout))

    def revoke(self) -> bool:
        """Revokes the lease, deleting its entries."""
        return run(self._core.revoke())

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        run(self._core.exit())


class Lock:
    """A fair, non-reentrant lock with fencing tokens. Use it as a context manager, or call
    :meth:`acquire` and :meth:`release` (which behave like ``threading.Lock``'s)."""

    def __init__(
        self,
        client: Client,
        name: str,
        ttl: object,
        timeout: object,
        owner: str | None,
        lease: object,
        on_lost: Callable[[], object] | None,
    ) -> None:
        self._core = _core.LockCore(client._core, name, ttl, timeout, owner, lease, on_lost)

    def __repr__(self) -> str:
        return self._core.repr("interlock.Lock")

    @property
    def name(self) -> str:
        """The lock's name."""
        return self._core.name

    @property
    def fencing_token(self) -> int | None:
        """The fencing token of the current acquisition while held (pass it to what the lock
        protects), else None."""
        return self._core.fencing_token

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._core.held

    @property
    def lost(self) -> bool:
        """True if the lock is held but its lease was lost (expired, revoked, or its client
        closed): stop working under it."""
        return self._core.lost

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Takes the lock, like ``threading.Lock.acquire``: waits until it is free, up to
        `timeout` seconds (None: the timeout given to ``client.lock``, else without a limit),
        and returns True; returns False if the timeout passes first. With ``blocking=False``,
        takes it only if it is free now (nobody holds or waits for it) and returns False
        otherwise. The fencing token of the acquisition is :attr:`fencing_token`. (``with
        lock:`` raises LockTimeoutError instead of returning False.)"""
        return run(self._core.acquire(blocking, timeout))

    def try_acquire(self) -> bool:
        """Takes the lock only if it is free now; True if it did (``acquire(False)``)."""
        return run(self._core.try_acquire())

    def release(self) -> None:
        """Releases the lock. Raises LockLostError if its lease was lost while held (also when its
        client was closed)."""
        run(self._core.release())

    def on_lost(self, callback: Callable[[], object]) -> None:
        """Calls `callback()` (on a thread of its own) as soon as a held lock's lease is
        lost."""
        self._core.on_lost(callback)

    def wait_lost(self, timeout: float | None = None) -> bool:
        """Blocks until the held lock is lost (at once if it already is): True, or False if
        `timeout` seconds pass first (None: no limit). Raises InvalidArgumentError at once if
        the lock is not held (it would never be lost): never acquired, released, or its client
        closed."""
        return run(self._core.wait_lost(timeout))

    def queue(self) -> list[LockWaiter]:
        """The holder and waiters of this lock, holder first."""
        return run(self._core.queue())

    def __enter__(self) -> Lock:
        """Acquires, waiting up to the lock's timeout; LockTimeoutError when it passes."""
        run(self._core.enter())
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        run(self._core.exit(exc_type))


class Session:
    """A unit of work: load documents (tracked), change them in place or store new ones, then
    :meth:`save_changes` writes every change in one transaction, checked at the loaded indexes
    (ConcurrencyError if someone else wrote in between)."""

    def __init__(self, native: _native.Session, client: Client) -> None:
        self._core = _core.SessionCore(native, client._core)

    def load(self, key: str) -> Any:
        """The value at `key` (None if absent), tracked: changes made to it in place are saved
        by save_changes. Loading a key again returns the same object."""
        return run(self._core.load(key))

    def load_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """Loads several keys in one snapshot; absent keys map to None."""
        return run(self._core.load_many(keys))

    def store(self, key: str, value: Any) -> None:
        """Stores a new or replacing value (tracked from now on). A key that was never loaded
        must be absent at save time, unless optimistic concurrency is off."""
        self._core.store(key, value)

    def delete(self, key: str) -> None:
        """Deletes `key` at save time (checked at its loaded index if it was loaded)."""
        self._core.delete(key)

    def loaded_index(self, key: str) -> int | None:
        """The index `key` had when loaded (0: absent), or None if it was not loaded."""
        return self._core.loaded_index(key)

    def put_compare_exchange(self, key: str, value: Any, index: int) -> None:
        """Stages a compare-exchange put that commits with the documents."""
        self._core.put_compare_exchange(key, value, index)

    def delete_compare_exchange(self, key: str, index: int) -> None:
        """Stages a compare-exchange delete that commits with the documents."""
        self._core.delete_compare_exchange(key, index)

    @property
    def has_changes(self) -> bool:
        """Whether save_changes would write anything."""
        return self._core.has_changes

    def save_changes(self) -> int | None:
        """Writes every change in one transaction; returns the new index (None if nothing
        changed). On ConcurrencyError nothing is written."""
        return run(self._core.save_changes())

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        pass
