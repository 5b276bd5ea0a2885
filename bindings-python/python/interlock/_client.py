"""The blocking client. Every call releases the GIL while it waits, so other threads run."""

from __future__ import annotations

import builtins
import os
import time
from collections.abc import Iterable, Iterator
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

T = TypeVar("T")


class Client:
    """A connection to one store (see :func:`interlock.connect`). Thread-safe, and fork-safe:
    in a forked child it reconnects to the same store on first use."""

    def __init__(self, url: str, native: _native.Client, *, token: str | None = None) -> None:
        self._url = url
        # Kept for reconnecting after a fork; never part of the URL or the repr.
        self._token = token
        self._pid = os.getpid()
        self._client: _native.Client | None = native
        self._closed = False

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
        return f"interlock.Client({self._url!r})"

    def __enter__(self) -> Client:
        if self._closed:
            raise closed_error(self._url)
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
        return self._closed

    def close(self) -> None:
        """Closes the client, waiting until it is done: revokes its leases, so every lock it
        holds is free for others at once (those lock objects become lost: ``lost`` is True, their
        on_lost callbacks run and ``release()`` raises LockLostError), ends its waits (a blocked
        acquire raises InvalidArgumentError) and its watches. Every later call on the client, or
        on a lock, lease, session, transaction or watch made from it, raises
        InvalidArgumentError.
        Idempotent. In a forked child, closing a client made before the fork closes only the
        child's connection, never the parent's."""
        if self._closed:
            return
        self._closed = True
        native, self._client = self._client, None
        if native is not None and self._pid == os.getpid():
            native.close()

    def get(self, key: str) -> Entry | None:
        """The entry at `key`, or None if absent."""
        check_key(key, "the key of get")
        return self._handle().get(key)

    def get_many(self, keys: Iterable[str]) -> builtins.list[Entry]:
        """The entries of `keys` that exist, read in one snapshot."""
        return self._handle().get_many(check_keys(keys, "the keys of get_many"))

    def list(self, prefix: str = "", *, after: str | None = None, limit: int | None = None) -> Page:
        """One page of entries under `prefix` in key order, after the key `after`."""
        check_key(prefix, "the prefix of list")
        if after is not None:
            check_key(after, "the after of list")
        check_unsigned(limit, "the list limit")
        return self._handle().list(prefix, after, limit)

    def scan(self, prefix: str = "", *, page_size: int = 1000) -> Iterator[Entry]:
        """Every entry under `prefix`, page by page (each page is one snapshot)."""
        after = None
        while True:
            page = self.list(prefix, after=after, limit=page_size)
            yield from page.entries
            if not page.more or not page.entries:
                return
            after = page.entries[-1].key

    def index(self) -> int:
        """The store's current index."""
        return self._handle().index()

    def put(self, key: str, value: Any, index: int, *, lease: object = None) -> PutResult:
        """Compare-exchange: with ``index=0`` creates `key` only if absent; with ``index=n``
        replaces it only if it is at n. A failed compare is a result (``.successful`` False,
        with the current ``.index`` and ``.value``), not an exception. :meth:`set` writes
        unconditionally."""
        check_key(key, "the key of put")
        check_index(index, f"the index of put '{key}'")
        return self._handle().put(key, value, index, lease_id(lease))

    def set(self, key: str, value: Any, *, lease: object = None) -> int:
        """Writes `key` unconditionally; returns the new index."""
        check_key(key, "the key of set")
        return self._handle().put(key, value, None, lease_id(lease)).index

    def delete(self, key: str, index: int | None = None) -> PutResult:
        """Deletes `key`; with `index`, only if it is at that index."""
        check_key(key, "the key of delete")
        check_unsigned(index, f"the index for '{key}'")
        return self._handle().delete(key, index)

    def txn(self) -> Txn:
        """A transaction: checks and ops that commit at one new index, or not at all."""
        if self._closed:
            raise closed_error(self._url)
        return Txn(self)

    def watch(self, prefix: str = "", from_index: int | None = None) -> Watch:
        """Changes under `prefix` in index order, from `from_index` (default: from now)."""
        check_key(prefix, "the prefix of watch")
        check_unsigned(from_index, "the watch's from_index")
        return Watch(self._handle().watch(prefix, from_index), self)

    def grant(self, ttl: float) -> int:
        """Grants a bare lease nobody keeps alive; returns its id."""
        return self._handle().grant(check_ttl(ttl))

    def keepalive(self, lease: object) -> float:
        """Renews a lease once; returns its TTL. Raises LeaseExpiredError if it is gone."""
        return self._handle().keepalive(_required_lease(lease))

    def revoke(self, lease: object) -> bool:
        """Revokes a lease, deleting its entries; False if it was already gone."""
        return self._handle().revoke(_required_lease(lease))

    def time_to_live(self, lease: object) -> float | None:
        """Seconds left on a lease, or None if it is gone."""
        return self._handle().time_to_live(_required_lease(lease))

    def lease(self, ttl: float) -> Lease:
        """A lease kept alive in the background until revoked (also on ``with`` exit)."""
        return Lease(self._handle().lease(check_ttl(ttl)), self)

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
        if self._closed:
            raise closed_error(self._url)
        return Lock(self, name, ttl, timeout, owner, lease, on_lost)

    def lock_queue(self, name: str) -> builtins.list[LockWaiter]:
        """The holder and waiters of a lock, holder first."""
        check_key(name, "the lock name of lock_queue")
        return self._handle().lock_queue(name)

    def session(self, *, optimistic: bool = True) -> Session:
        """A unit of work over documents. Optimistic concurrency is on by default."""
        return Session(self._handle().session(optimistic), self)

    def retry(self, fn: Callable[[], T], attempts: int = 10) -> T:
        """Calls `fn` until it does not raise ConcurrencyError, backing off with jitter between
        attempts (the core's schedule); after `attempts` (an integer from 1: 1 runs `fn` once)
        the last ConcurrencyError is raised."""
        attempts = check_attempts(attempts)
        check_callback(fn, "the function of retry")
        for attempt in range(attempts):
            try:
                return fn()
            except ConcurrencyError:
                if attempt + 1 >= attempts:
                    raise
            time.sleep(_native.retry_delay(attempt))
        raise AssertionError("unreachable")


def _required_lease(lease: object) -> int:
    lid = lease_id(lease)
    if lid is None:
        from .errors import InvalidArgumentError

        raise InvalidArgumentError("a lease is required")
    return lid


class Txn:
    """An atomic transaction. Methods return the transaction, so calls chain; :meth:`commit`
    sends everything in one request and raises ConcurrencyError listing every failed check."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._steps: list[Callable[[_native.Txn], None]] = []

    def check(self, key: str, index: int) -> Txn:
        """Requires `key` to be at `index` (0: absent)."""
        check_key(key, "the key of check")
        check_unsigned(index, f"the index for '{key}'")
        self._steps.append(lambda t: t.check(key, index))
        return self

    def put(self, key: str, value: Any, index: int, *, lease: object = None) -> Txn:
        """Writes `key` only if it is at `index` (0: only if absent); :meth:`set` writes
        unconditionally."""
        check_key(key, "the key of put")
        check_index(index, f"the index of put '{key}'")
        lid = lease_id(lease)
        self._steps.append(lambda t: t.put(key, value, index, lid))
        return self

    def set(self, key: str, value: Any, *, lease: object = None) -> Txn:
        """Writes `key` unconditionally."""
        check_key(key, "the key of set")
        lid = lease_id(lease)
        self._steps.append(lambda t: t.put(key, value, None, lid))
        return self

    def delete(self, key: str, index: int | None = None) -> Txn:
        """Deletes `key`; with `index`, only if it is at that index."""
        check_unsigned(index, f"the index for '{key}'")
        self._steps.append(lambda t: t.delete(key, index))
        return self

    def require(self, lock: Lock) -> Txn:
        """Commits only while `lock` is still held (else LockLostError, nothing written)."""
        self._steps.append(lambda t: t.require(lock._handle()))
        return self

    def __len__(self) -> int:
        return len(self._steps)

    def _build(self) -> _native.Txn:
        txn = self._client._handle().txn()
        for step in self._steps:
            step(txn)
        return txn

    def commit(self) -> int:
        """Commits atomically; returns the new index."""
        return self._build().commit()


class Watch:
    """An iterator over changes, in index order. Resume after a restart with
    ``client.watch(prefix, from_index=last.index + 1)``."""

    def __init__(self, native: _native.Watch, client: Client) -> None:
        self._watch: _native.Watch | None = native
        self._client = client
        self._pid = os.getpid()

    def _handle(self) -> _native.Watch:
        if self._client.closed:
            raise closed_error(self._client.url)
        if self._watch is None:
            raise InvalidArgumentError("the watch is closed")
        if self._pid != os.getpid():
            raise stale("watch", self._pid)
        return self._watch

    def __iter__(self) -> Watch:
        return self

    def __next__(self) -> Event:
        event = self._handle().next(None)
        if event is False or event is None:
            raise StopIteration
        return event

    def next(self, timeout: float | None = None) -> Event | None:
        """The next event, or None if `timeout` seconds pass first (or the watch ended)."""
        event = self._handle().next(check_timeout(timeout))
        return None if event is False else event

    def close(self) -> None:
        """Stops watching."""
        self._watch = None

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Lease:
    """A lease renewed in the background at ttl/3. ``lost`` turns True as soon as renewal
    can no longer be confirmed before expiry."""

    def __init__(self, native: _native.Lease, client: Client) -> None:
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
        """True once the lease is lost (or revoked, also by closing its client)."""
        return self._native_lease().lost

    def on_lost(self, callback: Callable[[], object]) -> None:
        """Calls `callback()` (on a thread of its own) when the lease is lost."""
        check_callback(callback, "the on_lost callback of a lease")
        self._check_open().on_lost(callback)

    def wait_lost(self, timeout: float | None = None) -> bool:
        """Blocks until the lease is lost; False if `timeout` passed first."""
        return self._check_open().wait_lost(check_timeout(timeout))

    def revoke(self) -> bool:
        """Revokes the lease, deleting its entries."""
        return self._check_open().revoke()

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._client.closed:  # closing the client revoked it
            self.revoke()


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

    def __repr__(self) -> str:
        return f"interlock.Lock({self._name!r}, fencing_token={self.fencing_token})"

    @property
    def name(self) -> str:
        """The lock's name."""
        return self._name

    @property
    def fencing_token(self) -> int | None:
        """The fencing token of the current acquisition while held (pass it to what the lock
        protects), else None."""
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
        closed): stop working under it."""
        native = self._mine()
        return native is not None and native.lost

    def _raise_closed_instead(self, error: InterlockError) -> None:
        """For the error of a wait that its client's close() ended (the wait may see its
        waiter entry vanish before it sees the close), raises InvalidArgumentError naming the
        closed client instead."""
        if self._client.closed:
            raise closed_error(self._client.url) from error

    def _held_here(self) -> bool:
        return self._held_by == os.getpid()

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Takes the lock, like ``threading.Lock.acquire``: waits until it is free, up to
        `timeout` seconds (None: the timeout given to ``client.lock``, else without a limit),
        and returns True; returns False if the timeout passes first. With ``blocking=False``,
        takes it only if it is free now (nobody holds or waits for it) and returns False
        otherwise. The fencing token of the acquisition is :attr:`fencing_token`. (``with
        lock:`` raises LockTimeoutError instead of returning False.)"""
        check_blocking(blocking, timeout)
        if not blocking:
            return self.try_acquire()
        wait = self._timeout if timeout is None else check_timeout(timeout)
        self._check_not_inherited()
        try:
            self._handle().acquire(wait)
        except LockTimeoutError:
            return False
        except InterlockError as e:
            self._raise_closed_instead(e)
            raise
        self._held_by = os.getpid()
        return True

    def try_acquire(self) -> bool:
        """Takes the lock only if it is free now; True if it did (``acquire(False)``)."""
        self._check_not_inherited()
        try:
            token = self._handle().try_acquire()
        except InterlockError as e:
            self._raise_closed_instead(e)
            raise
        if token is None:
            return False
        self._held_by = os.getpid()
        return True

    def release(self) -> None:
        """Releases the lock. Raises LockLostError if its lease was lost while held (also when its
        client was closed)."""
        self._check_not_inherited()
        try:
            self._handle().release()
        finally:
            if self._lock is not None and not self._lock.held:
                self._held_by = None

    def on_lost(self, callback: Callable[[], object]) -> None:
        """Calls `callback()` (on a thread of its own) as soon as a held lock's lease is
        lost."""
        check_callback(callback, f"the on_lost callback of lock '{self._name}'")
        if self._client.closed:
            raise closed_error(self._client.url)
        # The native lock is made first: making it registers every callback already listed.
        native = self._handle()
        self._callbacks.append(callback)
        native.on_lost(callback)

    def wait_lost(self, timeout: float | None = None) -> bool:
        """Blocks until the held lock is lost (at once if it already is): True, or False if
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
        return native.wait_lost(wait)

    def queue(self) -> list[LockWaiter]:
        """The holder and waiters of this lock, holder first."""
        return self._client.lock_queue(self._name)

    def _check_not_inherited(self) -> None:
        if self._held_by is not None and self._held_by != os.getpid():
            raise InterlockError(
                f"lock '{self._name}' is held by process {self._held_by}; this copy of the "
                f"lock object was made by fork, and process {os.getpid()} does not hold it"
            )

    def __enter__(self) -> Lock:
        """Acquires, waiting up to the lock's timeout; LockTimeoutError when it passes."""
        self._check_not_inherited()
        try:
            self._handle().acquire(self._timeout)
        except LockTimeoutError:
            raise
        except InterlockError as e:
            self._raise_closed_instead(e)
            raise
        self._held_by = os.getpid()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.release()
        except (LockLostError, InterlockError):
            if exc_type is None:
                raise


class Session:
    """A unit of work: load documents (tracked), change them in place or store new ones, then
    :meth:`save_changes` writes every change in one transaction, checked at the loaded indexes
    (ConcurrencyError if someone else wrote in between)."""

    def __init__(self, native: _native.Session, client: Client) -> None:
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

    def load(self, key: str) -> Any:
        """The value at `key` (None if absent), tracked: changes made to it in place are saved
        by save_changes. Loading a key again returns the same object."""
        if key in self._tracked:
            return self._tracked[key]
        value = self._handle().load(key)
        self._tracked[key] = value
        return value

    def load_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """Loads several keys in one snapshot; absent keys map to None."""
        keys = list(keys)
        missing = [k for k in keys if k not in self._tracked]
        if missing:
            for k, v in zip(missing, self._handle().load_many(missing)):
                self._tracked[k] = v
        return {k: self._tracked[k] for k in keys}

    def store(self, key: str, value: Any) -> None:
        """Stores a new or replacing value (tracked from now on). A key that was never loaded
        must be absent at save time, unless optimistic concurrency is off."""
        self._handle().store(key, value)
        self._tracked[key] = value

    def delete(self, key: str) -> None:
        """Deletes `key` at save time (checked at its loaded index if it was loaded)."""
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

    def save_changes(self) -> int | None:
        """Writes every change in one transaction; returns the new index (None if nothing
        changed). On ConcurrencyError nothing is written."""
        return self._sync().save_changes()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        pass
