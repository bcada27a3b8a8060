"""The editor's view of an issue's variants, on SQLite and PostgreSQL: the issue page's "Variants" section
before and after the send, a variant's preview (only its summaries, preview links), the refusals, and
``digest variants`` / ``digest preview --variant``; then an editor in a real browser opening a variant."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect
from sqlalchemy import Engine
from sqlmodel import select

from digest.core.topics import encode
from digest.db.engine import unit_of_work
from digest.db.models import Summary
from digest.issues.queries import get_issue
from digest.sending.ledger import begin
from digest.subscribers import records as subscribers
from digest.web.app import create_app
from digest.wiring import Parts
from tests.support import summary, whole_issue, write_summaries
from tests.support.browser import free_port, live_server
from tests.support.cli import Digest
from tests.support.editor import EDITORS, PASSWORD, sign_in
from tests.support.web import draft_issue

PORT = free_port()
# The week's summaries by number, with their topics; the fourth carries none. The issue holds them in
# this order (the newest first), each shown as "Plain headline number N".
WEEK = {1: ["Cardiology"], 2: ["Mental health"], 3: ["cardiology", "Nutrition"], 4: []}
# Who chose what. Variants by audience: everything (1-4) for two, cardiology's (1, 3) for two,
# mental health's (2) for one; sleep has no summary this week.
READERS = {
    "all@example.org": [],
    "all.too@example.org": [],
    "heart@example.org": ["cardiology"],
    "heart.food@example.org": ["nutrition", "cardiology"],
    "mind@example.org": ["Mental Health"],
    "sleep@example.org": ["sleep"],
}


@pytest.fixture
def web_env(env: dict[str, str]) -> dict[str, str]:
    # The base URL of the live server, so the browser test's session cookie works over http.
    return {**env, "DIGEST_BASE_URL": f"http://127.0.0.1:{PORT}", "DIGEST_EDITORS": EDITORS}


@pytest.fixture
def editor(client: TestClient) -> TestClient:
    """The web app with ada signed in."""
    assert sign_in(client).status_code == 303
    return client


def topical_issue(digest: Digest, env: dict[str, str], engine: Engine) -> tuple[int, dict[int, str]]:
    """Issue 1 of the week above, a draft; its number and each summary's id (as keys name it) by number."""
    now = datetime.now(UTC)
    week = [
        summary(n, topics=topics, published_at=now - timedelta(milliseconds=n)) for n, topics in WEEK.items()
    ]
    write_summaries(Path(env["DIGEST_SOURCES"]), "week.json", week)
    digest("ingest")
    assert "composed issue 1" in digest("compose").stdout
    with unit_of_work(engine) as session:
        rows = session.exec(select(Summary.source_id, Summary.id))
        return 1, {int(source_id.removeprefix("test-")): str(row_id) for source_id, row_id in rows}


def add_readers(engine: Engine, readers: dict[str, list[str]], *, state: str = "active") -> None:
    with unit_of_work(engine) as session:
        for address, topics in readers.items():
            person = subscribers.add(
                session,
                address,
                confirmed=state == "active",
                consent=subscribers.Consent(form="test"),
                now=datetime.now(UTC),
            )
            person.topics = encode(topics)
            session.add(person)


def key(ids: dict[int, str], *numbers: int) -> str:
    return ",".join(ids[n] for n in numbers)


def headline(n: int) -> str:
    return f"Plain headline number {n}"


class Table(HTMLParser):
    """The cells of the table labelled "Variants": each the text outside lists, and the list's items."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = False
        self.rows: list[list[tuple[str, list[str]]]] = []
        self.text: list[str] | None = None
        self.items: list[str] = []
        self.item: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and ("aria-label", "Variants") in attrs:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("td", "th"):
            self.text, self.items = [], []
        elif self.inside and tag == "li":
            self.item = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.inside = False
        elif self.inside and tag == "li" and self.item is not None:
            self.items.append("".join(self.item).strip())
            self.item = None
        elif self.inside and tag in ("td", "th") and self.text is not None:
            self.rows[-1].append((" ".join("".join(self.text).split()), self.items))
            self.text = None

    def handle_data(self, data: str) -> None:
        if self.item is not None:
            self.item.append(data)
        elif self.text is not None:
            self.text.append(data)


def variants_on(page: str) -> list[dict[str, object]]:
    """The Variants table of an issue page, a dict per variant, by the table's headings."""
    table = Table()
    table.feed(page)
    if not table.rows:
        return []
    header, *rows = table.rows
    names = [text for text, _ in header]
    found = []
    for row in rows:
        cells = dict(zip(names, row, strict=True))
        found.append(
            {
                "number": cells["Variant"][0],
                "choices": cells["Topic choices"][0],
                "subscribers": int(cells["Subscribers"][0]),
                "titles": cells["Summaries"][1],
                "deliveries": cells["Deliveries"][0] if "Deliveries" in cells else None,
            }
        )
    return found


# --- the issue page's "Variants" section -------------------------------------------------------------


def test_variants_follow_the_active_subscribers_topic_choices(
    editor: TestClient, digest: Digest, env: dict[str, str], engine: Engine
) -> None:
    number, ids = topical_issue(digest, env, engine)
    add_readers(engine, READERS)
    add_readers(engine, {"pending@example.org": ["mental health"]}, state="pending")  # not counted

    page = editor.get(f"/editor/issues/{number}")

    assert page.status_code == 200
    assert "What a send started now would produce" in page.text
    assert variants_on(page.text) == [
        {
            "number": "1",
            "choices": "everything",
            "subscribers": 2,
            "titles": [headline(1), headline(2), headline(3), headline(4)],
            "deliveries": None,
        },
        {
            "number": "2",
            "choices": "cardiology; cardiology + nutrition",
            "subscribers": 2,
            "titles": [headline(1), headline(3)],
            "deliveries": None,
        },
        {
            "number": "3",
            "choices": "mental health",
            "subscribers": 1,
            "titles": [headline(2)],
            "deliveries": None,
        },
    ]
    for variant, numbers in (("1", (1, 2, 3, 4)), ("2", (1, 3)), ("3", (2,))):
        link = (
            f'<a href="/editor/issues/{number}/variants/{key(ids, *numbers)}">Preview variant {variant}</a>'
        )
        assert link in page.text
    assert (
        "1 subscriber chose topics none of this issue's summaries carries: they get no email this week."
        " Their choices: sleep." in page.text
    )
    assert "No subscriber has chosen topics" not in page.text


def test_without_topic_choices_there_is_one_variant_and_the_page_says_so(
    editor: TestClient, digest: Digest, env: dict[str, str], engine: Engine
) -> None:
    number, _ = topical_issue(digest, env, engine)
    page = editor.get(f"/editor/issues/{number}")
    assert "There are no active subscribers: a send started now would email nobody." in page.text
    assert variants_on(page.text) == []

    add_readers(engine, {"all@example.org": [], "all.too@example.org": []})
    page = editor.get(f"/editor/issues/{number}")

    assert (
        "No subscriber has chosen topics: there is one variant, the whole issue, for everyone." in page.text
    )
    (only,) = variants_on(page.text)
    assert (only["choices"], only["subscribers"]) == ("everything", 2)
    assert only["titles"] == [headline(n) for n in WEEK]
    assert "get no email this week" not in page.text


def test_one_topic_for_everyone_makes_one_variant_and_a_topic_without_summaries_none(
    editor: TestClient, digest: Digest, env: dict[str, str], engine: Engine
) -> None:
    number, _ = topical_issue(digest, env, engine)
    add_readers(engine, {"heart@example.org": ["cardiology"], "sleep@example.org": ["sleep"]})
    add_readers(engine, {"sleep.too@example.org": ["sleep", "dreams"]})

    page = editor.get(f"/editor/issues/{number}")

    (only,) = variants_on(page.text)
    assert (only["choices"], only["subscribers"], only["titles"]) == (
        "cardiology",
        1,
        [headline(1), headline(3)],
    )
    assert "No subscriber has chosen topics" not in page.text
    assert (
        "2 subscribers chose topics none of this issue's summaries carries: they get no email this week."
        " Their choices: dreams + sleep; sleep." in page.text
    )


def test_once_sent_the_stored_variants_show_with_their_deliveries(
    editor: TestClient, digest: Digest, env: dict[str, str], engine: Engine
) -> None:
    number, ids = topical_issue(digest, env, engine)
    add_readers(engine, READERS)
    digest("approve", str(number))
    digest("send", str(number))
    # Choices changed after the send started do not change what it did.
    add_readers(engine, {"late@example.org": ["mental health"]})

    page = editor.get(f"/editor/issues/{number}")

    assert "Fixed when the send started" in page.text
    found = variants_on(page.text)
    assert [(v["number"], v["choices"], v["subscribers"], v["deliveries"]) for v in found] == [
        ("1", "everything", 2, "sent 2"),
        ("2", "cardiology; cardiology + nutrition", 2, "sent 2"),
        ("3", "mental health", 1, "sent 1"),
    ]
    assert found[1]["titles"] == [headline(1), headline(3)]
    assert "1 subscriber chose topics none of this issue's summaries carries" in page.text
    stored = editor.get(f"/editor/issues/{number}/variants/{key(ids, 2)}/email.html")
    assert stored.status_code == 200
    assert headline(2) in stored.text


def test_a_send_from_before_topics_shows_as_one_variant_of_the_whole_issue(
    editor: TestClient, digest: Digest, env: dict[str, str], engine: Engine
) -> None:
    number, ids = topical_issue(digest, env, engine)
    add_readers(engine, READERS)
    digest("approve", str(number))
    with unit_of_work(engine) as session:  # the ledger as a send wrote it before variants existed
        begin(session, get_issue(session, number), now=datetime.now(UTC), variants=whole_issue)

    page = editor.get(f"/editor/issues/{number}")

    (only,) = variants_on(page.text)
    assert (only["choices"], only["subscribers"], only["deliveries"]) == ("everything", 6, "pending 6")
    assert only["titles"] == [headline(n) for n in WEEK]
    whole = editor.get(f"/editor/issues/{number}/variants/{key(ids, 1, 2, 3, 4)}/email.html")
    assert whole.status_code == 200
    assert all(headline(n) in whole.text for n in WEEK)


def test_a_cancelled_issue_has_no_variants(
    editor: TestClient, digest: Digest, env: dict[str, str], engine: Engine
) -> None:
    number, ids = topical_issue(digest, env, engine)
    add_readers(engine, READERS)
    digest("cancel", str(number))

    page = editor.get(f"/editor/issues/{number}")

    assert "This issue was cancelled: it has no variants." in page.text
    assert variants_on(page.text) == []
    gone = editor.get(f"/editor/issues/{number}/variants/{key(ids, 1, 3)}")
    assert gone.status_code == 404
    assert "it was cancelled" in gone.text


# --- a variant's preview -----------------------------------------------------------------------------


def test_a_variant_preview_holds_exactly_its_summaries(
    editor: TestClient, digest: Digest, env: dict[str, str], engine: Engine
) -> None:
    number, ids = topical_issue(digest, env, engine)
    add_readers(engine, READERS)

    for variant, numbers in ((1, (1, 2, 3, 4)), (2, (1, 3)), (3, (2,))):
        path = f"/editor/issues/{number}/variants/{key(ids, *numbers)}"
        page = editor.get(path)
        assert page.status_code == 200, page.text
        assert f"Issue {number}, variant {variant}" in page.text
        assert f'src="{path}/email.html"' in page.text
        email = editor.get(f"{path}/email.html")
        assert email.status_code == 200
        assert "frame-ancestors 'self'" in email.headers["content-security-policy"]
        for n in WEEK:
            # The frame's HTML, and the page (its list of summaries and the text part).
            assert (headline(n) in email.text) == (n in numbers), (variant, n)
            assert (headline(n) in page.text) == (n in numbers), (variant, n)
        # Preview links, never a subscriber's own.
        assert f"http://127.0.0.1:{PORT}/unsubscribe/preview" in email.text
        assert f"http://127.0.0.1:{PORT}/unsubscribe/preview" in page.text


def test_a_key_naming_no_variant_gets_a_clear_404(
    editor: TestClient, digest: Digest, env: dict[str, str], engine: Engine
) -> None:
    number, ids = topical_issue(digest, env, engine)
    add_readers(engine, READERS)
    cases = {
        "abc": "summary ids separated by commas",
        f"{ids[1]},999999": "the issue does not hold summary 999999",
        key(ids, 4): "no subscriber&#39;s topics select exactly those summaries now",  # nobody gets 4 alone
        key(ids, 3, 1): "no subscriber&#39;s topics select exactly those summaries now",  # not in issue order
    }
    for bad, reason in cases.items():
        for path in (
            f"/editor/issues/{number}/variants/{bad}",
            f"/editor/issues/{number}/variants/{bad}/email.html",
        ):
            answer = editor.get(path)
            assert answer.status_code == 404, path
            assert "No such variant" in answer.text
            assert reason in answer.text, (path, answer.text)
    missing = editor.get(f"/editor/issues/99/variants/{key(ids, 1, 3)}")
    assert missing.status_code == 404
    assert "there is no issue 99" in missing.text
    assert editor.get(f"/editor/issues/{number}/variants/").status_code == 404  # the group with no email


def test_variant_pages_need_an_editor(
    client: TestClient, digest: Digest, env: dict[str, str], engine: Engine
) -> None:
    number, ids = topical_issue(digest, env, engine)
    add_readers(engine, READERS)
    for path in (
        f"/editor/issues/{number}/variants/{key(ids, 1, 3)}",
        f"/editor/issues/{number}/variants/{key(ids, 1, 3)}/email.html",
    ):
        answer = client.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"] == "/editor/login"
        assert headline(1) not in answer.text


# --- the command line --------------------------------------------------------------------------------


def test_digest_variants_prints_the_table_before_and_after_the_send(
    digest: Digest, env: dict[str, str], engine: Engine
) -> None:
    number, ids = topical_issue(digest, env, engine)
    add_readers(engine, READERS)

    planned = digest("variants", str(number)).stdout.splitlines()

    assert planned == [
        "issue 1 (draft): the variants a send started now would produce",
        "variant  subscribers  summaries  topic choices                       key",
        f"1        2            4          everything                          {key(ids, 1, 2, 3, 4)}",
        f"2        2            2          cardiology; cardiology + nutrition  {key(ids, 1, 3)}",
        f"3        1            1          mental health                       {key(ids, 2)}",
        "1 subscriber chose topics none of this issue's summaries carries: they get no email this week;"
        " their choices: sleep",
    ]

    digest("approve", str(number))
    digest("send", str(number))
    sent = digest("variants", str(number)).stdout.splitlines()

    assert sent[0] == "issue 1 (sent): the variants fixed when its send started"
    assert sent[1].split() == ["variant", "subscribers", "summaries", "deliveries", "topic", "choices", "key"]
    assert sent[2].split() == ["1", "2", "4", "sent", "2", "everything", key(ids, 1, 2, 3, 4)]
    assert sent[4].split() == ["3", "1", "1", "sent", "1", "mental", "health", key(ids, 2)]
    assert sent[5].startswith("1 subscriber chose topics none of this issue's summaries carries")


def test_digest_variants_says_when_nobody_chose_topics(
    digest: Digest, env: dict[str, str], engine: Engine
) -> None:
    number = draft_issue(digest, env, first=1, count=2)
    assert digest("variants", str(number)).stdout.splitlines()[1] == (
        "no active subscribers: a send started now would email nobody"
    )
    add_readers(engine, {"all@example.org": []})
    lines = digest("variants", str(number)).stdout.splitlines()
    assert lines[1] == "no subscriber has chosen topics: one variant, the whole issue, for everyone"
    assert lines[3].split()[:4] == ["1", "1", "2", "everything"]
    failed = digest("variants", "7", ok=False)
    assert (failed.exit_code, failed.stderr) == (1, "error: there is no issue 7\n")


def test_digest_preview_of_a_variant(
    digest: Digest, env: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    number, ids = topical_issue(digest, env, engine)
    add_readers(engine, READERS)

    html = digest("preview", str(number), "--variant", key(ids, 1, 3)).stdout
    text = digest("preview", str(number), "--variant", key(ids, 1, 3), "--text").stdout

    for document in (html, text):
        assert [n for n in WEEK if headline(n) in document] == [1, 3]
        assert "https://digest.example.org/unsubscribe/preview" in document
    assert "Key takeaway:" in text
    out = tmp_path / "variant.html"
    assert (
        digest("preview", str(number), "--variant", key(ids, 2), "--out", str(out)).stdout == f"wrote {out}\n"
    )
    assert [n for n in WEEK if headline(n) in out.read_text()] == [2]

    failed = digest("preview", str(number), "--variant", key(ids, 4), ok=False)
    assert failed.exit_code == 1
    assert failed.stderr.startswith(f"error: '{key(ids, 4)}' names no variant of issue 1: ")


# --- in a real browser -------------------------------------------------------------------------------


@pytest.fixture
def site(parts: Parts) -> Iterator[str]:
    with live_server(create_app(parts), PORT) as url:
        yield url


def test_an_editor_opens_a_variant_preview_from_the_issue_page(
    site: str, browser: Browser, digest: Digest, env: dict[str, str], engine: Engine
) -> None:
    number, _ = topical_issue(digest, env, engine)
    add_readers(engine, READERS)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{site}/editor/issues/{number}")
    page.get_by_label("Name").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name=f"Issue {number}").click()

    variants = page.get_by_role("table", name="Variants")
    expect(variants).to_contain_text("cardiology + nutrition")
    variants.get_by_role("link", name="Preview variant 2").click()

    expect(page.get_by_role("heading", name=f"Issue {number}, variant 2")).to_be_visible()
    for frame in ("iframe.desktop", "iframe.phone"):
        shown = page.frame_locator(frame).locator("h2 a")  # the items, after "In this issue"
        expect(shown.first).to_have_text(headline(1))
        email = page.frame_locator(frame).locator("body")
        expect(email).to_contain_text(headline(3))
        for absent in (2, 4):
            expect(email).not_to_contain_text(headline(absent))
    assert page.locator("iframe.phone").evaluate("frame => frame.clientWidth") == 375
    expect(page.get_by_label("Plain text part")).to_contain_text(headline(3))
    expect(page.get_by_label("Plain text part")).not_to_contain_text(headline(2))
