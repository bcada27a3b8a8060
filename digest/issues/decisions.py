"""Editorial decisions on an issue (approve, hold, cancel), recorded in the audit trail; its preview."""

from datetime import datetime

from sqlmodel import Session, col, select

from digest.core.opens import without_pixel
from digest.db.models import EditorialAction, Issue, IssueStatus
from digest.errors import InvalidState
from digest.issues.queries import get_issue
from digest.rendering import Markers, Personalizer, RecipientLinks

# Which states each decision may start from.
ALLOWED = {
    IssueStatus.approved: (IssueStatus.draft, IssueStatus.held),
    IssueStatus.held: (IssueStatus.draft, IssueStatus.approved),
    IssueStatus.cancelled: (IssueStatus.draft, IssueStatus.held, IssueStatus.approved),
}


def decide(session: Session, number: int, decision: IssueStatus, *, by: str, now: datetime) -> Issue:
    """Approve, hold or cancel issue ``number``; deciding what is already decided changes nothing."""
    issue = get_issue(session, number)
    if issue.status == decision:
        return issue
    if issue.status not in ALLOWED[decision]:
        raise InvalidState(f"issue {number} is {issue.status}; it cannot be {decision} now")
    previous = issue.status
    issue.status = decision
    issue.updated_at = now
    if decision == IssueStatus.approved:
        issue.approved_at = now
        issue.approved_by = by
    session.add(issue)
    record(session, number, by=by, action=str(decision), now=now, detail=f"was {previous}")
    return issue


def record(session: Session, number: int, *, by: str, action: str, now: datetime, detail: str = "") -> None:
    """One line of the audit trail: ``by`` did ``action`` to issue ``number`` at ``now``."""
    session.add(EditorialAction(issue_number=number, actor=by, action=action, detail=detail, at=now))


def latest_issue(session: Session) -> Issue | None:
    return session.exec(select(Issue).order_by(col(Issue.number).desc())).first()


def preview(issue: Issue, *, base_url: str, text: bool = False) -> str:
    """The issue as a subscriber sees it, through the same personalisation path as a send."""
    return filled_for_preview(issue.text if text else issue.html, issue.markers, base_url=base_url)


def filled_for_preview(document: str, markers: str, *, base_url: str) -> str:
    """A stored email (an issue's or one of its variants', ``markers`` the key of its render) filled as
    for a subscriber, with preview links in place of anyone's own."""
    links = RecipientLinks(
        unsubscribe=f"{base_url}/unsubscribe/preview",
        preferences=f"{base_url}/preferences/preview",
    )
    # No open pixel: an editor looking at the issue is no reader opening it.
    return without_pixel(Personalizer(document, Markers.of_render(markers, document)).fill(links))


def trail(session: Session, issue: Issue) -> list[EditorialAction]:
    """The editors' decisions and edits on ``issue``, latest first (the audit trail)."""
    query = (
        select(EditorialAction)
        .where(EditorialAction.issue_number == issue.number)
        .order_by(col(EditorialAction.id).desc())
    )
    return list(session.exec(query))
