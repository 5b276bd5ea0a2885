"""Fork safety: a client made before ``os.fork()`` keeps working in the child and in the parent,
also when the fork lands while other threads are busy; an in-process store refuses a forked child
with a clear error; objects copied by fork (a held lock, a lease, a watch) neither work in the child
nor release or revoke anything of the parent's when the child drops them."""

from __future__ import annotations

import asyncio
import gc
import json
import multiprocessing
import os
import signal
import tempfile
import threading
import time
import traceback
from typing import Any, Callable

import pytest
from conftest import Store

import interlock
import interlock.aio
from interlock import Client, InterlockError

# How long a child may take before the test calls it hung (a healthy one takes well under 1 s).
DEADLINE = 10.0

# Forking a process that has threads is the point of this file (interlock's runtime threads,
# lease keepers, a busy thread of the application). Python 3.12+ warns about any such fork; the
# warning is not about interlock, and filterwarnings=error would turn it into a failure.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:This process \(pid=\d+\) is multi-threaded, use of fork\(\) may lead to "
    r"deadlocks in the child\.:DeprecationWarning"
)


def wait_for_child(pid: int, timeout: float = DEADLINE) -> int:
    """Waits for child `pid` up to `timeout` seconds; returns its exit code. A child that hangs
    is killed and fails the test."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail(f"the forked child {pid} hung for {timeout} s and was killed")
        time.sleep(0.01)


def in_fork(child: Callable[[], Any], timeout: float = DEADLINE) -> Any:
    """Runs `child()` in a child made by ``os.fork()``; returns what it returned (as JSON). A
    child that raises, hangs or dies fails the test with its traceback."""
    fd, report = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        pid = os.fork()
        if pid == 0:  # the child: never return into pytest
            code = 1
            try:
                try:
                    text = json.dumps({"result": child()})
                    code = 0
                except BaseException:
                    text = json.dumps({"error": traceback.format_exc()})
                with open(report, "w") as f:
                    f.write(text)
            finally:
                os._exit(code)
        code = wait_for_child(pid, timeout)
        with open(report) as f:
            text = f.read()
        outcome = json.loads(text) if text else {"error": "the child reported nothing"}
        if code != 0 or "error" in outcome:
            pytest.fail(f"the forked child exited with {code}: {outcome.get('error')}")
        return outcome["result"]
    finally:
        os.unlink(report)


def test_sqlite_client_made_before_fork_works_in_child_and_parent(sqlite_url: str) -> None:
    db = interlock.connect(sqlite_url)
    before = db.set("before", {"made by": "parent"})
    with db.lock("printer") as held:  # the parent's runtime and lease keeper are running
        assert held.held
    parent_watch = db.watch("events/")

    def child() -> dict[str, Any]:
        entry = db.get("before")
        assert entry is not None and (entry.value, entry.index) == ({"made by": "parent"}, before)
        written = db.set("child/key", os.getpid())
        assert db.put("child/key", "again", index=written).successful
        # A watch made in the child sees the child's writes.
        with db.watch("events/") as watch:
            index = db.set("events/from-child", "hello")
            event = watch.next(timeout=10)
            assert event is not None and (event.key, event.index) == ("events/from-child", index)
        # Locks and leases work in the child.
        lock = db.lock("printer", ttl=5)
        assert lock.acquire(timeout=10)
        token = lock.fencing_token
        assert token is not None and lock.held
        assert [(w.holder, w.token) for w in db.lock_queue("printer")] == [(True, token)]
        lock.release()
        assert db.lock_queue("printer") == []
        # The parent's watch was copied, not shared: it refuses to run here.
        with pytest.raises(InterlockError, match="fork"):
            parent_watch.next(timeout=0.1)
        return {"pid": os.getpid(), "event": index, "token": token}

    report = in_fork(child)

    entry = db.get("child/key")
    assert entry is not None and entry.value == "again"
    # The parent's watch, made before the fork, sees the child's write to the shared file.
    event = parent_watch.next(timeout=10)
    assert event is not None and (event.key, event.index) == ("events/from-child", report["event"])
    index = db.set("after", "parent")
    assert db.index() == index
    with db.lock("printer", timeout=10) as again:
        assert again.fencing_token is not None and again.fencing_token > report["token"]
    db.close()


def use_client_in_child(db: Client, key: str) -> None:
    """The target of a multiprocessing "fork" process: exits 0 only if everything works."""
    db.set(key, os.getpid())
    with db.lock("printer", timeout=10) as held:
        assert held.fencing_token is not None
    lease = db.lease(2)
    db.set(f"{key}/leased", True, lease=lease)
    assert lease.revoke()
    assert db.get(f"{key}/leased") is None


def test_client_works_in_a_multiprocessing_fork_process(sqlite_url: str) -> None:
    db = interlock.connect(sqlite_url)
    db.set("before", 1)
    ctx = multiprocessing.get_context("fork")
    process = ctx.Process(target=use_client_in_child, args=(db, "children/1"))
    process.start()
    process.join(DEADLINE)
    if process.is_alive():
        process.kill()
        process.join()
        pytest.fail("the fork-context child hung")
    assert process.exitcode == 0
    entry = db.get("children/1")
    assert entry is not None and entry.value == process.pid
    assert db.lock_queue("printer") == []
    with db.lock("printer", timeout=10):
        assert db.set("after", 2) > entry.index


def test_fork_while_threads_are_busy_gives_a_working_child(sqlite_url: str) -> None:
    db = interlock.connect(sqlite_url)
    lease = db.lease(1)  # its keeper renews every third of a second
    leased = db.set("leased", "parent", lease=lease)
    lock = db.lock("parent-lock", lease=lease)
    assert lock.acquire()
    token = lock.fencing_token
    stop = threading.Event()
    puts = [0]
    errors: list[BaseException] = []

    def busy() -> None:
        try:
            while not stop.is_set():
                db.set("busy", puts[0])
                puts[0] += 1
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=busy, daemon=True)
    thread.start()
    try:
        for n in range(8):
            time.sleep(0.02)
            assert thread.is_alive()

            def child(n: int = n) -> int:
                entry = db.get("leased")
                assert entry is not None and entry.value == "parent"
                index = db.set(f"children/{n}", os.getpid())
                with db.lock("child-lock", timeout=10) as held:
                    assert held.fencing_token is not None
                return index

            index = in_fork(child)
            entry = db.get(f"children/{n}")
            assert entry is not None and entry.index == index
        progress = puts[0]
        time.sleep(0.1)
        assert puts[0] > progress, "the busy thread stopped after the forks"
    finally:
        stop.set()
        thread.join(DEADLINE)
    assert not errors, errors
    # The parent's lease and lock outlived every fork.
    assert not lease.lost
    assert db.time_to_live(lease) is not None
    entry = db.get("leased")
    assert entry is not None and entry.index == leased
    assert lock.held and not lock.lost and lock.fencing_token == token
    lock.release()
    lease.revoke()


def test_mem_client_in_a_forked_child_raises_a_clear_error() -> None:
    url = "mem://fork-test"
    db = interlock.connect(url)
    db.set("k", 1)

    def child() -> list[str]:
        messages = []
        for call in (
            lambda: db.get("k"),
            lambda: db.set("k", 2),
            lambda: db.lock("printer").acquire(timeout=1),
        ):
            with pytest.raises(InterlockError) as raised:
                call()
            messages.append(str(raised.value))
        return messages

    messages = in_fork(child, timeout=20)
    for message in messages:
        assert url in message and "fork" in message, message
    # The parent's store is untouched and still works.
    entry = db.get("k")
    assert entry is not None and entry.value == 1
    assert db.set("k", 3) > entry.index


def test_lock_and_lease_copied_by_fork_stay_the_parents(sqlite_url: str) -> None:
    db = interlock.connect(sqlite_url)
    # The parent's objects live only in this dict, so the child can drop every reference.
    parent: dict[str, Any] = {"client": interlock.connect(sqlite_url)}
    parent["lease"] = parent["client"].lease(5)
    parent["lock"] = parent["client"].lock("printer", ttl=5, owner="parent")
    assert parent["lock"].acquire()
    token = parent["lock"].fencing_token
    leased = parent["client"].set("leased", "parent", lease=parent["lease"])

    def child() -> None:
        lock = parent["lock"]
        assert not lock.held
        assert lock.fencing_token is None
        assert not lock.lost
        with pytest.raises(InterlockError, match="fork"):
            lock.release()
        with pytest.raises(InterlockError, match="fork"):
            _ = parent["lease"].lost
        mine = interlock.connect(sqlite_url)
        assert [(w.holder, w.token) for w in mine.lock_queue("printer")] == [(True, token)]
        assert mine.lock("printer").acquire(blocking=False) is False
        # Dropping the copies must not release the lock nor revoke the lease.
        del lock
        parent.clear()
        gc.collect()
        time.sleep(0.3)

    in_fork(child)
    gc.collect()
    time.sleep(0.3)

    lock = parent["lock"]
    assert lock.held and not lock.lost and lock.fencing_token == token
    queue = db.lock_queue("printer")
    assert [(w.holder, w.token) for w in queue] == [(True, token)]
    assert "parent" in str(queue[0].owner)
    assert not parent["lease"].lost
    entry = db.get("leased")
    assert entry is not None and entry.index == leased
    # A fenced write proves the parent still holds it (a transaction requires a lock of its own
    # client).
    assert parent["client"].txn().require(lock).set("printed", True).commit() > leased
    lock.release()
    assert db.lock_queue("printer") == []
    parent["lease"].revoke()
    assert db.get("leased") is None


def test_async_lock_and_watch_copied_by_fork_refuse_the_child(sqlite_url: str) -> None:
    """The asyncio lock and watch objects a child inherits refuse to work there, with the same
    errors as the blocking ones (not an acquire that returns False or waits for the parent's
    lock forever), and the parent's lock and watch keep working."""

    async def setup() -> tuple[interlock.aio.AsyncClient, interlock.aio.AsyncLock, Any]:
        db = await interlock.aio.connect(sqlite_url)
        lock = db.lock("job", ttl=5)
        assert await lock.acquire()
        watch = await db.watch("events/").__aenter__()
        return db, lock, watch

    db, lock, watch = asyncio.run(setup())
    token = lock.fencing_token
    parent_pid = os.getpid()

    def child() -> None:
        async def main() -> None:
            assert not lock.held and lock.fencing_token is None and not lock.lost
            held_by = f"lock 'job' is held by process {parent_pid}; .*fork"
            with pytest.raises(InterlockError, match=held_by):
                await lock.acquire(timeout=1)
            with pytest.raises(InterlockError, match=held_by):
                await lock.acquire(blocking=False)
            with pytest.raises(InterlockError, match=held_by):
                await lock.try_acquire()
            with pytest.raises(InterlockError, match=held_by):
                async with lock:
                    pass
            with pytest.raises(InterlockError, match=held_by):
                await lock.release()
            belongs = f"this watch belongs to process {parent_pid}"
            with pytest.raises(InterlockError, match=belongs):
                await watch.next(timeout=0.1)
            with pytest.raises(InterlockError, match=belongs):
                async for _ in watch:
                    pass
            # The child's own client (the inherited one, reconnected) still works.
            await db.set("events/from-child", os.getpid())

        asyncio.run(asyncio.wait_for(main(), DEADLINE / 2))

    in_fork(child)

    async def after() -> None:
        assert lock.held and not lock.lost and lock.fencing_token == token
        event = await watch.next(timeout=DEADLINE)
        assert event is not None and event.key == "events/from-child"
        await lock.release()
        assert not lock.held
        async with lock as again:
            assert again.fencing_token is not None and again.fencing_token > token
        await db.close()

    asyncio.run(after())


def take_the_counter_lock(store: Store, results: Any) -> None:
    """The target of a prefork worker: connects on its own, takes the shared lock once and
    increments the counter under it (a plain read then write: only the lock keeps it exact)."""
    try:
        db = interlock.connect(store.url, token=store.token)
        with db.lock(f"{store.prefix}counter-lock", ttl=10, timeout=DEADLINE * 3) as held:
            entry = db.get(f"{store.prefix}counter")
            count = 0 if entry is None else entry.value
            db.set(f"{store.prefix}counter", count + 1)
            results.put(("ok", held.fencing_token))
        db.close()
    except BaseException:
        results.put(("error", traceback.format_exc()))
        raise


def test_prefork_workers_each_take_one_lock(shared_store: Store) -> None:
    """A web app's pattern: the parent connects (and works) before its 8 prefork workers start;
    each worker connects and takes one lock. Every worker must get it (their lock waiters must
    not collide), and the counter they increment under it must be exact."""
    parent = interlock.connect(shared_store.url, token=shared_store.token)
    parent.set(f"{shared_store.prefix}counter", 0)
    with parent.lock(f"{shared_store.prefix}counter-lock", ttl=10):
        pass
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    workers = [
        ctx.Process(target=take_the_counter_lock, args=(shared_store, results)) for _ in range(8)
    ]
    for w in workers:
        w.start()
    reports = [results.get(timeout=DEADLINE * 4) for _ in workers]
    for w in workers:
        w.join(DEADLINE)
        if w.is_alive():
            w.kill()
            w.join()
    failures = [r[1] for r in reports if r[0] != "ok"]
    assert not failures, "\n".join(failures)
    assert [w.exitcode for w in workers] == [0] * 8
    tokens = sorted(r[1] for r in reports)
    assert len(set(tokens)) == 8, tokens
    entry = parent.get(f"{shared_store.prefix}counter")
    assert entry is not None and entry.value == 8
    assert parent.lock_queue(f"{shared_store.prefix}counter-lock") == []
    parent.close()


@pytest.mark.parametrize("client", ["inherited", "new"])
def test_child_uses_locks_leases_watches_and_sessions(shared_store: Store, client: str) -> None:
    """A child of a process that used the package works with the client it inherited and with
    a new one: locks, leases, watches and sessions; the parent's own objects keep working."""
    p = shared_store.prefix
    db = interlock.connect(shared_store.url, token=shared_store.token)
    db.set(f"{p}accounts/1", {"funds": 10})
    parent_lease = db.lease(5)
    db.set(f"{p}parent-leased", True, lease=parent_lease)
    parent_lock = db.lock(f"{p}parent-lock", ttl=5)
    assert parent_lock.acquire()
    with db.session() as s:
        s.load(f"{p}accounts/1")["funds"] += 1
        s.save_changes()

    def child() -> dict[str, Any]:
        mine = (
            db
            if client == "inherited"
            else interlock.connect(shared_store.url, token=shared_store.token)
        )
        with mine.lock(f"{p}printer", ttl=5, timeout=DEADLINE) as held:
            token = held.fencing_token
            assert token is not None and held.held
        lock = mine.lock(f"{p}printer", ttl=5)
        assert lock.try_acquire() and lock.held
        lock.release()
        assert mine.lock(f"{p}parent-lock").try_acquire() is False  # still the parent's
        lease = mine.lease(3)
        mine.set(f"{p}child-leased", os.getpid(), lease=lease)
        assert lease.revoke()
        assert mine.get(f"{p}child-leased") is None
        with mine.watch(f"{p}events/") as watch:
            index = mine.set(f"{p}events/from-child", "hello")
            event = watch.next(timeout=DEADLINE)
            assert event is not None and (event.key, event.index) == (
                f"{p}events/from-child",
                index,
            )
        with mine.session() as s:
            s.load(f"{p}accounts/1")["funds"] += 1
            s.store(f"{p}accounts/2", {"funds": 0})
            s.save_changes()
        mine.close()
        return {"token": token}

    report = in_fork(child)
    # The parent's lease, leased key and lock outlived the child and its close().
    assert not parent_lease.lost and parent_lock.held and not parent_lock.lost
    assert db.get(f"{p}parent-leased") is not None
    account = db.get(f"{p}accounts/1")
    assert account is not None and account.value == {"funds": 12}
    assert db.get(f"{p}accounts/2") is not None
    with db.lock(f"{p}printer", ttl=5, timeout=DEADLINE) as again:
        assert again.fencing_token is not None and again.fencing_token > report["token"]
    parent_lock.release()
    parent_lease.revoke()
    db.close()
