"""Moves this Python process's clock ahead when ``TESTS_CLOCK_AHEAD_DAYS`` is set.

``.ci/run`` runs the suite a second time with this folder on ``PYTHONPATH`` and the clock a year ahead,
so a date baked into a test turns CI red today rather than main red next month. Every Python process
the tests start inherits the variable and so the same shifted clock; the clock keeps ticking.
"""

import os
from datetime import UTC, datetime, timedelta

days = os.environ.get("TESTS_CLOCK_AHEAD_DAYS")
if days:
    import time_machine

    time_machine.travel(datetime.now(UTC) + timedelta(days=float(days)), tick=True).start()
