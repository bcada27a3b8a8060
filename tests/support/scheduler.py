"""Test helpers moved out of test_scheduler.py, shared by the tests that need them."""

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], bool], *, timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.05)
