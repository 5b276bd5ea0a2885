"""Fixtures shared by the suites: every test that takes `db` (or `url`) runs on an in-process
store, on a real SQLite file in a fresh directory and on a fresh key prefix of a real 3-member
etcd cluster, which the whole session shares."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from etcd_cluster import EtcdCluster, EtcdClusterError

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


def pytest_report_header() -> str:
    return f"interlock imported from {Path(interlock.__file__).parent}"


def pytest_sessionstart(session: pytest.Session) -> None:
    # The suites test the package as installed, not the source tree beside them.
    source = Path(__file__).resolve().parent.parent / "python"
    if source in Path(interlock.__file__).resolve().parents:
        raise pytest.UsageError("interlock was imported from the source tree; install it first")
