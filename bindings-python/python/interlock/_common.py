"""What the sync and asyncio clients share: URL resolution and process ownership of the native
client, which makes clients safe to use after ``os.fork()``."""

from __future__ import annotations

import inspect
import math
import numbers
import os
import urllib.parse
from typing import TYPE_CHECKING

from . import _native
from .errors import InterlockError

if TYPE_CHECKING:
    from ._native import Lease as NativeLease

DEFAULT_TTL = 20.0
"""Seconds a crashed lock holder keeps others waiting, unless a lock says otherwise."""


def resolve_url(url: object, token: object, options: dict[str, object]) -> str:
    """The URL to open: `url`, else ``INTERLOCK_URL``, else the default SQLite file; keyword
    options become query parameters (``sync="normal"`` → ``?sync=normal``), URL-encoded, after
    checking each is an option of the store (InvalidArgumentError listing the known ones
    otherwise). `url` and `token` must be str or None."""
    from .errors import InvalidArgumentError

    if url is not None and not isinstance(url, str):
        raise InvalidArgumentError(f"the store URL must be a str or None, not {_described(url)}")
    if url is not None and not url.strip():
        raise InvalidArgumentError(
            f"the store URL must not be empty, not {url!r} (give None for INTERLOCK_URL or the "
            "default store)"
        )
    if token is not None and not isinstance(token, str):
        raise InvalidArgumentError(f"token must be a str or None, not {_described(token)}")
    resolved = url or os.environ.get("INTERLOCK_URL") or _native.default_url()
    options = {k: v for k, v in options.items() if v is not None}  # None: not given
    if options:
        scheme = resolved.split("://", 1)[0] if "://" in resolved else ""
        known = _native.url_options(scheme)
        for name in sorted(options):
            if known is not None and name not in known:
                raise InvalidArgumentError(
                    f"unknown option '{name}' of connect for a {scheme}:// store (known: "
                    f"{', '.join(['token', *known])})"
                )
        extra = urllib.parse.urlencode({k: _option(v) for k, v in sorted(options.items())})
        resolved += ("&" if "?" in resolved else "?") + extra
    return resolved


def _option(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check_unsigned(value: object, what: str, *, optional: bool = False, low: int = 0) -> None:
    """An index or a limit: InvalidArgumentError naming `what` unless it is an integer the store
    can hold (`low`, 0 by default, to 2**64 - 1; a bool, which Python would otherwise read as 0
    or 1, is refused), or None where `optional`."""
    from .errors import InvalidArgumentError

    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(
            f"{what} must be an integer from {low} to 2**64 - 1, not {_described(value)}"
        )
    if not low <= value < 1 << 64:
        raise InvalidArgumentError(
            f"{what} must be an integer from {low} to 2**64 - 1, not {value}"
        )


def _described(value: object) -> str:
    """A value for a message: its type and its repr (``bool True``, ``str 'x'``)."""
    return f"{type(value).__name__} {value!r}"


def check_attempts(attempts: object) -> int:
    """`retry`'s attempts, by the core's rule: an integer from 1 (InvalidArgumentError naming
    it otherwise)."""
    from .errors import InvalidArgumentError

    if isinstance(attempts, bool) or not isinstance(attempts, int):
        raise InvalidArgumentError(
            f"attempts of retry must be an integer from 1 to 1000000, not {attempts!r}"
        )
    return _native.check_retry_attempts(max(min(attempts, 1 << 62), -(1 << 62)))


def check_key(key: object, what: str) -> str:
    """A key (or prefix) argument: InvalidArgumentError naming `what` unless it is a str (the
    store then checks its shape)."""
    if not isinstance(key, str):
        from .errors import InvalidArgumentError

        raise InvalidArgumentError(f"{what} must be a str, not {_described(key)}")
    check_unicode(key, what)
    return key


def check_unicode(text: str, what: str) -> None:
    """InvalidArgumentError naming `what` if `text` holds a lone surrogate (U+D800 to U+DFFF,
    as ``os.fsdecode`` makes of undecodable bytes), which is not Unicode text and has no UTF-8
    form to store."""
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as bad:
        from .errors import InvalidArgumentError

        raise InvalidArgumentError(
            f"{what} {text!r} is not valid Unicode: it holds the lone surrogate "
            f"U+{ord(text[bad.start]):04X} at position {bad.start}"
        ) from None


def check_keys(keys: object, what: str) -> list[str]:
    """A list of keys from any iterable of str: InvalidArgumentError naming the first that is
    not one."""
    from .errors import InvalidArgumentError

    if isinstance(keys, (str, bytes)) or not hasattr(keys, "__iter__"):
        raise InvalidArgumentError(
            f"{what} must be an iterable of str (a str is one key, not a list of keys), not "
            f"{_described(keys)}"
        )
    out = list(keys)
    for i, key in enumerate(out):
        check_key(key, f"{what}[{i}]")
    return out


def check_index(value: object, what: str, rule: str = "") -> None:
    """A required index: InvalidArgumentError naming `what` for None, saying the `rule` of the
    index (by default, a put's: a compare-exchange, where set writes unconditionally), and for
    what check_unsigned refuses."""
    if value is None:
        from .errors import InvalidArgumentError

        rule = rule or (
            "0 creates only if absent, n replaces only at index n (set() writes unconditionally)"
        )
        raise InvalidArgumentError(f"{what} is required: {rule}")
    check_unsigned(value, what)


MAX_SECONDS: float = _native.MAX_SECONDS
"""The longest duration any argument takes, in seconds: the core's longest lease TTL (9e9 s,
about 285 years), the same bound in every package; a timeout of None waits without a limit."""


def check_seconds(value: object, what: str, unlimited: str = "") -> float:
    """A duration in seconds from the caller (an int or a float), as a float: InvalidArgumentError
    naming `what` for a bool, a non-number, NaN, an infinity, a negative number or one longer
    than MAX_SECONDS (`unlimited` says how to ask for no limit, if there is a way)."""
    from .errors import InvalidArgumentError

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidArgumentError(f"{what} must be a number of seconds, not {value!r}")
    try:
        seconds = float(value)
    except OverflowError:  # an int beyond the floats
        seconds = -math.inf if str(value).startswith("-") else math.inf
    if math.isnan(seconds) or seconds < 0 or (math.isinf(seconds) and value == seconds):
        raise InvalidArgumentError(
            f"{what} must be a finite, non-negative number of seconds, not {value}"
        )
    if seconds > MAX_SECONDS:
        raise InvalidArgumentError(
            f"{what} of {value} seconds is too long (at most {MAX_SECONDS:.0f} s, about 285 "
            f"years{unlimited})"
        )
    return seconds


def check_ttl(value: object) -> float:
    """A TTL in seconds, checked as the stores check it (InvalidArgumentError naming it
    otherwise)."""
    ttl = check_seconds(value, "ttl")
    _native.check_ttl(ttl)
    return ttl


def check_timeout(value: object) -> float | None:
    """A wait's timeout: None (no limit) or a duration in seconds up to MAX_SECONDS."""
    if value is None:
        return None
    return check_seconds(value, "timeout", "; None waits without a limit")


def check_blocking(blocking: object, timeout: object) -> None:
    """The `blocking` flag of acquire, as threading.Lock takes it; a non-bool (an old-style
    positional timeout) is refused rather than read as a flag."""
    from .errors import InvalidArgumentError

    if not isinstance(blocking, bool):
        raise InvalidArgumentError(
            f"blocking must be True or False, not {blocking!r} (pass a timeout as timeout=...)"
        )
    if not blocking and timeout is not None:
        raise InvalidArgumentError("a non-blocking acquire takes no timeout")


def check_lock_arguments(name: object, owner: object, on_lost: object) -> None:
    """The arguments of ``client.lock`` the native layer would only refuse at the first acquire
    (or, for on_lost, call and fail on a thread of its own): InvalidArgumentError naming each."""
    from .errors import InvalidArgumentError

    if isinstance(name, str):
        check_unicode(name, "the lock name")
    if not isinstance(name, str):
        raise InvalidArgumentError(
            f"the lock name must be a str, not {type(name).__name__} {name!r}"
        )
    if owner is not None and not isinstance(owner, str):
        raise InvalidArgumentError(
            f"owner of lock '{name}' must be a str or None, not {type(owner).__name__} {owner!r}"
        )
    if on_lost is not None:
        check_callback(on_lost, f"on_lost of lock '{name}'")


def check_callback(callback: object, what: str, *, on_a_thread: bool = True) -> None:
    """A callback argument: InvalidArgumentError naming `what` unless it is callable, and a plain
    one if it is called `on_a_thread` of its own, where a coroutine function would only make a
    coroutine nobody awaits."""
    from .errors import InvalidArgumentError

    if not callable(callback):
        raise InvalidArgumentError(
            f"{what} must be callable, not {type(callback).__name__} {callback!r}"
        )
    if on_a_thread and inspect.iscoroutinefunction(callback):
        raise InvalidArgumentError(
            f"{what} must be a plain function, not the coroutine function {callback!r}: it is "
            "called on a thread of its own (to reach an event loop from it, use "
            "loop.call_soon_threadsafe)"
        )


def closed_error(url: str) -> InterlockError:
    from .errors import InvalidArgumentError

    return InvalidArgumentError(f"the client of {url} is closed")


def note_close_failure(exc: object, failed: InterlockError) -> None:
    """Raises `failed`, the failure to close a client on leaving a ``with`` body, unless the
    body raised `exc`: then records the failure on `exc` (as a note, on Python 3.11 and later)
    instead of replacing it, since the body's exception is the one that matters."""
    if not isinstance(exc, BaseException):
        raise failed
    add_note = getattr(exc, "add_note", None)
    if add_note is not None:
        add_note(f"then closing the client failed: {failed}")


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


def native_lease(
    lease: object, client: object, accepted: str = "a Lease or None"
) -> NativeLease | None:
    """The native lease behind a lease object that `client` (a ``ClientCore``) made, or None
    (InvalidArgumentError saying what is `accepted` for anything else). A lease object of another
    client is refused: its id could name an unrelated lease of this client's store."""
    if lease is None:
        return None
    core = getattr(lease, "_core", None)
    get = getattr(core, "native_lease", None)
    if get is None:
        from .errors import InvalidArgumentError

        raise InvalidArgumentError(f"lease must be {accepted}, not {_described(lease)}")
    native: NativeLease = get()
    owner = getattr(core, "client", None)
    if owner is not client:
        from .errors import InvalidArgumentError

        raise InvalidArgumentError(
            f"lease {native.id} belongs to another client ({getattr(owner, 'url', '?')}): a "
            "Lease object is used only with the client that made it (on the same store, pass "
            "its id instead)"
        )
    return native


def lease_id(lease: object, client: object) -> int | None:
    """A lease argument (a lease object, a lease id or None) as the id to send. A lease id out
    of the range of the stores' ids (positive 64-bit signed integers) is refused with
    InvalidArgumentError naming it, instead of the native layer's OverflowError or a
    LeaseExpiredError."""
    if isinstance(lease, int) and not isinstance(lease, bool):
        if not 0 < lease < 1 << 63:
            from .errors import InvalidArgumentError

            raise InvalidArgumentError(
                f"lease id {lease} is out of range: a lease id is an integer from 1 to 2**63 - 1"
            )
        return lease
    native = native_lease(lease, client, "a Lease, a lease id or None")
    return None if native is None else native.id
