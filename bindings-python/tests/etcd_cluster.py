"""A real 3-member etcd cluster on loopback for the suites (Linux only), the Python counterpart of
the Rust harness in tests/src/etcd.rs.

Each member is an `etcd` process (3.4 or later, installed by scripts/setup-etcd.sh) with its own
client and peer port on 127.0.0.1 and its own directory under
`<temp dir>/interlock-etcd-python/<pid>-<random>/`: `data/` and the member's log, `etcd.log`;
nothing is printed to the test's output. The cluster runs with short Raft timings (heartbeat
50 ms, election timeout 500 ms), so the shortest lease TTL it grants is 1 s.

Members never outlive the test process: they are started with a parent-death signal
(PR_SET_PDEATHSIG = SIGKILL; the kernel sends it when the thread that started them exits, and
pytest sets fixtures up on the main thread), so they die with the process even if it is
killed. `stop()` kills them and removes the directory; a directory left behind by a process that
no longer runs is removed by the next start.
"""

from __future__ import annotations

import base64
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

HEARTBEAT_MS = 50
ELECTION_MS = 500
# interlock adds reads and checks to the (at most 128) operations of a transaction.
MAX_TXN_OPS = 1024

READY_DEADLINE = 30.0
START_ATTEMPTS = 4
STATUS_TIMEOUT = 0.5
REQUEST_TIMEOUT = 5.0
LOG_TAIL_LINES = 25

_PR_SET_PDEATHSIG = 1


class EtcdClusterError(RuntimeError):
    """The cluster could not be started, or a request to it failed."""


class _PortTaken(Exception):
    pass


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: SIGKILL it when the thread that started it exits.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _free_ports(n: int) -> list[int]:
    """`n` distinct ports that were free a moment ago (a start retries if one is taken since)."""
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _remove_stale_dirs(base: Path) -> None:
    """Removes the directories of clusters whose test process no longer runs (it crashed)."""
    for entry in base.iterdir():
        pid = entry.name.split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(entry, ignore_errors=True)
        except PermissionError:
            pass  # alive, someone else's


class _Member:
    def __init__(self, name: str, client_port: int, peer_port: int, directory: Path) -> None:
        self.name = name
        self.client_port = client_port
        self.peer_port = peer_port
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.directory / "etcd.log"

    def log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError as e:
            return f"(no log: {e})"
        return "\n".join(lines[-LOG_TAIL_LINES:])


class EtcdCluster:
    """A running etcd cluster on loopback; `stop()` kills every member and removes its data."""

    def __init__(self, members: int = 3) -> None:
        executable = shutil.which("etcd")
        if executable is None:
            raise EtcdClusterError(
                "etcd is not on PATH: the etcd tests need a real etcd (3.4 or later); "
                "install it with `bash scripts/setup-etcd.sh`"
            )
        self._executable = executable
        self._owner = os.getpid()
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        base = Path(tempfile.gettempdir()) / "interlock-etcd-python"
        base.mkdir(exist_ok=True)
        _remove_stale_dirs(base)
        self._root = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=base))
        self._members: list[_Member] = []
        try:
            last = ""
            for attempt in range(START_ATTEMPTS):
                try:
                    self._start(members, attempt)
                    return
                except _PortTaken as e:
                    last = str(e)
                    self._kill()
            raise EtcdClusterError(
                f"etcd cluster of {members}: a port was taken by another process on each of "
                f"{START_ATTEMPTS} attempts; the last one:\n{last}"
            )
        except BaseException:
            self.stop()
            raise

    def _start(self, count: int, attempt: int) -> None:
        ports = _free_ports(2 * count)
        base = self._root / f"attempt-{attempt}"
        self._members = [
            _Member(f"m{i}", ports[2 * i], ports[2 * i + 1], base / f"m{i}") for i in range(count)
        ]
        initial_cluster = ",".join(
            f"{m.name}=http://127.0.0.1:{m.peer_port}" for m in self._members
        )
        token = f"interlock-python-test-{os.getpid()}-{time.time_ns()}"
        for m in self._members:
            m.directory.mkdir(parents=True)
            client_url = f"http://127.0.0.1:{m.client_port}"
            peer_url = f"http://127.0.0.1:{m.peer_port}"
            args = [
                self._executable,
                "--name",
                m.name,
                "--data-dir",
                str(m.directory / "data"),
                "--listen-client-urls",
                client_url,
                "--advertise-client-urls",
                client_url,
                "--listen-peer-urls",
                peer_url,
                "--initial-advertise-peer-urls",
                peer_url,
                "--initial-cluster",
                initial_cluster,
                "--initial-cluster-state",
                "new",
                "--initial-cluster-token",
                token,
                "--heartbeat-interval",
                str(HEARTBEAT_MS),
                "--election-timeout",
                str(ELECTION_MS),
                "--max-txn-ops",
                str(MAX_TXN_OPS),
            ]
            with open(m.log_path, "ab") as log:
                m.process = subprocess.Popen(
                    args,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    preexec_fn=_die_with_parent,
                )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        started = time.monotonic()
        probe = {"key": base64.b64encode(b"interlock-test-harness-probe").decode()}
        while True:
            exited = [
                m.name for m in self._members if m.process is None or m.process.poll() is not None
            ]
            if exited:
                report = (
                    f"etcd member(s) {exited} exited while the cluster was "
                    f"starting:\n{self.log_tails()}"
                )
                if "address already in use" in report:
                    raise _PortTaken(report)
                raise EtcdClusterError(report)
            answers: list[dict[str, Any] | str] = []
            for m in self._members:
                try:
                    answers.append(
                        self._post(m.client_port, "/v3/maintenance/status", {}, STATUS_TIMEOUT)
                    )
                except EtcdClusterError as e:
                    answers.append(str(e))
            leaders = [a.get("leader") if isinstance(a, dict) else None for a in answers]
            if leaders[0] not in (None, "0") and all(x == leaders[0] for x in leaders):
                try:
                    for m in self._members:
                        self._post(m.client_port, "/v3/kv/range", probe, STATUS_TIMEOUT)
                    return
                except EtcdClusterError:
                    pass
            if time.monotonic() - started > READY_DEADLINE:
                status = "\n".join(f"  {m.name}: {a}" for m, a in zip(self._members, answers))
                raise EtcdClusterError(
                    f"etcd cluster not ready after {READY_DEADLINE} s; last status answers:\n"
                    f"{status}\n{self.log_tails()}"
                )
            time.sleep(0.05)

    def _post(
        self, port: int, path: str, body: dict[str, Any], timeout: float = REQUEST_TIMEOUT
    ) -> dict[str, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with self._opener.open(request, timeout=timeout) as response:
                answer: dict[str, Any] = json.loads(response.read())
                return answer
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")
            raise EtcdClusterError(f"POST {path} to port {port}: {e.code} {detail}") from e
        except (OSError, ValueError) as e:
            raise EtcdClusterError(f"POST {path} to port {port}: {e}") from e

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POSTs `body` to the gateway at `path` on the first member that answers."""
        errors = []
        for m in self._members:
            try:
                return self._post(m.client_port, path, body)
            except EtcdClusterError as e:
                errors.append(str(e))
        raise EtcdClusterError("no etcd member answered:\n" + "\n".join(errors))

    def url(self, prefix: str) -> str:
        """The interlock store URL for this cluster with keys under `prefix` (URL-safe)."""
        endpoints = ",".join(f"127.0.0.1:{m.client_port}" for m in self._members)
        return f"etcd://{endpoints}?prefix={prefix}"

    def revoke_all_leases(self) -> None:
        """Revokes every lease on the cluster: one an earlier test left behind must not expire
        (a write, which moves the store-wide index) while a later test runs."""
        listed = self.post("/v3/lease/leases", {})
        for lease in listed.get("leases", []):
            try:
                self.post("/v3/lease/revoke", {"ID": lease["ID"]})
            except EtcdClusterError as e:
                if "not found" not in str(e):  # expired meanwhile
                    raise
        left = self.post("/v3/lease/leases", {}).get("leases", [])
        if left:
            raise EtcdClusterError(f"leases left after revoking them all: {left}")

    def log_tails(self) -> str:
        return "\n".join(
            f"--- {m.name} ({m.log_path}), last lines:\n{m.log_tail()}" for m in self._members
        )

    def _kill(self) -> None:
        for m in self._members:
            if m.process is not None and m.process.returncode is None:
                m.process.send_signal(signal.SIGKILL)
        for m in self._members:
            if m.process is not None:
                m.process.wait()

    def stop(self) -> None:
        """Kills every member and removes the cluster's directory (in the process that started
        it only: a forked child leaves the parent's cluster alone)."""
        if os.getpid() != self._owner:
            return
        self._kill()
        shutil.rmtree(self._root, ignore_errors=True)
