"""A real ``interlock serve`` for the suites: on a free loopback port, over a fresh SQLite file,
with a bearer token. The binary is ``INTERLOCK_SERVER_EXE`` (``scripts/test-python.sh`` builds
it)."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from waiting import wait_until


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


def start_server(directory: Path, token: str) -> Server:
    """Starts ``interlock serve --token TOKEN`` over ``directory/served.db``; fails the test if
    it does not say where it listens."""
    exe = os.environ.get("INTERLOCK_SERVER_EXE")
    if not exe or not os.access(exe, os.X_OK):
        # A failure, not a skip: without the server these tests would prove nothing.
        pytest.fail(
            f"INTERLOCK_SERVER_EXE must name the built interlock binary (it is {exe!r}); "
            "bash scripts/test-python.sh builds it and sets it",
            pytrace=False,
        )
    env = {k: v for k, v in os.environ.items() if k not in ("INTERLOCK_TOKEN", "INTERLOCK_URL")}
    out, log = directory / "server.out", directory / "server.log"
    store = f"sqlite://{directory / 'served.db'}"
    args = [exe, "serve", "--store", store, "--listen", "127.0.0.1:0", "--token", token]
    with open(out, "wb") as stdout, open(log, "wb") as stderr:
        process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, env=env
        )
    try:
        # The first line of its output: "interlock: serving … on http://ADDR".
        wait_until(
            lambda: b"\n" in out.read_bytes() or process.poll() is not None,
            "the server to say where it listens",
        )
        first = out.read_text().split("\n", 1)[0]
        if " on http://" not in first:
            pytest.fail(
                f"the server did not say where it listens (exit {process.poll()}, "
                f"output {first!r}); its log:\n{log.read_text()}"
            )
    except BaseException:
        stop_server(process)
        raise
    return Server(first.rsplit(" on ", 1)[1].strip(), process, log)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it does not exit within 10 s."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
