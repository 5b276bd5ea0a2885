"""Waiting for eventual effects (a waiter queuing, a lease expiring, a thread's progress) in the
suites: polls with a generous deadline, never asserts on speed."""

from __future__ import annotations

import time
from typing import Callable

import pytest

# How long eventual things may take before a test calls them stuck.
DEADLINE = 15.0


def wait_until(condition: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    """Polls `condition` until it holds; fails the test if it does not within `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)
