"""Topics for subscribers, on SQLite and PostgreSQL: the sign-up form and API, the preferences page, the
data export and erasure, and the ``digest subscribers``/``digest topics`` commands.

The topics on offer here are ``DIGEST_TOPICS`` (written unevenly on purpose) plus those of summaries
published in the last 90 days. The tests act as a reader or an operator would and look in the database
only for what neither can see.
"""

import json
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from digest.db.engine import unit_of_work
from digest.subscribers import records as subscribers
from digest.subscribers import topics
from digest.wiring import Parts
from tests.support import summary, write_summaries
from tests.support.cli import Digest
from tests.support.web import (
    RELAXED,
    arrived,
    erased_rows,
    form_token,
    link_in,
    masked,
    notice_paths,
    notices,
    path_of,
    preferences_action,
    state_of,
    subject_has,
    subscriber,
    subscriber_count,
)

ON_OFFER = ["bone health", "cardiology", "mental health"]


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "DIGEST_TOPICS": "Cardiology,  Mental   Health ,bone health"}


@pytest.fixture
def web_env(web_env: dict[str, str]) -> dict[str, str]:
    return {**web_env, **RELAXED}


class TopicBoxes(HTMLParser):
    """The ``topics`` checkboxes of a page as a reader sees them: label text -> ticked; and the legends."""

    def __init__(self, page: httpx2.Response) -> None:
        super().__init__()
        self.ticked: dict[str, bool] = {}  # by the checkbox's id, until the labels name them
        self.labels: dict[str, str] = {}
        self.legends: list[str] = []
        self._label: str | None = None
        self._legend = False
        self._text: list[str] = []
        self.feed(page.text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("name") == "topics":
            assert found.get("type") == "checkbox"
            self.ticked[found["id"] or ""] = "checked" in found
        elif tag == "label":
            self._label, self._text = found.get("for"), []
        elif tag == "legend":
            self._legend, self._text = True, []

    def handle_data(self, data: str) -> None:
        self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        text = " ".join("".join(self._text).split())
        if tag == "label" and self._label in self.ticked:
            self.labels[self._label] = text
        elif tag == "legend":
            self.legends.append(text)
        if tag in ("label", "legend"):
            self._label, self._legend = None, False

    def boxes(self) -> dict[str, bool]:
        assert set(self.labels) == set(self.ticked), "every topic box has a label"
        return {self.labels[box]: ticked for box, ticked in self.ticked.items()}


def boxes(page: httpx2.Response) -> dict[str, bool]:
    return TopicBoxes(page).boxes()


def sign_up(client: TestClient, email: str, picked: list[str]) -> httpx2.Response:
    """The sign-up form, filled in and sent as a browser would, with the topics in ``picked`` ticked."""
    page = client.get("/subscribe")
    fields = {"form_token": form_token(page), "email": email, "consent": "yes", "website": ""}
    return client.post("/subscribe", data={**fields, "topics": picked})


def sign_up_json(client: TestClient, email: str, picked: list[str]) -> httpx2.Response:
    return client.post("/subscribe", json={"email": email, "consent": True, "topics": picked})


def chosen(engine: Engine, email: str) -> list[str]:
    found = subscriber(engine, email)
    assert found is not None
    stored: list[str] = json.loads(found.topics)
    return stored


def confirm(client: TestClient, outbox: Path, email: str, before: set[Path]) -> EmailMessage:
    """Confirm ``email`` from its newest confirmation; return the welcome email."""
    confirmation = [m for m in arrived(outbox, before, email) if subject_has(m, "confirm")][-1]
    before = notice_paths(outbox)
    assert client.post(path_of(link_in(confirmation, "confirm"))).status_code == 200
    (welcome,) = [m for m in arrived(outbox, before, email) if subject_has(m, "welcome")]
    return welcome


def active_with(client: TestClient, outbox: Path, email: str, picked: list[str]) -> str:
    """Sign ``email`` up with ``picked`` and confirm it; the path of its preferences page."""
    before = notice_paths(outbox)
    assert sign_up(client, email, picked).status_code == 200
    return path_of(link_in(confirm(client, outbox, email, before), "preferences"))


# --- sign-up -----------------------------------------------------------------------------------------


def test_form_offers_the_topics_as_optional_labelled_checkboxes(
    client: TestClient, digest: Digest, env: dict[str, str]
) -> None:
    now = datetime.now(UTC)
    write_summaries(
        Path(env["DIGEST_SOURCES"]),
        "week.json",
        [
            summary(1, published_at=now - timedelta(days=2), topics=["Sleep", "Cardiology"]),
            summary(2, published_at=now - timedelta(days=120), topics=["Astronomy"]),  # too old
        ],
    )
    digest("ingest")

    page = client.get("/subscribe")
    assert page.status_code == 200
    parsed = TopicBoxes(page)
    assert parsed.boxes() == dict.fromkeys([*ON_OFFER, "sleep"], False)
    assert "Topics (optional — none picked means everything)" in parsed.legends
    assert "<fieldset" in page.text
    # The page for a broken link asks for a new one with the same fields.
    assert boxes(client.get("/confirm/not-a-token")) == dict.fromkeys([*ON_OFFER, "sleep"], False)


def test_signup_stores_the_chosen_topics_normalised(client: TestClient, parts: Parts, outbox: Path) -> None:
    assert sign_up(client, "ada@example.org", ["mental health", "cardiology"]).status_code == 200
    assert chosen(parts.engine, "ada@example.org") == ["cardiology", "mental health"]

    answer = sign_up_json(client, "bob@example.org", [" Bone   HEALTH ", "bone health"])
    assert answer.status_code == 202
    assert chosen(parts.engine, "bob@example.org") == ["bone health"]

    assert sign_up(client, "cy@example.org", []).status_code == 200  # none picked: everything
    assert chosen(parts.engine, "cy@example.org") == []
    assert sign_up_json(client, "dee@example.org", []).status_code == 202
    assert chosen(parts.engine, "dee@example.org") == []

    # The choice holds through confirmation.
    confirm(client, outbox, "ada@example.org", set())
    assert state_of(parts.engine, "ada@example.org") == "active"
    assert chosen(parts.engine, "ada@example.org") == ["cardiology", "mental health"]


def test_unknown_topic_is_refused_by_name_whatever_the_address(
    client: TestClient, parts: Parts, outbox: Path
) -> None:
    sign_up(client, "pending@example.org", ["cardiology"])
    active_with(client, outbox, "active@example.org", ["cardiology"])
    left = active_with(client, outbox, "left@example.org", ["cardiology"])
    preferences_action(client, left, "leave")
    addresses = ["new@example.org", "pending@example.org", "active@example.org", "left@example.org"]
    states = {address: state_of(parts.engine, address) for address in addresses}
    sent = len(notices(outbox))

    def alike(response: httpx2.Response, address: str) -> tuple[int, str, dict[str, str]]:
        status, body, headers = masked(response)
        headers.pop("content-length")  # the address is echoed in the form, and addresses differ in length
        return status, body.replace(address, "ADDRESS"), headers

    forms = [alike(sign_up(client, address, ["cardiology", "Astrology"]), address) for address in addresses]
    status, body, _ = forms[0]
    assert status == 400
    assert "unknown topic &#39;astrology&#39;" in body
    assert all(answer == forms[0] for answer in forms), "the form's refusal depends on the address"
    refused = sign_up(client, "new@example.org", ["cardiology", "Astrology"])
    assert boxes(refused)["cardiology"] is True  # what they ticked stays ticked

    apis = [masked(sign_up_json(client, address, ["astrology"])) for address in addresses]
    assert apis[0][0] == 422
    assert "unknown topic 'astrology'" in json.loads(apis[0][1])["error"]
    assert "cardiology" in json.loads(apis[0][1])["error"]  # and what is on offer
    assert all(answer == apis[0] for answer in apis), "the JSON refusal depends on the address"

    not_a_list = sign_up_json(client, "new@example.org", "cardiology")  # type: ignore[arg-type]
    assert not_a_list.status_code == 422
    assert "'topics'" in not_a_list.json()["error"]

    # Nothing changed for anyone.
    assert {address: state_of(parts.engine, address) for address in addresses} == states
    assert chosen(parts.engine, "active@example.org") == ["cardiology"]
    assert len(notices(outbox)) == sent


def test_a_signup_never_changes_an_active_subscribers_topics(
    client: TestClient, parts: Parts, outbox: Path
) -> None:
    active_with(client, outbox, "active@example.org", ["cardiology"])

    for picked in (["mental health"], []):
        known = masked(sign_up(client, "active@example.org", picked))
        unknown = masked(sign_up(client, f"new-{len(picked)}@example.org", picked))
        assert known == unknown
        assert masked(sign_up_json(client, "active@example.org", picked)) == masked(
            sign_up_json(client, f"other-{len(picked)}@example.org", picked)
        )
        assert chosen(parts.engine, "active@example.org") == ["cardiology"]
        assert state_of(parts.engine, "active@example.org") == "active"


def test_pending_and_returning_subscribers_take_the_latest_choice(
    client: TestClient, parts: Parts, outbox: Path
) -> None:
    sign_up(client, "pending@example.org", ["cardiology"])
    sign_up_json(client, "pending@example.org", ["mental health"])
    assert chosen(parts.engine, "pending@example.org") == ["mental health"]

    left = active_with(client, outbox, "left@example.org", ["cardiology"])
    preferences_action(client, left, "leave")
    before = notice_paths(outbox)
    sign_up(client, "left@example.org", ["bone health"])
    assert state_of(parts.engine, "left@example.org") == "pending"
    assert chosen(parts.engine, "left@example.org") == ["bone health"]
    confirm(client, outbox, "left@example.org", before)
    assert chosen(parts.engine, "left@example.org") == ["bone health"]


# --- preferences -------------------------------------------------------------------------------------


def save_topics(client: TestClient, path: str, picked: list[str]) -> httpx2.Response:
    """Tick ``picked`` on the preferences page at ``path`` and press "Save topics"."""
    page = client.get(path)
    assert 'value="topics">Save topics</button>' in page.text
    return client.post(path, data={"form_token": form_token(page), "action": "topics", "topics": picked})


def test_preferences_show_and_change_the_topics(client: TestClient, parts: Parts, outbox: Path) -> None:
    path = active_with(client, outbox, "ada@example.org", ["cardiology"])
    page = client.get(path)
    assert boxes(page) == {"bone health": False, "cardiology": True, "mental health": False}
    assert "none ticked means everything" in " ".join(TopicBoxes(page).legends)

    saved = save_topics(client, path, ["Mental Health", "bone health"])
    assert saved.status_code == 200
    assert "Saved. You get only the summaries on these topics: bone health, mental health." in saved.text
    assert boxes(saved) == {"bone health": True, "cardiology": False, "mental health": True}
    assert chosen(parts.engine, "ada@example.org") == ["bone health", "mental health"]
    assert boxes(client.get(path)) == boxes(saved)

    everything = save_topics(client, path, [])
    assert everything.status_code == 200
    assert "With no topic ticked, you get every summary" in everything.text
    assert "<dt>Topics</dt><dd>everything</dd>" in everything.text
    assert not any(boxes(everything).values())
    assert chosen(parts.engine, "ada@example.org") == []
    assert state_of(parts.engine, "ada@example.org") == "active"


def test_a_chosen_topic_no_longer_on_offer_stays_until_unticked(
    client: TestClient, parts: Parts, outbox: Path
) -> None:
    path = active_with(client, outbox, "ada@example.org", ["cardiology"])
    with unit_of_work(parts.engine) as session:  # as if "knitting" had been offered then dropped
        topics.choose(subscribers.get(session, "ada@example.org"), ["cardiology", "knitting"])

    assert boxes(client.get(path))["knitting"] is True
    kept = save_topics(client, path, ["knitting", "mental health"])
    assert kept.status_code == 200
    assert chosen(parts.engine, "ada@example.org") == ["knitting", "mental health"]

    assert save_topics(client, path, ["mental health"]).status_code == 200
    assert "knitting" not in boxes(client.get(path))  # unticked, it is gone

    refused = save_topics(client, path, ["knitting"])
    assert refused.status_code == 400
    assert "unknown topic &#39;knitting&#39;" in refused.text
    assert chosen(parts.engine, "ada@example.org") == ["mental health"]


@pytest.mark.parametrize("token", ["missing", "forged", "subscribe-form"])
def test_saving_topics_needs_the_pages_form_token(
    client: TestClient, parts: Parts, outbox: Path, token: str
) -> None:
    path = active_with(client, outbox, "ada@example.org", ["cardiology"])
    fields = {"action": "topics", "topics": ["mental health"]}
    if token == "forged":
        fields["form_token"] = "forged.token"
    elif token == "subscribe-form":
        fields["form_token"] = form_token(client.get("/subscribe"))
    answer = client.post(path, data=fields)
    assert answer.status_code == 400
    assert "reload" in answer.text
    assert chosen(parts.engine, "ada@example.org") == ["cardiology"]


# --- export and erasure ------------------------------------------------------------------------------


def test_export_lists_the_topics_and_erasure_resets_them(
    client: TestClient, parts: Parts, outbox: Path, digest: Digest
) -> None:
    path = active_with(client, outbox, "ada@example.org", ["mental health", "cardiology"])
    download = client.get(f"{path}/data").json()
    assert download["topics"] == ["cardiology", "mental health"]
    assert "an empty list means every topic" in download["topics_note"]
    assert json.loads(digest("subscribers", "export", "ada@example.org").stdout) == download

    save_topics(client, path, [])
    assert client.get(f"{path}/data").json()["topics"] == []

    save_topics(client, path, ["cardiology"])
    erased = preferences_action(client, path, "erase", confirm="yes")
    assert "Your data is erased" in erased.text
    (row,) = erased_rows(parts.engine)
    assert json.loads(row.topics) == []

    # The same from the shell.
    digest("subscribers", "add", "bob@example.org", "--confirmed", "--topic", "cardiology")
    assert json.loads(digest("subscribers", "export", "bob@example.org").stdout)["topics"] == ["cardiology"]
    digest("subscribers", "erase", "bob@example.org")
    assert [json.loads(row.topics) for row in erased_rows(parts.engine)] == [[], []]


# --- the command line --------------------------------------------------------------------------------


def listing(digest: Digest) -> dict[str, tuple[str, str]]:
    rows = [line.split("\t") for line in digest("subscribers", "list").stdout.splitlines()]
    return {email: (state, chosen) for email, state, chosen in rows}


def test_cli_add_with_topics(digest: Digest, engine: Engine) -> None:
    added = digest(
        "subscribers",
        "add",
        "ada@example.org",
        "--confirmed",
        "--topic",
        "Cardiology",
        "--topic",
        "mental health",
    )
    assert added.stdout.strip() == "ada@example.org: active; topics: cardiology + mental health"
    assert chosen(engine, "ada@example.org") == ["cardiology", "mental health"]
    plain = digest("subscribers", "add", "bob@example.org")
    assert plain.stdout.splitlines()[0] == "bob@example.org: pending; topics: everything"

    unknown = digest("subscribers", "add", "cy@example.org", "--topic", "astrology", ok=False)
    assert unknown.exit_code == 1
    assert unknown.stderr.startswith("error: unknown topic 'astrology'; the topics on offer are: ")
    assert subscriber(engine, "cy@example.org") is None

    # An active subscriber keeps their choice, and the operator is told.
    again = digest("subscribers", "add", "ada@example.org", "--topic", "bone health")
    assert again.stdout.strip() == "ada@example.org: active; topics: cardiology + mental health"
    assert "already subscribed" in again.stderr
    assert chosen(engine, "ada@example.org") == ["cardiology", "mental health"]

    assert listing(digest) == {
        "ada@example.org": ("active", "cardiology + mental health"),
        "bob@example.org": ("pending", "everything"),
    }


def test_cli_changes_one_subscribers_topics_at_their_request(digest: Digest, engine: Engine) -> None:
    digest("subscribers", "add", "ada@example.org", "--confirmed", "--topic", "cardiology")

    shown = digest("subscribers", "topics", "ada@example.org")
    changed = digest(
        "subscribers", "topics", "ADA@example.org", "--topic", "Bone  Health", "--topic", "cardiology"
    )

    assert shown.stdout.strip() == "ada@example.org: topics: cardiology"
    assert changed.stdout.strip() == "ada@example.org: topics: bone health + cardiology"
    assert chosen(engine, "ada@example.org") == ["bone health", "cardiology"]
    unknown = digest("subscribers", "topics", "ada@example.org", "--topic", "astrology", ok=False)
    assert unknown.exit_code == 1
    assert unknown.stderr.startswith("error: unknown topic 'astrology'")
    assert chosen(engine, "ada@example.org") == ["bone health", "cardiology"]
    reset = digest("subscribers", "topics", "ada@example.org", "--everything")
    assert reset.stdout.strip() == "ada@example.org: topics: everything"
    assert chosen(engine, "ada@example.org") == []
    missing = digest("subscribers", "topics", "nobody@example.org", ok=False)
    assert missing.exit_code == 1
    assert missing.stderr.startswith("error: ")


def test_cli_import_reads_a_topics_column_and_reports_bad_rows_by_line(
    digest: Digest, engine: Engine, tmp_path: Path, outbox: Path
) -> None:
    people = tmp_path / "people.csv"
    people.write_text(
        "email,name,topics\n"
        "ada@example.org,Ada,Cardiology; Mental Health\n"
        "bob@example.org,Bob,\n"
        "cy@example.org,Cy,cardiology;astrology\n"
        "dee@example.org,Dee\n",
        encoding="utf-8",
    )
    result = digest("subscribers", "import", str(people))
    assert "imported 3 address(es) (3 pending, confirmation sent); 1 row(s) skipped" in result.stdout
    (problem,) = result.stderr.strip().splitlines()
    assert problem.startswith("skipped line 4: unknown topic 'astrology'")
    assert listing(digest) == {
        "ada@example.org": ("pending", "cardiology + mental health"),
        "bob@example.org": ("pending", "everything"),
        "dee@example.org": ("pending", "everything"),
    }
    assert len(notices(outbox)) == 3

    confirmed = tmp_path / "confirmed.csv"
    confirmed.write_text("email,topics\neve@example.org,bone health\n", encoding="utf-8")
    digest("subscribers", "import", str(confirmed), "--confirmed", "--consent-source", "old list")
    assert listing(digest)["eve@example.org"] == ("active", "bone health")


def test_cli_topics_counts_active_subscribers_per_topic(digest: Digest, engine: Engine) -> None:
    digest("subscribers", "add", "ada@example.org", "--confirmed", "--topic", "cardiology")
    digest(
        "subscribers",
        "add",
        "bob@example.org",
        "--confirmed",
        "--topic",
        "cardiology",
        "--topic",
        "bone health",
    )
    digest("subscribers", "add", "cy@example.org", "--confirmed")
    digest("subscribers", "add", "dee@example.org", "--confirmed")
    digest("subscribers", "add", "eve@example.org", "--topic", "mental health")  # pending: not counted
    with unit_of_work(engine) as session:  # a topic dropped from the offer still counts
        topics.choose(subscribers.get(session, "dee@example.org"), ["knitting"])

    lines = [line.split() for line in digest("topics").stdout.splitlines()]
    assert lines == [
        ["topic", "active", "subscribers"],
        ["bone", "health", "1"],
        ["cardiology", "2"],
        ["knitting", "1", "(no", "longer", "on", "offer)"],
        ["mental", "health", "0"],
        ["everything", "1", "(chose", "no", "topic)"],
    ]
    assert subscriber_count(engine) == 5
