"""Where summaries come from: each source yields validated summaries and the reasons for any it rejects.

May import ``digest.core`` and ``digest.errors``. Sources read (files, feeds over HTTP); they never write
to the database: what a feed's last answer said (its validators) comes in and goes out as values.
"""

from datetime import datetime
from pathlib import Path

from digest.sources.base import ReadInFull, Source, SourceBatch, Validators
from digest.sources.feeds import FeedSource
from digest.sources.fetch import FetchRules
from digest.sources.folder import FolderSource
from digest.sources.samples import SAMPLES_SPEC, SampleSource

__all__ = ["FetchRules", "ReadInFull", "Source", "SourceBatch", "Validators", "open_sources"]


def open_sources(specs: list[str], *, now: datetime, fetch: FetchRules | None = None) -> list[Source]:
    """Turn ``DIGEST_SOURCES`` entries into sources: ``samples``, a feed URL (http or https: JSON Feed,
    RSS 2.0 or Atom), or a folder path (``file://`` allowed)."""
    sources: list[Source] = []
    for spec in specs:
        if spec == SAMPLES_SPEC:
            sources.append(SampleSource(now=now))
        elif spec.lower().startswith(("http://", "https://")):
            sources.append(FeedSource(spec, fetch or FetchRules()))
        else:
            sources.append(FolderSource(Path(spec.removeprefix("file://"))))
    return sources
