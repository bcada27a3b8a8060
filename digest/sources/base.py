"""What every source returns, and what a feed remembers between reads (its HTTP validators)."""

from dataclasses import dataclass, field
from typing import Protocol

from digest.core.summary import SummaryIn
from digest.errors import SummaryRejected


@dataclass(frozen=True)
class Validators:
    """What a feed's last full answer said about its version: sent back so an unchanged feed answers 304."""

    etag: str | None = None
    last_modified: str | None = None

    def __bool__(self) -> bool:
        return bool(self.etag or self.last_modified)


@dataclass
class SourceBatch:
    """One read of one source: the valid summaries, each rejection, or the error that stopped the read."""

    origin: str
    summaries: list[SummaryIn] = field(default_factory=list)
    rejected: list[SummaryRejected] = field(default_factory=list)
    # The file each summary id was read from, so a duplicate id is reported by file, not by source.
    origins: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    # A feed that answered 304 Not Modified: nothing was read, and everything stored stays as it is.
    not_modified: bool = False
    # A feed's validators from this answer, for the next read's conditional GET.
    validators: Validators | None = None

    def add(self, summary: SummaryIn, where: str) -> None:
        """Take ``summary`` unless an earlier one of this read had its id: the first one given wins."""
        if summary.id in self.origins:
            already = [("id", f"already given by {self.origins[summary.id]}")]
            self.rejected.append(SummaryRejected(where, summary.id, already))
            return
        self.origins[summary.id] = where
        self.summaries.append(summary)


class Source(Protocol):
    name: str

    def read(self, known: Validators | None = None) -> SourceBatch:
        """Everything the source holds now; a feed sends ``known`` to be answered 304 when unchanged."""
        ...


class ReadInFull:
    """``source`` read without its stored validators: every feed answers in full (``digest ingest
    --refetch``), for when summaries were rejected by a fault of ours that is fixed now."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.name = source.name

    def read(self, known: Validators | None = None) -> SourceBatch:
        return self.source.read(None)
