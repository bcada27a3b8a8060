"""Readers' picks (``DIGEST_READERS_PICKS``): which summaries of the last sent issue readers went on to
read most, for a short "Most read last week" block in the next issue. Pure rule, no I/O.

A summary qualifies with at least ``MIN_READERS`` distinct readers among people's clicks (scanners'
bursts never count, ``core/engagement.machine_clicks``): one click is an anecdote, not a pick. The most
read come first, ties in the order the issue showed them; at most ``MOST`` are shown.
"""

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass

MOST = 3
MIN_READERS = 2


@dataclass(frozen=True)
class Pick:
    """One summary of the previous issue, as the next issue shows it."""

    summary_id: int
    title: str
    url: str
    readers: int  # distinct people who followed one of its links (visitors under aggregate tracking)


def encode(picks: Iterable[Pick]) -> str:
    """Picks as the JSON text an issue keeps (``issue.picks``)."""
    return json.dumps([asdict(pick) for pick in picks], ensure_ascii=False)


def decode(stored: str) -> list[Pick]:
    """The picks an issue keeps."""
    return [
        Pick(int(pick["summary_id"]), str(pick["title"]), str(pick["url"]), int(pick["readers"]))
        for pick in json.loads(stored or "[]")
    ]


def readers_picks(read: Iterable[Pick]) -> list[Pick]:
    """The picks among ``read`` (in the order the issue showed them): the most read first."""
    ranked = sorted(enumerate(read), key=lambda shown: (-shown[1].readers, shown[0]))
    return [pick for _, pick in ranked if pick.readers >= MIN_READERS][:MOST]
