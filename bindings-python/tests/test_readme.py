"""The README's Python example runs as written against the installed package, in a fresh
interpreter, and leaves the store in the state its comments promise."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import interlock

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> list[str]:
    """The ```python blocks of the README's "Using it from Python" section."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Using it from Python", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_readme_python_example_runs_and_does_what_it_says(tmp_path: Path) -> None:
    blocks = python_blocks()
    assert blocks, "the README has no Python example"
    example = blocks[0]
    store = tmp_path / "coord.db"
    # The example's store path is a server path; point it at the test's directory instead.
    assert "sqlite:///var/lib/app/coord.db" in example
    example = example.replace("sqlite:///var/lib/app/coord.db", f"sqlite://{store}")

    seed = interlock.connect(f"sqlite://{store}")
    seed.put("records/7", {"title": "old title", "pages": 3}, index=0)
    seed.put("accounts/1", {"funds": 100}, index=0)
    seed.put("accounts/2", {"funds": 5}, index=0)
    seed.close()

    # `print_job` stands for the user's work under the lock; it records the fencing token.
    prelude = (
        "def print_job(fence):\n"
        "    assert isinstance(fence, int) and fence > 0, fence\n"
        "    print('printed with fence', fence)\n"
    )
    env = dict(os.environ, INTERLOCK_URL=f"sqlite://{tmp_path / 'default.db'}")
    done = subprocess.run(
        [sys.executable, "-c", prelude + example],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "printed with fence" in done.stdout
    assert "taken by" not in done.stdout  # the email was free, so the reservation succeeded

    db = interlock.connect(f"sqlite://{store}")
    try:
        email = db.get("emails/ada@example.com")
        assert email is not None and email.value == "users/1"
        record = db.get("records/7")
        assert record is not None and record.value == {"title": "new title", "pages": 3}
        src, dst = db.get("accounts/1"), db.get("accounts/2")
        assert src is not None and src.value == {"funds": 90}
        assert dst is not None and dst.value == {"funds": 15}
    finally:
        db.close()

    # The lock on the default store was released when the block ended.
    default = interlock.connect(env["INTERLOCK_URL"])
    try:
        assert default.lock("printer/first-floor").queue() == []
        lock = default.lock("printer/first-floor", ttl=5)
        assert lock.acquire(blocking=False) is True
        lock.release()
    finally:
        default.close()


def test_the_readme_transfer_refuses_to_overdraw(tmp_path: Path) -> None:
    """Step 5 of the example raises before writing when the source cannot pay."""
    funds = 3
    example = python_blocks()[0]
    step5 = example[example.index("def transfer()") :]
    store = tmp_path / "coord.db"
    seed = interlock.connect(f"sqlite://{store}")
    seed.put("accounts/1", {"funds": funds}, index=0)
    seed.put("accounts/2", {"funds": 0}, index=0)
    seed.close()
    code = f"import interlock\ndb = interlock.connect('sqlite://{store}')\n" + step5
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "ValueError: insufficient funds" in done.stderr
    db = interlock.connect(f"sqlite://{store}")
    try:
        src = db.get("accounts/1")
        assert src is not None and src.value == {"funds": funds}
    finally:
        db.close()
