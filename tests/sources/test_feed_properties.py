"""Property tests (hypothesis): no input crashes an ingest, and no markup in a summary reaches the email.

Inputs range from arbitrary bytes and XML tag soup to feeds in each format whose fields hold any
plain text, markup, scripts and entity-like strings. Runs are derandomized so CI sees the same examples
every time.
"""

import itertools
import json
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from digest.core.inline import EMPHASIS
from digest.core.summary import SummaryIn
from digest.db.engine import unit_of_work
from digest.ingest.summaries import ingest
from digest.issues.compose import compose
from digest.sources import SourceBatch, Validators
from digest.sources.feeds import parse_feed
from tests.support import NOW, summary
from tests.support.feeds import FORMATS, NAMESPACE
from tests.support.sources import RULES, renderer

PROPERTY = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
DATABASE_PROPERTY = settings(PROPERTY, max_examples=40)

MARKUP = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<b>bold</b>",
    "</td></tr></table>",
    '"><svg onload=alert(1)>',
    "<a href='javascript:alert(1)'>x</a>",
    "&amp;",
    "&lt;b&gt;",
    "&nbsp;",
    "<!-- c -->",
    "]]>",
    "<![CDATA[x]]>",
    "{{ 7 * 7 }}",
    "{% raw %}",
    "<mj-raw><script>x</script></mj-raw>",
    "'",
    '"',
]
XML_FRAGMENTS = [
    "<?xml version='1.0' encoding='utf-8'?>",
    '<rss version="2.0">',
    "</rss>",
    "<channel>",
    "</channel>",
    "<item>",
    "</item>",
    "<guid>",
    "</guid>",
    "<link>https://x.example.org/1</link>",
    "<pubDate>Mon, 23 Nov 2026 08:00:00 GMT</pubDate>",
    '<feed xmlns="http://www.w3.org/2005/Atom">',
    "</feed>",
    "<entry>",
    "</entry>",
    f'<digest:key_takeaway xmlns:digest="{NAMESPACE}">',
    "</digest:key_takeaway>",
    "<![CDATA[",
    "]]>",
    "&amp;",
    "&nbsp;",
    "&#0;",
    "&#xD800;",
    "&undefined;",
    "<!DOCTYPE rss>",
    '<!DOCTYPE r [<!ENTITY a "b">]>',
    "<!--",
    "-->",
    "\x00",
    "\ufeff",
    "é",
]

# Plain text as XML can carry it: no control characters, surrogates or non-characters, and no CR
# (XML turns every line break into LF).
XML_SAFE = st.characters(
    blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff", whitelist_characters="\t\n"
)
PLAIN = st.text(alphabet=XML_SAFE, max_size=80)
TEXT = st.lists(st.one_of(PLAIN, st.sampled_from(MARKUP)), min_size=1, max_size=5).map("".join)
URL_TAIL = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters="\ufffe\uffff"
    ),
    max_size=40,
)
FIELDS = ("title", "headline", "key_takeaway", "what_it_means", "summary", "study_type", "evidence_level")
LIMITS = {"title": 500, "headline": 500, "study_type": 200, "evidence_level": 200}


def json_values() -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
        ),
        max_leaves=15,
    )


def check_batch(batch: SourceBatch, items: int | None = None) -> None:
    """A read either failed as a whole or accounted for each item: a summary or a rejection."""
    assert batch.error is not None or all(isinstance(item, SummaryIn) for item in batch.summaries)
    if items is not None and batch.error is None:
        assert len(batch.summaries) + len(batch.rejected) == items
    for rejection in batch.rejected:
        assert "\x00" not in str(rejection)


@PROPERTY
@given(
    st.binary(max_size=3000), st.sampled_from([None, "utf-8", "iso-8859-1", "utf-16", "koi8-r", "nonsense"])
)
def test_no_bytes_crash_the_parser(body: bytes, charset: str | None) -> None:
    check_batch(parse_feed("f", body, charset=charset))


PROLOGUES = [
    "",
    "<?xml version='1.0'?>",
    "<?xml version='1.0' encoding='iso-8859-1'?>",
    "<?xml version='1.0' encoding='no-such-encoding'?>",
    "<!DOCTYPE rss>",
    '<!DOCTYPE rss [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>',
    '<!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    '<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "http://x.example.org/rss.dtd">',
]
ROOTS = [
    ("<rss><channel>", "</channel></rss>"),
    ('<feed xmlns="http://www.w3.org/2005/Atom">', "</feed>"),
    ("", ""),
]


@PROPERTY
@given(
    st.sampled_from(PROLOGUES),
    st.sampled_from(ROOTS),
    st.lists(
        st.one_of(st.sampled_from([*XML_FRAGMENTS, "&a;", "&b;", "&x;"]), st.text(max_size=15)), max_size=40
    ),
    st.sampled_from(["utf-8", "utf-16", "iso-8859-1"]),
)
def test_no_xml_tag_soup_crashes_the_parser(
    prologue: str, root: tuple[str, str], fragments: list[str], encoding: str
) -> None:
    document = prologue + root[0] + "".join(fragments) + root[1]

    check_batch(parse_feed("f", document.encode(encoding, "replace")))


@PROPERTY
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "_digest": st.dictionaries(
                    st.sampled_from([*FIELDS, "id", "url", "topics", "faq", "source", "published_at"]),
                    json_values(),
                )
            },
            optional={
                "id": json_values(),
                "url": json_values(),
                "date_published": json_values(),
                "tags": json_values(),
            },
        )
        | json_values(),
        max_size=6,
    )
)
def test_no_json_feed_item_crashes_the_parser(items: list[Any]) -> None:
    document = {"version": "https://jsonfeed.org/version/1.1", "items": items}
    body = json.dumps(document, allow_nan=True).encode("utf-8", "surrogatepass")

    check_batch(parse_feed("f", body), items=len(items))


@PROPERTY
@given(st.sampled_from(sorted(FORMATS)), st.dictionaries(st.sampled_from(FIELDS), TEXT, min_size=1))
def test_any_text_comes_through_every_format_as_the_same_plain_text(fmt: str, fields: dict[str, str]) -> None:
    assume(
        all(
            value.strip() and len(value.strip()) <= LIMITS.get(name, 20_000) for name, value in fields.items()
        )
    )

    batch = parse_feed("f", FORMATS[fmt]({**summary(1), **fields}))

    assert (batch.error, batch.rejected) == (None, [])
    [item] = batch.summaries
    assert {name: getattr(item, name) for name in fields} == {
        name: value.strip() for name, value in fields.items()
    }


# --- through the database and into the email ---------------------------------------------------------------


class Tags(HTMLParser):
    """Every tag and attribute name in a document, and any attribute value that is a script URL."""

    def __init__(self, document: str) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.script_urls: list[str] = []
        self.feed(document)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            self.attributes.add(name)
            if value and value.strip().lower().startswith("javascript:"):
                self.script_urls.append(value)


class Fixed:
    """A source that gives one document's summaries, as a feed would."""

    def __init__(self, body: bytes) -> None:
        self.name = "https://feeds.example.org/generated"
        self.body = body

    def read(self, known: Validators | None = None) -> SourceBatch:
        return parse_feed(self.name, self.body)


@pytest.fixture
def template_tags(engine: Engine) -> Tags:
    """The tags and attributes the template itself produces, with every optional part filled."""
    items = [summary(n, summary="A summary.", published_at=NOW - timedelta(days=30, hours=n)) for n in (1, 2)]
    ingest(engine, [Fixed(FORMATS["json"](*items))], renderer(), now=NOW - timedelta(days=30))
    with unit_of_work(engine) as session:
        issue = compose(session, renderer(), RULES, now=NOW - timedelta(days=30))
        assert issue is not None
        return Tags(issue.html)


@DATABASE_PROPERTY
@given(
    fmt=st.sampled_from(sorted(FORMATS)),
    texts=st.lists(st.dictionaries(st.sampled_from(FIELDS), TEXT), min_size=1, max_size=3),
    tail=URL_TAIL,
)
def test_no_input_crashes_an_ingest_or_lets_markup_into_the_email(
    engine: Engine, template_tags: Tags, fmt: str, texts: list[dict[str, str]], tail: str
) -> None:
    step = next(STEPS)
    now = NOW + timedelta(days=step)
    items = [
        summary(
            100 * step + n,
            published_at=now - timedelta(minutes=n + 1),
            url=f"https://x.example.org/{tail}",
            **fields,
        )
        for n, fields in enumerate(texts)
    ]

    [report] = ingest(engine, [Fixed(FORMATS[fmt](*items))], renderer(), now=now)

    assert report.error is None
    with unit_of_work(engine) as session:
        issue = compose(session, renderer(), RULES, now=now)
    if report.new == 0:
        assert issue is None
        return
    assert issue is not None
    found = Tags(issue.html)
    # A summary's inline emphasis is the one markup it may bring (core/inline.py).
    assert found.tags <= template_tags.tags | EMPHASIS, found.tags - template_tags.tags - EMPHASIS
    assert found.attributes <= template_tags.attributes, found.attributes - template_tags.attributes
    assert found.script_urls == []


STEPS = itertools.count(1)
# Anything at all, with characters databases refuse (NUL) or that are no plain text made likely;
# lone surrogates come now and then from the full range of code points.
AWKWARD = st.sampled_from(["\x00", "\x1b", "\x7f", "\ufffe", "\u2028", "<", "&"])
ANY_TEXT = st.text(st.one_of(AWKWARD, st.characters(codec=None, blacklist_categories=())), max_size=40)
ANY_VALUE = st.one_of(
    ANY_TEXT.map(lambda tail: "https://x.example.org/" + tail),
    st.lists(ANY_TEXT, max_size=3),
    st.lists(st.fixed_dictionaries({"question": ANY_TEXT, "answer": ANY_TEXT}), max_size=2),
    st.fixed_dictionaries({}, optional={"journal": ANY_TEXT, "doi": ANY_TEXT}),
    json_values(),
)
OVERRIDES = st.builds(
    lambda texts, others: {**others, **texts},
    st.dictionaries(st.sampled_from(FIELDS), ANY_TEXT.filter(str.strip), max_size=3),
    st.dictionaries(
        st.sampled_from(["id", "url", "published_at", "topics", "faq", "source"]), ANY_VALUE, max_size=2
    ),
)


@DATABASE_PROPERTY
@given(st.lists(OVERRIDES, min_size=1, max_size=4))
def test_no_summary_fields_crash_an_ingest(engine: Engine, overrides: list[dict[str, Any]]) -> None:
    """Valid summaries with a few fields replaced by anything: whatever validation lets through, the
    database must take (PostgreSQL refuses NUL, both refuse lone surrogates)."""
    step = next(STEPS)
    items = [{**summary(1000 * step + n), **changes} for n, changes in enumerate(overrides)]
    feed = {"version": "https://jsonfeed.org/version/1.1", "items": [{"_digest": item} for item in items]}
    body = json.dumps(feed).encode()  # ASCII: lone surrogates travel as \\ud800 escapes

    [report] = ingest(engine, [Fixed(body)], renderer(), now=NOW + timedelta(days=step))

    assert report.error is None
    assert report.new + report.updated + report.unchanged + len(report.rejected) == len(items)
