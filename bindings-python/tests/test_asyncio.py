"""The asyncio API (interlock.aio): every operation awaited, ``async with`` locks, ``async for``
watches, sessions, retry, and cancellation of a waiting acquire, on every backend. Each test
runs its own event loop with asyncio.run."""

from __future__ import annotations

import asyncio
import textwrap
import time
from collections.abc import Awaitable, Coroutine
from pathlib import Path
from typing import Any, Callable, TypeVar

import pytest
from exit_runs import crashes, run_many

import interlock
import interlock.aio
from interlock import (
    ConcurrencyError,
    Conflict,
    InvalidArgumentError,
    LeaseExpiredError,
    LockTimeoutError,
)
from interlock.aio import AsyncClient

T = TypeVar("T")

DEADLINE = 15.0


def run(url: str, test: Callable[[AsyncClient], Coroutine[Any, Any, T]]) -> T:
    """Runs `test` with an async client of `url` in a fresh event loop."""

    async def main() -> T:
        async with await interlock.aio.connect(url) as db:
            return await asyncio.wait_for(test(db), 60)

    return asyncio.run(main())


async def eventually(
    condition: Callable[[], Awaitable[bool]], what: str, timeout: float = DEADLINE
) -> None:
    """Awaits `condition()` until it holds; fails the test if it does not within `timeout`."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


# single operations


def test_connect_returns_an_async_client(url: str) -> None:
    async def test(db: AsyncClient) -> None:
        assert isinstance(db, AsyncClient)
        assert db.url == url
        index = await db.index()
        if not url.startswith("etcd"):
            assert index == 0, "a fresh store starts at index 0"
        # On etcd the store-wide index is the cluster's revision, shared by every key prefix.
        with interlock.connect(url) as sync:
            assert sync.index() == index

    run(url, test)


def test_connect_with_an_unknown_scheme_is_invalid() -> None:
    async def main() -> None:
        await interlock.aio.connect("foo://bar")

    with pytest.raises(InvalidArgumentError):
        asyncio.run(main())


def test_get_put_set_delete(url: str) -> None:
    async def test(db: AsyncClient) -> None:
        assert await db.get("k") is None
        created = await db.put("k", {"v": 1}, 0)
        assert created.successful and created.index == await db.index()
        again = await db.put("k", {"v": 2}, 0)
        assert not again
        assert (again.index, again.value) == (created.index, {"v": 1})
        replaced = await db.put("k", {"v": 2}, created.index)
        assert replaced.successful and replaced.index > created.index
        stale = await db.put("k", {"v": 3}, created.index)
        assert (stale.successful, stale.index, stale.value) == (False, replaced.index, {"v": 2})
        absent = await db.put("nope", 1, 4)
        assert (absent.successful, absent.index, absent.value) == (False, 0, None)
        entry = await db.get("k")
        assert entry is not None
        assert (entry.key, entry.value, entry.index) == ("k", {"v": 2}, replaced.index)
        set_index = await db.set("k", "plain")
        assert set_index > replaced.index
        assert await db.index() == set_index
        wrong = await db.delete("k", replaced.index)
        assert (wrong.successful, wrong.index, wrong.value) == (False, set_index, "plain")
        gone = await db.delete("k", set_index)
        assert gone.successful and gone.index > set_index
        assert await db.get("k") is None
        missing = await db.delete("k", 1)
        assert (missing.successful, missing.index) == (False, 0)
        await db.set("u", 1)
        assert (await db.delete("u")).successful
        assert await db.get("u") is None

    run(url, test)


def test_get_many_list_scan(url: str) -> None:
    async def test(db: AsyncClient) -> None:
        txn = db.txn()
        for i in range(30):
            txn.set(f"items/{i:02d}", i)
        index = await txn.set("other", 0).commit()
        many = await db.get_many(["items/03", "missing", "items/01"])
        assert [(e.key, e.value, e.index) for e in many] == [
            ("items/03", 3, index),
            ("items/01", 1, index),
        ]
        page = await db.list("items/", limit=10)
        assert [e.key for e in page] == [f"items/{i:02d}" for i in range(10)]
        assert page.more is True and page.index == index
        rest = await db.list("items/", after="items/09")
        assert len(rest) == 20 and rest.more is False
        scanned = [e.key async for e in db.scan("items/", page_size=7)]
        assert scanned == [f"items/{i:02d}" for i in range(30)]
        assert [e.key async for e in db.scan()] == [*scanned, "other"]
        with pytest.raises(InvalidArgumentError):
            await db.list("", limit=0)

    run(url, test)


def test_txn(url: str) -> None:
    async def test(db: AsyncClient) -> None:
        ia = await db.set("a", 1)
        index = await db.txn().check("a", ia).put("b", 2, index=0).delete("a", index=ia).commit()
        assert await db.get("a") is None
        b = await db.get("b")
        assert b is not None and (b.value, b.index) == (2, index)
        with pytest.raises(ConcurrencyError) as raised:
            await db.txn().check("a", ia).put("b", 3, index=ia).set("c", 1).commit()
        assert sorted(raised.value.conflicts) == [Conflict("a", ia, 0), Conflict("b", ia, index)]
        assert await db.get("c") is None
        assert await db.index() == index
        twice = db.txn().set("x", 1)
        with pytest.raises(InvalidArgumentError, match="writes key 'x' twice"):
            twice.set("x", 2)  # refused at the step
        txn = db.txn()
        for i in range(128):
            txn.set(f"n/{i}", i)
        with pytest.raises(InvalidArgumentError, match="the limit is 128"):
            txn.set("n/128", 128)
        assert len(txn) == 128
        assert await db.index() == index

    run(url, test)


def test_bad_input_is_refused_before_anything_is_written(url: str) -> None:
    async def test(db: AsyncClient) -> None:
        start = await db.index()
        for key in ["", "@reserved", "a\x00b", "k" * 513]:
            with pytest.raises(InvalidArgumentError):
                await db.set(key, 1)
        for value in [{1, 2}, float("nan"), 2**70, b"x", "x" * (1024 * 1024)]:
            with pytest.raises(InvalidArgumentError, match="'doc'"):
                await db.put("doc", value, 0)
            with pytest.raises(InvalidArgumentError):
                await db.txn().set("ok", 1).set("doc", value).commit()
        with pytest.raises(InvalidArgumentError):
            await db.put("doc", 1, -1)
        with pytest.raises(InvalidArgumentError):
            await db.grant(0.5)
        assert await db.index() == start
        assert (await db.list()).entries == []

    run(url, test)


# leases


def test_grant_keepalive_time_to_live_revoke(url: str) -> None:
    async def test(db: AsyncClient) -> None:
        lease = await db.grant(5)
        ttl = await db.time_to_live(lease)
        assert ttl is not None and 0 < ttl <= 5
        await db.set("leased", 1, lease=lease)
        assert 4 <= await db.keepalive(lease) <= 6
        assert await db.revoke(lease) is True
        assert await db.get("leased") is None
        assert await db.time_to_live(lease) is None
        assert await db.revoke(lease) is False
        with pytest.raises(LeaseExpiredError):
            await db.keepalive(lease)
        with pytest.raises(LeaseExpiredError):
            await db.keepalive(987654321)

    run(url, test)


def test_kept_alive_lease_revoked_deletes_entries_with_a_watch_event(url: str) -> None:
    async def test(db: AsyncClient) -> None:
        async with db.watch("eph/") as watch:
            async with await db.lease(10) as lease:
                assert not lease.lost
                put = await db.set("eph/1", "x", lease=lease)
                entry = await db.get("eph/1")
                assert entry is not None and entry.lease == lease.id
            assert lease.lost
            assert await lease.wait_lost(5) is True
            assert await db.get("eph/1") is None
            first = await watch.next(5)
            second = await watch.next(5)
            assert first is not None and (first.type, first.key) == ("put", "eph/1")
            assert second is not None and (second.type, second.key) == ("delete", "eph/1")
            assert second.index > put

    run(url, test)


def test_bare_lease_expires_and_deletes_its_entries(url: str) -> None:
    async def test(db: AsyncClient) -> None:
        lease = await db.grant(1)
        await db.set("short", 1, lease=lease)

        async def gone() -> bool:
            return await db.get("short") is None

        await eventually(gone, "the lease to expire")
        assert await db.time_to_live(lease) is None

    run(url, test)


# watch


def test_async_for_over_a_watch(url: str) -> None:
    async def test(db: AsyncClient) -> None:
        watch = db.watch("jobs/")
        i1 = await db.set("jobs/1", "a")
        await db.set("elsewhere", "b")
        i2 = await db.delete("jobs/1")
        i3 = await db.set("jobs/2", {"c": [1]})
        seen = []
        async for event in watch:
            seen.append((event.type, event.key, event.value, event.index))
            if len(seen) == 3:
                break
        assert seen == [
            ("put", "jobs/1", "a", i1),
            ("delete", "jobs/1", None, i2.index),
            ("put", "jobs/2", {"c": [1]}, i3),
        ]
        assert await watch.next(timeout=0.1) is None
        watch.close()
        # Resume from an index: the history is replayed in order.
        replay = db.watch("jobs/", from_index=i2.index)
        first = await replay.next(5)
        assert first is not None and (first.type, first.index) == ("delete", i2.index)
        second = await replay.__anext__()
        assert (second.key, second.index) == ("jobs/2", i3)
        replay.close()

    run(url, test)


def test_watch_waits_for_events_without_blocking_the_loop(url: str) -> None:
    async def test(db: AsyncClient) -> None:
        watch = db.watch("later/")

        async def writer() -> int:
            await asyncio.sleep(0.05)
            return await db.set("later/1", "now")

        event, index = await asyncio.gather(watch.next(10), writer())
        assert event is not None and (event.key, event.index) == ("later/1", index)
        watch.close()

    run(url, test)


# locks


def test_async_with_lock_gives_a_fencing_token_and_releases(url: str) -> None:
    async def test(db: AsyncClient) -> None:
        async with db.lock("printer/first-floor", ttl=10) as held:
            token = held.fencing_token
            assert isinstance(token, int) and token > 0
            assert held.held
            queue = await db.lock_queue("printer/first-floor")
            assert len(queue) == 1
            assert queue[0].holder and queue[0].token == token
            assert await db.lock("printer/first-floor").acquire(blocking=False) is False
        assert not held.held
        assert held.fencing_token is None
        assert await db.lock_queue("printer/first-floor") == []
        async with db.lock("printer/first-floor") as again:
            assert again.fencing_token is not None and again.fencing_token > token

    run(url, test)


def test_wait_lost_of_a_lock_not_held_raises_at_once(url: str) -> None:
    """wait_lost of a lock that is not held would never resolve: it raises InvalidArgumentError at
    once (never acquired, released, its client closed); while held, a loss resolves it."""

    async def test(db: AsyncClient) -> None:
        lock = db.lock("printer", ttl=10)
        with pytest.raises(InvalidArgumentError, match="lock 'printer' is not held"):
            await asyncio.wait_for(lock.wait_lost(), 5)
        async with lock:
            waiting = asyncio.ensure_future(lock.wait_lost())
            await asyncio.sleep(0.05)
            assert not waiting.done()
        with pytest.raises(InvalidArgumentError, match="lock 'printer' is not held"):
            await asyncio.wait_for(lock.wait_lost(), 5)
        # A release ends no wait: the pending one is cancelled here.
        waiting.cancel()
        held = db.lock("held", ttl=10)
        assert await held.acquire()
        pending = asyncio.ensure_future(held.wait_lost())
        await asyncio.sleep(0.05)
        await db.close()
        await asyncio.wait_for(pending, 5)  # the close lost the lock
        with pytest.raises(InvalidArgumentError, match=r"client of .* is closed"):
            await asyncio.wait_for(held.wait_lost(), 5)
        with pytest.raises(InvalidArgumentError, match=r"client of .* is closed"):
            await asyncio.wait_for(lock.wait_lost(), 5)

    run(url, test)


def test_lock_is_released_when_the_body_raises(url: str) -> None:
    async def test(db: AsyncClient) -> None:
        with pytest.raises(RuntimeError):
            async with db.lock("res"):
                raise RuntimeError("boom")
        assert await db.lock_queue("res") == []

    run(url, test)


def test_waiter_gets_the_lock_when_the_holder_releases(url: str) -> None:
    async def test(db: AsyncClient) -> None:
        holder = db.lock("res")
        assert await holder.acquire()
        first = holder.fencing_token
        waiter = db.lock("res")
        task = asyncio.create_task(waiter.acquire(timeout=DEADLINE))

        async def queued() -> bool:
            return len(await db.lock_queue("res")) == 2

        await eventually(queued, "the waiter to queue")
        assert not task.done()
        await holder.release()
        assert await task is True
        second = waiter.fencing_token
        assert first is not None and second is not None and second > first
        assert waiter.held and waiter.fencing_token == second
        await waiter.release()

    run(url, test)


def test_cancelling_a_waiting_acquire_removes_its_waiter(url: str) -> None:
    async def test(db: AsyncClient) -> None:
        holder = db.lock("printer")
        await holder.acquire()
        waiter = db.lock("printer")
        task = asyncio.create_task(waiter.acquire())

        def queue_length_is(n: int) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                return len(await db.lock_queue("printer")) == n

            return check

        await eventually(queue_length_is(2), "the waiter entry to appear")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await eventually(queue_length_is(1), "the cancelled waiter entry to go", 5)
        assert not waiter.held
        await holder.release()
        third = db.lock("printer")
        assert await third.acquire(blocking=False)
        token = third.fencing_token
        assert token is not None, "a cancelled waiter still blocks the lock"
        await third.release()

    run(url, test)


def test_wait_for_timeout_around_acquire_removes_its_waiter(url: str) -> None:
    async def test(db: AsyncClient) -> None:
        holder = db.lock("printer")
        await holder.acquire()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(db.lock("printer").acquire(), 0.3)

        async def one_left() -> bool:
            return len(await db.lock_queue("printer")) == 1

        await eventually(one_left, "the abandoned waiter entry to go", 5)
        await holder.release()
        assert await db.lock("printer").acquire(blocking=False) is True

    run(url, test)


def test_acquire_timeout_returns_false_and_leaves_no_waiter(url: str) -> None:
    """Like threading.Lock and asyncio.Lock users expect: acquire returns False when its timeout
    passes; ``async with`` raises LockTimeoutError (also a TimeoutError) instead."""

    async def test(db: AsyncClient) -> None:
        holder = db.lock("printer")
        assert await holder.acquire()
        token = holder.fencing_token
        loser = db.lock("printer")
        assert await loser.acquire(timeout=0.2) is False
        assert not loser.held
        assert await loser.try_acquire() is False
        with pytest.raises(LockTimeoutError) as raised:
            async with db.lock("printer", timeout=0.2):
                pytest.fail("the body ran without the lock")
        assert isinstance(raised.value, TimeoutError)
        # The timeout given to client.lock is acquire()'s default too.
        assert await db.lock("printer", timeout=0.2).acquire() is False
        queue = await db.lock_queue("printer")
        assert [(w.holder, w.token) for w in queue] == [(True, token)]
        await holder.release()
        assert await db.lock_queue("printer") == []

    run(url, test)


# sessions


def test_async_session_load_modify_save(url: str) -> None:
    async def test(db: AsyncClient) -> None:
        await db.set("accounts/1", {"funds": 100})
        await db.set("accounts/2", {"funds": 0})
        async with db.session() as s:
            src = await s.load("accounts/1")
            dst = await s.load("accounts/2")
            assert await s.load("accounts/1") is src
            assert s.has_changes is False
            src["funds"] -= 30
            dst["funds"] += 30
            assert s.has_changes is True
            s.store("audit/1", {"moved": 30})
            index = await s.save_changes()
        assert index is not None and index == await db.index()
        got = {e.key: (e.value, e.index) for e in await db.get_many(["accounts/1", "accounts/2"])}
        assert got == {"accounts/1": ({"funds": 70}, index), "accounts/2": ({"funds": 30}, index)}
        audit = await db.get("audit/1")
        assert audit is not None and audit.index == index
        assert await db.session().save_changes() is None
        loaded = await db.session().load_many(["accounts/1", "nobody"])
        assert loaded == {"accounts/1": {"funds": 70}, "nobody": None}

    run(url, test)


def test_async_session_conflict(url: str) -> None:
    async def test(db: AsyncClient) -> None:
        loaded = await db.set("doc", {"v": 0})
        mine = db.session()
        doc = await mine.load("doc")
        theirs = await db.set("doc", {"v": "theirs"})
        doc["v"] = "mine"
        mine.put_compare_exchange("guard", 1, 0)
        with pytest.raises(ConcurrencyError) as raised:
            await mine.save_changes()
        assert raised.value.conflicts == [Conflict("doc", loaded, theirs)]
        assert "doc" in str(raised.value)
        entry = await db.get("doc")
        assert entry is not None and entry.value == {"v": "theirs"}
        assert await db.get("guard") is None
        last_wins = db.session(optimistic=False)
        (await last_wins.load("doc"))["v"] = "last"
        await db.set("doc", {"v": "in between"})
        await last_wins.save_changes()
        entry = await db.get("doc")
        assert entry is not None and entry.value == {"v": "last"}

    run(url, test)


# retry


def test_async_retry_makes_concurrent_increments_correct(url: str) -> None:
    async def test(db: AsyncClient) -> None:
        await db.set("counter", 0)

        async def increment() -> int:
            entry = await db.get("counter")
            assert entry is not None
            await asyncio.sleep(0)  # let the other tasks read the same version
            return await db.txn().put("counter", entry.value + 1, index=entry.index).commit()

        async def worker() -> None:
            for _ in range(5):
                await db.retry(increment, attempts=500)

        await asyncio.gather(*(worker() for _ in range(6)))
        entry = await db.get("counter")
        assert entry is not None and entry.value == 30

    run(url, test)


def test_async_retry_attempts_and_other_errors(url: str) -> None:
    async def test(db: AsyncClient) -> None:
        raised: list[ConcurrencyError] = []

        async def always_conflicts() -> None:
            try:
                await db.txn().check("never", 1).commit()
            except ConcurrencyError as e:
                raised.append(e)
                raise

        with pytest.raises(ConcurrencyError) as final:
            await db.retry(always_conflicts, attempts=3)
        assert len(raised) == 3 and final.value is raised[-1]

        calls: list[int] = []

        async def fails_otherwise() -> None:
            calls.append(1)
            raise KeyError("x")

        with pytest.raises(KeyError):
            await db.retry(fails_otherwise, attempts=5)
        assert calls == [1]

        async def succeeds_third_time() -> str:
            calls.append(1)
            if len(calls) < 4:
                await db.txn().check("never", 1).commit()
            return "ok"

        assert await db.retry(succeeds_third_time) == "ok"
        assert len(calls) == 4

    run(url, test)


# concurrency from one client


def test_gather_of_many_puts_from_one_client(url: str) -> None:
    async def test(db: AsyncClient) -> None:
        n = 200
        indexes = await asyncio.gather(*(db.set(f"many/{i:03d}", {"i": i}) for i in range(n)))
        assert len(set(indexes)) == n, "every write gets its own index"
        assert max(indexes) == await db.index()
        entries = [e async for e in db.scan("many/")]
        assert [(e.key, e.value) for e in entries] == [
            (f"many/{i:03d}", {"i": i}) for i in range(n)
        ]
        assert {e.index for e in entries} == set(indexes)
        for e, index in zip(entries, indexes):
            assert e.index == index

    run(url, test)


def test_gather_of_racing_creates_has_one_winner(url: str) -> None:
    async def test(db: AsyncClient) -> None:
        results = await asyncio.gather(*(db.put("emails/a@b.c", f"u{i}", 0) for i in range(50)))
        winners = [r for r in results if r.successful]
        assert len(winners) == 1
        assert all((r.index, r.value) == (winners[0].index, winners[0].value) for r in results)

    run(url, test)


def test_gather_of_reads_writes_and_a_lock(url: str) -> None:
    async def test(db: AsyncClient) -> None:
        async with db.lock("mixed") as held:
            token = held.fencing_token
            results = await asyncio.gather(
                db.set("m/a", 1),
                db.get("m/a"),
                db.list("m/"),
                db.txn().set("m/b", 2).commit(),
                db.lock_queue("mixed"),
                db.index(),
            )
            queue = results[4]
            assert [w.token for w in queue] == [token]
        assert {e.key for e in await db.get_many(["m/a", "m/b"])} == {"m/a", "m/b"}

    run(url, test)


def test_sync_and_async_clients_share_the_store(url: str) -> None:
    sync = interlock.connect(url)
    try:

        async def test(db: AsyncClient) -> None:
            index = await db.set("shared", "from async")
            entry = sync.get("shared")
            assert entry is not None and (entry.value, entry.index) == ("from async", index)
            later = sync.set("shared", "from sync")
            got = await db.get("shared")
            assert got is not None and (got.value, got.index) == ("from sync", later)

        run(url, test)
    finally:
        sync.close()


# acquire() as asyncio.Lock and threading.Lock users expect


def test_async_acquire_returns_booleans_and_honours_the_locks_timeout(url: str) -> None:
    async def test(db: AsyncClient) -> None:
        lock = db.lock("printer", ttl=10)
        assert await lock.acquire() is True
        token = lock.fencing_token
        assert isinstance(token, int) and token > 0
        other = db.lock("printer", timeout=0.2)
        assert await other.acquire(False) is False
        assert await other.try_acquire() is False
        assert await other.acquire() is False  # the lock's own timeout
        assert await other.acquire(True, 0.1) is False
        with pytest.raises(LockTimeoutError):
            async with other:
                pytest.fail("the body ran without the lock")
        with pytest.raises(InvalidArgumentError, match="blocking"):
            await other.acquire(5)  # type: ignore[arg-type]
        waiter = asyncio.ensure_future(db.lock("printer").acquire(True))
        await asyncio.sleep(1.5)  # past the old one-second reading of True
        assert not waiter.done()
        await lock.release()
        assert await asyncio.wait_for(waiter, DEADLINE) is True

    run(url, test)


# The process exits cleanly, every time (it crashed in about one run in seven: a result was
# handed to the event loop from a runtime thread while the interpreter finalized).

FIVE_LINES = """\
import asyncio, sys, interlock.aio
async def main():
    db = await interlock.aio.connect(sys.argv[1])
    async with db.lock("printer/first-floor") as held:
        print(held.fencing_token)
asyncio.run(main())
"""

# The loop ends while a lock is held and another acquire still waits (the task is cancelled by
# asyncio.run), and while a lease and a watch are open.
PENDING = """\
import asyncio, sys, interlock.aio
async def main():
    db = await interlock.aio.connect(sys.argv[1])
    other = await interlock.aio.connect(sys.argv[1])
    held = db.lock("printer", ttl=30)
    await held.acquire()
    waiter = asyncio.ensure_future(other.lock("printer", ttl=30).acquire())
    lease = await db.lease(30)
    watch = db.watch("jobs/")
    await db.set("jobs/1", "queued")
    await asyncio.sleep(0.05)
    print("leaving with", held.fencing_token, "held and", waiter.done(), lease.id, watch)
asyncio.run(main())
"""

RUNS = 50


def store_urls(kind: str, tmp_path: Path, n: int) -> list[str]:
    if kind == "mem":
        return [f"mem://exit-{i}" for i in range(n)]
    return [f"sqlite://{tmp_path / f'exit-{i}.db'}" for i in range(n)]


@pytest.mark.parametrize("kind", ["mem", "sqlite"])
@pytest.mark.parametrize("program", ["five-lines", "pending"])
def test_asyncio_programs_exit_cleanly_every_time(tmp_path: Path, kind: str, program: str) -> None:
    script = tmp_path / "program.py"
    script.write_text(textwrap.dedent(FIVE_LINES if program == "five-lines" else PENDING))
    runs = run_many([[str(script), url] for url in store_urls(kind, tmp_path, RUNS)])
    assert len(runs) == RUNS
    failed = crashes(runs)
    assert not failed, f"{len(failed)} of {RUNS} runs failed:\n" + "\n".join(failed[:3])
    if program == "five-lines":
        assert all(r.stdout.strip().isdigit() for r in runs)
    else:
        assert all(r.stdout.startswith("leaving with") for r in runs)
