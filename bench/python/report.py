# The report uses the typographic signs of the Rust benchmark's report (en dash, multiplication
# sign, minus sign).
# ruff: noqa: RUF001
"""The printed Markdown report and the JSON one (`--json PATH`), with the targets judged next to
the results, and the machine they were measured on."""

from __future__ import annotations

import os
import platform
import statistics
from dataclasses import dataclass
from typing import Any

from handoff import Result
from measure import Series

# The Python API may take at most this many times the Rust core's time per op (SQLite, durable).
OVERHEAD_TARGET = 1.10
# interlock's contended handoff p50 must be at least this many times faster than the polling lock.
HANDOFF_SPEEDUP_TARGET = 10.0


@dataclass
class Overhead:
    """One operation on one store, through Python and through the Rust core."""

    store: str
    url: str
    op: str
    label: str
    judged: bool
    python: Series
    rust: Series

    def ratio(self) -> float:
        return self.python.median_time_per_op() / self.rust.median_time_per_op()

    def pair_ratios(self) -> list[float]:
        """Python ÷ Rust time per op of each pair of adjacent batches."""
        return [
            p.time_per_op / r.time_per_op for p, r in zip(self.python.batches, self.rust.batches)
        ]

    def passed(self) -> bool | None:
        return self.ratio() <= OVERHEAD_TARGET if self.judged else None


@dataclass
class Peer:
    label: str
    what: str
    series: Series
    reference: bool = False


@dataclass
class Report:
    machine: dict[str, str]
    versions: dict[str, str]
    quick: bool
    batches: int
    batch_ms: int
    handoffs: int
    overhead: list[Overhead]
    peers: list[Peer]
    handoff: list[Result]
    seconds: float = 0.0

    def reference_handoff(self) -> Result | None:
        return next((h for h in self.handoff if h.spec.key == "interlock-full"), None)

    def polling_handoff(self) -> Result | None:
        return next((h for h in self.handoff if h.spec.kind == "polling"), None)

    def handoff_speedup(self) -> float | None:
        """Polling lock p50 ÷ interlock (durable) p50."""
        ref, poll = self.reference_handoff(), self.polling_handoff()
        if ref is None or poll is None:
            return None
        a, b = ref.percentile(50), poll.percentile(50)
        if a is None or b is None:
            return None
        return b / a


def machine(tmpdir: str) -> dict[str, str]:
    model = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": model,
        "cores": str(cpus),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "tmpdir": tmpdir,
        "tmpdir_fs": filesystem(tmpdir),
    }


def filesystem(path: str) -> str:
    """The type and device of the filesystem holding `path`, from /proc/mounts."""
    real = os.path.realpath(path)
    best = ("", "unknown", "?")
    try:
        with open("/proc/mounts") as f:
            for line in f:
                dev, mnt, fstype = line.split()[:3]
                mnt = mnt.replace("\\040", " ")
                inside = real == mnt or real.startswith(mnt.rstrip("/") + "/")
                if inside and len(mnt) >= len(best[0]):
                    best = (mnt, fstype, dev)
    except OSError:
        pass
    return f"{best[1]} ({best[2]} on {best[0] or '?'})"


def ns(n: float | None) -> str:
    if n is None:
        return "–"
    if n < 0:
        return "−" + ns(-n)
    if n < 1e3:
        return f"{n:.0f} ns"
    if n < 1e6:
        return f"{n / 1e3:.1f} µs"
    if n < 1e9:
        return f"{n / 1e6:.2f} ms"
    return f"{n / 1e9:.2f} s"


def rate(r: float) -> str:
    return f"{r:,.0f}" if r >= 100 else f"{r:.1f}"


def verdict(passed: bool) -> str:
    return "PASS" if passed else "**MISS**"


def markdown(rep: Report) -> str:
    out: list[str] = []
    tally = [0, 0]

    def count(passed: bool) -> str:
        tally[0 if passed else 1] += 1
        return verdict(passed)

    w = out.append
    m = rep.machine
    quick = " (--quick: smoke run, numbers are rough)" if rep.quick else ""
    w(f"\n# interlock Python benchmark{quick}\n")
    w(
        f"Machine: {m['cores']} CPUs ({m['cpu']}), {m['kernel']}, {m['python']}; temp dir "
        f"{m['tmpdir']} on {m['tmpdir_fs']}. Run took {rep.seconds:.1f} s."
    )
    w("Versions: " + ", ".join(f"{k} {v}" for k, v in rep.versions.items()) + ".\n")

    if rep.overhead:
        w("## A. Binding overhead: the Python API vs the Rust core\n")
        w(
            f"Same process, same store (a fresh file per SQLite mode). Median of {rep.batches} "
            f"batches each, Python and Rust batches alternating (the order swapped every round), "
            f"each about {rep.batch_ms} ms and the same op count on both sides. The Rust side is "
            "`interlock._native.bench_core` (the same loop in Rust). Ratio: Python time/op ÷ "
            "Rust time/op, of the medians.\n"
        )
        w(
            "| store | operation | Python ops/s | Rust ops/s | Python time/op | Rust time/op "
            "| Python − Rust per op | Python ÷ Rust (pairs: median; min–max) "
            "| store index Δ/op Py / Rust | target | result |"
        )
        w("|---|---|---:|---:|---:|---:|---:|---|---|---|---|")
        for o in rep.overhead:
            py, rs = o.python, o.rust
            pairs = o.pair_ratios()
            spread = f"{statistics.median(pairs):.2f}; {min(pairs):.2f}–{max(pairs):.2f}"
            ipy, irs = py.index_per_op(), rs.index_per_op()
            idx = f"{ipy:.2f} / {irs:.2f}" if ipy is not None and irs is not None else "–"
            passed = o.passed()
            target, result = (
                (f"≤ {OVERHEAD_TARGET:.2f}×", count(passed))
                if passed is not None
                else ("–", "info")
            )
            w(
                f"| {o.store} | {o.label} | {rate(py.median_rate())} | {rate(rs.median_rate())} "
                f"| {ns(py.median_time_per_op() * 1e9)} | {ns(rs.median_time_per_op() * 1e9)} "
                f"| {ns((py.median_time_per_op() - rs.median_time_per_op()) * 1e9)} "
                f"| {o.ratio():.3f}× ({spread}) | {idx} "
                f"| {target} | {result} |"
            )
        w(
            "\nPairs: Python ÷ Rust of the two adjacent batches of each round (information; "
            "the target judges the ratio of the medians). Store index Δ/op: "
            "commits per op; the Rust side's includes the one untimed warm-up op of each call.\n"
        )

    if rep.peers:
        w("## B. Uncontended lock+unlock vs peers (one process, acquire() then release())\n")
        w(
            f"Median of {rep.batches} batches each, every contender's batches interleaved "
            f"(order rotated every round), each about {rep.batch_ms} ms.\n"
        )
        ref = next((p for p in rep.peers if p.reference), None)
        w(
            "| lock | what an acquire+release does | median ops/s | time/op "
            "| batch min–max ops/s | ops/s ÷ interlock (durable) |"
        )
        w("|---|---|---:|---:|---:|---:|")
        for p in rep.peers:
            lo, hi = p.series.min_max_rate()
            vs = f"{p.series.median_rate() / ref.series.median_rate():.2f}×" if ref else "–"
            w(
                f"| {p.label} | {p.what} | {rate(p.series.median_rate())} "
                f"| {ns(p.series.median_time_per_op() * 1e9)} | {rate(lo)}–{rate(hi)} | {vs} |"
            )
        w("")

    if rep.handoff:
        w("## C. Contended handoff between two processes\n")
        w(
            "Two spawned processes alternately hold the lock and wait for it: t0 = "
            "`time.monotonic_ns()` right before release() in the holder, t1 right after acquire() "
            "returned in the waiter. The holder releases only once the waiter has announced its "
            "acquire (for interlock: once the waiter is in the lock's queue), plus 5 ms so the "
            "waiter is blocked, plus a random 0–P (P: the lock's poll period) so the release "
            "falls at a random point of a polling waiter's cycle.\n"
        )
        speedup = rep.handoff_speedup()
        ref_h = rep.reference_handoff()
        ref_p50 = ref_h.percentile(50) if ref_h is not None else None
        w(
            "| lock | waiter wakes by | samples | p50 | p90 | p99 | max | p50 ÷ interlock "
            "(durable) p50 | target | result |"
        )
        w("|---|---|---:|---:|---:|---:|---:|---:|---|---|")
        for h in rep.handoff:
            p50 = h.percentile(50)
            vs = f"{p50 / ref_p50:.1f}×" if p50 is not None and ref_p50 else "–"
            target, result = "–", "info"
            if h.spec.key == "interlock-full":
                target = f"p50 ≥ {HANDOFF_SPEEDUP_TARGET:.0f}× faster than the polling lock"
                if speedup is None:
                    result = count(False) + " (no result)"
                else:
                    result = f"{count(speedup >= HANDOFF_SPEEDUP_TARGET)} ({speedup:.1f}×)"
            if h.error:
                result = f"failed: {h.error}"
            mx = max(h.samples_ns) if h.samples_ns else None
            w(
                f"| {h.spec.label} | {h.spec.note} | {len(h.samples_ns)} | {ns(p50)} "
                f"| {ns(h.percentile(90))} | {ns(h.percentile(99))} | {ns(mx)} | {vs} "
                f"| {target} | {result} |"
            )
        notes = [
            f"{h.spec.label}: in {h.unqueued} rounds the waiter was not seen in the queue "
            "within 1 s"
            for h in rep.handoff
            if h.unqueued
        ]
        if notes:
            w("\nWarnings: " + "; ".join(notes) + ".")
        w("")

    w(f"Targets: {tally[0]} PASS, {tally[1]} MISS.")
    return "\n".join(out) + "\n"


def as_json(rep: Report) -> dict[str, Any]:
    speedup = rep.handoff_speedup()
    return {
        "machine": rep.machine,
        "versions": rep.versions,
        "quick": rep.quick,
        "batches": rep.batches,
        "batch_ms": rep.batch_ms,
        "handoffs": rep.handoffs,
        "seconds": rep.seconds,
        "targets": {
            "python_over_rust_time_per_op_max": OVERHEAD_TARGET,
            "handoff_p50_speedup_over_polling_min": HANDOFF_SPEEDUP_TARGET,
        },
        "overhead": [
            {
                "store": o.store,
                "url": o.url,
                "op": o.op,
                "python": o.python.as_json(),
                "rust": o.rust.as_json(),
                "ratio_python_over_rust": o.ratio(),
                "pair_ratios": o.pair_ratios(),
                "judged": o.judged,
                "pass": o.passed(),
            }
            for o in rep.overhead
        ],
        "peers": [
            {"label": p.label, "what": p.what, "reference": p.reference, **p.series.as_json()}
            for p in rep.peers
        ],
        "handoff": [h.as_json() for h in rep.handoff],
        "handoff_p50_speedup_over_polling": speedup,
        "handoff_pass": None if speedup is None else speedup >= HANDOFF_SPEEDUP_TARGET,
    }
