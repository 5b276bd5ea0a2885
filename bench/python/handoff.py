"""Contended handoff latency between two processes: the time from "the holder is about to call
release()" to "the waiter's acquire() returned".

Two spawned processes play ping-pong with one lock. In each round the holder waits until the
waiter has announced that it is calling acquire() (and, for interlock, until the waiter is in
the lock's queue), sleeps a few milliseconds more so the waiter is really blocked, stores
``time.monotonic_ns()`` (CLOCK_MONOTONIC, the same clock in every process) in shared memory and
releases. The waiter reads the clock right after its acquire() returns. The semaphores that
coordinate the rounds are used only outside that interval. A polling waiter's latency depends on
where in its poll cycle the release falls, so the holder also sleeps a random 0 to P seconds
(P: the contender's poll period, 0 for interlock), which spreads releases evenly over the cycle.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable

LOCK_NAME = "bench/handoff"
# How long the holder keeps the lock after the waiter announced (and queued).
SETTLE_S = 0.005
# How long a process waits for the other one before giving up on the run.
STEP_TIMEOUT_S = 60.0


@dataclass
class Spec:
    """One contender: how to build its lock in a worker process (picklable)."""

    key: str
    label: str
    kind: str  # interlock | polling | filelock | redis
    target: str  # store URL, lock file path, or host:port
    poll_s: float = 0.0
    note: str = ""


@dataclass
class Result:
    spec: Spec
    samples_ns: list[int] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    # Rounds in which an interlock holder did not see the waiter queued before releasing.
    unqueued: int = 0

    def percentile(self, q: float) -> float | None:
        """Nearest-rank percentile, in nanoseconds."""
        if not self.samples_ns:
            return None
        xs = sorted(self.samples_ns)
        rank = max(1, -(-len(xs) * q // 100))
        return float(xs[int(rank) - 1])

    def as_json(self) -> dict[str, Any]:
        p = {f"p{q}_us": _us(self.percentile(q)) for q in (50, 90, 99)}
        return {
            "key": self.spec.key,
            "label": self.spec.label,
            "kind": self.spec.kind,
            "poll_s": self.spec.poll_s,
            "samples": len(self.samples_ns),
            **p,
            "max_us": _us(max(self.samples_ns)) if self.samples_ns else None,
            "mean_us": _us(sum(self.samples_ns) / len(self.samples_ns))
            if self.samples_ns
            else None,
            "seconds": self.seconds,
            "error": self.error,
            "rounds_without_queued_waiter": self.unqueued,
            "samples_us": [s / 1e3 for s in self.samples_ns],
        }


def _us(ns: float | None) -> float | None:
    return None if ns is None else ns / 1e3


class PollingLock:
    """The seeds' polling lock: create the key only if absent (put at index 0), else sleep
    and retry; release by deleting the key."""

    def __init__(self, url: str, key: str, interval: float) -> None:
        import interlock

        self.db = interlock.connect(url)
        self.key = key
        self.owner = f"pid-{os.getpid()}"
        self.interval = interval

    def acquire(self) -> None:
        while not self.db.put(self.key, self.owner, 0).successful:
            time.sleep(self.interval)

    def release(self) -> None:
        self.db.delete(self.key)


def make_lock(spec: Spec) -> tuple[Any, Callable[[], int] | None]:
    """The lock object of `spec` and, for interlock, a function counting its queue."""
    if spec.kind == "interlock":
        import interlock

        db = interlock.connect(spec.target)
        return db.lock(LOCK_NAME), lambda: len(db.lock_queue(LOCK_NAME))
    if spec.kind == "polling":
        return PollingLock(spec.target, LOCK_NAME, spec.poll_s), None
    if spec.kind == "filelock":
        import filelock

        return filelock.FileLock(spec.target), None
    if spec.kind == "redis":
        import redis

        host, port = spec.target.rsplit(":", 1)
        return redis.Redis(host=host, port=int(port)).lock(LOCK_NAME, timeout=20), None
    raise ValueError(f"unknown contender kind {spec.kind!r}")


def _wait(sem: Any, what: str) -> None:
    if not sem.acquire(timeout=STEP_TIMEOUT_S):
        raise TimeoutError(f"handoff worker {os.getpid()}: the other worker never {what}")


def worker(
    spec: Spec,
    me: int,
    rounds: int,
    start: Any,
    announce: Any,
    held: Any,
    stamp: Any,
    samples: Any,
    unqueued: Any,
) -> None:
    """One of the two processes. Round r: worker r % 2 holds the lock, the other one waits;
    the waiter of round r holds it in round r + 1. Worker 0 takes the lock before round 0."""
    lock, queue_len = make_lock(spec)
    rng = random.Random(me)
    start.wait(STEP_TIMEOUT_S)
    if me == 0:
        lock.acquire()
        held.release()
    for r in range(rounds):
        if r % 2 == me:
            _wait(announce, "announced its acquire")
            if queue_len is not None:
                deadline = time.monotonic() + 1.0
                while queue_len() < 2:
                    if time.monotonic() > deadline:
                        unqueued.value += 1
                        break
                    time.sleep(0.0002)
            time.sleep(SETTLE_S + rng.uniform(0.0, spec.poll_s))
            stamp.value = time.monotonic_ns()
            lock.release()
        else:
            # The holder of this round has the lock (the previous waiter signals it).
            _wait(held, "took the lock")
            announce.release()
            lock.acquire()
            t1 = time.monotonic_ns()
            samples[r] = t1 - stamp.value
            held.release()
    if rounds % 2 == me:
        lock.release()


def prepare(spec: Spec) -> None:
    """Creates the store (or clears a stale key) before the workers start, so they do not race
    to set it up."""
    if spec.kind in ("interlock", "polling"):
        import interlock

        db = interlock.connect(spec.target)
        if spec.kind == "polling":
            db.delete(LOCK_NAME)
        db.close()
    elif spec.kind == "redis":
        import redis

        host, port = spec.target.rsplit(":", 1)
        r = redis.Redis(host=host, port=int(port))
        r.delete(LOCK_NAME)
        r.close()


def run(spec: Spec, rounds: int) -> Result:
    """`rounds` handoffs between two spawned processes."""
    ctx = multiprocessing.get_context("spawn")
    result = Result(spec)
    started = time.monotonic()
    try:
        prepare(spec)
    except Exception as e:
        result.error = f"setup failed: {e!r}"
        return result
    start = ctx.Barrier(2)
    announce = ctx.Semaphore(0)
    held = ctx.Semaphore(0)
    stamp = ctx.RawValue("q", 0)
    samples = ctx.RawArray("q", rounds)
    unqueued = ctx.RawValue("q", 0)
    procs = [
        ctx.Process(
            target=worker,
            args=(spec, me, rounds, start, announce, held, stamp, samples, unqueued),
            name=f"handoff-{spec.key}-{me}",
        )
        for me in (0, 1)
    ]
    for p in procs:
        p.start()
    budget = 30.0 + rounds * (SETTLE_S + 2 * spec.poll_s + 0.25)
    deadline = time.monotonic() + budget
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.terminate()
            p.join()
            result.error = f"timed out after {budget:.0f} s"
    codes = [p.exitcode for p in procs]
    if result.error is None and any(c != 0 for c in codes):
        result.error = f"a worker failed (exit codes {codes}; its traceback is above)"
    result.seconds = time.monotonic() - started
    result.unqueued = unqueued.value
    if result.error is None:
        result.samples_ns = [samples[r] for r in range(rounds)]
        if any(s <= 0 for s in result.samples_ns):
            result.error = "non-positive latency sample (clock or protocol error)"
    return result
