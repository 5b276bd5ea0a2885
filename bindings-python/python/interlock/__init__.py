"""interlock: compare-exchange values, leases, fair locks with fencing tokens, JSON documents
with optimistic concurrency and atomic transactions, on an embedded SQLite store (shared by
every process on the host) or an in-process one.

>>> import interlock
>>> with interlock.lock("printer/first-floor", ttl=20) as held:   # doctest: +SKIP
...     print_job(fence=held.fencing_token)

The asyncio API is :mod:`interlock.aio`.
"""

from __future__ import annotations

import atexit
import os
import threading
from importlib.metadata import version as _distribution_version
from typing import Any, Callable

from . import _native, errors
from ._client import Client, Lease, Lock, Session, Txn, Watch
from ._common import DEFAULT_TTL, resolve_url
from ._native import Entry, Event, LockWaiter, Page, PutResult
from .errors import (
    ConcurrencyError,
    Conflict,
    InterlockError,
    InternalError,
    InvalidArgumentError,
    LeaseExpiredError,
    LockLostError,
    LockTimeoutError,
    UnauthorizedError,
    UnavailableError,
)

#: The installed distribution's version (``pip install interlock-db``), from its metadata.
__version__: str = _distribution_version("interlock-db")

__all__ = [
    "DEFAULT_TTL",
    "Client",
    "ConcurrencyError",
    "Conflict",
    "Entry",
    "Event",
    "InterlockError",
    "InternalError",
    "InvalidArgumentError",
    "Lease",
    "LeaseExpiredError",
    "Lock",
    "LockLostError",
    "LockTimeoutError",
    "LockWaiter",
    "Page",
    "PutResult",
    "Session",
    "Txn",
    "UnauthorizedError",
    "UnavailableError",
    "Watch",
    "connect",
    "default_client",
    "default_url",
    "errors",
    "lock",
]


def connect(url: str | None = None, *, token: str | None = None, **options: Any) -> Client:
    """Connects to a store: ``mem://``, ``sqlite:///path/app.db`` (``sync="normal"`` trades
    durability on power loss for speed), ``etcd://host:2379``, ``http://host:port`` (an
    ``interlock serve``); without a URL, ``INTERLOCK_URL`` or the default SQLite file in the
    user's data directory. `token` is the bearer token of an interlock server (without it,
    ``INTERLOCK_TOKEN``); it is sent in a header, never in the URL. Other keyword options
    become URL query parameters."""
    resolved = resolve_url(url, token, options)
    return Client(resolved, _native.connect(resolved, token), token=token)


# At interpreter exit (normal end, sys.exit, an unhandled exception, Ctrl-C) every client still
# open is closed, so the locks this process holds free at once instead of after their TTL, and
# interlock's threads stop calling into the interpreter before it finalizes. Hooks registered
# after this import run first and may still use interlock.
atexit.register(_native.exit_hook)

_default: Client | None = None
_default_pid = 0
_default_guard = threading.Lock()


def _after_fork_in_child() -> None:
    global _default_guard
    # Another thread may have held the guard at the fork; it does not exist in the child.
    _default_guard = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def default_url() -> str:
    """The URL :func:`connect` opens when given none: ``INTERLOCK_URL``, else the default SQLite
    file in the user's data directory."""
    return resolve_url(None, None, {})


def default_client() -> Client:
    """The process's client of the default store, connected on first use."""
    global _default, _default_pid
    with _default_guard:
        if _default is None or _default_pid != os.getpid():
            _default = connect()
            _default_pid = os.getpid()
        return _default


def lock(
    name: str,
    ttl: float | None = DEFAULT_TTL,
    timeout: float | None = None,
    *,
    owner: str | None = None,
    on_lost: Callable[[], object] | None = None,
) -> Lock:
    """A fair lock on the default store: ``with interlock.lock("printer/first-floor") as held:``
    waits up to `timeout` seconds (LockTimeoutError after), and a crashed holder frees it after
    `ttl` seconds."""
    return default_client().lock(name, ttl, timeout, owner=owner, on_lost=on_lost)
