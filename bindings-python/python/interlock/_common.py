"""What the sync and asyncio clients share: URL resolution and process ownership of the native
client, which makes clients safe to use after ``os.fork()``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from . import _native
from .errors import InterlockError

if TYPE_CHECKING:
    from ._native import Lease as NativeLease

DEFAULT_TTL = 20.0
"""Seconds a crashed lock holder keeps others waiting, unless a lock says otherwise."""


def resolve_url(url: str | None, options: dict[str, object]) -> str:
    """The URL to open: `url`, else ``INTERLOCK_URL``, else the default SQLite file; keyword
    options become query parameters (``sync="normal"`` → ``?sync=normal``)."""
    resolved = url or os.environ.get("INTERLOCK_URL") or _native.default_url()
    if options:
        extra = "&".join(f"{k}={_option(v)}" for k, v in sorted(options.items()))
        resolved += ("&" if "?" in resolved else "?") + extra
    return resolved


def _option(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check_unsigned(value: object, what: str) -> None:
    """Refuses an index or a limit the store cannot hold (negative, or 2**64 and above) with
    InvalidArgument naming `what`, instead of the native layer's OverflowError. Other types are
    left to the native layer (TypeError)."""
    if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value < 1 << 64:
        from .errors import InvalidArgument

        raise InvalidArgument(f"{what} must be an integer from 0 to 2**64 - 1, not {value}")


def forked_mem_error(url: str) -> InterlockError:
    return InterlockError(
        f"the store {url} lives inside the process that created it; a forked child cannot use "
        "it (use a sqlite:// store to share data between processes)"
    )


def stale(what: str, pid: int) -> InterlockError:
    return InterlockError(
        f"this {what} belongs to process {pid}; it was copied into process {os.getpid()} by "
        "fork and cannot be used here (make a new one from the client)"
    )


def native_lease(lease: object) -> NativeLease | None:
    """The native lease behind a lease object of either client, or None."""
    if lease is None:
        return None
    get = getattr(lease, "_native_lease", None)
    if get is None:
        from .errors import InvalidArgument

        raise InvalidArgument(f"lease must be a Lease or None, not {type(lease).__name__}")
    native: NativeLease = get()
    return native


def lease_id(lease: object) -> int | None:
    """A lease argument (a lease object, a lease id or None) as the id to send."""
    if isinstance(lease, int) and not isinstance(lease, bool):
        return lease
    native = native_lease(lease)
    return None if native is None else native.id
