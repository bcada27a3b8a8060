"""Compose: draft the next issue from the summaries no issue holds yet, and render it once.

Every summary goes into one live or sent issue, however late it arrives, unless it is older than
``DIGEST_MAX_AGE``; those skipped for age are named (``too_old_now``, ``too_old_for``), never dropped
without a word.

The rendered HTML and text are stored with the issue (per-recipient links still as markers), so the
archive and any resumed send show exactly what was approved.
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from digest.core.compose import Candidate, Selection, preheader_for, select_items, subject_for
from digest.core.picks import Pick, decode, encode
from digest.db.models import EditorialAction, Issue, IssueItem, IssueStatus, Summary
from digest.i18n import ENGLISH, Language
from digest.rendering import IssueView, ItemView, Renderer

EDITABLE = (IssueStatus.draft, IssueStatus.held)


class PicksFor(Protocol):
    """The readers' picks issue ``number`` carries, from the issue before it."""

    def __call__(self, session: Session, number: int, *, now: datetime) -> list[Pick]: ...


@dataclass(frozen=True)
class ComposeRules:
    max_items: int
    first_issue_lookback: timedelta
    max_age: timedelta = timedelta(days=30)
    # ``DIGEST_READERS_PICKS``: the picks a new issue carries (``engagement/picks.picks_for``); None: none.
    picks: PicksFor | None = None


@dataclass(frozen=True)
class TooOld:
    """The summaries a compose skipped because they were dated at or before its age limit."""

    oldest: datetime
    summaries: list[Summary]

    def lines(self, *, heading: str = "skipped for age", shown: int = 10) -> list[str]:
        """For the terminal: how many, the limit, and each by title, id and date (the first ``shown``)."""
        if not self.summaries:
            return []
        count = len(self.summaries)
        noun = "summary" if count == 1 else "summaries"
        limit = f"{self.oldest:%Y-%m-%d %H:%M %Z}"
        lines = [f"{heading}: {count} {noun} dated on or before {limit}; no issue will hold them:"]
        lines += [
            f"  {row.display_title} ({row.source_id}, published {row.published_at:%Y-%m-%d})"
            for row in self.summaries[:shown]
        ]
        if count > shown:
            lines.append(f"  and {count - shown} more")
        return lines


def compose(
    session: Session, renderer: Renderer, rules: ComposeRules, *, now: datetime, period: str | None = None
) -> Issue | None:
    """Draft the next issue, or return ``None`` when no summary is waiting for one.

    The issue keeps its age limit as ``window_start``, so its page can name what was too old for it.
    """
    oldest = age_limit(session, rules, now=now)
    words = renderer.language.translations
    rows = candidates(session, after=oldest, now=now)
    selection = select_items(
        [Candidate(row.id or 0, row.published_at, row.display_title, row.key_takeaway) for row in rows],
        max_items=rules.max_items,
    )
    if selection.is_empty:
        return None
    # Two composes at once read the same last number: the unique number lets only one of them commit,
    # so no summary is taken twice even then.
    number = (session.exec(select(func.max(Issue.number))).one() or 0) + 1
    issue = Issue(
        number=number,
        period=period,
        window_start=oldest,
        window_end=now,
        subject=subject_for(len(selection.ordered), selection.ordered[0].display_title, words),
        preheader=preheader_for(selection, words),
        created_at=now,
        updated_at=now,
    )
    if rules.picks is not None:
        issue.picks = encode(rules.picks(session, number, now=now))
    session.add(issue)
    session.flush()
    for position, chosen in enumerate(selection.ordered):
        item = IssueItem(issue_id=issue.id or 0, summary_id=chosen.summary_id, position=position)
        item.featured = position < selection.featured
        session.add(item)
    session.flush()
    render_and_store(session, renderer, issue)
    return issue


def age_limit(session: Session, rules: ComposeRules, *, now: datetime) -> datetime:
    """An issue composed at ``now`` takes summaries dated after this: within ``DIGEST_MAX_AGE``, and never
    from before the digest began (the first issue's own limit, ``DIGEST_FIRST_ISSUE_LOOKBACK``), so an
    archive a new feed brings along is not sent bit by bit."""
    began: datetime | None = session.exec(select(func.min(Issue.window_start))).one()
    return max(now - rules.max_age, began or now - rules.first_issue_lookback)


def held_summary_ids() -> SelectOfScalar[int]:
    """The summaries a live or sent issue holds; a cancelled issue gives its summaries back."""
    return (
        select(IssueItem.summary_id)
        .join(Issue, col(Issue.id) == col(IssueItem.issue_id))
        .where(col(Issue.status) != IssueStatus.cancelled)
    )


def candidates(session: Session, *, after: datetime, now: datetime) -> list[Summary]:
    """Every summary no live or sent issue holds, dated in (after, now]: the durable marker is "in an
    issue", not a date, so one that arrives late still goes in; and never one dated after now."""
    query = select(Summary).where(
        col(Summary.published_at) > after,
        col(Summary.published_at) <= now,
        col(Summary.id).not_in(held_summary_ids()),
    )
    return list(session.exec(query))


def too_old_now(session: Session, rules: ComposeRules, *, now: datetime) -> TooOld:
    """What a compose at ``now`` skips for age: summaries come since the previous compose (any issue's,
    cancelled ones too) that no issue holds and are dated at or before its age limit."""
    previous: datetime | None = session.exec(select(func.max(Issue.created_at))).one()
    oldest = age_limit(session, rules, now=now)
    return TooOld(oldest, skipped_for_age(session, oldest=oldest, since=previous, until=now))


def too_old_for(session: Session, issue: Issue) -> TooOld:
    """What the compose of ``issue`` skipped for age (its age limit is its ``window_start``)."""
    previous: datetime | None = session.exec(
        select(func.max(Issue.created_at)).where(col(Issue.created_at) < issue.created_at)
    ).one()
    summaries = skipped_for_age(session, oldest=issue.window_start, since=previous, until=issue.created_at)
    return TooOld(issue.window_start, summaries)


def skipped_for_age(
    session: Session, *, oldest: datetime, since: datetime | None, until: datetime
) -> list[Summary]:
    """Summaries ingested in (since, until] that no live or sent issue holds, dated at or before
    ``oldest``: each is named by the first compose after it came, not by every compose after."""
    query = select(Summary).where(
        col(Summary.published_at) <= oldest,
        col(Summary.ingested_at) <= until,
        col(Summary.id).not_in(held_summary_ids()),
    )
    if since is not None:
        query = query.where(col(Summary.ingested_at) > since)
    return list(session.exec(query.order_by(col(Summary.published_at).desc(), col(Summary.id))))


def issue_view(
    session: Session, issue: Issue, only: Collection[int] | None = None, language: Language = ENGLISH
) -> IssueView:
    """What the templates need to show ``issue``: its items in order, the featured ones in full.

    With ``only`` (a variant's summary ids), just those items, with subject and preheader for them; as
    many of them are featured as the whole issue features.
    """
    query = (
        select(IssueItem, Summary)
        .join(Summary, col(Summary.id) == col(IssueItem.summary_id))
        .where(IssueItem.issue_id == issue.id)
        .order_by(col(IssueItem.position))
    )
    rows = list(session.exec(query))
    in_full = sum(item.featured for item, _ in rows)
    subject, preheader = issue.subject, issue.preheader
    if only is not None:
        rows = [(item, summary) for item, summary in rows if summary.id in only]
        if not worded_by_editor(session, issue):  # an editor's words go to every variant
            worded = announcement([summary for _, summary in rows], language)
            subject, preheader = worded or (subject, preheader)
    featured: list[ItemView] = []
    more: list[ItemView] = []
    for item, summary in rows:
        view = ItemView(
            title=summary.display_title,
            url=summary.url,
            key_takeaway=summary.key_takeaway,
            what_it_means=summary.what_it_means,
            study_type=summary.study_type,
            evidence_level=summary.evidence_level,
            topics=tuple(summary.topics),
            journal=summary.source_journal,
            doi=summary.source_doi,
            year=year_of(summary.source_published),
            summary_id=summary.id,
        )
        shown_in_full = item.featured if only is None else len(featured) < in_full
        (featured if shown_in_full else more).append(view)
    return IssueView(
        number=issue.number,
        subject=subject,
        preheader=preheader,
        date_label=language.date(issue.window_end),
        featured=tuple(featured),
        more=tuple(more),
        note=issue.note,
        picks=tuple(
            ItemView(pick.title, pick.url, summary_id=pick.summary_id, readers=pick.readers)
            for pick in decode(issue.picks)
        ),
    )


def render_and_store(session: Session, renderer: Renderer, issue: Issue) -> None:
    """Render ``issue`` once and keep the result with it."""
    rendered = renderer.render_issue(issue_view(session, issue, language=renderer.language))
    issue.html = rendered.html
    issue.text = rendered.text
    issue.markers = rendered.markers
    session.add(issue)


def rerender_issues_holding(session: Session, renderer: Renderer, summary_ids: set[int]) -> list[int]:
    """Re-render the draft or held issues that hold any of ``summary_ids``; return their numbers."""
    if not summary_ids:
        return []
    query = (
        select(Issue)
        .join(IssueItem, col(IssueItem.issue_id) == col(Issue.id))
        .where(col(IssueItem.summary_id).in_(summary_ids), col(Issue.status).in_(EDITABLE))
        .distinct()
    )
    issues = list(session.exec(query))
    for issue in issues:
        if not worded_by_editor(session, issue):
            refresh_announcement(session, issue, renderer.language)
        render_and_store(session, renderer, issue)
    return [issue.number for issue in issues]


def worded_by_editor(session: Session, issue: Issue) -> bool:
    """Whether an editor wrote the subject or preheader: then an updated summary leaves them alone."""
    edits = session.exec(
        select(EditorialAction.detail).where(
            EditorialAction.issue_number == issue.number, EditorialAction.action == "edit"
        )
    )
    return any("subject" in detail or "preheader" in detail for detail in edits)


def refresh_announcement(session: Session, issue: Issue, language: Language = ENGLISH) -> None:
    """Subject and preheader quote the top item, whose words an updated summary may have changed."""
    query = (
        select(Summary)
        .join(IssueItem, col(IssueItem.summary_id) == col(Summary.id))
        .where(IssueItem.issue_id == issue.id)
        .order_by(col(IssueItem.position))
    )
    worded = announcement(list(session.exec(query)), language)
    if worded:
        issue.subject, issue.preheader = worded


def announcement(summaries: Sequence[Summary], language: Language = ENGLISH) -> tuple[str, str] | None:
    """The subject and preheader for these summaries, in this order: the top one's headline first."""
    if not summaries:
        return None
    items = tuple(
        Candidate(row.id or 0, row.published_at, row.display_title, row.key_takeaway) for row in summaries
    )
    words = language.translations
    selection = Selection(ordered=items, featured=len(items))
    return subject_for(len(items), items[0].display_title, words), preheader_for(selection, words)


def year_of(published: str | None) -> int | None:
    """The year a study was published, from the summary's ``source.published`` (``2024``, ``2024-03-01``)."""
    if published and len(published) >= 4 and published[:4].isdigit():
        return int(published[:4])
    return None
