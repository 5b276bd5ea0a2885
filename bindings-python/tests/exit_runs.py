"""Running a small program many times in fresh interpreters, for failures that happen at exit
in some runs only (a crash while the interpreter finalizes): every run must exit with the
expected status and print nothing of a crash on stderr."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

# What stderr shows when native code crashes or panics, or the interpreter aborts.
CRASH_MARKS = ("panicked", "backtrace", "Fatal Python error", "Segmentation fault", "Aborted")

# Runs at once: the machine's cores are shared with other builds.
PARALLEL = 4


@dataclass
class Run:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str


def run_once(args: list[str], env: dict[str, str] | None, timeout: float) -> Run:
    done = subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    return Run(args, done.returncode, done.stdout, done.stderr)


def run_many(
    arg_lists: list[list[str]], env: dict[str, str] | None = None, timeout: float = 60
) -> list[Run]:
    """Runs ``python ARGS`` for each entry, PARALLEL at a time; returns every run."""
    with ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(lambda args: run_once(args, env, timeout), arg_lists))


def crashes(runs: list[Run], expected_code: int = 0) -> list[str]:
    """A description of every run that exited otherwise than with `expected_code` or printed a
    crash mark on stderr."""
    return [
        f"run {n} ({r.args[1:]}) exited {r.returncode}; stderr:\n{r.stderr[-2000:]}"
        for n, r in enumerate(runs)
        if r.returncode != expected_code or any(m in r.stderr for m in CRASH_MARKS)
    ]
