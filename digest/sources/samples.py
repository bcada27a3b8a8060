"""The sample summaries shipped inside the package, dated relative to the day they are read.

The files carry real dates a few days apart; reading them shifts every date by the same whole number of
days so the newest falls on the day before ``now``. The demo therefore finds a fresh week of summaries
whenever it runs, and reading twice on one day gives identical summaries.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from digest.sources.base import SourceBatch, Validators
from digest.sources.folder import read_file

SAMPLES_SPEC = "samples"
SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples"


class SampleSource:
    def __init__(self, *, now: datetime, folder: Path = SAMPLES_DIR) -> None:
        self.now = now
        self.folder = folder
        self.name = SAMPLES_SPEC

    def read(self, known: Validators | None = None) -> SourceBatch:
        batch = SourceBatch(origin=self.name)
        for path in sorted(self.folder.glob("*.json")):
            read_file(path, f"samples/{path.name}", batch)
        if batch.summaries:
            newest = max(summary.published_at for summary in batch.summaries)
            days_back = (self.now.astimezone(UTC).date() - newest.astimezone(UTC).date()).days - 1
            shift = timedelta(days=days_back)
            batch.summaries = [
                summary.model_copy(update={"published_at": summary.published_at + shift})
                for summary in batch.summaries
            ]
        return batch
