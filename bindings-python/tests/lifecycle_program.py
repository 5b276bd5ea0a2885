"""The program each cell of the lifecycle matrix (test_lifecycle.py) runs in a process of its
own: ``python lifecycle_program.py API CELL TTL``, with the store in ``INTERLOCK_URL`` (and
``INTERLOCK_TOKEN``) and its key and lock names under ``LIFECYCLE_PREFIX``. It takes the shared
lock, increments the shared counter under it, says so on stdout, then ends the way CELL names.
Exit status 7 means it did not get the lock within WAIT seconds."""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import signal
import sys
import threading
import time
from typing import Any

import interlock
import interlock.aio
from interlock import InvalidArgumentError, LockLostError

API, CELL, TTL = sys.argv[1], sys.argv[2], float(sys.argv[3])
if CELL == "sigterm_exit":
    # What bindings-python/README.md recommends: SIGTERM as a normal exit.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
PREFIX = os.environ.get("LIFECYCLE_PREFIX", "")
LOCK, COUNTER = f"{PREFIX}lock", f"{PREFIX}counter"
# How long a run waits for the lock: far below the TTL of the cells whose locks must free
# promptly, so a lock left to expire makes the next run fail instead of wait.
WAIT = 20.0


def say(*words: object) -> None:
    print(*words, flush=True)


def wait_for_go() -> None:
    sys.stdin.readline()


def increment(db: interlock.Client) -> None:
    entry = db.get(COUNTER)
    db.set(COUNTER, (0 if entry is None else entry.value) + 1)


async def aincrement(db: interlock.aio.AsyncClient) -> None:
    entry = await db.get(COUNTER)
    await db.set(COUNTER, (0 if entry is None else entry.value) + 1)


def queued(db: interlock.Client, owner: str) -> bool:
    return any(owner in str(w.owner) for w in db.lock_queue(LOCK))


async def aqueued(db: interlock.aio.AsyncClient, owner: str) -> bool:
    return any(owner in str(w.owner) for w in await db.lock_queue(LOCK))


# The synchronous API


def sync_fork_child(inherited: interlock.Client | None) -> None:
    db = inherited if inherited is not None else interlock.connect()
    with db.lock(LOCK, ttl=TTL, timeout=WAIT):
        increment(db)
    if inherited is None:
        db.close()


def sync_main() -> None:
    db = interlock.connect()
    if CELL in ("fork_new", "fork_inherited"):
        with db.lock(LOCK, ttl=TTL, timeout=WAIT):
            increment(db)
        ctx = multiprocessing.get_context("fork")
        child = db if CELL == "fork_inherited" else None
        procs = [ctx.Process(target=sync_fork_child, args=(child,)) for _ in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        say("children", *[p.exitcode for p in procs])
        sys.exit(0 if all(p.exitcode == 0 for p in procs) else 1)
    if CELL == "close_waiting":
        owner = f"waiter-{os.getpid()}"
        outcome: list[str] = []

        def wait() -> None:
            try:
                outcome.append(f"acquired {db.lock(LOCK, owner=owner).acquire()}")
            except InvalidArgumentError as e:
                outcome.append(f"InvalidArgumentError closed={'closed' in str(e)}")

        waiter = threading.Thread(target=wait)
        waiter.start()
        while not queued(db, owner):
            time.sleep(0.01)
        say("waiting")
        db.close()
        waiter.join(WAIT)
        say("waiter", *outcome, "ended" if not waiter.is_alive() else "still-waiting")
        return
    lock = db.lock(LOCK, ttl=TTL)
    if not lock.acquire(timeout=WAIT):
        say("timeout")
        sys.exit(7)
    increment(db)
    say("held", lock.fencing_token)
    if CELL == "close_holding":
        db.close()
        say("closed lost", lock.lost)
        try:
            lock.release()
        except LockLostError as e:
            say("release LockLostError closed", "closed" in str(e))
        wait_for_go()
    elif CELL == "drop_lock":
        del lock
        gc.collect()
        say("dropped")
        wait_for_go()
    elif CELL == "drop_client":
        holder: dict[str, Any] = {"db": db, "lock": lock}
        holder["self"] = holder  # only the collector frees a cycle
        del db, lock, holder
        gc.collect()
        say("dropped")
        wait_for_go()
    elif CELL == "exception_exit":
        raise RuntimeError("boom")
    elif CELL == "sys_exit":
        sys.exit(3)
    elif CELL in ("sigterm", "sigterm_exit", "sigint", "sigkill"):
        time.sleep(120)
    elif CELL == "wait_at_exit":
        # A daemon thread still waits for the lock (of another client) when the process ends.
        owner = f"waiter-{os.getpid()}"
        other = interlock.connect()
        waiter = other.lock(LOCK, ttl=TTL, owner=owner)
        threading.Thread(target=waiter.acquire, daemon=True).start()
        while not queued(db, owner):
            time.sleep(0.01)
        say("leaving with a wait in progress")
    # normal_exit: the lock is still held when the program ends.


# The asyncio API


async def aio_fork_child_main(inherited: interlock.aio.AsyncClient | None) -> None:
    db = inherited if inherited is not None else await interlock.aio.connect()
    async with db.lock(LOCK, ttl=TTL, timeout=WAIT):
        await aincrement(db)
    if inherited is None:
        await db.close()


def aio_fork_child(inherited: interlock.aio.AsyncClient | None) -> None:
    asyncio.run(aio_fork_child_main(inherited))


async def aio_main() -> interlock.aio.AsyncClient | None:
    db = await interlock.aio.connect()
    if CELL in ("fork_new", "fork_inherited"):
        async with db.lock(LOCK, ttl=TTL, timeout=WAIT):
            await aincrement(db)
        return db
    if CELL == "close_waiting":
        owner = f"waiter-{os.getpid()}"
        task = asyncio.ensure_future(db.lock(LOCK, owner=owner).acquire())
        while not await aqueued(db, owner):
            await asyncio.sleep(0.01)
        say("waiting")
        await db.close()
        try:
            say("waiter", f"acquired {await asyncio.wait_for(task, WAIT)}", "ended")
        except InvalidArgumentError as e:
            say("waiter", f"InvalidArgumentError closed={'closed' in str(e)}", "ended")
        return None
    lock = db.lock(LOCK, ttl=TTL)
    if not await lock.acquire(timeout=WAIT):
        say("timeout")
        sys.exit(7)
    await aincrement(db)
    say("held", lock.fencing_token)
    if CELL == "close_holding":
        await db.close()
        say("closed lost", lock.lost)
        try:
            await lock.release()
        except LockLostError as e:
            say("release LockLostError closed", "closed" in str(e))
        wait_for_go()
    elif CELL == "drop_lock":
        del lock
        gc.collect()
        say("dropped")
        wait_for_go()
    elif CELL == "drop_client":
        holder: dict[str, Any] = {"db": db, "lock": lock}
        holder["self"] = holder
        del db, lock, holder
        gc.collect()
        say("dropped")
        wait_for_go()
    elif CELL == "exception_exit":
        raise RuntimeError("boom")
    elif CELL == "sys_exit":
        sys.exit(3)
    elif CELL in ("sigterm", "sigterm_exit", "sigint", "sigkill"):
        await asyncio.sleep(120)
    elif CELL == "wait_at_exit":
        # The loop ends while a lock is held and another client's acquire still waits
        # (asyncio.run cancels that task).
        owner = f"waiter-{os.getpid()}"
        other = await interlock.aio.connect()
        pending = asyncio.ensure_future(other.lock(LOCK, ttl=TTL, owner=owner).acquire())
        while not await aqueued(db, owner):
            await asyncio.sleep(0.01)
        say("leaving with a wait in progress", pending.done())
    return None


def aio_entry() -> None:
    db = asyncio.run(aio_main())
    if db is not None:  # the fork cells: children made after the parent's loop ended
        ctx = multiprocessing.get_context("fork")
        child = db if CELL == "fork_inherited" else None
        procs = [ctx.Process(target=aio_fork_child, args=(child,)) for _ in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        say("children", *[p.exitcode for p in procs])
        sys.exit(0 if all(p.exitcode == 0 for p in procs) else 1)


if __name__ == "__main__":
    sync_main() if API == "sync" else aio_entry()
