"""The names and behaviours every interlock package shares (docs/vocabulary.md), as Python has
them: errors named ...Error, put always a compare-exchange and set the unconditional write (on
the client and in transactions), retry's rule and the core's schedule, `lost` a bool with an
awaitable or blocking wait_lost(), try_acquire in both APIs, watches that start when made, and
messages that name the argument, the value and the rule."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import interlock
import interlock.aio
import interlock.errors
from interlock import (
    ConcurrencyError,
    InvalidArgumentError,
    LeaseExpiredError,
    LockLostError,
    LockTimeoutError,
    UnauthorizedError,
    UnavailableError,
)


def arun(url: str, test: Any) -> Any:
    async def main() -> Any:
        async with await interlock.aio.connect(url) as db:
            return await asyncio.wait_for(test(db), 60)

    return asyncio.run(main())


def test_every_error_class_ends_in_error() -> None:
    for name in interlock.errors.__all__:
        if name != "Conflict":
            assert name.endswith("Error"), name
    for old in ("InvalidArgument", "LockTimeout", "LockLost", "LeaseExpired", "Unavailable"):
        assert not hasattr(interlock, old), old
        assert not hasattr(interlock.errors, old), old
    assert issubclass(InvalidArgumentError, ValueError)
    assert issubclass(LockTimeoutError, TimeoutError)
    assert issubclass(UnavailableError, ConnectionError)
    assert issubclass(UnauthorizedError, PermissionError)
    assert {LockLostError.kind, LeaseExpiredError.kind} == {"LockLost", "LeaseExpired"}


def test_the_store_raises_the_renamed_classes(db: interlock.Client) -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        db.set("@lock/x", 1)
    assert type(raised.value) is InvalidArgumentError and raised.value.kind == "InvalidArgument"
    lock = db.lock("held", ttl=5)
    assert lock.acquire()
    with pytest.raises(LockTimeoutError):
        with db.lock("held", ttl=5, timeout=0.05):
            pass
    lock.release()


def test_put_needs_an_index_and_set_writes_unconditionally(db: interlock.Client) -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        db.put("k", 1, None)  # type: ignore[arg-type]
    assert "index of put 'k'" in str(raised.value) and "set()" in str(raised.value)
    with pytest.raises(TypeError):
        db.put("k", 1)  # type: ignore[call-arg]
    first = db.set("k", 1)
    assert db.set("k", 2) > first
    with pytest.raises(InvalidArgumentError, match="index of put 'j'"):
        db.txn().put("j", 1, None)  # type: ignore[arg-type]
    index = db.txn().set("j", 1).put("k", 3, db.get("k").index).commit()  # type: ignore[union-attr]
    assert db.get("j").index == index  # type: ignore[union-attr]
    assert db.get("k").value == 3  # type: ignore[union-attr]
    with pytest.raises(ConcurrencyError):
        db.txn().put("j", 2, 0).commit()


def test_asyncio_put_needs_an_index_and_set_writes_unconditionally(url: str) -> None:
    async def test(db: interlock.aio.AsyncClient) -> None:
        with pytest.raises(InvalidArgumentError, match="index of put 'k'"):
            await db.put("k", 1, None)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match="index of put 'j'"):
            db.txn().put("j", 1, None)  # type: ignore[arg-type]
        index = await db.txn().set("j", 1).put("k", 1, 0).commit()
        assert (await db.get("j")).index == index  # type: ignore[union-attr]

    arun(url, test)


@pytest.mark.parametrize("attempts", [0, -1, True, 1.5, "3"])
def test_retry_refuses_attempts_below_one_or_not_integers(
    db: interlock.Client, attempts: Any
) -> None:
    calls = []
    with pytest.raises(InvalidArgumentError) as raised:
        db.retry(lambda: calls.append(1), attempts=attempts)
    assert calls == []
    message = str(raised.value)
    assert "attempts of retry must be an integer from 1" in message
    assert f"not {attempts!r}" in message or f"not {attempts}" in message


def test_retry_with_one_attempt_runs_once(db: interlock.Client, url: str) -> None:
    calls = []

    def fails() -> None:
        calls.append(1)
        db.txn().check("never", 5).commit()

    with pytest.raises(ConcurrencyError):
        db.retry(fails, attempts=1)
    assert calls == [1]

    async def test(adb: interlock.aio.AsyncClient) -> None:
        async def afails() -> None:
            calls.append(2)
            await adb.txn().check("never", 5).commit()

        with pytest.raises(ConcurrencyError):
            await adb.retry(afails, attempts=1)
        with pytest.raises(InvalidArgumentError, match="attempts of retry"):
            await adb.retry(afails, attempts=0)

    arun(url, test)
    assert calls == [1, 2]


def test_lock_lost_is_a_bool_and_wait_lost_blocks(db: interlock.Client) -> None:
    lock = db.lock("waits", ttl=5)
    with pytest.raises(InvalidArgumentError, match="not held"):
        lock.wait_lost(0.01)
    lease = db.lease(5)
    leased = db.lock("on-lease", lease=lease)
    assert leased.try_acquire() is True
    assert leased.lost is False
    assert leased.wait_lost(0.05) is False
    lease.revoke()
    assert leased.wait_lost(10) is True
    assert leased.lost is True
    assert lease.lost is True and lease.wait_lost(0) is True


def test_asyncio_lock_wait_lost_takes_a_timeout(url: str) -> None:
    async def test(db: interlock.aio.AsyncClient) -> None:
        lock = db.lock("waits", ttl=5)
        with pytest.raises(InvalidArgumentError, match="not held"):
            await lock.wait_lost()
        lease = await db.lease(5)
        leased = db.lock("on-lease", lease=lease)
        assert await leased.try_acquire() is True
        assert leased.lost is False
        assert await leased.wait_lost(0.05) is False
        await lease.revoke()
        assert await leased.wait_lost(10) is True
        assert leased.lost is True

    arun(url, test)


def test_a_watch_starts_when_it_is_made(db: interlock.Client) -> None:
    watch = db.watch("made/")
    index = db.set("made/1", "x")
    event = watch.next(10)
    assert event is not None and (event.key, event.index) == ("made/1", index)
    watch.close()


def test_an_asyncio_watch_starts_when_it_is_made(url: str) -> None:
    async def test(db: interlock.aio.AsyncClient) -> None:
        watch = db.watch("made/")
        index = await db.set("made/1", "x")
        txn_index = await db.txn().set("made/2", "y").commit()
        seen = []
        async for event in watch:
            seen.append((event.key, event.index))
            if len(seen) == 2:
                break
        assert seen == [("made/1", index), ("made/2", txn_index)]
        watch.close()

    arun(url, test)


def test_durations_in_messages_read_as_written(db: interlock.Client) -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        db.lock("short", ttl=0.5)
    message = str(raised.value)
    assert "ttl 0.5 s is too short" in message and "at least 1 s" in message
    assert "ns" not in message and "ms" not in message


def test_lease_ids_are_ints(db: interlock.Client) -> None:
    lease = db.lease(5)
    assert type(lease.id) is int and lease.id > 0
    granted = db.grant(5)
    assert type(granted) is int
    db.set("leased", 1, lease=granted)
    entry = db.get("leased")
    assert entry is not None and entry.lease == granted
    assert db.revoke(granted) is True


def test_describe_and_default_url(db: interlock.Client, url: str) -> None:
    assert isinstance(db.describe(), str) and db.describe()
    assert isinstance(interlock.default_url(), str)

    async def test(adb: interlock.aio.AsyncClient) -> None:
        assert adb.describe() == db.describe() or adb.describe()

    arun(url, test)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda db: db.get(42), "the key of get must be a str, not int 42"),
        (lambda db: db.set(b"k", 1), "the key of set must be a str, not bytes b'k'"),
        (lambda db: db.put(7, 1, 0), "the key of put must be a str, not int 7"),
        (lambda db: db.delete(None), "the key of delete must be a str, not NoneType None"),
        (lambda db: db.list(5), "the prefix of list must be a str, not int 5"),
        (lambda db: db.get_many(["a", 1]), "the keys of get_many[1] must be a str, not int 1"),
        (lambda db: db.watch(5), "the prefix of watch must be a str, not int 5"),
        (lambda db: db.txn().check(3, 1), "the key of check must be a str, not int 3"),
        (lambda db: db.txn().set(3, 1), "the key of set must be a str, not int 3"),
        (lambda db: db.lock_queue(3), "the lock name of lock_queue must be a str, not int 3"),
    ],
)
def test_a_wrong_type_is_refused_naming_the_argument(
    db: interlock.Client, call: Any, message: str
) -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        call(db)
    assert str(raised.value) == message
    for word in ("pyo3", "PyString", "Rust", "serde"):
        assert word not in str(raised.value)
