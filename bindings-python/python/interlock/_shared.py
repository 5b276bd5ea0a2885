"""The public members the blocking and asyncio classes share, declared once.

A member is here when it is the same in both flavours: a property, or a call that does not wait
(building a transaction, staging a session change, making a lock). The blocking classes
(:mod:`interlock`) and the asyncio classes (:mod:`interlock.aio`) subclass these bases and add
what waits, in their own way. The bases are generic in the types that differ between the
flavours (``Lock`` or ``AsyncLock``, …), so each subclass's members carry its own types; the API
reference (scripts/docs.sh) documents these members as the subclasses' own, with those types.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Callable, Generic, TypeVar

from . import _core, _native
from ._common import DEFAULT_TTL

if sys.version_info >= (3, 11):
    from typing import Self
elif TYPE_CHECKING:
    from typing_extensions import Self
else:  # what typing.get_type_hints finds on Python 3.9 and 3.10, which have no typing.Self
    Self = Any


def public_name(obj: object) -> str:
    """The name of `obj`'s class as users import it: ``interlock.Lock``,
    ``interlock.aio.AsyncLock``."""
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


LockT = TypeVar("LockT")
TxnT = TypeVar("TxnT")
SessionT = TypeVar("SessionT")


class ClientBase(Generic[LockT, TxnT, SessionT]):
    # The classes of the flavour, set by the subclass.
    _lock_class: Callable[..., LockT]
    _txn_class: Callable[[Any], TxnT]
    _session_class: Callable[[_native.Session, Any], SessionT]

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
        return f"{public_name(self)}({self._core.url!r})"

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._core.closed

    def txn(self) -> TxnT:
        """A transaction: checks and ops that commit at one new index, or not at all. Its
        steps are checked at their call; ``commit()`` sends them in one request."""
        return self._txn_class(self)

    def lock(
        self,
        name: str,
        ttl: float | None = DEFAULT_TTL,
        timeout: float | None = None,
        *,
        owner: str | None = None,
        lease: object = None,
        on_lost: Callable[[], object] | None = None,
    ) -> LockT:
        """A fair lock (not yet acquired) whose lease lives `ttl` seconds past its holder's
        last renewal. ``with client.lock(name) as held:`` (``async with`` under asyncio)
        acquires it, waiting up to `timeout` seconds (None: without a limit; LockTimeoutError
        after), and releases it on exit. `owner` is a label shown in the lock's queue; `lease`
        (a Lease of this client) keeps the lock on that lease instead of the client's shared
        one; `on_lost` is called (on a thread of its own) if the held lock's lease is lost. A
        bad ttl, timeout or lease raises InvalidArgumentError here."""
        return self._lock_class(self, name, ttl, timeout, owner, lease, on_lost)

    def session(self, *, optimistic: bool = True) -> SessionT:
        """A unit of work over documents. Optimistic concurrency is on by default."""
        return self._session_class(self._core.session(optimistic), self)


class TxnBase(Generic[LockT]):
    def __init__(self, client: ClientBase[Any, Any, Any]) -> None:
        self._core = _core.TxnCore(client._core)

    def check(self, key: str, index: int) -> Self:
        """Requires `key` to be at `index` (0: absent)."""
        self._core.check(key, index)
        return self

    def put(self, key: str, value: Any, index: int, *, lease: object = None) -> Self:
        """Writes `key` only if it is at `index` (0: only if absent); :meth:`set` writes
        unconditionally."""
        self._core.put(key, value, index, lease)
        return self

    def set(self, key: str, value: Any, *, lease: object = None) -> Self:
        """Writes `key` unconditionally."""
        self._core.set(key, value, lease)
        return self

    def delete(self, key: str, index: int | None = None) -> Self:
        """Deletes `key`; with `index`, only if it is at that index."""
        self._core.delete(key, index)
        return self

    def require(self, lock: LockT) -> Self:
        """Commits only while `lock` is still held (else LockLostError, nothing written)."""
        self._core.require(lock)
        return self

    def __len__(self) -> int:
        return len(self._core)


class WatchBase:
    def __init__(self, native: Any, client: ClientBase[Any, Any, Any]) -> None:
        # native: the native watch, or (asyncio) the future of its start
        self._core = _core.WatchCore(native, client._core)

    def close(self) -> None:
        """Stops watching: a pending or later next returns None, and iteration stops."""
        self._core.close()


class LeaseBase:
    def __init__(self, native: _native.Lease, client: ClientBase[Any, Any, Any]) -> None:
        self._core = _core.LeaseCore(native, client._core)

    def __repr__(self) -> str:
        return f"{public_name(self)}(id={self._core.native.id}, ttl={self._core.native.ttl})"

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


class LockBase:
    def __init__(
        self,
        client: ClientBase[Any, Any, Any],
        name: str,
        ttl: object,
        timeout: object,
        owner: str | None,
        lease: object,
        on_lost: Callable[[], object] | None,
    ) -> None:
        self._core = _core.LockCore(client._core, name, ttl, timeout, owner, lease, on_lost)

    def __repr__(self) -> str:
        return self._core.repr(public_name(self))

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

    def on_lost(self, callback: Callable[[], object]) -> None:
        """Calls `callback()` (on a thread of its own) as soon as a held lock's lease is
        lost."""
        self._core.on_lost(callback)


class SessionBase:
    def __init__(self, native: _native.Session, client: ClientBase[Any, Any, Any]) -> None:
        self._core = _core.SessionCore(native, client._core)

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
