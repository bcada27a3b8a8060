"""``digest demo``: the whole pipeline once, on the embedded defaults, from a fresh checkout.

Running it again duplicates nothing: summaries are upserted, subscribers are unique, an issue is
composed only from summaries no issue holds, and a sent issue is never sent again.
"""

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from digest.core.topics import label
from digest.db.engine import unit_of_work, upgrade
from digest.db.models import IssueStatus
from digest.ingest.summaries import ingest
from digest.issues.compose import ComposeRules, compose
from digest.issues.decisions import decide
from digest.issues.queries import next_issue_to_send
from digest.rendering import Renderer
from digest.sending.sender import IssueSender
from digest.sources.samples import SampleSource
from digest.subscribers import records as subscribers

# Three readers, and three variants of the issue: one takes everything, two chose topics.
SAMPLE_SUBSCRIBERS = {
    "ada@example.org": (),
    "grace@example.org": ("cardiology", "nutrition"),
    "rosalind@example.org": ("mental health", "sleep"),
}


@dataclass
class DemoResult:
    lines: list[str] = field(default_factory=list)


def run_demo(
    engine: Engine,
    renderer: Renderer,
    sender: IssueSender,
    rules: ComposeRules,
    *,
    outbox: Path,
    base_url: str,
    now: datetime,
) -> DemoResult:
    result = DemoResult()
    say = result.lines.append
    upgrade(engine)
    say(f"database: {engine.url.render_as_string(hide_password=True)} (migrated)")
    for report in ingest(engine, [SampleSource(now=now)], renderer, now=now):
        say(f"ingest: {report.line}")
    with unit_of_work(engine) as session:
        consent = subscribers.Consent(form="demo sample subscriber")
        for address, topics in SAMPLE_SUBSCRIBERS.items():
            subscribers.add(session, address, confirmed=True, consent=consent, now=now, topics=topics)
    chosen = [f"{address} ({label(topics)})" for address, topics in SAMPLE_SUBSCRIBERS.items()]
    say(f"subscribers: {', '.join(chosen)}, all active")
    with unit_of_work(engine) as session:
        issue = compose(session, renderer, rules, now=now)
        if issue is None:
            say("compose: nothing new since the last issue")
        else:
            decide(session, issue.number, IssueStatus.approved, by="demo", now=now)
            say(f"compose: issue {issue.number}: {issue.subject} (approved for the demo)")
    with unit_of_work(engine) as session:
        pending = next_issue_to_send(session)
    if pending is None:
        say("send: nothing to send; every issue has gone out already")
    else:
        sent = sender.send(pending.number)
        variants = sum(v.position is not None for v in sent.variants)
        counts = f"{sent.sent} sent, {sent.failed} failed, in {variants} variant(s)"
        say(f"send: issue {sent.issue_number}: {counts}")
    files = sorted(outbox.glob("issue-*/*.eml"))
    say(f"outbox: {len(files)} email(s) in {outbox.resolve()}")
    for path in files[-len(SAMPLE_SUBSCRIBERS) :]:
        say(f"  {path}")
    say("preview the latest issue: digest preview --out issue.html (or --text); status: digest status")
    say(f"web app: run `digest serve`, then open {base_url}/issues (the archive) or {base_url}/subscribe")
    say(f"links in the emails point to {base_url}")
    return result
