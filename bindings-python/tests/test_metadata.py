"""The installed distribution's metadata: ``interlock.__version__`` is the version pip installed,
which is the one version of every interlock package (pyproject.toml, the crates' workspace)."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import interlock

ROOT = Path(__file__).resolve().parents[2]


def declared(path: Path) -> str:
    """The first ``version = "…"`` of a TOML file."""
    found = re.search(r'^version = "([^"]+)"$', path.read_text(), re.MULTILINE)
    assert found, f"no version in {path}"
    return found.group(1)


def test_version_is_the_installed_distributions() -> None:
    assert interlock.__version__ == metadata.version("interlock-db")
    assert re.fullmatch(r"\d+\.\d+\.\d+", interlock.__version__)


def test_version_is_the_projects() -> None:
    assert interlock.__version__ == declared(ROOT / "bindings-python" / "pyproject.toml")
    assert interlock.__version__ == declared(ROOT / "Cargo.toml")


def test_distribution_metadata() -> None:
    meta = metadata.metadata("interlock-db")
    assert meta["Name"] == "interlock-db"
    assert meta["License-Expression"] == "Apache-2.0"
    urls = meta.get_all("Project-URL") or []
    assert any(u.startswith("Repository, https://github.com/") for u in urls), urls
    # the top-level import name stays `interlock`
    files = metadata.files("interlock-db") or []
    assert any(str(f).startswith("interlock/__init__.py") for f in files)
    assert any(str(f).startswith("interlock/_native") for f in files)
