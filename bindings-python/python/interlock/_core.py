"""One implementation per concept, for both flavours of the API.

Each class here holds the state of one concept (a client, lock, lease, session, transaction or
watch): its argument checks, its closed-client and forked-process handling, and its operations.
An operation that waits is a generator that yields the steps it needs run (a call on a native
object, a user callback, a pause) and returns the result. The blocking API (:mod:`interlock`)
drives it with :func:`run`, calling the blocking native methods; the asyncio API
(:mod:`interlock.aio`) drives the same generator with :func:`run_async`, awaiting the ``*_async``
native methods. The public classes of both flavours are thin wrappers over these.
"""

# The result of a step is what the native method it names returns, chosen by name at run time:
# each operation states its type in its annotation.
# mypy: disable-error-code="no-any-return"

from __future__ import annotations

import builtins
import os
import time
from collections.abc import Generator, Iterable
from typing import TYPE_CHECKING, Any, Callable, TypeVar, Union

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
    stale,
)
from .errors import (
    ConcurrencyError,
    InterlockError,
    InvalidArgumentError,
    LockTimeoutError,
)

if TYPE_CHECKING:
    import asyncio

T = TypeVar("T")


# The steps an operation yields, and the two drivers.


class Call:
    """Calls method `name` of the native object `target()` returns: ``name`` when blocking,
    ``name_async`` (awaited) under asyncio, after the watches of `ready` (the client) that are
    still starting have started."""

    __slots__ = ("args", "name", "ready", "target")

    def __init__(
        self, target: Callable[[], Any], name: str, *args: Any, ready: ClientCore | None = None
    ) -> None:
        self.target = target
        self.name = name
        self.args = args
        self.ready = ready

    def run(self) -> Any:
        return getattr(self.target(), self.name)(*self.args)

    async def run_async(self) -> Any:
        if self.ready is not None:
            await self.ready.started()
        native = self.target()
        if _is_future(native):  # a watch still starting
            native = await native
        return await getattr(native, self.name + "_async")(*self.args)


class Invoke:
    """Calls a user's function: its result when blocking, its result awaited under asyncio."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn

    def run(self) -> Any:
        return self.fn()

    async def run_async(self) -> Any:
        return await self.fn()


class Pause:
    """Sleeps: ``time.sleep`` when blocking, ``asyncio.sleep`` under asyncio."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def run(self) -> None:
        time.sleep(self.seconds)

    async def run_async(self) -> None:
        import asyncio

        await asyncio.sleep(self.seconds)


Step = Union[Call, Invoke, Pause]
Op = Generator[Step, Any, T]


def run(op: Op[T]) -> T:
    """Runs an operation to its end, blocking."""
    try:
        step = op.send(None)
        while True:
            try:
                result = step.run()
            except BaseException as error:
                step = op.throw(error)
            else:
                step = op.send(result)
    except StopIteration as done:
        value: T = done.value
        return value


async def run_async(op: Op[T]) -> T:
    """Runs an operation to its end under asyncio: each step's result (or exception) is sent
    (or thrown) into the operation, which then yields its next step or returns."""
    result: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = op.send(result) if error is None else op.throw(error)
        except StopIteration as done:
            value: T = done.value
            return value
        try:
            result, error = await step.run_async(), None
        except BaseException as failed:
            result, error = None, failed


def _is_future(value: object) -> bool:
    import asyncio

    return isinstance(value, asyncio.Future)


def _fixed(native: Any) -> Callable[[], Any]:
    return lambda: native


# The concepts.


class ClientCore:
    """A client: its URL, its native client, and the process that owns it. In a forked child
    it reconnects to the same store on first use (a ``mem://`` store cannot be reached from a
    child: it refuses)."""

    def __init__(self, url: str, native: _native.Client, token: str | None) -> None:
        self.url = url
        # Kept for reconnecting after a fork; never part of the URL or the repr.
        self._token = token
        self._pid = os.getpid()
        self._native: _native.Client | None = native
        self.closed = False
        # Watches (asyncio) made by this client that are still starting: an operation awaited
        # after a watch was made waits for them, so the watch sees what that operation writes.
        self.starting: builtins.list[asyncio.Future[Any]] = []

    def handle(self) -> _native.Client:
        if self.closed or self._native is None:
            raise closed_error(self.url)
        if self._pid != os.getpid():
            if self.url.startswith("mem:"):
                raise forked_mem_error(self.url)
            self._native = _native.connect(self.url, self._token)
            self._pid = os.getpid()
        return self._native

    async def started(self) -> None:
        """Waits until every watch made before this call has started."""
        import asyncio

        pending = [f for f in self.starting if not f.done()]
        self.starting = pending
        if pending:
            await asyncio.wait(pending)

    def check_open(self) -> None:
        if self.closed:
            raise closed_error(self.url)

    def closing(self) -> _native.Client | None:
        """Marks the client closed; the native client to close, if this process owns one that
        is still open."""
        if self.closed:
            return None
        self.closed = True
        native, self._native = self._native, None
        return native if native is not None and self._pid == os.getpid() else None

    def _call(self, name: str, *args: Any) -> Call:
        return Call(self.handle, name, *args, ready=self)

    def get(self, key: object) -> Op[_native.Entry | None]:
        check_key(key, "the key of get")
        return (yield self._call("get", key))

    def get_many(self, keys: Iterable[str]) -> Op[builtins.list[_native.Entry]]:
        return (yield self._call("get_many", check_keys(keys, "the keys of get_many")))

    def list(
        self, prefix: object, after: object, limit: object, what: str = "the list limit"
    ) -> Op[_native.Page]:
        check_key(prefix, "the prefix of list")
        if after is not None:
            check_key(after, "the after of list")
        check_unsigned(limit, what, optional=True, low=1)
        return (yield self._call("list", prefix, after, limit))

    def index(self) -> Op[int]:
        return (yield self._call("index"))

    def put(self, key: object, value: Any, index: object, lease: object) -> Op[_native.PutResult]:
        check_key(key, "the key of put")
        check_index(index, f"the index of put '{key}'")
        return (yield self._call("put", key, value, index, lease_id(lease, self)))

    def set(self, key: object, value: Any, lease: object) -> Op[int]:
        check_key(key, "the key of set")
        result: _native.PutResult = yield self._call("put", key, value, None, lease_id(lease, self))
        return result.index

    def delete(self, key: object, index: object) -> Op[_native.PutResult]:
        check_key(key, "the key of delete")
        check_unsigned(index, f"the index for '{key}'", optional=True)
        return (yield self._call("delete", key, index))

    def watch_arguments(self, prefix: object, from_index: object) -> tuple[Any, Any]:
        check_key(prefix, "the prefix of watch")
        check_unsigned(from_index, "the watch's from_index", optional=True)
        return prefix, from_index

    def watch(self, prefix: object, from_index: object) -> Op[_native.Watch]:
        return (yield self._call("watch", *self.watch_arguments(prefix, from_index)))

    def grant(self, ttl: object) -> Op[int]:
        return (yield self._call("grant", check_ttl(ttl)))

    def keepalive(self, lease: object) -> Op[float]:
        return (yield self._call("keepalive", self.required_lease(lease)))

    def revoke(self, lease: object) -> Op[bool]:
        return (yield self._call("revoke", self.required_lease(lease)))

    def time_to_live(self, lease: object) -> Op[float | None]:
        return (yield self._call("time_to_live", self.required_lease(lease)))

    def lease(self, ttl: object) -> Op[_native.Lease]:
        return (yield self._call("lease", check_ttl(ttl)))

    def lock_queue(self, name: object) -> Op[builtins.list[_native.LockWaiter]]:
        check_key(name, "the lock name of lock_queue")
        return (yield self._call("lock_queue", name))

    def session(self, optimistic: object) -> _native.Session:
        if not isinstance(optimistic, bool):
            raise InvalidArgumentError(
                f"optimistic of session must be True or False, not {optimistic!r}"
            )
        return self.handle().session(optimistic)

    def required_lease(self, lease: object) -> int:
        lid = lease_id(lease, self)
        if lid is None:
            raise InvalidArgumentError("a lease is required")
        return lid

    def retry(self, fn: Callable[[], Any], attempts: object) -> Op[Any]:
        """Runs `fn` until it does not raise ConcurrencyError, backing off with jitter between
        attempts (the core's schedule)."""
        tries = check_attempts(attempts)
        check_callback(fn, "the function of retry", on_a_thread=False)
        for attempt in range(tries):
            try:
                return (yield Invoke(fn))
            except ConcurrencyError:
                if attempt + 1 >= tries:
                    raise
            yield Pause(_native.retry_delay(attempt))
        raise AssertionError("unreachable")


def resume_after(page: _native.Page) -> str | None:
    """Where a scan goes on after `page`: its last key, or None when it was the last page."""
    if not page.more or not page.entries:
        return None
    return page.entries[-1].key


class Owned:
    """An object made from a client by one process: unusable once the client is closed, and in
    a process forked from the one that made it."""

    what = "object"

    def __init__(self, client: ClientCore) -> None:
        self.client = client
        self._pid = os.getpid()

    def check_process(self) -> None:
        if self._pid != os.getpid():
            raise stale(self.what, self._pid)

    def check_open(self) -> None:
        if self.client.closed:
            raise closed_error(self.client.url)
        self.check_process()


class LeaseCore(Owned):
    """A lease renewed in the background."""

    what = "lease"

    def __init__(self, native: _native.Lease, client: ClientCore) -> None:
        super().__init__(client)
        self.native = native

    def native_lease(self) -> _native.Lease:
        self.check_process()
        return self.native

    def open(self) -> _native.Lease:
        self.check_open()
        return self.native

    @property
    def lost(self) -> bool:
        return self.native_lease().lost

    def on_lost(self, callback: Callable[[], object]) -> None:
        check_callback(callback, "the on_lost callback of a lease")
        self.open().on_lost(callback)

    def wait_lost(self, timeout: object) -> Op[bool]:
        return (yield Call(self.open, "wait_lost", check_timeout(timeout)))

    def revoke(self) -> Op[bool]:
        return (yield Call(self.open, "revoke"))

    def exit(self) -> Op[None]:
        if not self.client.closed:  # closing the client revoked it
            yield from self.revoke()


class WatchCore(Owned):
    """A watch, started (or, under asyncio, starting: a future of the native watch). Closing it,
    or its client, ends it: a pending or later ``next`` returns None and iteration stops."""

    what = "watch"

    def __init__(self, native: _native.Watch | asyncio.Future[_native.Watch], client: ClientCore):
        super().__init__(client)
        self._native = native
        self.closed = False

    def handle(self) -> Any:
        self.check_process()
        return self._native

    def next(self, timeout: object) -> Op[_native.Event | None]:
        timeout = check_timeout(timeout)
        if self.closed or self.client.closed:
            return None
        event = yield Call(self.handle, "next", timeout)
        return None if event is False else event

    def close(self) -> None:
        self.closed = True
        if self._pid != os.getpid():
            return  # the parent's watch, which this process cannot use
        native = self._native
        if not _is_future(native):
            native.close()  # type: ignore[union-attr]
            return
        start: asyncio.Future[_native.Watch] = native  # type: ignore[assignment]
        if start.done():
            _close_started(start)
            return
        # Still starting: closed once started, by the future's loop, from any thread (a call
        # from another thread must wake the loop); a loop already closed will never start it.
        try:
            start.get_loop().call_soon_threadsafe(start.add_done_callback, _close_started)
        except RuntimeError:
            pass


def _close_started(start: asyncio.Future[_native.Watch]) -> None:
    """Closes the native watch of a start that succeeded (the native close is thread-safe and
    ends a pending next on any loop)."""
    if not start.cancelled() and start.exception() is None:
        start.result().close()


class LockCore:
    """A fair, non-reentrant lock with fencing tokens. The native lock is made on first use
    (again in a forked child, which does not hold what its parent held)."""

    def __init__(
        self,
        client: ClientCore,
        name: object,
        ttl: object,
        timeout: object,
        owner: object,
        lease: object,
        on_lost: Callable[[], object] | None,
    ) -> None:
        client.check_open()
        # Bad options are refused now, not at the first acquire.
        check_lock_arguments(name, owner, on_lost)
        self.ttl = DEFAULT_TTL if ttl is None else check_ttl(ttl)
        self.timeout = check_timeout(timeout)
        native_lease(lease, client)
        self.client = client
        self.name: str = name  # type: ignore[assignment]
        self._owner: str | None = owner  # type: ignore[assignment]
        self._lease = lease
        self._callbacks: list[Callable[[], object]] = [on_lost] if on_lost else []
        self._lock: _native.Lock | None = None
        self._pid = os.getpid()
        self._held_by: int | None = None

    def handle(self) -> _native.Lock:
        if self._lock is None or self._pid != os.getpid():
            self._lock = self.client.handle().lock(
                self.name, self.ttl, self._owner, native_lease(self._lease, self.client)
            )
            for callback in self._callbacks:
                self._lock.on_lost(callback)
            self._pid = os.getpid()
        return self._lock

    def _mine(self) -> _native.Lock | None:
        """The native lock, if this process made it and holds the lock through it."""
        if self._lock is None or self._pid != os.getpid() or self._held_by != os.getpid():
            return None
        return self._lock

    def repr(self, cls: str) -> str:
        return f"{cls}({self.name!r}, fencing_token={self.fencing_token})"

    @property
    def fencing_token(self) -> int | None:
        native = self._mine()
        return None if native is None else native.fencing_token

    @property
    def held(self) -> bool:
        native = self._mine()
        return native is not None and native.held

    @property
    def lost(self) -> bool:
        native = self._mine()
        return native is not None and native.lost

    def _check_not_inherited(self) -> None:
        if self._held_by is not None and self._held_by != os.getpid():
            raise InterlockError(
                f"lock '{self.name}' is held by process {self._held_by}; this copy of the "
                f"lock object was made by fork, and process {os.getpid()} does not hold it"
            )

    def _take(self, method: str, *args: Any) -> Op[Any]:
        """Runs an acquire; the lock is held by this process if it returns a token. The error
        of a wait that its client's close() ended (the wait may see its waiter entry vanish
        before it sees the close) becomes InvalidArgumentError naming the closed client."""
        self._check_not_inherited()
        try:
            token = yield Call(self.handle, method, *args, ready=self.client)
        except LockTimeoutError:
            raise
        except InterlockError as e:
            if self.client.closed:
                raise closed_error(self.client.url) from e
            raise
        if token is not None:
            self._held_by = os.getpid()
        return token

    def acquire(self, blocking: object, timeout: object) -> Op[bool]:
        check_blocking(blocking, timeout)
        if not blocking:
            return (yield from self.try_acquire())
        wait = self.timeout if timeout is None else check_timeout(timeout)
        try:
            yield from self._take("acquire", wait)
        except LockTimeoutError:
            return False
        return True

    def try_acquire(self) -> Op[bool]:
        return (yield from self._take("try_acquire")) is not None

    def enter(self) -> Op[None]:
        """``with lock:``: acquires, waiting up to the lock's timeout (LockTimeoutError)."""
        yield from self._take("acquire", self.timeout)

    def release(self) -> Op[None]:
        self._check_not_inherited()
        try:
            yield Call(self.handle, "release")
        finally:
            if self._lock is not None and not self._lock.held:
                self._held_by = None

    def exit(self, exc_type: object) -> Op[None]:
        try:
            yield from self.release()
        except InterlockError:
            if exc_type is None:
                raise

    def on_lost(self, callback: Callable[[], object]) -> None:
        check_callback(callback, f"the on_lost callback of lock '{self.name}'")
        self.client.check_open()
        # The native lock is made first: making it registers every callback already listed.
        native = self.handle()
        self._callbacks.append(callback)
        native.on_lost(callback)

    def wait_lost(self, timeout: object) -> Op[bool]:
        wait = check_timeout(timeout)
        self.client.check_open()
        self._check_not_inherited()
        native = self._mine()
        if native is None or not native.held:
            raise InvalidArgumentError(f"lock '{self.name}' is not held by this lock object")
        return (yield Call(_fixed(native), "wait_lost", wait))

    def queue(self) -> Op[list[_native.LockWaiter]]:
        return (yield from self.client.lock_queue(self.name))


class TxnCore:
    """An atomic transaction. Each step is added to a native transaction at its call, which
    checks its arguments there (a bad step raises and is left out); the steps are also kept, to
    build the transaction again on the connection of a forked child."""

    def __init__(self, client: ClientCore) -> None:
        self.client = client
        self._connection = client.handle()
        self._native = self._connection.txn()
        self._steps: list[Callable[[_native.Txn], None]] = []
        self._committed = False

    def __len__(self) -> int:
        return len(self._steps)

    def _open(self) -> None:
        """Refuses a step or a commit after the commit: a second commit would write again (a
        retry after an unknown outcome must build a new transaction from fresh reads)."""
        if self._committed:
            raise InvalidArgumentError(
                "this transaction was committed already; make a new one with txn()"
            )

    def _add(self, step: Callable[[_native.Txn], None]) -> None:
        """Adds `step`, unless the client was closed or the native transaction refuses its
        arguments."""
        self._open()
        self.client.check_open()
        step(self._native)
        self._steps.append(step)

    def check(self, key: object, index: object) -> None:
        check_key(key, "the key of check")
        check_unsigned(index, f"the index of check '{key}'")
        self._add(lambda t: t.check(key, index))  # type: ignore[arg-type]

    def put(self, key: object, value: Any, index: object, lease: object) -> None:
        check_key(key, "the key of put")
        check_index(index, f"the index of put '{key}'")
        lid = lease_id(lease, self.client)
        self._add(lambda t: t.put(key, value, index, lid))  # type: ignore[arg-type]

    def set(self, key: object, value: Any, lease: object) -> None:
        check_key(key, "the key of set")
        lid = lease_id(lease, self.client)
        self._add(lambda t: t.put(key, value, None, lid))  # type: ignore[arg-type]

    def delete(self, key: object, index: object) -> None:
        check_key(key, "the key of delete")
        check_unsigned(index, f"the index of delete '{key}'", optional=True)
        self._add(lambda t: t.delete(key, index))  # type: ignore[arg-type]

    def require(self, lock: object) -> None:
        core = getattr(lock, "_core", None)
        if not isinstance(core, LockCore):
            raise InvalidArgumentError(
                "the lock of require must be a lock made by client.lock(), not "
                f"{type(lock).__name__} {lock!r}"
            )
        if core.client is not self.client:
            raise InvalidArgumentError(
                f"lock '{core.name}' belongs to another client ({core.client.url}): a "
                "transaction requires a lock of its own client"
            )
        self._add(lambda t: t.require(core.handle()))

    def _build(self) -> _native.Txn:
        connection = self.client.handle()
        if connection is self._connection:
            return self._native
        txn = connection.txn()  # in a forked child: the same steps on its own connection
        for step in self._steps:
            step(txn)
        return txn

    def commit(self) -> Op[int]:
        self._open()
        self._committed = True
        return (yield Call(self._build, "commit", ready=self.client))


class SessionCore(Owned):
    """A unit of work: the documents it loaded (tracked: changes made to them in place are
    saved) and the changes staged in the native session."""

    what = "session"

    def __init__(self, native: _native.Session, client: ClientCore) -> None:
        super().__init__(client)
        self._native = native
        self._tracked: dict[str, Any] = {}

    def handle(self) -> _native.Session:
        self.check_open()
        return self._native

    def load(self, key: object) -> Op[Any]:
        key = check_key(key, "the key of load")
        if key not in self._tracked:
            self._tracked[key] = yield Call(self.handle, "load", key, ready=self.client)
        return self._tracked[key]

    def load_many(self, keys: Iterable[str]) -> Op[dict[str, Any]]:
        wanted = check_keys(keys, "the keys of load_many")
        missing = [k for k in wanted if k not in self._tracked]
        if missing:
            values = yield Call(self.handle, "load_many", missing, ready=self.client)
            self._tracked.update(zip(missing, values))
        return {k: self._tracked[k] for k in wanted}

    def store(self, key: object, value: Any) -> None:
        key = check_key(key, "the key of store")
        self.handle().store(key, value)
        self._tracked[key] = value

    def delete(self, key: object) -> None:
        key = check_key(key, "the key of delete")
        self.handle().delete(key)
        self._tracked.pop(key, None)

    def loaded_index(self, key: object) -> int | None:
        check_key(key, "the key of loaded_index")
        return self.handle().loaded_index(key)  # type: ignore[arg-type]

    def put_compare_exchange(self, key: object, value: Any, index: object) -> None:
        check_key(key, "the key of put_compare_exchange")
        check_index(
            index,
            f"the index of put_compare_exchange '{key}'",
            "0 creates only if absent, n replaces only at index n (store() writes a document)",
        )
        self.handle().put_compare_exchange(key, value, index)  # type: ignore[arg-type]

    def delete_compare_exchange(self, key: object, index: object) -> None:
        check_key(key, "the key of delete_compare_exchange")
        check_index(
            index,
            f"the index of delete_compare_exchange '{key}'",
            "the entry is deleted only at index n (delete() deletes a document)",
        )
        self.handle().delete_compare_exchange(key, index)  # type: ignore[arg-type]

    def _sync(self) -> _native.Session:
        native = self.handle()
        for key, value in self._tracked.items():
            native.update(key, value)
        return native

    @property
    def has_changes(self) -> bool:
        return self._sync().has_changes()

    def save_changes(self) -> Op[int | None]:
        return (yield Call(self._sync, "save_changes", ready=self.client))
