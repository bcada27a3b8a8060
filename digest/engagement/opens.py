"""Opens: the pixel's fetches recorded (one row appended to ``engagement``, as a click is), and an issue's
opens counted as an estimate with the machines' set apart (``core/opens.py`` holds the rules).

The visitor hash is the clicks' own (``ClickRecorder.visitor``): one client's opens and clicks of an issue
share it, which is how an open by a scanner that also followed every link is told apart. Nothing that
names a reader is kept under ``aggregate`` tracking.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert
from sqlmodel import Session, col, select

from digest.core.opens import MachineReason, Open, OpenKind, machine_opens, proxy_fetch
from digest.db.models import Delivery, Engagement, Issue, IssueWave
from digest.engagement.clicks import ClickRecorder, Visit
from digest.tokens import OpenTokens, PixelOpen, ReaderTags, TokenInvalid

# The pixel: a transparent 1x1 GIF (43 bytes).
PIXEL_GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)


class OpenRecorder:
    """Appends the pixel's fetches for the web app; one per process, shared by its threads."""

    def __init__(self, engine: Engine, clicks: ClickRecorder) -> None:
        self._engine = engine
        self._clicks = clicks

    def record(self, opened: PixelOpen, visit: Visit, *, at: datetime) -> bool:
        """Record ``visit`` fetching the pixel of ``opened`` if it counts; whether it was recorded."""
        if not visit.counts:
            return False
        kind = OpenKind.proxy if proxy_fetch(visit.user_agent, visit.address) else OpenKind.fetch
        row = {
            "issue_number": opened.issue,
            "summary_id": None,
            "action": "open",
            "kind": str(kind),
            "source": "pixel",
            "visitor": self._clicks.visitor(opened.issue, visit, at),
            # The reader only under ``individual`` tracking, whatever the pixel says.
            "subscriber_id": opened.subscriber if self._clicks.individual else None,
            "at": at,
        }
        with self._engine.begin() as connection:
            connection.execute(insert(Engagement), row)
        return True


@dataclass(frozen=True)
class OpenPixels:
    """What ``/o/{token}.gif`` needs: the tokens, and the recorder (``None`` when opens are not counted:
    pixels of emails sent while they were still answer with the image, uncounted)."""

    tokens: OpenTokens
    recorder: OpenRecorder | None
    readers: ReaderTags | None = None

    def opened(self, token: str, tag: str | None) -> PixelOpen | None:
        """What a pixel's address names: its issue, and under ``individual`` tracking the reader its tag
        (``/o/{token}/{tag}.gif``) names; ``None`` when the token or the tag is not genuine, or the tag
        names another issue (a GIF is answered all the same, and nothing recorded)."""
        try:
            pixel = self.tokens.read(token)
            if tag is None:
                return pixel
            if self.readers is None:
                return None
            return PixelOpen(pixel.issue, self.readers.read(tag, issue=pixel.issue).subscriber)
        except TokenInvalid:
            return None


@dataclass(frozen=True)
class Opens:
    """An issue's opens, an estimate: people's (every fetch, and distinct visitors) and machines'."""

    total: int = 0
    unique: int = 0
    machine: int = 0
    by_reason: tuple[tuple[str, int], ...] = ()  # machine opens per rule, in the rules' order


def issue_opens(session: Session, issue: Issue, scanners: set[str]) -> Opens:
    """Issue ``issue``'s opens; ``scanners``: the visitors whose clicks on it include a scanner's burst."""
    query = select(Engagement).where(Engagement.issue_number == issue.number, Engagement.action == "open")
    rows = list(session.exec(query.order_by(col(Engagement.id))))
    if not rows:
        return Opens()
    waves = session.exec(select(IssueWave.starts_at).where(IssueWave.issue_id == issue.id))
    starts = [*([issue.send_started_at] if issue.send_started_at else []), *waves]
    delivered = deliveries(session, issue, {row.subscriber_id for row in rows if row.subscriber_id})
    opens = [Open(row.visitor, row.at, row.kind, delivered.get(row.subscriber_id or 0)) for row in rows]
    return counted_opens(opens, machine_opens(opens, starts, scanners))


def deliveries(session: Session, issue: Issue, readers: set[int]) -> dict[int, datetime]:
    """When issue ``issue`` was handed over for each of ``readers`` (opens naming them: ``individual``)."""
    if not readers:
        return {}
    query = select(Delivery.subscriber_id, Delivery.sent_at).where(
        Delivery.issue_id == issue.id, col(Delivery.subscriber_id).in_(readers)
    )
    return {reader: sent_at for reader, sent_at in session.exec(query) if sent_at is not None}


def counted_opens(opens: Sequence[Open], machine: dict[int, MachineReason]) -> Opens:
    people = [opened for index, opened in enumerate(opens) if index not in machine]
    reasons = [(str(reason), sum(found == reason for found in machine.values())) for reason in MachineReason]
    return Opens(
        total=len(people),
        unique=len({opened.visitor for opened in people}),
        machine=len(machine),
        by_reason=tuple((reason, count) for reason, count in reasons if count),
    )
