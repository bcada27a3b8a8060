"""Recording a click on a tracked link: one row appended to ``engagement``, nothing read, nothing updated.

An append-only table is what lets a burst after a send be absorbed: each click is one short INSERT with
no unique key to check and no row to lock, so web processes never wait on each other's clicks (on
PostgreSQL; SQLite serialises writers, each one a single INSERT). Nothing that names a reader is kept
under ``aggregate`` tracking: the visitor is a keyed hash of the client's address and user agent, for
one issue on one day, which no one can turn back into either (the key never leaves the process).
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert

from digest.core.engagement import TrackedLink, is_scanner, visitor_hash, visitor_key
from digest.db.models import Engagement
from digest.tokens import ClickTokens, ReaderTags


@dataclass(frozen=True)
class Visit:
    """Who followed a link, as much as the request says: used for the visitor hash, then forgotten."""

    address: str
    user_agent: str
    head: bool = False

    @property
    def counts(self) -> bool:
        """HEAD requests and link scanners' or bots' user agents are never counted."""
        return not self.head and not is_scanner(self.user_agent)


class ClickRecorder:
    """Appends clicks for the web app; one per process, shared by its threads."""

    def __init__(self, engine: Engine, secret: str, *, individual: bool = False) -> None:
        self._engine = engine
        self._key = visitor_key(secret)
        self.individual = individual  # DIGEST_TRACKING=individual: a click may name its reader

    def visitor(self, issue: int, visit: Visit, at: datetime) -> str:
        """The same for one client on one issue all day, different the next day and for another issue."""
        return visitor_hash(self._key, issue, at, visit.address, visit.user_agent)

    def record(self, link: TrackedLink, visit: Visit, *, at: datetime, subscriber: int | None = None) -> bool:
        """Record ``visit`` following ``link`` if it counts; whether it was recorded. ``subscriber``
        (a per-reader link's) is stored under ``individual`` tracking only: after a switch back to
        ``aggregate`` the links of earlier emails still count, naming nobody."""
        if not visit.counts:
            return False
        row = {
            "issue_number": link.issue,
            "summary_id": link.summary,
            "action": "click",
            "kind": str(link.kind),
            "source": "redirect",
            "visitor": self.visitor(link.issue, visit, at),
            "at": at,
            "subscriber_id": subscriber if self.individual else None,
        }
        with self._engine.begin() as connection:
            connection.execute(insert(Engagement), row)
        return True


@dataclass(frozen=True)
class TrackedLinks:
    """What ``/r/{token}`` needs: the tokens, and the recorder (``None`` with ``DIGEST_TRACKING=off``:
    links of emails sent before tracking was turned off still lead where they did, uncounted)."""

    tokens: ClickTokens
    recorder: ClickRecorder | None
    readers: ReaderTags
