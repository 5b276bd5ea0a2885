"""The exceptions interlock raises. Every one derives from :class:`InterlockError`."""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "ConcurrencyError",
    "Conflict",
    "InterlockError",
    "InternalError",
    "InvalidArgumentError",
    "LeaseExpiredError",
    "LockLostError",
    "LockTimeoutError",
    "UnauthorizedError",
    "UnavailableError",
]


class Conflict(NamedTuple):
    """One failed check: the key, the index the caller expected and the index the store holds
    (0 means absent on either side)."""

    key: str
    expected: int
    actual: int


class InterlockError(Exception):
    """The base of every interlock error.

    Attributes:
        kind: the error kind as a string, the same in every binding ("InvalidArgument",
            "Conflict", "LockTimeout", "LockLost", "LeaseExpired", "Unavailable",
            "Unauthorized", "Internal").
        retryable: whether the same call may succeed if repeated (a store briefly unavailable).
        conflicts: for a conflict, every failed check as a :class:`Conflict`.
    """

    kind: str = "Internal"
    retryable: bool = False
    conflicts: list[Conflict]

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.conflicts = []


class InvalidArgumentError(InterlockError, ValueError):
    """Bad input: a key or value the store does not accept, an unknown option, too many
    transaction ops. Nothing was written."""

    kind = "InvalidArgument"


class ConcurrencyError(InterlockError):
    """A compare failed: someone else wrote first. ``.conflicts`` lists every key with the
    expected and the actual index; nothing was written."""

    kind = "Conflict"


class LockTimeoutError(InterlockError, TimeoutError):
    """A lock was not acquired within its timeout; the waiter entry was removed."""

    kind = "LockTimeout"


class LockLostError(InterlockError):
    """A held lock's lease was lost (expired or revoked): another holder may have had it."""

    kind = "LockLost"


class LeaseExpiredError(InterlockError):
    """The lease is unknown to the store or has expired."""

    kind = "LeaseExpired"


class UnavailableError(InterlockError, ConnectionError):
    """The store cannot be reached or is busy; retrying may succeed."""

    kind = "Unavailable"
    retryable = True


class UnauthorizedError(InterlockError, PermissionError):
    """The store refused the credentials."""

    kind = "Unauthorized"


class InternalError(InterlockError):
    """A bug or an unexpected store state."""
