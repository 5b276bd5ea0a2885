"""Every Python example of the READMEs (the project's and the package's) runs exactly as printed,
in a fresh interpreter, on a fresh store (``INTERLOCK_URL`` names an empty SQLite file), and
leaves the store in the state its comments promise."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import interlock

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PACKAGE_README = ROOT / "bindings-python" / "README.md"


def python_blocks(path: Path) -> list[str]:
    """Every ```python (or ```py) block of a Markdown file, in order."""
    text = path.read_text(encoding="utf-8")
    return re.findall(r"```(?:python3?|py)\n(.*?)```", text, flags=re.S)


def run_example(code: str, store: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "INTERLOCK_TOKEN"}
    env["INTERLOCK_URL"] = store
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_the_readmes_have_the_python_examples_this_file_checks() -> None:
    blocks = python_blocks(README)
    assert len(blocks) == 2, "a Python block was added to README.md: check it here too"
    assert "interlock.aio" in blocks[1]
    assert len(python_blocks(PACKAGE_README)) == 1
    # The rest of the documentation has none this file does not run.
    others = {p.name: len(python_blocks(p)) for p in sorted((ROOT / "docs").glob("*.md"))}
    assert others and not any(others.values()), (
        f"Python blocks in docs/*.md: run them here: {others}"
    )


def test_the_sync_example_runs_and_does_what_it_says(tmp_path: Path) -> None:
    store = f"sqlite://{tmp_path / 'fresh.db'}"
    done = run_example(python_blocks(README)[0], store, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("printed with fence") == 2
    assert "taken by" not in done.stdout  # the email was free, so the reservation succeeded

    db = interlock.connect(store)
    try:
        email = db.get("emails/ada@example.com")
        assert email is not None and email.value == "users/1"
        record = db.get("records/7")
        assert record is not None and record.value == {"title": "new title", "pages": 3}
        src, dst = db.get("accounts/1"), db.get("accounts/2")
        assert src is not None and src.value == {"funds": 90}
        assert dst is not None and dst.value == {"funds": 15}
        # The locks were released, and the example's client closed: nothing is held or queued.
        assert db.lock_queue("printer/first-floor") == []
        lock = db.lock("printer/first-floor", ttl=5)
        assert lock.try_acquire() is True
        lock.release()
    finally:
        db.close()

    # Run again on the same store: the reservation is taken now, the record is edited in place.
    again = run_example(python_blocks(README)[0], store, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "taken by users/1" in again.stdout
    db = interlock.connect(store)
    try:
        src = db.get("accounts/1")
        assert src is not None and src.value == {"funds": 80}
    finally:
        db.close()


def test_the_transfer_refuses_to_overdraw(tmp_path: Path) -> None:
    """Step 5 of the example raises before writing when the source cannot pay."""
    funds = 3
    example = python_blocks(README)[0]
    step5 = example[example.index("def transfer()") :]
    store = f"sqlite://{tmp_path / 'coord.db'}"
    seed = interlock.connect(store)
    seed.put("accounts/1", {"funds": funds}, index=0)
    seed.put("accounts/2", {"funds": 0}, index=0)
    seed.close()
    done = run_example("import interlock\ndb = interlock.connect()\n" + step5, store, tmp_path)
    assert done.returncode != 0
    assert "ValueError: insufficient funds" in done.stderr
    db = interlock.connect(store)
    try:
        src = db.get("accounts/1")
        assert src is not None and src.value == {"funds": funds}
    finally:
        db.close()


def test_the_asyncio_example_runs_and_does_what_it_says(tmp_path: Path) -> None:
    store = f"sqlite://{tmp_path / 'fresh.db'}"
    done = run_example(python_blocks(README)[1], store, tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("printed with fence "), lines
    job = interlock.connect(store)
    try:
        entry = job.get("jobs/1")
        assert entry is not None
        assert lines[1] == f"put jobs/1 {{'pages': 3}} {entry.index}"
        assert job.lock_queue("printer/first-floor") == []
    finally:
        job.close()


@pytest.mark.parametrize("path", [PACKAGE_README], ids=["bindings-python/README.md"])
def test_the_package_readme_example_runs(tmp_path: Path, path: Path) -> None:
    store = f"sqlite://{tmp_path / 'fresh.db'}"
    done = run_example(python_blocks(path)[0], store, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "printed with fence" in done.stdout
    db = interlock.connect(store)
    try:
        assert db.lock_queue("printer/first-floor") == []
    finally:
        db.close()
