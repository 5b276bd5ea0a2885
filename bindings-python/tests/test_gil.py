"""A blocking wait releases the GIL (other Python threads keep running) and honours Ctrl-C
(KeyboardInterrupt arrives promptly and the abandoned waiter leaves the lock's queue)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from typing import Any

from waiting import DEADLINE, wait_until

import interlock
from interlock import Client


def test_other_threads_run_while_acquire_blocks(db: Client) -> None:
    holder = db.lock("printer")
    holder.acquire()
    counter = [0]
    stop = threading.Event()
    progress: list[int] = []
    errors: list[BaseException] = []

    def count() -> None:
        while not stop.is_set():
            counter[0] += 1

    def release_later() -> None:
        # Runs while the main thread is blocked in acquire(): measures the counting thread.
        try:
            wait_until(lambda: len(db.lock_queue("printer")) == 2, "the main thread to queue")
            before = counter[0]
            time.sleep(0.5)
            progress.append(counter[0] - before)
            assert len(db.lock_queue("printer")) == 2, "the main thread stopped waiting"
        except BaseException as e:
            errors.append(e)
        finally:
            holder.release()

    counting = threading.Thread(target=count, daemon=True)
    releasing = threading.Thread(target=release_later, daemon=True)
    counting.start()
    releasing.start()
    try:
        waiter = db.lock("printer")
        assert waiter.acquire(timeout=DEADLINE)
        token = waiter.fencing_token
    finally:
        stop.set()
        counting.join(DEADLINE)
        releasing.join(DEADLINE)
    assert not errors, errors
    assert token is not None and waiter.held
    assert progress and progress[0] > 1000, f"the other thread counted only {progress}"
    waiter.release()


def test_other_threads_run_while_a_watch_waits(db: Client) -> None:
    counter = [0]
    stop = threading.Event()

    def count() -> None:
        while not stop.is_set():
            counter[0] += 1

    counting = threading.Thread(target=count, daemon=True)
    counting.start()
    try:
        with db.watch("nothing/") as watch:
            before = counter[0]
            assert watch.next(timeout=0.5) is None
            during = counter[0] - before
    finally:
        stop.set()
        counting.join(DEADLINE)
    assert during > 1000, f"the other thread counted only {during}"


def block_until_interrupted(url: str, results: Any, proceed: Any) -> None:
    db = interlock.connect(url)
    lock = db.lock("printer", ttl=60, owner="interrupted")
    results.put(("waiting", os.getpid()))
    try:
        lock.acquire()  # no timeout: only Ctrl-C ends this wait
    except KeyboardInterrupt:
        results.put(("interrupted", lock.held))
    else:
        results.put(("acquired", lock.fencing_token))
        return
    # Stay alive, so that the waiter entry must have gone without the process exiting.
    proceed.wait(DEADLINE)
    assert lock.acquire(timeout=DEADLINE)
    token = lock.fencing_token
    results.put(("reacquired", token))
    lock.release()


def test_ctrl_c_interrupts_a_blocked_acquire(sqlite_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    db = interlock.connect(sqlite_url)
    holder = db.lock("printer")
    assert holder.acquire()
    held = holder.fencing_token
    results = ctx.Queue()
    proceed = ctx.Event()
    child = ctx.Process(target=block_until_interrupted, args=(sqlite_url, results, proceed))
    child.start()
    try:
        assert results.get(timeout=DEADLINE) == ("waiting", child.pid)
        wait_until(lambda: len(db.lock_queue("printer")) == 2, "the child to queue")
        assert "interrupted" in str(db.lock_queue("printer")[1].owner)
        assert child.pid is not None
        os.kill(child.pid, signal.SIGINT)
        assert results.get(timeout=10) == ("interrupted", False)
        # The interrupted wait removed its waiter entry; the child is still alive, so neither
        # its exit nor its lease's expiry (60 s) did.
        wait_until(lambda: len(db.lock_queue("printer")) == 1, "the interrupted waiter to go", 10)
        assert child.is_alive()
        assert [(w.holder, w.token) for w in db.lock_queue("printer")] == [(True, held)]
        holder.release()
        proceed.set()
        event, token = results.get(timeout=DEADLINE)
        assert event == "reacquired" and token > held
        child.join(DEADLINE)
        assert child.exitcode == 0
    finally:
        if child.is_alive():
            child.kill()
            child.join()
    assert db.lock_queue("printer") == []
