"""Throughput measurements: each contender runs as several timed batches, interleaved with the
other contenders of its table so that a slow spell of the disk hits all of them alike, and the
median batch is reported."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol

if TYPE_CHECKING:
    import interlock

# Runs `ops` operations and returns the seconds they took.
Runner = Callable[[int], float]


class Acquirable(Protocol):
    def acquire(self) -> Any: ...
    def release(self) -> Any: ...


@dataclass
class Batch:
    ops: int
    seconds: float
    # Store index increments during the batch (how many commits wrote), where there is a store.
    index_delta: int | None = None

    @property
    def rate(self) -> float:
        return self.ops / self.seconds

    @property
    def time_per_op(self) -> float:
        return self.seconds / self.ops

    def as_json(self) -> dict[str, Any]:
        return {
            "ops": self.ops,
            "seconds": self.seconds,
            "ops_per_sec": self.rate,
            "index_delta": self.index_delta,
        }


@dataclass
class Series:
    """The batches of one contender."""

    name: str
    batches: list[Batch] = field(default_factory=list)

    def median_rate(self) -> float:
        return statistics.median(b.rate for b in self.batches)

    def median_time_per_op(self) -> float:
        return statistics.median(b.time_per_op for b in self.batches)

    def min_max_rate(self) -> tuple[float, float]:
        rates = [b.rate for b in self.batches]
        return min(rates), max(rates)

    def index_per_op(self) -> float | None:
        deltas = [b.index_delta for b in self.batches]
        if any(d is None for d in deltas):
            return None
        return sum(d for d in deltas if d is not None) / sum(b.ops for b in self.batches)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "median_ops_per_sec": self.median_rate(),
            "median_us_per_op": self.median_time_per_op() * 1e6,
            "store_index_delta_per_op": self.index_per_op(),
            "batches": [b.as_json() for b in self.batches],
        }


def lock_unlock(lock: Acquirable, ops: int) -> float:
    """`ops` times acquire() then release() on one lock object, as a user writes it."""
    start = time.perf_counter()
    for _ in range(ops):
        lock.acquire()
        lock.release()
    return time.perf_counter() - start


class PutLoop:
    """Compare-exchange puts on one key, each at the index the previous put returned (the same
    loop as the core's side in bindings-python/src/bench.rs)."""

    def __init__(self, db: interlock.Client, key: str) -> None:
        self.db = db
        self.key = key
        entry = db.get(key)
        self.index = entry.index if entry is not None else 0

    def __call__(self, ops: int) -> float:
        db, key, index = self.db, self.key, self.index
        start = time.perf_counter()
        for n in range(ops):
            index = db.put(key, n, index).index
        elapsed = time.perf_counter() - start
        self.index = index
        return elapsed


def calibrate(run: Runner, batch_s: float, max_ops: int) -> int:
    """Warms `run` up and returns how many ops make a batch of about `batch_s` seconds."""
    ops = 4
    while True:
        seconds = run(ops)
        if seconds >= batch_s / 2 or ops >= max_ops:
            break
        ops *= 4
    return max(1, min(max_ops, round(ops * batch_s / max(seconds, 1e-9))))


def timed(run: Runner, ops: int, db: interlock.Client | None) -> Batch:
    before = db.index() if db is not None else None
    seconds = run(ops)
    delta = db.index() - before if db is not None and before is not None else None
    return Batch(ops, max(seconds, 1e-9), delta)


@dataclass
class Contender:
    name: str
    run: Runner
    db: interlock.Client | None = None
    ops: int = 0
    series: Series = field(init=False)

    def __post_init__(self) -> None:
        self.series = Series(self.name)


def interleave(
    contenders: list[Contender], batches: int, batch_s: float, max_ops: int, same_ops: bool = False
) -> None:
    """Calibrates (and so warms up) every contender, then runs `batches` rounds of one batch of
    each, rotating the order every round. With `same_ops`, every batch of every contender has
    the op count calibrated for the first one."""
    for c in contenders:
        c.ops = calibrate(c.run, batch_s, max_ops)
    if same_ops:
        for c in contenders[1:]:
            c.ops = contenders[0].ops
    n = len(contenders)
    for b in range(batches):
        for i in range(n):
            c = contenders[(b + i) % n]
            c.series.batches.append(timed(c.run, c.ops, c.db))
