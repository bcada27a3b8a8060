"""The provider's own ``open`` and ``click`` events, counted once (``core/provider_counts.py`` holds the
rule) into the ``engagement`` table, where the redirect's clicks and the pixel's opens are.

Nothing that names a reader is kept: the event's row keeps no address hash, no subscriber and no
delivery, only the issue it was about; the engagement row keeps a visitor hash of the client's address
and user agent, as a click's does. (Under ``individual`` tracking, not built yet, this is where the
subscriber would be kept.)
"""

from dataclasses import dataclass, field

from sqlalchemy import insert
from sqlmodel import Session, col, select

from digest.core.engagement import LinkKind, visitor_hash
from digest.core.events import EventIn
from digest.core.opens import OpenKind
from digest.core.provider_counts import Counting, Verdict, counted
from digest.db.models import Delivery, Engagement, Issue, IssueItem, Subscriber, Summary
from digest.rendering import ItemView
from digest.rendering.note import note_fragment, note_links

Content = dict[str, tuple[int | None, LinkKind]]


@dataclass
class EngagementCounting:
    """The rule's settings and the key of visitor hashes; the issues' content, read once per request."""

    rules: Counting
    visitor_key: bytes
    contents: dict[int, Content] = field(default_factory=dict)


def count(
    session: Session, event: EventIn, subscriber: Subscriber | None, counting: EngagementCounting | None
) -> tuple[str, int | None]:
    """Count ``event`` (an open or a click) if the rule says so: what was done, and the issue it was about."""
    delivery = session.get(Delivery, event.delivery_id) if event.delivery_id is not None else None
    if delivery is None or subscriber is None or delivery.subscriber_id != subscriber.id:
        return "names no delivery to this address: kept, not counted", None
    issue = session.get(Issue, delivery.issue_id)
    if issue is None:
        return "its issue is gone: kept, not counted", None
    if counting is None:
        return "engagement is not counted here: kept", issue.number
    content = counting.contents.get(issue.number)
    if content is None:
        content = counting.contents[issue.number] = content_of(session, issue)
    found = counted(event, counting.rules, content)
    if found.verdict not in (Verdict.open, Verdict.click):
        return f"{found.verdict}: kept, not counted again", issue.number
    kind = (
        found.kind
        if found.verdict == Verdict.click
        else str(OpenKind.proxy if event.machine else OpenKind.fetch)
    )
    row = {
        "issue_number": issue.number,
        "summary_id": found.summary,
        "action": str(found.verdict),
        "kind": kind,
        "source": "sendgrid",
        "visitor": visitor_hash(
            counting.visitor_key, issue.number, event.occurred_at, event.client, event.user_agent
        ),
        "at": event.occurred_at,
    }
    session.connection().execute(insert(Engagement), row)
    return f"counted as {found.verdict}", issue.number


def content_of(session: Session, issue: Issue) -> Content:
    """Each address of ``issue``'s content as the email wrote it: its summaries' pages and DOIs, and the
    links of the editor's note."""
    query = (
        select(Summary)
        .join(IssueItem, col(IssueItem.summary_id) == col(Summary.id))
        .where(IssueItem.issue_id == issue.id)
    )
    content: Content = {}

    def note_link(url: str) -> str:
        content.setdefault(url, (None, LinkKind.note))
        return url

    note_fragment(issue.note, link=note_link)  # the HTML part's links
    note_links(issue.note, note_link)  # the text part's
    for summary in session.exec(query):
        content[summary.url] = (summary.id, LinkKind.page)
        doi = ItemView(title="", url="", doi=summary.source_doi).doi_url
        if doi:
            content[doi] = (summary.id, LinkKind.doi)
    return content
