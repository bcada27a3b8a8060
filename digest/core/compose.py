"""Choosing what goes into an issue, and how it is announced. Pure: works on plain values."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

SUBJECT_LIMIT = 78
PREHEADER_LIMIT = 140


@dataclass(frozen=True)
class Candidate:
    """A summary that could go into the next issue."""

    summary_id: int
    published_at: datetime
    display_title: str
    key_takeaway: str


@dataclass(frozen=True)
class Selection:
    """The items of an issue in order; the first ``featured`` are shown in full."""

    ordered: tuple[Candidate, ...]
    featured: int

    @property
    def is_empty(self) -> bool:
        return not self.ordered


def select_items(candidates: Sequence[Candidate], *, max_items: int) -> Selection:
    """Newest first; the first ``max_items`` in full, the rest listed by title under "More this week"."""
    ordered = tuple(sorted(candidates, key=lambda c: (c.published_at, c.summary_id), reverse=True))
    return Selection(ordered=ordered, featured=min(max_items, len(ordered)))


def shorten(text: str, limit: int) -> str:
    """Cut ``text`` at a word boundary so it fits ``limit`` characters, marking the cut with an ellipsis."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:.-")
    return cut + "…"


def subject_for(count: int, top_title: str) -> str:
    """E.g. ``"5 new summaries: Walking after meals lowers blood sugar"``."""
    noun = "summary" if count == 1 else "summaries"
    prefix = f"{count} new research {noun}: "
    return prefix + shorten(top_title, max(20, SUBJECT_LIMIT - len(prefix)))


def preheader_for(selection: Selection) -> str:
    """The inbox preview line: the top item's takeaway."""
    if selection.is_empty:
        return ""
    return shorten(selection.ordered[0].key_takeaway, PREHEADER_LIMIT)
