"""The one clock of digest: every "now" in the product comes from :func:`utc_now`.

Use cases take ``now`` as an argument; only the edges (commands, routes, jobs) ask this module. Tests
that fix their data's dates move this clock (``time_machine``), so a suite written today passes next
month. Imports nothing of the project.
"""

from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current moment, aware, in UTC."""
    return datetime.now(UTC)
