"""What every source returns."""

from dataclasses import dataclass, field
from typing import Protocol

from digest.core.summary import SummaryIn
from digest.errors import SummaryRejected


@dataclass
class SourceBatch:
    """One read of one source: the valid summaries, each rejection, or the error that stopped the read."""

    origin: str
    summaries: list[SummaryIn] = field(default_factory=list)
    rejected: list[SummaryRejected] = field(default_factory=list)
    # The file each summary id was read from, so a duplicate id is reported by file, not by source.
    origins: dict[str, str] = field(default_factory=dict)
    error: str | None = None


class Source(Protocol):
    name: str

    def read(self) -> SourceBatch: ...
