"""Sends that are not an issue's send: a dry run, which counts the audience and fills one message without
sending or writing anything, and a test copy to one address, which is no delivery and counts nowhere.
"""

import html as markup
import re
from datetime import datetime
from gettext import NullTranslations

from sqlalchemy import Engine
from sqlmodel import func, select

from digest.core.addresses import domain_of
from digest.core.opens import without_pixel
from digest.core.personalize import Markers, Personalizer, RecipientLinks
from digest.db.engine import unit_of_work
from digest.db.models import Issue, IssueStatus, Subscriber, SubscriberState
from digest.errors import InvalidState
from digest.issues.queries import get_issue
from digest.mail import Envelope, Mailer, SharedBody
from digest.sending.ledger import Recipient
from digest.sending.progress import SendReport
from digest.sending.sender import IssueSender


def dry_run(engine: Engine, number: int, sender: IssueSender) -> SendReport:
    """Count the audience and fill one recipient's message, sending nothing and writing nothing."""
    with unit_of_work(engine) as session:
        issue = get_issue(session, number)
        if issue.status not in (
            IssueStatus.approved,
            IssueStatus.sending,
            IssueStatus.draft,
            IssueStatus.held,
        ):
            raise InvalidState(f"issue {number} is {issue.status}; there is nothing left to send")
        audience = session.exec(
            select(func.count()).select_from(Subscriber).where(Subscriber.state == SubscriberState.active)
        ).one()
    sample = sender.messages.links_for(
        Recipient(0, 0, "reader@example.org", SubscriberState.active, "dry-run"), issue.number
    )
    Personalizer(issue.html, Markers.of_render(issue.markers, issue.html)).fill(sample)
    return SendReport(issue_number=number, audience=int(audience), dry_run=True)


def send_test_copy(
    issue: Issue,
    address: str,
    mailer: Mailer,
    *,
    from_: str,
    base_url: str,
    now: datetime,
    words: NullTranslations | None = None,
) -> str:
    """Send ``issue`` to one address with "[TEST]" in the subject: not a delivery, not counted anywhere.

    Its links go to the general unsubscribe and preferences pages, as in the archive. It carries no open
    pixel, and when the issue has one the copy says so at its top (in the language of ``words``).
    """
    links = RecipientLinks(unsubscribe=f"{base_url}/unsubscribe", preferences=f"{base_url}/preferences")
    markers = Markers.of_render(issue.markers, issue.html)  # no reader's tag: the links every reader shares
    html, text = without_pixel(issue.html), issue.text
    if html != issue.html:
        said = (words or NullTranslations()).gettext(
            "Test copy: it has no open pixel, so opening it counts no open; its links count as any "
            "reader's clicks do."
        )
        html, text = said_at_top(html, said), f"{said}\n\n{text}"
    body = SharedBody(subject=f"[TEST] {issue.subject}", html=html, text=text, from_=from_, markers=markers)
    stamp = f"{now:%Y%m%dT%H%M%S%f}"
    envelope = Envelope(
        key=f"tests/issue-{issue.number}-{stamp}",
        to=address,
        message_id=f"<digest.test.{issue.number}.{stamp}@{domain_of(from_)}>",
        values=markers.values(links),
    )
    [outcome] = mailer.send_batch(body, [envelope])
    if outcome.error is not None:
        raise outcome.error
    return outcome.provider_id or ""


def said_at_top(html: str, said: str) -> str:
    """``html`` with ``said`` as a first paragraph of its body."""
    line = f'<p style="margin:0;padding:8px 16px;font:14px sans-serif;">{markup.escape(said)}</p>'
    return re.sub(r"(<body\b[^>]*>)", lambda found: found.group(1) + line, html, count=1)
