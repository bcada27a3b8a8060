"""A folder of ``*.json`` files, each holding one summary or a list of them: the embedded default.

A file that is not valid JSON, or a summary that fails validation, is reported by name and skipped; the
rest of the folder still goes in.
"""

import json
from pathlib import Path

from digest.errors import SummaryRejected
from digest.sources.base import SourceBatch, Validators
from digest.sources.items import take


class FolderSource:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.name = str(folder)

    def read(self, known: Validators | None = None) -> SourceBatch:
        batch = SourceBatch(origin=self.name)
        if not self.folder.is_dir():
            batch.error = f"source {self.name}: no such folder"
            return batch
        for path in sorted(self.folder.glob("*.json")):
            read_file(path, path.name, batch)
        return batch


def read_file(path: Path, origin: str, batch: SourceBatch) -> None:
    """Add the summaries of one JSON file to ``batch``; one bad summary does not stop the others."""
    try:
        # utf-8-sig: a byte order mark written by some editors is not an error.
        raw = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        batch.rejected.append(SummaryRejected(origin, None, [("(file)", f"not valid JSON: {exc}")]))
        return
    for item in raw if isinstance(raw, list) else [raw]:
        take(batch, item, origin)
