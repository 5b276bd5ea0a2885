"""interlock's Python benchmark: the binding's overhead over the Rust core (same process, same
store), uncontended lock+unlock against filelock and redis-py, and contended handoff latency
between two processes against those peers and a 20 ms polling lock. Prints a Markdown table.

Run it with `bash scripts/bench-python.sh [--quick] [--json PATH]`, which installs the package
and the peers into target/python-bench-venv and starts a redis-server on a loopback port.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass

import handoff
import measure
import report

MAX_OPS = 10_000_000


@dataclass
class Config:
    quick: bool
    json: str | None
    batches: int
    batch_s: float
    handoffs: int
    parts: set[str]
    redis: str | None
    redis_version: str


def parse_args(argv: list[str]) -> Config:
    ap = argparse.ArgumentParser(
        prog="bash scripts/bench-python.sh",
        description="Measures interlock's Python package and prints a Markdown table.",
    )
    ap.add_argument("--quick", action="store_true", help="smoke run (seconds); rough numbers")
    ap.add_argument("--json", metavar="PATH", help="also write every batch and sample as JSON")
    ap.add_argument("--batches", type=int, help="timed batches per contender (default 7; quick 3)")
    ap.add_argument("--batch-ms", type=int, help="length of one batch (default 500; quick 50)")
    ap.add_argument("--handoffs", type=int, help="handoffs per lock (default 200; quick 20)")
    ap.add_argument(
        "--only",
        action="append",
        choices=["overhead", "peers", "handoff"],
        help="run only this part (repeatable)",
    )
    ap.add_argument("--redis-port", type=int, help="a running redis-server on 127.0.0.1 (peer)")
    ap.add_argument("--redis-version", default="", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    cfg = Config(
        quick=a.quick,
        json=a.json,
        batches=a.batches or (3 if a.quick else 7),
        batch_s=(a.batch_ms or (50 if a.quick else 500)) / 1000,
        handoffs=a.handoffs or (20 if a.quick else 200),
        parts=set(a.only or ["overhead", "peers", "handoff"]),
        redis=f"127.0.0.1:{a.redis_port}" if a.redis_port else None,
        redis_version=a.redis_version,
    )
    if cfg.batches < 1 or cfg.batch_s <= 0 or cfg.handoffs < 2:
        ap.error("--batches and --batch-ms must be positive, --handoffs at least 2")
    return cfg


def log(msg: str) -> None:
    print(f"bench-python: {msg}", file=sys.stderr, flush=True)


def sqlite_url(tmp: str, file: str, query: str = "") -> str:
    return f"sqlite://{os.path.join(tmp, file)}{query}"


def measure_overhead(tmp: str, cfg: Config) -> list[report.Overhead]:
    import interlock
    from interlock import _native

    stores = [
        ("SQLite, durable (default)", sqlite_url(tmp, "overhead-full.db"), True),
        ("SQLite, sync=normal", sqlite_url(tmp, "overhead-normal.db", "?sync=normal"), False),
        ("mem://", "mem://bench", False),
    ]
    ops = [("lock_unlock", "lock+unlock (uncontended)"), ("put", "put compare-exchange")]
    results = []
    for store, url, judged in stores:
        db = interlock.connect(url)
        for op, label in ops:
            log(f"binding overhead: {store}, {label}")
            if op == "lock_unlock":
                py = functools.partial(measure.lock_unlock, db.lock("bench/py-lock"))
            else:
                py = measure.PutLoop(db, "bench/py-put")
            rust = functools.partial(_native.bench_core, url, op)
            pair = [measure.Contender("python", py, db), measure.Contender("rust", rust, db)]
            measure.interleave(pair, cfg.batches, cfg.batch_s, MAX_OPS, same_ops=True)
            results.append(
                report.Overhead(store, url, op, label, judged, pair[0].series, pair[1].series)
            )
        db.close()
    return results


def measure_peers(tmp: str, cfg: Config) -> list[report.Peer]:
    import filelock
    import interlock

    durable = interlock.connect(sqlite_url(tmp, "peers-full.db"))
    normal = interlock.connect(sqlite_url(tmp, "peers-normal.db", "?sync=normal"))
    candidates = [
        (
            "interlock `Lock` (SQLite, durable)",
            "2 SQLite write txns, WAL, fsync each (synchronous=FULL)",
            durable.lock("bench/peer-lock"),
            durable,
        ),
        (
            "interlock `Lock` (SQLite, sync=normal)",
            "2 SQLite write txns, WAL, no fsync per commit",
            normal.lock("bench/peer-lock"),
            normal,
        ),
        (
            f"filelock `FileLock` {filelock.__version__}",
            "open + flock(2) / unlock + close on a local file; nothing durable",
            filelock.FileLock(os.path.join(tmp, "peer.lock")),
            None,
        ),
    ]
    if cfg.redis:
        import redis

        host, port = cfg.redis.rsplit(":", 1)
        client = redis.Redis(host=host, port=int(port))
        candidates.append(
            (
                f"redis-py {redis.__version__} `Lock` (timeout=20)",
                "SET NX PX / Lua compare-and-delete over loopback TCP; no persistence",
                client.lock("bench/peer-lock", timeout=20),
                None,
            )
        )
    else:
        log("no --redis-port: skipping the redis-py peer")
    contenders = [
        measure.Contender(label, functools.partial(measure.lock_unlock, lock), db)
        for label, _, lock, db in candidates
    ]
    log("lock+unlock vs peers: " + ", ".join(c.name for c in contenders))
    measure.interleave(contenders, cfg.batches, cfg.batch_s, MAX_OPS)
    peers = [
        report.Peer(label, what, c.series, reference=i == 0)
        for i, ((label, what, _, _), c) in enumerate(zip(candidates, contenders))
    ]
    durable.close()
    normal.close()
    return peers


def default_of(fn: object, param: str) -> float:
    return float(inspect.signature(fn).parameters[param].default)  # type: ignore[arg-type]


def measure_handoff(tmp: str, cfg: Config) -> list[handoff.Result]:
    import filelock

    file_poll = default_of(filelock.FileLock.__init__, "poll_interval")
    specs = [
        handoff.Spec(
            "interlock-full",
            "interlock `Lock` (SQLite, durable)",
            "interlock",
            sqlite_url(tmp, "handoff-full.db"),
            note="inotify on the store's notify file",
        ),
        handoff.Spec(
            "interlock-normal",
            "interlock `Lock` (SQLite, sync=normal)",
            "interlock",
            sqlite_url(tmp, "handoff-normal.db", "?sync=normal"),
            note="inotify on the store's notify file",
        ),
        handoff.Spec(
            "polling",
            "seeds' polling lock over interlock (SQLite, durable)",
            "polling",
            sqlite_url(tmp, "handoff-polling.db"),
            poll_s=0.02,
            note="`put(key, owner, index=0)` retried every 20 ms; release: `delete`",
        ),
        handoff.Spec(
            "filelock",
            f"filelock `FileLock` {filelock.__version__}",
            "filelock",
            os.path.join(tmp, "handoff.lock"),
            poll_s=file_poll,
            note=f"polling, default poll_interval {file_poll * 1000:.0f} ms",
        ),
    ]
    if cfg.redis:
        import redis

        sleep = default_of(redis.Redis.lock, "sleep")
        specs.append(
            handoff.Spec(
                "redis",
                f"redis-py {redis.__version__} `Lock` (timeout=20)",
                "redis",
                cfg.redis,
                poll_s=sleep,
                note=f"polling, default sleep {sleep * 1000:.0f} ms",
            )
        )
    results = []
    for spec in specs:
        log(f"handoff: {spec.label}, {cfg.handoffs} handoffs")
        r = handoff.run(spec, cfg.handoffs)
        if r.error:
            log(f"handoff: {spec.label} failed: {r.error}")
        results.append(r)
    return results


def versions(cfg: Config) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("interlock-db", "filelock", "redis"):
        try:
            out["redis-py" if name == "redis" else name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    if cfg.redis_version:
        # `redis-server --version`: "Redis server v=7.0.15 sha=... malloc=... bits=64 build=..."
        words = [w[2:] for w in cfg.redis_version.split() if w.startswith("v=")]
        out["Redis server"] = words[0] if words else cfg.redis_version
    return out


def main(argv: list[str]) -> int:
    cfg = parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="interlock-pybench-")
    started = time.monotonic()
    log(
        f"{cfg.batches} batches of ~{cfg.batch_s * 1000:.0f} ms per contender, "
        f"{cfg.handoffs} handoffs per lock, in {tmp}"
    )
    try:
        rep = report.Report(
            machine=report.machine(tmp),
            versions=versions(cfg),
            quick=cfg.quick,
            batches=cfg.batches,
            batch_ms=round(cfg.batch_s * 1000),
            handoffs=cfg.handoffs,
            overhead=measure_overhead(tmp, cfg) if "overhead" in cfg.parts else [],
            peers=measure_peers(tmp, cfg) if "peers" in cfg.parts else [],
            handoff=measure_handoff(tmp, cfg) if "handoff" in cfg.parts else [],
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rep.seconds = time.monotonic() - started
    print(report.markdown(rep), end="", flush=True)
    if cfg.json:
        with open(cfg.json, "w") as f:
            json.dump(report.as_json(rep), f, indent=2)
            f.write("\n")
        log(f"wrote {cfg.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
