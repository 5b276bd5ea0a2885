"""Locks (docs/design.md, Locks) through the sync client, on every backend: fairness, fencing
tokens, try-acquire, timeouts, context managers, non-reentrancy, the queue listing, lost leases,
``txn().require(lock)`` and the module-level ``interlock.lock`` on the default store."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Callable

import pytest
from waiting import DEADLINE, wait_until

import interlock
from interlock import Client, InterlockError, InvalidArgumentError, LockLostError, LockTimeoutError


def queue_length(db: Client, name: str, n: int) -> Callable[[], bool]:
    return lambda: len(db.lock_queue(name)) == n


class Waiter(threading.Thread):
    """A thread that acquires its own lock object, records what it got, then releases."""

    def __init__(self, lock: interlock.Lock, label: int, grants: list[tuple[int, int]]) -> None:
        super().__init__(daemon=True)
        self.lock = lock
        self.label = label
        self.grants = grants
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            assert self.lock.acquire(timeout=DEADLINE)
            token = self.lock.fencing_token
            assert token is not None
            self.grants.append((self.label, token))
            self.lock.release()
        except BaseException as e:
            self.error = e


# fairness and fencing tokens


def test_waiters_are_granted_in_arrival_order(db: Client) -> None:
    holder = db.lock("printer/first-floor")
    assert holder.acquire()
    first = holder.fencing_token
    assert first is not None
    grants: list[tuple[int, int]] = []
    waiters = []
    for label in range(5):
        waiter = Waiter(db.lock("printer/first-floor"), label, grants)
        waiter.start()
        # Each waiter is queued before the next one arrives, so arrival order is known.
        wait_until(queue_length(db, "printer/first-floor", label + 2), f"waiter {label} to queue")
        waiters.append(waiter)
    assert grants == [], "a waiter got the lock while it was held"
    holder.release()
    for waiter in waiters:
        waiter.join(DEADLINE)
        assert not waiter.is_alive(), f"waiter {waiter.label} never got the lock"
        assert waiter.error is None, f"waiter {waiter.label} failed: {waiter.error!r}"
    assert [label for label, _ in grants] == [0, 1, 2, 3, 4]
    tokens = [first] + [token for _, token in grants]
    assert all(a < b for a, b in zip(tokens, tokens[1:])), tokens
    assert db.lock_queue("printer/first-floor") == []


def test_fencing_tokens_strictly_increase_across_grants(db: Client) -> None:
    lock = db.lock("res")
    other = db.lock("res")
    tokens = []
    for round in range(5):
        assert lock.acquire()
        token = lock.fencing_token
        assert token is not None and lock.fencing_token == token
        tokens.append(token)
        lock.release()
        # Unrelated writes and other holders in between do not break the order.
        db.set(f"noise/{round}", round)
        assert other.acquire()
        token = other.fencing_token
        assert token is not None
        tokens.append(token)
        other.release()
    assert all(a < b for a, b in zip(tokens, tokens[1:])), tokens
    # The token is a store index: no later than the store's current index.
    assert tokens[-1] <= db.index()


def test_fencing_token_is_none_when_not_held(db: Client) -> None:
    lock = db.lock("res")
    assert lock.fencing_token is None
    assert not lock.held
    assert lock.acquire()
    token = lock.fencing_token
    assert lock.fencing_token == token and lock.held
    lock.release()
    assert lock.fencing_token is None
    assert not lock.held


# try-acquire and timeouts


def test_try_acquire_returns_none_when_held_and_a_token_when_free(db: Client) -> None:
    holder = db.lock("res")
    assert holder.acquire(blocking=False)
    token = holder.fencing_token
    assert isinstance(token, int) and token > 0
    assert holder.held
    other = db.lock("res")
    assert other.acquire(blocking=False) is False
    assert not other.held
    # A failed try leaves no waiter behind.
    assert [(w.holder, w.token) for w in db.lock_queue("res")] == [(True, token)]
    holder.release()
    assert other.acquire(blocking=False)
    second = other.fencing_token
    assert second is not None and second > token
    assert other.held and other.fencing_token == second
    other.release()
    assert db.lock_queue("res") == []


def test_acquire_timeout_returns_false_and_removes_the_waiter(db: Client) -> None:
    """acquire(timeout=...) returns False when the timeout passes (as threading.Lock does);
    ``with`` raises LockTimeoutError, since its body must not run without the lock."""
    holder = db.lock("printer")
    assert holder.acquire()
    token = holder.fencing_token
    loser = db.lock("printer")
    started = time.monotonic()
    assert loser.acquire(timeout=0.2) is False
    assert time.monotonic() - started >= 0.2
    assert not loser.held and loser.fencing_token is None
    assert [(w.holder, w.token) for w in db.lock_queue("printer")] == [(True, token)]
    # The timeout given to client.lock is acquire()'s default, and with's.
    assert db.lock("printer", timeout=0.2).acquire() is False
    with pytest.raises(LockTimeoutError) as raised:
        with db.lock("printer", timeout=0.2):
            pytest.fail("the body ran without the lock")
    assert isinstance(raised.value, TimeoutError)
    assert isinstance(raised.value, InterlockError)
    assert raised.value.kind == "LockTimeout"
    assert not loser.held and loser.fencing_token is None
    assert [(w.holder, w.token) for w in db.lock_queue("printer")] == [(True, token)]
    holder.release()
    assert db.lock_queue("printer") == []
    # The timed-out waiter does not stand in anyone's way, and its object can try again.
    assert loser.acquire(timeout=5)
    again = loser.fencing_token
    assert token is not None and again is not None and again > token
    loser.release()


def test_with_lock_that_times_out_never_runs_the_body(db: Client) -> None:
    holder = db.lock("printer")
    holder.acquire()
    ran = []
    with pytest.raises(LockTimeoutError):
        with db.lock("printer", timeout=0.2):
            ran.append(True)
    assert ran == []
    assert len(db.lock_queue("printer")) == 1
    holder.release()


# context manager, non-reentrancy


def test_with_lock_holds_inside_and_releases_on_exit(db: Client) -> None:
    with db.lock("printer", ttl=10) as held:
        token = held.fencing_token
        assert token is not None and held.held
        queue = db.lock_queue("printer")
        assert [(w.holder, w.token) for w in queue] == [(True, token)]
        assert db.lock("printer").acquire(blocking=False) is False
    assert not held.held and held.fencing_token is None
    assert db.lock_queue("printer") == []
    other = db.lock("printer")
    assert other.acquire(blocking=False) is True
    other.release()


def test_with_lock_releases_when_the_body_raises(db: Client) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with db.lock("printer") as held:
            assert held.held
            raise RuntimeError("boom")
    assert not held.held
    assert db.lock_queue("printer") == []


def test_a_released_lock_object_can_be_acquired_again(db: Client) -> None:
    lock = db.lock("printer")
    with lock:
        first = lock.fencing_token
    with lock:
        second = lock.fencing_token
    assert first is not None and second is not None and second > first
    assert db.lock_queue("printer") == []


def test_locks_are_not_reentrant(db: Client) -> None:
    lock = db.lock("printer")
    assert lock.acquire()
    token = lock.fencing_token
    with pytest.raises(InterlockError):
        lock.acquire(timeout=0.5)
    with pytest.raises(InterlockError):
        lock.acquire(blocking=False)
    with pytest.raises(InterlockError):
        with lock:
            pass
    # The failed attempts neither released the lock nor queued behind it.
    assert lock.held and lock.fencing_token == token
    assert [(w.holder, w.token) for w in db.lock_queue("printer")] == [(True, token)]
    lock.release()
    assert db.lock_queue("printer") == []


def test_locks_with_nested_names_are_independent(db: Client) -> None:
    with db.lock("a"), db.lock("a/b"), db.lock("a/b/c"):
        assert len(db.lock_queue("a")) == 1
        assert len(db.lock_queue("a/b")) == 1
        assert len(db.lock_queue("a/b/c")) == 1
        assert db.lock("a").acquire(blocking=False) is False
    assert db.lock_queue("a") == [] and db.lock_queue("a/b") == []


# the queue listing


def test_lock_queue_lists_the_holder_then_the_waiters(db: Client) -> None:
    assert db.lock_queue("printer") == []
    holder = db.lock("printer", ttl=5, owner="alice")
    assert holder.acquire()
    token = holder.fencing_token
    grants: list[tuple[int, int]] = []
    bob = Waiter(db.lock("printer", ttl=3, owner="bob"), 1, grants)
    bob.start()
    wait_until(queue_length(db, "printer", 2), "bob to queue")
    anonymous = Waiter(db.lock("printer", ttl=4), 2, grants)  # no owner: a default one
    anonymous.start()
    wait_until(queue_length(db, "printer", 3), "the third waiter to queue")

    queue = db.lock_queue("printer")
    assert [w.holder for w in queue] == [True, False, False]
    assert queue[0].token == token
    assert queue[0].token < queue[1].token < queue[2].token
    assert "alice" in str(queue[0].owner)
    assert "bob" in str(queue[1].owner)
    assert str(os.getpid()) in str(queue[2].owner), "the default owner names the process"
    for entry, ttl in zip(queue, [5, 3, 4]):
        assert entry.key.startswith("@lock/")
        assert entry.lease is not None
        assert entry.ttl_left is not None and 0 < entry.ttl_left <= ttl
    assert len({w.key for w in queue}) == 3
    assert [(w.key, w.token) for w in holder.queue()] == [(w.key, w.token) for w in queue]

    holder.release()
    for waiter in (bob, anonymous):
        waiter.join(DEADLINE)
        assert not waiter.is_alive() and waiter.error is None
    assert [label for label, _ in grants] == [1, 2]
    assert db.lock_queue("printer") == []


# lost leases


def test_lost_lease_fires_on_lost_and_raises_lock_lost_at_exit(db: Client) -> None:
    lease = db.lease(5)
    fired = threading.Event()
    calls: list[int] = []
    ran_to_the_end = False

    def on_lost() -> None:
        calls.append(threading.get_ident())
        fired.set()

    with pytest.raises(LockLostError) as raised:
        with db.lock("printer", lease=lease, on_lost=on_lost) as held:
            assert held.held and not held.lost
            token = held.fencing_token
            assert token is not None
            lease.revoke()
            assert fired.wait(DEADLINE), "on_lost was not called"
            assert held.lost
            ran_to_the_end = True
    assert ran_to_the_end
    assert raised.value.kind == "LockLost"
    assert str(token) in str(raised.value), "the message names the lost fencing token"
    assert calls and threading.get_ident() not in calls, "on_lost ran on the caller's thread"
    time.sleep(0.2)
    assert len(calls) == 1, f"on_lost fired {len(calls)} times"
    assert not held.held
    # The revoke deleted the waiter entry: the lock is free for others.
    assert db.lock_queue("printer") == []
    other = db.lock("printer")
    assert other.acquire(blocking=False) is True
    other.release()


def test_on_lost_registered_after_creation_fires_once(db: Client) -> None:
    lease = db.lease(5)
    lock = db.lock("printer", lease=lease)
    calls: list[int] = []
    fired = threading.Event()

    def on_lost() -> None:
        calls.append(1)
        fired.set()

    lock.on_lost(on_lost)
    lock.acquire()
    lease.revoke()
    assert fired.wait(DEADLINE), "on_lost was not called"
    time.sleep(0.2)
    assert len(calls) == 1, f"on_lost fired {len(calls)} times"
    with pytest.raises(LockLostError):
        lock.release()


def test_lock_lost_when_its_lease_is_revoked_elsewhere(db: Client) -> None:
    # Another client revoking the lease is what the keeper sees when the lease expired in the
    # store: renewal fails, and the holder must learn that it lost the lock.
    lease = db.lease(1)
    fired = threading.Event()
    lock = db.lock("printer", lease=lease, on_lost=fired.set)
    lock.acquire()
    assert db.revoke(lease.id)
    assert fired.wait(DEADLINE), "the keeper did not notice the lost lease"
    assert lock.lost
    assert lease.lost
    with pytest.raises(LockLostError):
        lock.release()
    assert not lock.held


def test_body_exception_wins_over_lock_lost(db: Client) -> None:
    lease = db.lease(5)
    fired = threading.Event()
    with pytest.raises(ValueError, match="bad input"):
        with db.lock("printer", lease=lease, on_lost=fired.set) as held:
            lease.revoke()
            assert fired.wait(DEADLINE)
            assert held.lost
            raise ValueError("bad input")
    assert not held.held
    assert db.lock_queue("printer") == []


def test_txn_require_commits_only_while_the_lock_is_held(db: Client) -> None:
    lease = db.lease(5)
    fired = threading.Event()
    lock = db.lock("printer", lease=lease, on_lost=fired.set)
    lock.acquire()
    index = db.txn().require(lock).set("jobs/1", "printed").commit()
    entry = db.get("jobs/1")
    assert entry is not None and (entry.value, entry.index) == ("printed", index)

    lease.revoke()
    assert fired.wait(DEADLINE)
    before = db.index()
    with pytest.raises(LockLostError):
        db.txn().require(lock).set("jobs/1", "printed twice").set("jobs/2", "new").commit()
    entry = db.get("jobs/1")
    assert entry is not None and (entry.value, entry.index) == ("printed", index)
    assert db.get("jobs/2") is None
    assert db.index() == before, "a refused transaction wrote something"
    with pytest.raises(LockLostError):
        lock.release()


def test_txn_require_fails_once_another_holder_took_over(db: Client) -> None:
    lease = db.lease(5)
    lock = db.lock("printer", lease=lease)
    lock.acquire()
    lease.revoke()
    successor = db.lock("printer")
    assert successor.acquire(timeout=DEADLINE) is not None
    with pytest.raises(LockLostError):
        db.txn().require(lock).set("jobs/1", "stale writer").commit()
    assert db.get("jobs/1") is None
    db.txn().require(successor).set("jobs/1", "current writer").commit()
    successor.release()


# the default store


def test_module_level_lock_uses_the_default_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite://{tmp_path / 'default.db'}"
    monkeypatch.setenv("INTERLOCK_URL", url)
    monkeypatch.setattr(interlock, "_default", None)
    with interlock.lock("printer/first-floor", ttl=10, owner="module") as held:
        assert interlock.default_client().url == url
        token = held.fencing_token
        assert token is not None
        with interlock.connect(url) as other:
            queue = other.lock_queue("printer/first-floor")
            assert [(w.holder, w.token) for w in queue] == [(True, token)]
            assert "module" in str(queue[0].owner)
            assert other.lock("printer/first-floor").acquire(blocking=False) is False
        with pytest.raises(LockTimeoutError):
            with interlock.lock("printer/first-floor", timeout=0.2):
                pytest.fail("the body ran without the lock")
    assert not held.held
    with interlock.connect(url) as other:
        assert other.lock_queue("printer/first-floor") == []
    assert interlock.default_client() is interlock.default_client()


# acquire() as threading.Lock users expect


def test_acquire_true_blocks_until_the_lock_is_free(db: Client) -> None:
    """``acquire(True)`` means "block", as with threading.Lock (it once read True as a
    timeout of one second)."""
    holder = db.lock("printer", ttl=10)
    assert holder.acquire()
    waiter = db.lock("printer")
    outcome: list[object] = []
    thread = threading.Thread(target=lambda: outcome.append(waiter.acquire(True)))
    thread.start()
    wait_until(lambda: len(db.lock_queue("printer")) == 2, "the waiter to queue")
    thread.join(2.5)  # well past the old one-second reading of True
    assert thread.is_alive() and outcome == []
    holder.release()
    thread.join(DEADLINE)
    assert outcome == [True]
    assert waiter.held and waiter.fencing_token is not None
    waiter.release()


def test_acquire_returns_booleans_and_keeps_the_token_on_the_lock(db: Client) -> None:
    lock = db.lock("printer", ttl=10)
    assert lock.acquire() is True
    token = lock.fencing_token
    assert isinstance(token, int) and token > 0
    other = db.lock("printer")
    assert other.acquire(False) is False
    assert other.acquire(blocking=False) is False
    assert other.try_acquire() is False
    assert other.acquire(timeout=0.1) is False
    assert other.acquire(True, 0.1) is False
    assert other.fencing_token is None and not other.held
    lock.release()
    assert other.acquire(False) is True
    assert other.fencing_token is not None and other.fencing_token > token
    other.release()
    assert other.try_acquire() is True
    other.release()


def test_acquire_refuses_ambiguous_arguments(db: Client) -> None:
    lock = db.lock("printer", ttl=10)
    # A timeout passed where `blocking` goes (the old argument order) is refused, not read
    # as a flag.
    with pytest.raises(InvalidArgumentError, match="blocking"):
        lock.acquire(5)  # type: ignore[arg-type]
    # As with threading.Lock, a non-blocking acquire takes no timeout.
    with pytest.raises(InvalidArgumentError, match="non-blocking"):
        lock.acquire(False, 1)
    assert db.lock_queue("printer") == []


def test_the_locks_timeout_is_the_default_of_acquire_and_with(db: Client) -> None:
    holder = db.lock("printer", ttl=10)
    assert holder.acquire()
    impatient = db.lock("printer", timeout=0.2)
    assert impatient.acquire() is False
    with pytest.raises(LockTimeoutError):
        with impatient:
            pytest.fail("the body ran without the lock")
    # An explicit timeout overrides it.
    assert impatient.acquire(timeout=0.1) is False
    assert [w.holder for w in db.lock_queue("printer")] == [True]
    holder.release()
    assert impatient.acquire() is True
    impatient.release()
