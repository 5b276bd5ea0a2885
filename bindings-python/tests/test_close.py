"""Closing a client and dropping what holds a lock, in one process with real stores: close()
frees the client's locks at once for other clients (far below their TTL) and ends its waits;
every later call on the client, or on what was made from it, raises InvalidArgumentError (an
InterlockError, never a BaseException); a held lock, or a whole client, that is garbage
collected frees its lock promptly too. The asyncio client the same, with ``await db.close()``
and ``async with``."""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, Callable

import pytest
from servers import Server, start_server, stop_server
from waiting import wait_until

import interlock
import interlock.aio
from interlock import Client, InterlockError, InvalidArgumentError, LockLostError
from interlock.aio import AsyncClient, AsyncWatch

# Locks here have a TTL far above the time a prompt release takes: freed "within PROMPT" cannot
# be the lease expiring.
TTL = 60.0
PROMPT = 10.0


def test_close_while_holding_frees_the_lock_for_another_client(url: str) -> None:
    db, other = interlock.connect(url), interlock.connect(url)
    lost = threading.Event()
    lock = db.lock("printer", ttl=TTL, on_lost=lost.set)
    assert lock.acquire()
    lease = db.lease(TTL)
    db.set("leased", 1, lease=lease)
    db.close()
    assert db.closed
    # Another client gets the lock at once, not after the TTL.
    assert other.lock("printer").acquire(timeout=PROMPT) is True
    assert other.get("leased") is None  # the client's own leases were revoked too
    # The holder sees its lock as lost; release says why.
    assert lost.wait(PROMPT)
    assert lock.lost
    with pytest.raises(LockLostError, match="closed"):
        lock.release()
    assert lease.lost
    db.close()  # idempotent
    other.close()


def test_close_while_waiting_ends_the_wait(url: str) -> None:
    db, holder = interlock.connect(url), interlock.connect(url)
    held = holder.lock("printer", ttl=TTL)
    assert held.acquire()
    outcome: list[BaseException | bool] = []

    def wait() -> None:
        try:
            outcome.append(db.lock("printer").acquire())
        except BaseException as e:
            outcome.append(e)

    waiter = threading.Thread(target=wait)
    waiter.start()
    wait_until(lambda: len(holder.lock_queue("printer")) == 2, "the waiter to queue")
    db.close()
    waiter.join(PROMPT)
    assert not waiter.is_alive(), "the wait did not end when its client was closed"
    assert len(outcome) == 1 and isinstance(outcome[0], InvalidArgumentError), outcome
    assert "closed" in str(outcome[0])
    wait_until(lambda: len(holder.lock_queue("printer")) == 1, "the waiter entry to go", PROMPT)
    assert held.held and not held.lost
    held.release()
    holder.close()


def sync_calls(db: Client) -> dict[str, Callable[[], object]]:
    """One call of every kind on a closed client and on what was made from it before."""
    lock = db.lock("printer", ttl=5)
    lease = db.lease(5)
    session = db.session()
    txn = db.txn().set("k", 1)
    db.close()
    return {
        "get": lambda: db.get("k"),
        "get_many": lambda: db.get_many(["k"]),
        "list": lambda: db.list(""),
        "index": lambda: db.index(),
        "put": lambda: db.put("k", 1, index=0),
        "set": lambda: db.set("k", 1),
        "delete": lambda: db.delete("k"),
        "txn": lambda: db.txn().set("k", 1).commit(),
        "watch": lambda: db.watch(""),
        "grant": lambda: db.grant(5),
        "keepalive": lambda: db.keepalive(1),
        "revoke": lambda: db.revoke(1),
        "time_to_live": lambda: db.time_to_live(1),
        "lease": lambda: db.lease(5),
        "lock": lambda: db.lock("other").acquire(),
        "lock_queue": lambda: db.lock_queue("printer"),
        "session": lambda: db.session(),
        "lock.acquire": lambda: lock.acquire(),
        "lock.try_acquire": lambda: lock.try_acquire(),
        "lock.release": lambda: lock.release(),
        "lease.revoke": lambda: lease.revoke(),
        "lease.wait_lost": lambda: lease.wait_lost(0.1),
        "session.load": lambda: session.load("k"),
        "session.store": lambda: session.store("k", 1),
        "session.save_changes": lambda: session.save_changes(),
        "txn.commit": lambda: txn.commit(),
    }


def test_every_call_after_close_raises_invalid_argument(url: str) -> None:
    calls = sync_calls(interlock.connect(url))
    for name, call in calls.items():
        with pytest.raises(InvalidArgumentError, match="closed") as raised:
            call()
        assert isinstance(raised.value, InterlockError), name
        assert raised.value.kind == "InvalidArgument", name


def ends_when_closed(db: Client, writer: Client, closing_the_client: bool) -> None:
    watch = db.watch("w/")
    seen: list[list[Any]] = []
    iterating = threading.Thread(target=lambda: seen.append(list(watch)))
    iterating.start()
    writer.set("w/before", 1)
    if closing_the_client:
        db.close()
    else:
        watch.close()
    iterating.join(10)
    assert not iterating.is_alive(), "closing did not end the iteration"
    assert len(seen) == 1 and all(e.key == "w/before" for e in seen[0])
    if not writer.closed:
        writer.set("w/after", 2)
    assert watch.next(0.2) is None
    assert list(watch) == []


def test_a_watch_ends_when_it_or_its_client_is_closed(url: str) -> None:
    """Closing a watch, or its client, ends it: a next in progress in another thread returns
    None, iteration stops, and nothing written afterwards is delivered."""
    db = interlock.connect(url)
    writer = db if url.startswith("mem:") else interlock.connect(url)
    ends_when_closed(db, writer, closing_the_client=False)
    ends_when_closed(db, writer, closing_the_client=True)
    writer.close()


def test_an_async_watch_ends_when_it_or_its_client_is_closed(url: str) -> None:
    async def main() -> None:
        db = await interlock.aio.connect(url)
        mine, theirs = db.watch("w/"), db.watch("w/")
        pending = asyncio.ensure_future(mine.next())
        await asyncio.sleep(0.05)
        mine.close()
        assert await asyncio.wait_for(pending, 10) is None
        assert [e async for e in mine] == []
        other = asyncio.ensure_future(theirs.next())
        await asyncio.sleep(0.05)
        await db.close()
        assert await asyncio.wait_for(other, 10) is None
        assert [e async for e in theirs] == []

    asyncio.run(main())


def test_an_async_watch_closes_from_another_thread_and_after_its_loop(url: str) -> None:
    """close() is thread-safe: from another thread (or a signal handler) it wakes the loop and
    ends a pending next; after the loop ended it still closes, without raising."""

    async def main() -> AsyncWatch:
        db = await interlock.aio.connect(url)
        watch = db.watch("th/")
        await db.index()  # started
        timer = threading.Timer(0.2, watch.close)
        timer.start()
        assert await asyncio.wait_for(watch.next(), 10) is None
        timer.join()
        starting = db.watch("th/")  # closed before its start completes
        threading.Thread(target=starting.close).start()
        assert await asyncio.wait_for(starting.next(), 10) is None
        left = db.watch("th/")
        await db.set("th/1", 1)
        assert (await left.next(5)) is not None
        return left

    left = asyncio.run(main())
    left.close()  # its loop has ended
    left.close()


def run(url: str, test: Callable[[AsyncClient], Awaitable[None]]) -> None:
    async def main() -> None:
        db = await interlock.aio.connect(url)
        try:
            await test(db)
        finally:
            await db.close()

    asyncio.run(main())


def test_async_close_while_holding_and_while_waiting(url: str) -> None:
    async def test(other: AsyncClient) -> None:
        async with await interlock.aio.connect(url) as db:
            lock = db.lock("printer", ttl=TTL)
            assert await lock.acquire()
            waiting = db.lock("queue")
            held = other.lock("queue", ttl=TTL)
            assert await held.acquire()
            task = asyncio.ensure_future(waiting.acquire())

            async def queued() -> bool:
                return len(await other.lock_queue("queue")) == 2

            while not await queued():
                await asyncio.sleep(0.01)
            await db.close()
            assert db.closed
            # The waiting acquire ends at once, with the reason.
            with pytest.raises(InvalidArgumentError, match="closed"):
                await asyncio.wait_for(task, PROMPT)
            # The held lock is free for the other client at once.
            assert await other.lock("printer").acquire(timeout=PROMPT) is True
            assert lock.lost
            with pytest.raises(LockLostError, match="closed"):
                await lock.release()
            with pytest.raises(InvalidArgumentError, match="closed"):
                await db.get("k")
            with pytest.raises(InvalidArgumentError, match="closed"):
                await lock.acquire()
            with pytest.raises(InvalidArgumentError, match="closed"):
                db.session()
            await held.release()
        # Leaving `async with` closed it again: idempotent.
        assert db.closed

    run(url, test)


def test_async_calls_after_close_raise_invalid_argument(url: str) -> None:
    async def test(db: AsyncClient) -> None:
        closing = await interlock.aio.connect(url)
        lease = await closing.lease(5)
        session = closing.session()
        lock = closing.lock("printer")
        await closing.close()
        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            "get": lambda: closing.get("k"),
            "set": lambda: closing.set("k", 1),
            "lease": lambda: closing.lease(5),
            "lock.acquire": lambda: lock.acquire(),
            "lease.revoke": lambda: lease.revoke(),
            "session.load": lambda: session.load("k"),
            "txn.commit": lambda: closing.txn().set("k", 1).commit(),
        }
        for call in calls.values():
            with pytest.raises(InvalidArgumentError, match="closed"):
                await call()
        # Closing one client leaves the others open.
        assert not db.closed
        assert await db.set("k", 1) > 0

    run(url, test)


def test_objects_are_refused_at_once_by_a_closed_client(url: str) -> None:
    """A closed client makes no lock or transaction to fail later: lock(), txn() and ``with``
    raise at once, and so does on_lost of a lock or lease made before the close."""
    db = interlock.connect(url)
    lock = db.lock("printer", ttl=5)
    made = db.lock("made", ttl=5)
    made.on_lost(lambda: None)  # its native lock exists before the close
    lease = db.lease(5)
    db.close()
    calls: dict[str, Callable[[], object]] = {
        "lock": lambda: db.lock("c"),
        "lock with options": lambda: db.lock("c", ttl=5, on_lost=lambda: None),
        "txn": lambda: db.txn(),
        "with": lambda: db.__enter__(),
        "lock.on_lost": lambda: lock.on_lost(lambda: None),
        "made.on_lost": lambda: made.on_lost(lambda: None),
        "lease.on_lost": lambda: lease.on_lost(lambda: None),
    }
    for name, call in calls.items():
        with pytest.raises(InvalidArgumentError, match=r"the client of .* is closed"):
            call()
            pytest.fail(f"{name} did not raise")


def test_async_objects_are_refused_at_once_by_a_closed_client(url: str) -> None:
    async def main() -> None:
        db = await interlock.aio.connect(url)
        lock = db.lock("printer", ttl=5)
        made = db.lock("made", ttl=5)
        made.on_lost(lambda: None)
        lease = await db.lease(5)
        await db.close()
        calls: dict[str, Callable[[], object]] = {
            "lock": lambda: db.lock("c"),
            "txn": lambda: db.txn(),
            "watch": lambda: db.watch("w/"),
            "lock.on_lost": lambda: lock.on_lost(lambda: None),
            "made.on_lost": lambda: made.on_lost(lambda: None),
            "lease.on_lost": lambda: lease.on_lost(lambda: None),
        }
        for name, call in calls.items():
            with pytest.raises(InvalidArgumentError, match=r"the client of .* is closed"):
                call()
                pytest.fail(f"{name} did not raise")
        with pytest.raises(InvalidArgumentError, match=r"the client of .* is closed"):
            async with db:
                pytest.fail("async with a closed client did not raise")

    asyncio.run(main())


def test_dropping_a_held_lock_frees_it_promptly(url: str) -> None:
    db, other = interlock.connect(url), interlock.connect(url)
    lock = db.lock("printer", ttl=TTL)
    assert lock.acquire()
    del lock
    gc.collect()
    assert other.lock("printer").acquire(timeout=PROMPT) is True
    db.close()
    other.close()


def test_a_garbage_collected_client_frees_its_lock_promptly(url: str) -> None:
    other = interlock.connect(url)
    holder: dict[str, Any] = {"db": interlock.connect(url)}
    holder["lock"] = holder["db"].lock("printer", ttl=TTL)
    assert holder["lock"].acquire()
    # A reference cycle, so that only the collector frees them.
    holder["self"] = holder
    del holder
    gc.collect()
    assert other.lock("printer").acquire(timeout=PROMPT) is True
    other.close()


def test_dropping_a_held_async_lock_frees_it_promptly(url: str) -> None:
    async def test(db: AsyncClient) -> None:
        other = await interlock.aio.connect(url)
        lock = db.lock("printer", ttl=TTL)
        assert await lock.acquire()
        del lock
        gc.collect()
        assert await other.lock("printer").acquire(timeout=PROMPT) is True
        await other.close()

    run(url, test)


def test_close_while_waiting_raises_invalid_argument_every_time() -> None:
    """The waiter may see its entry vanish (its lease revoked) before it sees the close; it
    still reports the close. (Before this was handled, a third of these runs raised
    LeaseExpiredError.)"""
    for n in range(200):
        url = f"mem://close-race-{n}"
        db, holder = interlock.connect(url), interlock.connect(url)
        held = holder.lock("printer", ttl=TTL)
        assert held.acquire()
        outcome: list[BaseException | bool] = []

        def wait(db: Client = db, outcome: list[BaseException | bool] = outcome) -> None:
            try:
                outcome.append(db.lock("printer").acquire())
            except BaseException as e:
                outcome.append(e)

        waiter = threading.Thread(target=wait)
        waiter.start()
        wait_until(lambda h=holder: len(h.lock_queue("printer")) == 2, "the waiter to queue")
        db.close()
        waiter.join(PROMPT)
        assert not waiter.is_alive()
        assert len(outcome) == 1 and isinstance(outcome[0], InvalidArgumentError), (n, outcome)
        holder.close()


def _served_client_whose_server_dies(tmp_path: Path) -> tuple[Server, str]:
    """A real server that a test kills while its client holds a lock, so that closing the
    client cannot revoke the lock's lease."""
    token = "close-test-token"
    return start_server(tmp_path, token), token


def test_a_failed_close_on_leaving_with_does_not_hide_the_bodys_exception(tmp_path: Path) -> None:
    server, token = _served_client_whose_server_dies(tmp_path)
    try:
        with pytest.raises(ValueError, match="the body's own error") as raised:
            with interlock.connect(server.url, token=token) as db:
                assert db.lock("printer", ttl=TTL).acquire()
                server.process.kill()
                server.process.wait()
                raise ValueError("the body's own error")
        assert db.closed
        if sys.version_info >= (3, 11):
            notes = getattr(raised.value, "__notes__", [])
            assert any("closing the client failed" in n for n in notes), notes
    finally:
        stop_server(server.process)


def test_a_failed_close_on_leaving_a_clean_with_is_raised(tmp_path: Path) -> None:
    server, token = _served_client_whose_server_dies(tmp_path)
    try:
        with pytest.raises(interlock.UnavailableError, match="revoking its leases failed"):
            with interlock.connect(server.url, token=token) as db:
                assert db.lock("printer", ttl=TTL).acquire()
                server.process.kill()
                server.process.wait()
        assert db.closed
    finally:
        stop_server(server.process)


def test_a_failed_close_on_leaving_async_with_does_not_hide_the_bodys_exception(
    tmp_path: Path,
) -> None:
    server, token = _served_client_whose_server_dies(tmp_path)

    async def main() -> None:
        async with await interlock.aio.connect(server.url, token=token) as db:
            assert await db.lock("printer", ttl=TTL).acquire()
            server.process.kill()
            server.process.wait()
            raise ValueError("the body's own error")

    try:
        with pytest.raises(ValueError, match="the body's own error"):
            asyncio.run(main())
    finally:
        stop_server(server.process)
