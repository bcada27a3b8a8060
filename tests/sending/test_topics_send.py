"""Topics in a send: each subscriber gets exactly the summaries of their topics, one rendering per variant,
and a send resumed after a SIGKILL gives everyone the variant fixed when it started."""

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import col, select

from digest.core.topics import EVERYTHING, Item, encode, label, plan
from digest.db.engine import unit_of_work
from digest.db.models import DeliveryStatus, IssueStatus, IssueVariant, Subscriber, Summary
from digest.devtools.sendgrid_standin import SendGridStandIn
from digest.ingest.summaries import ingest
from digest.issues.compose import compose
from digest.issues.decisions import decide
from digest.issues.queries import get_issue
from digest.mail import MemoryMailer
from digest.rendering import Renderer
from digest.sending import variants
from digest.sources.folder import FolderSource
from digest.subscribers import records as subscribers
from tests.support import NOW, summary, write_summaries
from tests.support.cli import Digest
from tests.support.ops import samples
from tests.support.sendgrid import KEY, SPEC, accepted, kill_and_finish
from tests.support.sending import RULES, SITE, Recording, issue_status, ledger, make_sender

# Five summaries of one week and their topics; the fourth carries none.
WEEK = {
    1: ["Cardiology"],
    2: ["Mental  Health"],
    3: ["cardiology", "Nutrition"],
    4: [],
    5: ["Bone health"],
}
# Who chose what, and the summaries that choice selects (in the issue's order: newest, i.e. 1, first).
CHOICES: dict[str, tuple[list[str], tuple[int, ...]]] = {
    "all@example.org": ([], (1, 2, 3, 4, 5)),
    "all.too@example.org": ([], (1, 2, 3, 4, 5)),
    "heart@example.org": (["cardiology"], (1, 3)),
    "mind@example.org": (["mental health"], (2,)),
    "heart.mind@example.org": (["Cardiology", "mental health"], (1, 2, 3)),
    "food@example.org": (["nutrition"], (3,)),
    "heart.food@example.org": (["cardiology", "nutrition"], (1, 3)),  # the same summaries as heart@
    "everything.named@example.org": (
        ["bone health", "cardiology", "mental health", "nutrition"],
        (1, 2, 3, 5),  # not 4: it has no topic
    ),
    "sleep@example.org": (["sleep"], ()),  # no summary on sleep this week
    "bones.sleep@example.org": (["sleep", "bone health"], (5,)),
}


def topical_issue(engine: Engine, tmp_path: Path) -> tuple[int, dict[int, str]]:
    """Ingest the week, compose and approve issue 1; return its number and each summary's headline by
    the number used above."""
    folder = tmp_path / "summaries"
    write_summaries(folder, "week.json", [summary(n, topics=topics) for n, topics in WEEK.items()])
    renderer = Renderer(SITE)
    (report,) = ingest(engine, [FolderSource(folder)], renderer, now=NOW)
    assert report.rejected == []
    with unit_of_work(engine) as session:
        issue = compose(session, renderer, RULES, now=NOW)
        assert issue is not None
        decide(session, issue.number, IssueStatus.approved, by="editor", now=NOW)
        return issue.number, {n: f"Plain headline number {n}" for n in WEEK}


def add_readers(engine: Engine, choices: dict[str, list[str]]) -> None:
    with unit_of_work(engine) as session:
        for address, topics in choices.items():
            person = subscribers.add(
                session, address, confirmed=True, consent=subscribers.Consent(form="test"), now=NOW
            )
            person.topics = encode(topics)
            session.add(person)


def headlines_in(text: str, headlines: dict[int, str]) -> tuple[int, ...]:
    return tuple(n for n, headline in headlines.items() if headline in text)


# --- the plan, on plain values ---------------------------------------------------------------------------


def test_choices_are_grouped_by_the_summaries_they_select() -> None:
    items = [
        Item(1, frozenset({"cardiology"})),
        Item(2, frozenset({"mental health"})),
        Item(3, frozenset({"cardiology", "nutrition"})),
        Item(4, frozenset()),
    ]
    choices = {
        EVERYTHING: 50,
        ("cardiology",): 10,
        ("cardiology", "nutrition"): 5,  # selects what cardiology alone selects
        ("mental health",): 7,
        ("sleep",): 3,  # no summary this week
        ("cardiology", "mental health", "nutrition"): 2,
    }

    variants_ = plan(items, choices)

    assert [(v.summary_ids, v.subscribers) for v in variants_] == [
        ((1, 2, 3, 4), 50),
        ((1, 3), 15),
        ((2,), 7),
        ((1, 2, 3), 2),
        ((), 3),
    ]
    assert variants_[1].choices == (("cardiology",), ("cardiology", "nutrition"))
    assert variants_[-1].empty
    assert variants_[-1].choices == (("sleep",),)
    assert [label(choice) for choice in variants_[0].choices] == ["everything"]


def test_without_any_topic_choice_there_is_one_variant() -> None:
    items = [Item(1, frozenset({"cardiology"})), Item(2, frozenset())]

    assert [(v.summary_ids, v.subscribers) for v in plan(items, {EVERYTHING: 1000})] == [((1, 2), 1000)]


# --- a send through the services --------------------------------------------------------------------------


def test_each_subscriber_gets_exactly_the_summaries_of_their_topics(engine: Engine, tmp_path: Path) -> None:
    number, headlines = topical_issue(engine, tmp_path)
    add_readers(engine, {address: topics for address, (topics, _) in CHOICES.items()})
    mailer = MemoryMailer()

    report = make_sender(engine, mailer, batch_size=4).send(number)

    got = {message.to: headlines_in(message.html, headlines) for message in mailer.sent}
    texts = {message.to: headlines_in(message.text, headlines) for message in mailer.sent}
    expected = {address: ids for address, (_, ids) in CHOICES.items() if ids}
    assert got == expected
    assert texts == expected
    assert "sleep@example.org" not in got  # nothing on their topics this week: no email at all
    subjects = {message.to: message.subject for message in mailer.sent}
    assert subjects["all@example.org"] == "Plain headline number 1, and 4 more"
    assert subjects["mind@example.org"] == "Plain headline number 2"
    assert subjects["food@example.org"] == "Plain headline number 3"

    assert (report.sent, report.failed, report.unmatched, report.audience) == (9, 0, 1, 9)
    assert issue_status(engine, number) == IssueStatus.sent
    assert ledger(engine, number)["sleep@example.org"].status == DeliveryStatus.unmatched
    # One rendering per distinct set of summaries, whatever the number of subscribers.
    with unit_of_work(engine) as session:
        kept = session.exec(select(IssueVariant).order_by(col(IssueVariant.position))).all()
        titles = {row.id: row.display_title for row in session.exec(select(Summary))}
    assert len(kept) == len({ids for _, ids in CHOICES.values() if ids}) == 7
    assert [v.subscribers for v in kept][:2] == [2, 2]
    by_variant = {v.position: v.counts for v in report.variants}
    assert sum(counts.get("sent", 0) for counts in by_variant.values()) == 9
    assert report.variants[-1].position is None
    assert report.variants[-1].counts == {"unmatched": 1}
    for variant in kept:
        held = [titles[int(part)] for part in variant.summaries.split(",")]
        assert all(title in variant.html for title in held)


def test_a_subscriber_who_changes_topics_mid_send_keeps_the_variant_fixed_at_its_start(
    engine: Engine, tmp_path: Path
) -> None:
    number, headlines = topical_issue(engine, tmp_path)
    add_readers(engine, {f"heart{n}@example.org": ["cardiology"] for n in range(6)})
    add_readers(engine, {"late@example.org": ["mental health"]})

    def change_topics(batch: list[str]) -> None:
        with unit_of_work(engine) as session:
            late = session.exec(select(Subscriber).where(Subscriber.email == "late@example.org")).one()
            late.topics = encode(["bone health"])
            session.add(late)

    memory = MemoryMailer()
    make_sender(engine, Recording(memory, before_batch=change_topics), batch_size=3).send(number)

    sent = {message.to: headlines_in(message.html, headlines) for message in memory.sent}
    assert sent["late@example.org"] == (2,)
    assert all(sent[f"heart{n}@example.org"] == (1, 3) for n in range(6))


def test_changes_made_while_a_send_starts_wait_for_the_next_issue(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    number, headlines = topical_issue(engine, tmp_path)
    add_readers(engine, {"heart@example.org": ["cardiology"], "late@example.org": ["mental health"]})

    def change_and_join() -> None:
        with unit_of_work(engine) as session:
            late = session.exec(select(Subscriber).where(Subscriber.email == "late@example.org")).one()
            late.topics = encode(["bone health"])
            session.add(late)
        add_readers(engine, {"joiner@example.org": []})

    meanwhile = threading.Thread(target=change_and_join)
    fix = variants.fix

    def fix_while_others_write(*args: Any, **kwargs: Any) -> Any:
        # Between reading the topic choices and writing the audiences, another connection commits a
        # change of topics and a new subscriber (PostgreSQL lets it; SQLite holds it until the start).
        meanwhile.start()
        meanwhile.join(timeout=1.0)
        return fix(*args, **kwargs)

    monkeypatch.setattr(variants, "fix", fix_while_others_write)
    memory = MemoryMailer()
    make_sender(engine, memory, batch_size=3).send(number)
    meanwhile.join()

    sent = {message.to: headlines_in(message.html, headlines) for message in memory.sent}
    assert sent == {"heart@example.org": (1, 3), "late@example.org": (2,)}
    assert "joiner@example.org" not in ledger(engine, number)
    with unit_of_work(engine) as session:
        late = session.exec(select(Subscriber).where(Subscriber.email == "late@example.org")).one()
        assert late.topics == encode(["bone health"])  # the change itself went through


def test_the_editor_preview_of_a_variant_is_what_its_subscribers_get(engine: Engine, tmp_path: Path) -> None:
    number, headlines = topical_issue(engine, tmp_path)
    add_readers(engine, {"mind@example.org": ["mental health"]})
    with unit_of_work(engine) as session:
        issue = get_issue(session, number)
        [planned] = variants.plan_for(session, issue)
        before = variants.email_for_key(session, Renderer(SITE), issue, planned.key)
    mailer = MemoryMailer()

    make_sender(engine, mailer).send(number)

    [message] = mailer.sent
    assert planned.summary_ids == tuple(sorted(planned.summary_ids))
    assert headlines_in(before.html, headlines) == headlines_in(message.html, headlines) == (2,)
    assert before.subject == message.subject


# --- a real `digest send` process, killed and restarted -------------------------------------------------

KILL_READERS = 240
KILL_BATCH = 10
TOPIC_MENU = [[], ["cardiology"], ["mental health"], ["nutrition"], ["sleep"], ["cardiology", "bone health"]]


@pytest.fixture
def sendgrid(tmp_path: Path) -> Iterator[SendGridStandIn]:
    with SendGridStandIn(KEY, SPEC, tmp_path / "accepted.jsonl") as standin:
        yield standin


def test_a_killed_send_resumes_with_everyone_on_the_variant_fixed_at_its_start(
    engine: Engine, database_url: str, tmp_path: Path, sendgrid: SendGridStandIn
) -> None:
    number, _ = topical_issue(engine, tmp_path)
    picks = {f"reader{n:03d}@example.org": TOPIC_MENU[n % len(TOPIC_MENU)] for n in range(KILL_READERS)}
    add_readers(engine, picks)

    def new_minds(round_: int) -> None:
        if round_ == 0:  # everyone changes their mind after the send started: it must not change anything
            with unit_of_work(engine) as session:
                for person in session.exec(select(Subscriber)):
                    person.topics = encode(["bone health"])
                    session.add(person)

    kills = kill_and_finish(
        engine,
        number,
        sendgrid,
        batch=KILL_BATCH,
        database_url=database_url,
        folder=tmp_path,
        rounds=3,
        after_kill=new_minds,
    )

    assert kills >= 1
    assert issue_status(engine, number) == IssueStatus.sent
    wanted = {address for address, topics in picks.items() if topics != ["sleep"]}
    counts = accepted(sendgrid)
    assert set(counts) == wanted  # the sleep readers got nothing; everyone else something
    assert sum(count - 1 for count in counts.values()) <= kills * KILL_BATCH
    # Every copy anyone got is the variant their topics selected when the send started.
    with unit_of_work(engine) as session:
        issue = get_issue(session, number)
        held = {
            str(v.position): tuple(sorted(int(part) for part in v.summaries.split(",")))
            for v in variants.stored(session, issue)
        }
        number_of = {row.id: int(row.source_id.split("-")[1]) for row in session.exec(select(Summary))}
    expected_numbers = {
        "cardiology": (1, 3),
        "mental health": (2,),
        "nutrition": (3,),
        "cardiology+bone health": (1, 3, 5),
        "": (1, 2, 3, 4, 5),
    }
    for line in sendgrid.recorded():
        topics = picks[line["email"]]
        key = "+".join(topics)
        got = tuple(sorted(number_of[i] for i in held[line["custom_args"]["variant"]]))
        assert got == expected_numbers[key], (line["email"], topics, got)
    assert Counter(len(ids) for ids in held.values()) == Counter({2: 1, 1: 2, 3: 1, 5: 1})


# --- what ops see ----------------------------------------------------------------------------------------


def test_ops_see_the_variants_and_who_got_nothing(
    engine: Engine, tmp_path: Path, digest: Digest, client: TestClient
) -> None:
    number, _ = topical_issue(engine, tmp_path)
    add_readers(engine, {address: topics for address, (topics, _) in CHOICES.items()})

    before = digest("status").stdout
    sent = digest("send").stdout
    after = digest("status").stdout
    metrics = samples(client.get("/metrics").text)

    assert (
        f"issue {number} (approved) would go out in 7 variant(s); 1 subscribers would get no email" in before
    )
    assert "9 sent, 0 failed, 0 skipped of 9" in sent
    assert "1 got no email (none of the issue's summaries is on their topics)" in sent
    assert "by variant (7, each rendered once):" in sent
    assert "  #1: 5 summaries, sent 2 (everything)" in sent
    assert "cardiology; cardiology + nutrition" in sent  # two choices, one variant
    assert f"last send: 1 subscribers got no email (none of issue {number}'s summaries" in after
    assert "last send by variant: #1 (5 summaries) sent 2" in after
    assert metrics[("digest_last_send_variants", ())] == 7
    per_variant = {
        labels: value
        for (name, labels), value in metrics.items()
        if name == "digest_last_send_variant_deliveries"
    }
    assert sum(v for labels, v in per_variant.items() if ("status", "sent") in labels) == 9
    assert per_variant[(("status", "unmatched"), ("variant", "unmatched"))] == 1
    assert per_variant[(("status", "sent"), ("variant", "1"))] == 2
