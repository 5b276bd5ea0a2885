"""The five problems (docs/design.md, The five problems) with real processes sharing one SQLite
file: lock-protected increments (and a SIGKILLed holder), a unique reservation race, duplicate
notifications, concurrent edits of one record and transfers between accounts. Workers are started
with the "spawn" method, so each is a fresh interpreter that connects on its own."""

from __future__ import annotations

import multiprocessing
import os
import queue
import random
import signal
import time
import traceback
from collections.abc import Iterator
from multiprocessing.context import SpawnContext, SpawnProcess
from pathlib import Path
from typing import Any, Callable

import pytest
from waiting import wait_until

import interlock
from interlock import Client, ConcurrencyError, Conflict

# How long eventual things (workers starting, a lease expiring) may take.
DEADLINE = 30.0


@pytest.fixture
def ctx() -> SpawnContext:
    return multiprocessing.get_context("spawn")


# Running workers


def _call(results: Any, number: int, fn: Callable[..., object], args: tuple[Any, ...]) -> None:
    """The body of every worker process: runs `fn(*args)` and reports its result or failure."""
    try:
        results.put((number, "ok", fn(*args)))
    except BaseException:
        results.put((number, "error", traceback.format_exc()))
        raise


def run_workers(
    ctx: SpawnContext, jobs: list[tuple[Callable[..., object], tuple[Any, ...]]]
) -> list[Any]:
    """Runs each `fn(*args)` of `jobs` in a process of its own, all at once; returns their
    results in job order. A worker that fails, hangs or exits badly fails the test."""
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_call, args=(results, n, fn, args), daemon=True)
        for n, (fn, args) in enumerate(jobs)
    ]
    outcome: dict[int, Any] = {}
    try:
        for p in procs:
            p.start()
        deadline = time.monotonic() + DEADLINE
        while len(outcome) < len(jobs):
            try:
                number, status, value = results.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                pytest.fail(f"workers {sorted(set(range(len(jobs))) - set(outcome))} hung")
            if status == "error":
                pytest.fail(f"worker {number} failed:\n{value}")
            outcome[number] = value
        for p in procs:
            p.join(DEADLINE)
            assert p.exitcode == 0, f"worker {p.pid} exited with {p.exitcode}"
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
    return [outcome[n] for n in range(len(jobs))]


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Client]:
    """The parent's client of a fresh SQLite store, made (so the file exists) before any worker
    starts; processes that all start on a file nobody made yet are tested on their own."""
    with interlock.connect(sqlite_url) as db:
        yield db


@pytest.fixture
def spawned(ctx: SpawnContext) -> Iterator[list[SpawnProcess]]:
    """Processes a test starts by hand; any still running at the end are killed."""
    procs: list[SpawnProcess] = []
    yield procs
    for p in procs:
        if p.is_alive():
            p.kill()
        p.join(DEADLINE)


# Zero setup: processes that start at once on a store nobody created yet


def connect_to_new_stores(directory: str, rounds: int, start: Any) -> list[str]:
    """Connects to a fresh store each round, at the same moment as the other workers, and
    writes to it; returns the errors seen."""
    errors = []
    for n in range(rounds):
        url = f"sqlite://{directory}/round-{n}.db"
        start.wait(DEADLINE)
        try:
            db = interlock.connect(url)
            db.set(f"started/{os.getpid()}", True)
            db.close()
        except interlock.InterlockError as e:
            errors.append(f"round {n}: {type(e).__name__}: {e}")
    return errors


def test_processes_starting_at_once_on_a_new_store_all_connect(
    ctx: SpawnContext, tmp_path: Path
) -> None:
    processes, rounds = 6, 60
    start = ctx.Barrier(processes)
    errors = run_workers(ctx, [(connect_to_new_stores, (str(tmp_path), rounds, start))] * processes)
    failures = [e for worker in errors for e in worker]
    assert not failures, f"{len(failures)} failed connects:\n" + "\n".join(failures)
    for n in range(rounds):
        with interlock.connect(f"sqlite://{tmp_path}/round-{n}.db") as db:
            assert len(db.list("started/").entries) == processes


# 1. Shared-resource lock with expiry


def increment_file(url: str, counter: str, rounds: int, start: Any) -> list[tuple[int, int]]:
    """Lock-protected read-modify-write of a plain file; returns (fencing token, value seen)."""
    db = interlock.connect(url)
    lock = db.lock("counter", ttl=10)
    path = Path(counter)
    seen = []
    start.wait(DEADLINE)
    for _ in range(rounds):
        with lock as held:
            value = int(path.read_text())
            time.sleep(0.001)  # widen the window a missing exclusion would show in
            path.write_text(str(value + 1))
            assert held.fencing_token is not None
            seen.append((held.fencing_token, value))
    return seen


def test_lock_protected_increments_lose_nothing(
    ctx: SpawnContext, store: Client, tmp_path: Path
) -> None:
    processes, rounds = 4, 25
    counter = tmp_path / "counter.txt"
    counter.write_text("0")
    start = ctx.Barrier(processes)
    seen = run_workers(
        ctx, [(increment_file, (store.url, str(counter), rounds, start))] * processes
    )
    assert int(counter.read_text()) == processes * rounds
    grants = sorted(g for worker in seen for g in worker)
    # Every value 0..N*M-1 was seen exactly once, and in the order the lock was granted, the
    # fencing tokens strictly increase.
    by_value = sorted(grants, key=lambda g: g[1])
    assert [value for _, value in by_value] == list(range(processes * rounds))
    tokens = [token for token, _ in by_value]
    assert all(a < b for a, b in zip(tokens, tokens[1:])), tokens
    assert store.lock_queue("counter") == []


def hold_until_killed(url: str, results: Any) -> None:
    db = interlock.connect(url)
    lock = db.lock("printer/first-floor", ttl=2, owner="doomed holder")
    assert lock.acquire()
    token = lock.fencing_token
    results.put(("held", os.getpid(), token))
    time.sleep(600)


def wait_for_lock(url: str, results: Any, done: Any) -> None:
    db = interlock.connect(url)
    lock = db.lock("printer/first-floor", ttl=20, owner="patient waiter")
    assert lock.acquire(timeout=60)
    token = lock.fencing_token
    results.put(("acquired", os.getpid(), token))
    done.wait(DEADLINE)
    lock.release()
    results.put(("released", os.getpid(), token))


def test_waiter_acquires_after_a_killed_holders_ttl(
    ctx: SpawnContext, store: Client, spawned: list[SpawnProcess]
) -> None:
    results = ctx.Queue()
    done = ctx.Event()
    holder = ctx.Process(target=hold_until_killed, args=(store.url, results), daemon=True)
    spawned.append(holder)
    holder.start()
    event, pid, held_token = results.get(timeout=DEADLINE)
    assert (event, pid) == ("held", holder.pid)

    waiter = ctx.Process(target=wait_for_lock, args=(store.url, results, done), daemon=True)
    spawned.append(waiter)
    waiter.start()
    wait_until(
        lambda: len(store.lock_queue("printer/first-floor")) == 2, "the waiter to queue", DEADLINE
    )
    queue_before = store.lock_queue("printer/first-floor")
    assert (queue_before[0].holder, queue_before[0].token) == (True, held_token)
    assert "doomed holder" in str(queue_before[0].owner)
    assert not queue_before[1].holder and "patient waiter" in str(queue_before[1].owner)

    assert holder.pid is not None
    os.kill(holder.pid, signal.SIGKILL)
    killed = time.monotonic()
    holder.join(DEADLINE)
    assert holder.exitcode == -signal.SIGKILL

    event, pid, token = results.get(timeout=15)
    waited = time.monotonic() - killed
    assert (event, pid) == ("acquired", waiter.pid), f"after {waited:.1f} s"
    assert token > held_token
    queue_after = store.lock_queue("printer/first-floor")
    assert [(w.holder, w.token) for w in queue_after] == [(True, token)]
    assert "patient waiter" in str(queue_after[0].owner)
    assert all("doomed holder" not in str(w.owner) for w in queue_after)

    done.set()
    assert results.get(timeout=DEADLINE) == ("released", waiter.pid, token)
    waiter.join(DEADLINE)
    assert waiter.exitcode == 0
    assert store.lock_queue("printer/first-floor") == []


# 2. Unique reservation


def reserve(url: str, who: int, start: Any) -> tuple[int, bool, int, Any]:
    db = interlock.connect(url)
    start.wait(DEADLINE)
    r = db.put("emails/a@b.c", f"users/{who}", index=0)
    return who, r.successful, r.index, r.value


def test_reservation_race_has_exactly_one_winner(ctx: SpawnContext, store: Client) -> None:
    processes = 6
    start = ctx.Barrier(processes)
    outcomes = run_workers(ctx, [(reserve, (store.url, who, start)) for who in range(processes)])
    winners = [o for o in outcomes if o[1]]
    assert len(winners) == 1, outcomes
    who, _, index, value = winners[0]
    assert value == f"users/{who}"
    for loser, successful, seen_index, seen_value in outcomes:
        if not successful:
            # The losers learn who owns the address, at the winner's index.
            assert (seen_index, seen_value) == (index, value), f"user {loser} saw another owner"
    entry = store.get("emails/a@b.c")
    assert entry is not None and (entry.value, entry.index) == (value, index)


# 3. Duplicate notifications ms apart


def handle_notifications(
    url: str, who: str, jobs: int, started_log: str, step: Any
) -> dict[int, Any]:
    """Handles a notification for each job: marks it started (create-if-absent) and starts it
    only if the mark was new. Returns, for each job this process did not start, who did."""
    db = interlock.connect(url)
    skipped = {}
    for job in range(jobs):
        step.wait(DEADLINE)
        if who == "duplicate":
            time.sleep(0.0001)  # the duplicate arrives 0.1 ms later
        r = db.put(f"jobs/{job}/started", {"by": who}, index=0)
        if r.successful:
            with open(started_log, "a") as log:
                log.write(f"{job} {who}\n")
        else:
            skipped[job] = r.value["by"]
    return skipped


def test_duplicate_notifications_start_each_job_once(
    ctx: SpawnContext, store: Client, tmp_path: Path
) -> None:
    jobs = 30
    log = tmp_path / "started.log"
    log.touch()
    step = ctx.Barrier(2)
    skipped = run_workers(
        ctx,
        [
            (handle_notifications, (store.url, who, jobs, str(log), step))
            for who in ("original", "duplicate")
        ],
    )
    started = [line.split() for line in log.read_text().splitlines()]
    assert sorted(int(job) for job, _ in started) == list(range(jobs)), "a job started twice"
    starter = {int(job): who for job, who in started}
    for who, seen in zip(("original", "duplicate"), skipped):
        for job, by in seen.items():
            assert starter[job] == by != who
    # Every job was either started or skipped by each of the two processes.
    for job in range(jobs):
        assert (job in skipped[0]) != (job in skipped[1])


# 4. Concurrent edits of one record


def edit_record(url: str, who: str, loaded: Any, first_saved: Any) -> dict[str, Any]:
    db = interlock.connect(url)
    session = db.session()
    doc = session.load("records/1")
    loaded_index = session.loaded_index("records/1")
    loaded.wait(DEADLINE)  # both writers hold the same version
    if who == "first":
        doc["title"] = "retitled by first"
        index = session.save_changes()
        first_saved.set()
        return {"loaded": loaded_index, "saved": index}
    assert first_saved.wait(DEADLINE)
    doc["tags"].append("second")
    try:
        session.save_changes()
    except ConcurrencyError as e:
        conflicts = [tuple(c) for c in e.conflicts]
        error = {"type": type(e).__name__, "message": str(e), "conflicts": conflicts}
    else:
        return {"loaded": loaded_index, "error": None}
    # The right reaction: reload, reapply, save.
    retry = db.session()
    retry.load("records/1")["tags"].append("second")
    return {"loaded": loaded_index, "error": error, "retried": retry.save_changes()}


def test_second_concurrent_edit_fails_with_expected_and_actual_index(
    ctx: SpawnContext, store: Client
) -> None:
    initial = store.set("records/1", {"title": "draft", "tags": []})
    loaded = ctx.Barrier(2)
    first_saved = ctx.Event()
    first, second = run_workers(
        ctx,
        [(edit_record, (store.url, who, loaded, first_saved)) for who in ("first", "second")],
    )
    assert first["loaded"] == second["loaded"] == initial
    assert first["saved"] > initial
    error = second["error"]
    assert error is not None, "the second save silently overwrote the first"
    assert error["type"] == "ConcurrencyError"
    assert [Conflict(*c) for c in error["conflicts"]] == [
        Conflict("records/1", initial, first["saved"])
    ]
    assert "records/1" in error["message"]
    assert second["retried"] > first["saved"]
    entry = store.get("records/1")
    assert entry is not None
    assert entry.value == {"title": "retitled by first", "tags": ["second"]}
    assert entry.index == second["retried"]


# 5. Transfers between accounts with business rules

ACCOUNTS = 5
OPENING = 100


def transfer_money(url: str, seed: int, transfers: int, start: Any) -> list[Any]:
    """Random transfers that never overdraw an account, each retried on conflict; returns
    (index, source, destination, amount) of every committed one."""
    db = interlock.connect(url)
    rng = random.Random(seed)
    committed = []
    start.wait(DEADLINE)
    for _ in range(transfers):
        src, dst = rng.sample(range(ACCOUNTS), 2)
        amount = rng.randint(1, 80)

        def attempt(src: int = src, dst: int = dst, amount: int = amount) -> int | None:
            s = db.session()
            accounts = s.load_many([f"accounts/{src}", f"accounts/{dst}"])
            a, b = accounts[f"accounts/{src}"], accounts[f"accounts/{dst}"]
            if a["funds"] < amount:
                return None  # the rule refuses; nothing to write
            a["funds"] -= amount
            b["funds"] += amount
            return s.save_changes()

        index = db.retry(attempt, attempts=200)
        if index is not None:
            committed.append((index, src, dst, amount))
    return committed


def test_transfers_conserve_money_and_never_overdraw(ctx: SpawnContext, store: Client) -> None:
    txn = store.txn()
    for n in range(ACCOUNTS):
        txn.set(f"accounts/{n}", {"funds": OPENING})
    txn.commit()
    processes, transfers = 4, 20
    start = ctx.Barrier(processes)
    logs = run_workers(
        ctx, [(transfer_money, (store.url, seed, transfers, start)) for seed in range(processes)]
    )
    final = [store.get(f"accounts/{n}") for n in range(ACCOUNTS)]
    funds = [e.value["funds"] for e in final if e is not None]
    assert len(funds) == ACCOUNTS
    assert sum(funds) == ACCOUNTS * OPENING
    assert min(funds) >= 0
    # Replaying the committed transfers in commit order gives exactly the final balances, and
    # never overdraws on the way: no transfer was lost or applied to a stale balance.
    committed = sorted(t for log in logs for t in log)
    assert committed, "no transfer committed"
    assert len({index for index, *_ in committed}) == len(committed)
    balances = [OPENING] * ACCOUNTS
    for index, src, dst, amount in committed:
        balances[src] -= amount
        balances[dst] += amount
        assert balances[src] >= 0, f"transfer at index {index} overdrew account {src}"
    assert balances == funds
