"""Choosing what goes into an issue, and how it is announced. Pure: works on plain values.

Subjects and preheaders are plain text: a headline's inline emphasis (``core/inline.py``) is left out.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from gettext import NullTranslations

from digest.core.inline import words as plain_words

SUBJECT_LIMIT = 78
PREHEADER_LIMIT = 140
# The words of a subject and preheader in English; wiring passes the catalogue of DIGEST_LANGUAGE.
ENGLISH = NullTranslations()


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


def subject_for(count: int, lead_headline: str, words: NullTranslations = ENGLISH) -> str:
    """The news first, then how many more: ``"Hearing aids did not slow memory decline, and 13 more"``.

    A phone shows the first 35 to 40 characters of a subject: they carry the lead summary's headline, not
    a count. The count comes last and is never cut; the headline is shortened to leave it room.
    """
    more = words.ngettext(", and %(count)d more", ", and %(count)d more", count - 1) % {"count": count - 1}
    more = more if count > 1 else ""
    return shorten(plain_words(lead_headline), max(20, SUBJECT_LIMIT - len(more))) + more


def preheader_for(selection: Selection, words: NullTranslations = ENGLISH) -> str:
    """The inbox preview line, continuing the subject rather than repeating it: the next headlines
    ("Also: ..."), or the lead's takeaway when it is the only summary."""
    if selection.is_empty:
        return ""
    lead, *rest = selection.ordered
    if not rest:
        return shorten(plain_words(lead.key_takeaway), PREHEADER_LIMIT)
    also = words.gettext("Also: %(headlines)s") % {
        "headlines": "; ".join(plain_words(item.display_title) for item in rest)
    }
    return shorten(also, PREHEADER_LIMIT)
