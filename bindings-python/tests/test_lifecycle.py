"""The lifecycle matrix: how a process's locks end, for every way a process using interlock can
end or let go, with real processes, real signals and real stores.

Cells (each for the sync and the asyncio API, on sqlite, etcd and http: CELLS x 2 x 3 tests):

- fork_new, fork_inherited: a parent that used the package forks 4 children that take the lock
  with a new client or with the client they inherited; all exit 0 and the counter is exact.
- close_holding: close() while holding frees the lock for another client far below its TTL;
  the holder sees it lost and release() raises LockLostError.
- close_waiting: close() while an acquire waits ends that wait with InvalidArgumentError.
- drop_lock, drop_client: a held lock, or the whole client, garbage collected frees the lock
  far below its TTL.
- normal_exit, exception_exit (unhandled), sys_exit, wait_at_exit (a daemon thread still in
  acquire; for asyncio, the loop ending with a lock held and an acquire pending): the lock is
  free far below its TTL (the atexit hook closes the clients), the exit status is the one
  Python gives, nothing crashes. These run RUNS times each, PARALLEL at a time, all contending
  for one lock whose TTL is far above how long a run waits for it: a lock left to expire fails
  the next run. The counter they increment under the lock is exact.
- sigint: Ctrl-C (KeyboardInterrupt, unhandled) frees the lock far below its TTL.
- sigterm_exit: with the handler bindings-python/README.md recommends (SIGTERM as sys.exit),
  SIGTERM frees the lock far below its TTL.
- sigterm, sigkill: Python's default SIGTERM, like SIGKILL, ends the process without running
  exit hooks; the lock frees when its lease expires, within its TTL (plus the time a waiter
  needs to notice).

Every run's stderr must be free of a Rust panic, a backtrace and "Fatal Python error".
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from conftest import Store
from exit_runs import CRASH_MARKS, crashes, run_many

import interlock

PROGRAM = str(Path(__file__).with_name("lifecycle_program.py"))

CELLS = [
    "fork_new",
    "fork_inherited",
    "close_holding",
    "close_waiting",
    "drop_lock",
    "drop_client",
    "normal_exit",
    "exception_exit",
    "sys_exit",
    "wait_at_exit",
    "sigint",
    "sigterm_exit",
    "sigterm",
    "sigkill",
]
APIS = ["sync", "asyncio"]
LOOPED = {"normal_exit": 0, "exception_exit": 1, "sys_exit": 3, "wait_at_exit": 0}

# A TTL far above PROMPT: a lock freed within PROMPT was freed by the process, not by expiry.
LONG_TTL = 60.0
PROMPT = 15.0
# The TTL of the crash cells, and the slack a waiter gets on top of it to notice the expiry.
SHORT_TTL = 3.0
EXPIRY_SLACK = 10.0
RUNS = 50

# The fork cells fork a process that has threads; Python 3.12+ warns about any such fork.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:This process \(pid=\d+\) is multi-threaded, use of fork\(\) may lead to "
    r"deadlocks in the child\.:DeprecationWarning"
)


def no_crash(stderr: str) -> None:
    marks = [m for m in CRASH_MARKS if m in stderr]
    assert not marks, f"stderr shows {marks}:\n{stderr[-3000:]}"


class Cell:
    def __init__(self, store: Store, api: str, cell: str) -> None:
        self.store, self.api, self.cell = store, api, cell
        self.prefix = f"{store.prefix}{cell}-{uuid.uuid4().hex[:8]}/"
        self.env = store.env()
        self.env["LIFECYCLE_PREFIX"] = self.prefix
        self.db = interlock.connect(store.url, token=store.token)

    @property
    def lock_name(self) -> str:
        return f"{self.prefix}lock"

    def args(self, ttl: float) -> list[str]:
        return [PROGRAM, self.api, self.cell, str(ttl)]

    def start(self, ttl: float) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, *self.args(ttl)],
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def counter(self) -> object:
        entry = self.db.get(f"{self.prefix}counter")
        return None if entry is None else entry.value

    def free_within(self, seconds: float) -> bool:
        """Whether another client gets the lock within `seconds`."""
        lock = self.db.lock(self.lock_name, ttl=LONG_TTL)
        if not lock.acquire(timeout=seconds):
            return False
        lock.release()
        return True


def read_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        _, err = proc.communicate(timeout=30)
        pytest.fail(f"the program ended early (exit {proc.returncode}); stderr:\n{err}")
    return line.strip()


def finish(proc: subprocess.Popen[str], go: bool = True) -> tuple[int, str, str]:
    out, err = proc.communicate("go\n" if go else None, timeout=60)
    return proc.returncode, out, err


@pytest.mark.timeout(600)  # the looped cells run RUNS programs each
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("api", APIS)
def test_cell(shared_store: Store, api: str, cell: str) -> None:
    c = Cell(shared_store, api, cell)
    try:
        run_cell(c)
    finally:
        c.db.close()


def run_cell(c: Cell) -> None:
    cell = c.cell
    if cell in ("fork_new", "fork_inherited"):
        proc = c.start(LONG_TTL)
        code, out, err = finish(proc, go=False)
        no_crash(err)
        assert code == 0, f"exit {code}: {out}\n{err}"
        assert out.split() == ["children", "0", "0", "0", "0"]
        assert c.counter() == 5
        assert c.free_within(PROMPT)
    elif cell == "close_holding":
        proc = c.start(LONG_TTL)
        assert read_line(proc).startswith("held")
        assert read_line(proc) == "closed lost True"
        assert read_line(proc) == "release LockLostError closed True"
        # Still running, the holder no longer holds: another client gets the lock at once.
        assert c.free_within(PROMPT)
        assert proc.poll() is None
        code, _, err = finish(proc)
        no_crash(err)
        assert code == 0
        assert c.counter() == 1
    elif cell == "close_waiting":
        holder = c.db.lock(c.lock_name, ttl=LONG_TTL)
        assert holder.acquire()
        proc = c.start(LONG_TTL)
        assert read_line(proc) == "waiting"
        assert read_line(proc) == "waiter InvalidArgumentError closed=True ended"
        code, _, err = finish(proc, go=False)
        no_crash(err)
        assert code == 0
        assert [w.holder for w in c.db.lock_queue(c.lock_name)] == [True]
        assert holder.held and not holder.lost
        holder.release()
    elif cell in ("drop_lock", "drop_client"):
        proc = c.start(LONG_TTL)
        assert read_line(proc).startswith("held")
        assert read_line(proc) == "dropped"
        assert c.free_within(PROMPT)
        assert proc.poll() is None
        code, _, err = finish(proc)
        no_crash(err)
        assert code == 0
        assert c.counter() == 1
    elif cell in LOOPED:
        runs = run_many([c.args(LONG_TTL)] * RUNS, env=c.env)
        assert len(runs) == RUNS
        failed = crashes(runs, LOOPED[cell])
        assert not failed, f"{len(failed)} of {RUNS} runs failed:\n" + "\n".join(failed[:3])
        if cell == "exception_exit":
            assert all("RuntimeError: boom" in r.stderr for r in runs)
        assert c.counter() == RUNS
        assert c.free_within(PROMPT)
    elif cell in ("sigint", "sigterm_exit"):
        proc = c.start(LONG_TTL)
        assert read_line(proc).startswith("held")
        proc.send_signal(signal.SIGINT if cell == "sigint" else signal.SIGTERM)
        # KeyboardInterrupt, or SystemExit from the handler, ends the program through the exit
        # hooks: the lock frees at once.
        assert c.free_within(PROMPT)
        code, _, err = finish(proc, go=False)
        no_crash(err)
        if cell == "sigint":
            assert code == -signal.SIGINT, err
            assert "KeyboardInterrupt" in err
        else:
            assert code == 143, err
        assert c.counter() == 1
    else:  # sigterm, sigkill
        sig = signal.SIGTERM if cell == "sigterm" else signal.SIGKILL
        proc = c.start(SHORT_TTL)
        assert read_line(proc).startswith("held")
        os.kill(proc.pid, sig)
        code, _, err = finish(proc, go=False)
        assert code == -sig
        no_crash(err)
        # No exit hook ran: the lease expires, within its TTL.
        assert c.free_within(SHORT_TTL + EXPIRY_SLACK)
        assert c.counter() == 1
