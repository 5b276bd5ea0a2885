"""The blocking client. Every call releases the GIL while it waits, so other threads run.

Each class is a thin wrapper over the one implementation of its concept in ``_core`` (checks,
closed-client and fork handling, the operations), run with the blocking driver; what is here is
what only the blocking flavour has (context managers, iterators, docstrings)."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator
from typing import Any, Callable, TypeVar

from . import _core, _shared
from ._common import note_close_failure
from ._core import run
from ._native import Entry, Event, LockWaiter, Page, PutResult
from .errors import InterlockError

T = TypeVar("T")


class Txn(_shared.TxnBase["Lock"]):
    """An atomic transaction. Methods return the transaction, so calls chain; :meth:`commit`
    sends everything in one request and raises ConcurrencyError listing every failed check.
    Each step's arguments are checked at its call (InvalidArgumentError; the step is left
    out)."""

    def commit(self) -> int:
        """Commits atomically; returns the new index."""
        return run(self._core.commit())


class Watch(_shared.WatchBase):
    """An iterator over changes, in index order. Resume after a restart with
    ``client.watch(prefix, from_index=last.index + 1)``."""

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

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Lease(_shared.LeaseBase):
    """A lease renewed in the background at ttl/3. ``lost`` turns True as soon as renewal
    can no longer be confirmed before expiry."""

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


class Lock(_shared.LockBase):
    """A fair, non-reentrant lock with fencing tokens. Use it as a context manager, or call
    :meth:`acquire` and :meth:`release` (which behave like ``threading.Lock``'s)."""

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


class Session(_shared.SessionBase):
    """A unit of work: load documents (tracked), change them in place or store new ones, then
    :meth:`save_changes` writes every change in one transaction, checked at the loaded indexes
    (ConcurrencyError if someone else wrote in between)."""

    def load(self, key: str) -> Any:
        """The value at `key` (None if absent), tracked: changes made to it in place are saved
        by save_changes. Loading a key again returns the same object."""
        return run(self._core.load(key))

    def load_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """Loads several keys in one snapshot; absent keys map to None."""
        return run(self._core.load_many(keys))

    def save_changes(self) -> int | None:
        """Writes every change in one transaction; returns the new index (None if nothing
        changed). On ConcurrencyError nothing is written."""
        return run(self._core.save_changes())

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class Client(_shared.ClientBase[Lock, Txn, Session]):
    """A connection to one store (see :func:`interlock.connect`). Thread-safe, and fork-safe:
    in a forked child it reconnects to the same store on first use."""

    _lock_class = Lock
    _txn_class = Txn
    _session_class = Session

    def __enter__(self) -> Client:
        self._core.check_open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.close()
        except InterlockError as failed:
            note_close_failure(exc_info[1], failed)

    def close(self) -> None:
        """Closes the client, waiting until it is done: revokes its leases, so every lock it
        holds is free for others at once (those lock objects become lost: ``lost`` is True, their
        on_lost callbacks run and ``release()`` raises LockLostError), ends its waits (a blocked
        acquire raises InvalidArgumentError) and its watches (a waiting ``next`` returns None).
        Every later call on the client, or on a lock, lease, session or transaction made from it,
        raises InvalidArgumentError. Idempotent. In a forked child, closing a client made before
        the fork closes only the child's connection, never the parent's."""
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
            page = run(self._core.list(prefix, after, page_size, "page_size of scan"))
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

    def lock_queue(self, name: str) -> builtins.list[LockWaiter]:
        """The holder and waiters of a lock, holder first."""
        return run(self._core.lock_queue(name))

    def retry(self, fn: Callable[[], T], attempts: int = 10) -> T:
        """Calls `fn` until it does not raise ConcurrencyError, backing off with jitter between
        attempts (the core's schedule); after `attempts` (an integer from 1: 1 runs `fn` once)
        the last ConcurrencyError is raised."""
        result: T = run(self._core.retry(fn, attempts))
        return result


# The classes are imported from `interlock`, and named so in reprs, help() and the reference.
for _cls in (Txn, Watch, Lease, Lock, Session, Client):
    _cls.__module__ = "interlock"
