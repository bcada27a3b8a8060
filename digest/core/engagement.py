"""What a click on an email's link is, and which clicks a person made: pure rules, no I/O.

A tracked link names the issue, the summary (if any), the kind of link and the address it leads to. Two
rules set machine clicks apart from people's:

- A request whose user agent names a link scanner or a bot (``is_scanner``), or a ``HEAD`` request,
  never counts: such clicks are not even stored.
- Mail scanners (Microsoft Defender Safe Links, Barracuda, Mimecast) fetch every link of a message a
  few seconds after delivery, with an ordinary browser's user agent. So clicks of one visitor on one
  issue that follow each other within ``BURST_GAP`` and reach ``BURST_LINKS`` different links or more
  are a burst (``machine_clicks``): a person reads between two links, a scanner does not.
"""

import enum
import hashlib
import hmac
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from gettext import NullTranslations

# Clicks of one visitor on one issue this close to the previous one belong to the same run.
BURST_GAP = timedelta(seconds=2)
# A run reaching this many different links is a machine following every link of the message.
BURST_LINKS = 3

# User agents of link scanners, preview fetchers and scripts (lower case, searched anywhere).
SCANNER_AGENTS = re.compile(
    r"bot\b|bot/|crawler|spider|scanner|preview|barracuda|mimecast|proofpoint|safelinks|"
    r"symantec|forcepoint|trendmicro|sophos|fortiguard|ironport|cisco|zscaler|"
    r"curl/|wget/|python-requests|python-urllib|go-http-client|java/|okhttp|libwww|headless",
)


class Tracking(enum.StrEnum):
    """``DIGEST_TRACKING``: how much a tracked link records."""

    off = "off"  # no link is rewritten, nothing is recorded
    aggregate = "aggregate"  # counts per issue, summary, topic; no record of who clicked
    individual = "individual"  # as aggregate, and which subscriber clicked


# The ``engagement.action`` of an unsubscribe from an issue's link (``subscribers/leaving.py``).
UNSUBSCRIBE = "unsubscribe"


class LinkKind(enum.StrEnum):
    """Where a tracked link sits in the email."""

    page = "page"  # a summary's page: its headline, "Read the full summary", "In this issue"
    doi = "doi"  # the study itself, at doi.org
    note = "note"  # a link in the editor's note


@dataclass(frozen=True)
class TrackedLink:
    """One link of one issue, as its redirect token carries it."""

    issue: int  # the issue's number
    kind: LinkKind
    url: str
    summary: int | None = None


def visitor_key(secret: str) -> bytes:
    """The key of visitor hashes, derived from the signing key: the hash is no token and no token's MAC."""
    return hashlib.sha256(b"digest.visitor\0" + secret.encode()).digest()


def visitor_hash(key: bytes, issue: int, at: datetime, address: str, user_agent: str) -> str:
    """One client (address and user agent) on one issue on one day, as a keyed hash nobody can turn back
    into either: the same all day, different the next day and for another issue."""
    material = f"{issue}\0{at.date().isoformat()}\0{address}\0{user_agent}".encode()
    return hmac.new(key, material, hashlib.sha256).hexdigest()[:32]


def is_scanner(user_agent: str) -> bool:
    """Whether a request's user agent names a bot or a link scanner (an empty one counts as a bot)."""
    agent = user_agent.strip().lower()
    return not agent or SCANNER_AGENTS.search(agent) is not None


@dataclass(frozen=True)
class Click:
    """A stored click, as the machine rule reads it."""

    visitor: str
    at: datetime
    link: tuple[int | None, str]  # (summary, kind): which link was followed


def machine_clicks(clicks: Sequence[Click]) -> set[int]:
    """The positions in ``clicks`` (one issue's) that belong to a scanner's burst."""
    by_visitor: dict[str, list[int]] = {}
    for index in sorted(range(len(clicks)), key=lambda i: (clicks[i].visitor, clicks[i].at)):
        by_visitor.setdefault(clicks[index].visitor, []).append(index)
    machine: set[int] = set()
    for indexes in by_visitor.values():
        for run in runs(clicks, indexes):
            if len({clicks[i].link for i in run}) >= BURST_LINKS:
                machine.update(run)
    return machine


def runs(clicks: Sequence[Click], indexes: list[int]) -> list[list[int]]:
    """``indexes`` (one visitor's clicks, oldest first) cut wherever two clicks are further apart than
    ``BURST_GAP``."""
    cut: list[list[int]] = []
    for index in indexes:
        if cut and clicks[index].at - clicks[cut[-1][-1]].at <= BURST_GAP:
            cut[-1].append(index)
        else:
            cut.append([index])
    return cut


def rate(part: int, whole: int) -> float:
    """``part`` out of ``whole`` as a fraction (0 when there is no whole)."""
    return part / whole if whole else 0.0


def individual_notice(gettext: Callable[[str], str], *, opens: bool) -> str:
    """What readers are told under ``individual`` tracking: their own clicks (and opens) are recorded."""
    if opens:
        return gettext(
            "Links in our emails pass through our site, which records which links you follow, and an "
            "invisible image in each email records when you open it. You can download that record, or erase "
            "it with the rest of your data, from your preferences page."
        )
    return gettext(
        "Links in our emails pass through our site, which records which links you follow. You can download "
        "that record, or erase it with the rest of your data, from your preferences page."
    )


def tracking_notice(tracking: Tracking, *, words: NullTranslations | None = None, opens: bool = False) -> str:
    """What the sign-up page and every digest's footer tell readers about the tracking that applies, in
    the language of ``words`` (the catalogue of ``DIGEST_LANGUAGE``; English without); ``opens``: an
    open pixel is in the emails too (``DIGEST_TRACK_OPENS``, never with tracking off)."""
    gettext = (words or NullTranslations()).gettext
    if tracking == Tracking.off:
        return gettext("Links in our emails go straight to their pages: we do not count who reads or clicks.")
    if tracking == Tracking.individual:
        return individual_notice(gettext, opens=opens)
    if opens:
        return gettext(
            "Links in our emails pass through our site, which counts clicks per summary without recording "
            "who clicked; an invisible image in each email counts how many were opened, without recording "
            "who opened them."
        )
    return gettext(
        "Links in our emails pass through our site, which counts clicks per summary without recording "
        "who clicked."
    )
