"""Fixtures shared by the suites: every test that takes `db` runs once on an in-process store
and once on a real SQLite file in a fresh directory."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import interlock


@pytest.fixture(params=["mem", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store of each kind."""
    if request.param == "mem":
        return f"mem://test-{uuid.uuid4().hex}"
    return f"sqlite://{tmp_path / 'store.db'}"


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
