"""Test helpers moved out of test_sources.py, shared by the tests that need them."""

from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import col, select

from digest.db.engine import unit_of_work
from digest.db.models import Issue, IssueStatus, Summary
from digest.ingest.summaries import SourceReport, ingest
from digest.issues import decisions as issue_service
from digest.issues.compose import ComposeRules, compose
from digest.rendering import Renderer, SiteView
from digest.sources import Source
from tests.support import NOW

RULES = ComposeRules(max_items=10, first_issue_lookback=timedelta(days=7))


def renderer() -> Renderer:
    return Renderer(SiteView(base_url="https://digest.example.org", postal_address="1 Example Street"))


def run(engine: Engine, *sources: Source, now: datetime = NOW) -> list[SourceReport]:
    return ingest(engine, list(sources), renderer(), now=now)


def stored(engine: Engine) -> dict[str, Summary]:
    with unit_of_work(engine) as session:
        return {row.source_id: row for row in session.exec(select(Summary))}


def compose_issue(engine: Engine) -> Issue:
    with unit_of_work(engine) as session:
        issue = compose(session, renderer(), RULES, now=NOW)
    assert issue is not None
    return issue


def issue_number(engine: Engine, number: int) -> Issue:
    with unit_of_work(engine) as session:
        issue = session.exec(select(Issue).where(col(Issue.number) == number)).one()
    return issue


def decide(engine: Engine, number: int, decision: IssueStatus) -> None:
    with unit_of_work(engine) as session:
        issue_service.decide(session, number, decision, by="test", now=NOW)
