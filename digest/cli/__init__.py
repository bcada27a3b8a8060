"""The ``digest`` command line (Typer): one module per noun, each adding its commands to ``app``.

User mistakes and unreachable services end with one line on stderr and exit code 1, never a traceback.
"""

from digest.cli import bench, editors, engagement, ingest, issues, ops, sending, subscribers, waves
from digest.cli.base import app

__all__ = [
    "app",
    "bench",
    "editors",
    "engagement",
    "ingest",
    "issues",
    "main",
    "ops",
    "sending",
    "subscribers",
    "waves",
]


def main() -> None:
    app()
