"""Fixtures shared by the suites: every test that takes `db` (or `url`) runs on an in-process
store, on a real SQLite file in a fresh directory and on a fresh key prefix of a real 3-member
etcd cluster, which the whole session shares."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from etcd_cluster import EtcdCluster, EtcdClusterError
from servers import Server, start_server, stop_server

import interlock


@pytest.fixture(scope="session")
def etcd_cluster() -> Iterator[EtcdCluster]:
    """One 3-member etcd cluster for the session, started by the first test that needs it."""
    cluster: EtcdCluster | None = None
    try:
        cluster = EtcdCluster(3)
    except EtcdClusterError as e:
        failure = str(e)
    if cluster is None:
        # Every etcd test errors with this message (outside the `except`, so it is shown alone);
        # none is skipped.
        pytest.fail(failure, pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["mem", "sqlite", "etcd"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store of each kind."""
    if request.param == "mem":
        return f"mem://test-{uuid.uuid4().hex}"
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'store.db'}"
    cluster: EtcdCluster = request.getfixturevalue("etcd_cluster")
    # The store-wide index is the cluster's revision, shared by every prefix: tests run one at a
    # time, and a lease an earlier test left behind must not expire (a write) during this one.
    cluster.revoke_all_leases()
    return cluster.url(f"test-{uuid.uuid4().hex}/")


@pytest.fixture
def db(url: str) -> Iterator[interlock.Client]:
    """A client of a fresh store."""
    client = interlock.connect(url)
    yield client
    client.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite store, for tests about processes sharing a file."""
    return f"sqlite://{tmp_path / 'shared.db'}"


SERVER_TOKEN = f"py-suite-token-{uuid.uuid4().hex}"


@pytest.fixture(scope="session")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real ``interlock serve`` (with a token) for the session, started by the first test
    that needs it."""
    server = start_server(tmp_path_factory.mktemp("server"), SERVER_TOKEN)
    try:
        yield server
    finally:
        stop_server(server.process)


@dataclass
class Store:
    """A store several processes share: its URL and the token an ``http://`` store needs (None
    for the others)."""

    kind: str
    url: str
    token: str | None
    # Key and lock names of this test start with it (a server's store is shared by the session).
    prefix: str = ""

    def env(self) -> dict[str, str]:
        """The environment of a child process that connects with ``interlock.connect()``."""
        env = {k: v for k, v in os.environ.items() if k != "INTERLOCK_TOKEN"}
        env["INTERLOCK_URL"] = self.url
        if self.token is not None:
            env["INTERLOCK_TOKEN"] = self.token
        return env


@pytest.fixture(params=["sqlite", "etcd", "http"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """A fresh store that processes share: a real SQLite file, a fresh key prefix of the real
    etcd cluster, or a fresh key prefix of a real server's store."""
    if request.param == "sqlite":
        return Store("sqlite", f"sqlite://{tmp_path / 'shared.db'}", None)
    if request.param == "etcd":
        cluster: EtcdCluster = request.getfixturevalue("etcd_cluster")
        cluster.revoke_all_leases()
        return Store("etcd", cluster.url(f"test-{uuid.uuid4().hex}/"), None)
    server: Server = request.getfixturevalue("http_server")
    return Store("http", server.url, SERVER_TOKEN, f"test-{uuid.uuid4().hex}/")


def pytest_report_header() -> str:
    return f"interlock imported from {Path(interlock.__file__).parent}"


def pytest_sessionstart(session: pytest.Session) -> None:
    # The suites test the package as installed, not the source tree beside them.
    source = Path(__file__).resolve().parent.parent / "python"
    if source in Path(interlock.__file__).resolve().parents:
        raise pytest.UsageError("interlock was imported from the source tree; install it first")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Reports how many cells of the lifecycle matrix (test_lifecycle.py) ran, and passed."""
    ran = passed = 0
    for outcome in ("passed", "failed", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            if "test_lifecycle.py::test_cell[" in getattr(report, "nodeid", ""):
                if getattr(report, "when", "call") == "call" or outcome == "error":
                    ran += 1
                    passed += outcome == "passed"
    if ran:
        terminalreporter.write_line(f"lifecycle matrix: {passed} of {ran} cells passed")
