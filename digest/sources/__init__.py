"""Where summaries come from: each source yields validated summaries and the reasons for any it rejects.

May import ``digest.core`` and ``digest.errors``. Sources read; they never write to the database.
"""

from datetime import datetime
from pathlib import Path

from digest.errors import SourceError
from digest.sources.base import Source, SourceBatch
from digest.sources.folder import FolderSource
from digest.sources.samples import SAMPLES_SPEC, SampleSource

__all__ = ["Source", "SourceBatch", "open_sources"]


def open_sources(specs: list[str], *, now: datetime) -> list[Source]:
    """Turn ``DIGEST_SOURCES`` entries into sources: ``samples`` or a folder path (``file://`` allowed)."""
    sources: list[Source] = []
    for spec in specs:
        if spec == SAMPLES_SPEC:
            sources.append(SampleSource(now=now))
        elif spec.startswith(("http://", "https://")):
            raise SourceError(f"source {spec}: feed URLs are not supported yet; use a folder of JSON files")
        else:
            sources.append(FolderSource(Path(spec.removeprefix("file://"))))
    return sources
