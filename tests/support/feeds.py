"""Feeds built from summaries (``tests.support.summary``) in the three formats digest reads."""

import json
from datetime import datetime
from email.utils import format_datetime
from html import escape as html_escape
from typing import Any
from xml.sax.saxutils import escape, quoteattr

NAMESPACE = "https://digest.example.org/ns/summary/1.0"
ITEM_KEYS = {"id", "url", "title", "published_at", "topics"}
TEXT_KEYS = ("headline", "key_takeaway", "what_it_means", "summary", "study_type", "evidence_level")


def json_feed(*summaries: dict[str, Any]) -> bytes:
    """A JSON Feed 1.1 whose items carry each summary: item fields, the rest in ``_digest``.

    JSON Feed wants ``content_text`` or ``content_html`` in every item: the summary's text when it has one
    (read back as its ``summary``), else a bit of HTML (never read)."""
    items = []
    for summary in summaries:
        text = summary.get("summary")
        item: dict[str, Any] = {
            "content_text": text,
            "content_html": None if text else f"<p>{html_escape(str(summary.get('key_takeaway')))}</p>",
            "id": summary.get("id"),
            "url": summary.get("url"),
            "title": summary.get("title"),
            "date_published": summary.get("published_at"),
            "tags": summary.get("topics"),
            "_digest": {key: value for key, value in summary.items() if key not in ITEM_KEYS},
        }
        items.append({key: value for key, value in item.items() if value is not None})
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Research summaries",
        "home_page_url": "https://summaries.example.org/",
        "feed_url": "https://summaries.example.org/feed.json",
        "items": items,
    }
    return json.dumps(feed, ensure_ascii=False).encode("utf-8")


def element(name: str, value: Any) -> str:
    return f"<digest:{name}>{escape(str(value))}</digest:{name}>" if value is not None else ""


def namespaced(summary: dict[str, Any]) -> str:
    """The summary's own fields as elements of the project's namespace."""
    parts = [element(key, summary.get(key)) for key in TEXT_KEYS]
    parts += [element("topic", topic) for topic in summary.get("topics") or []]
    source = summary.get("source")
    if source:
        parts.append(f"<digest:source>{''.join(element(k, v) for k, v in source.items())}</digest:source>")
    for entry in summary.get("faq") or []:
        inner = element("question", entry.get("question")) + element("answer", entry.get("answer"))
        parts.append(f"<digest:faq>{inner}</digest:faq>")
    return "".join(parts)


def rfc822(value: str | None) -> str | None:
    return format_datetime(datetime.fromisoformat(value)) if value else None


def tag(name: str, value: str | None, **attributes: str) -> str:
    attrs = "".join(f" {key}={quoteattr(val)}" for key, val in attributes.items())
    return f"<{name}{attrs}>{escape(value)}</{name}>" if value is not None else ""


def rss_feed(*summaries: dict[str, Any], encoding: str = "utf-8", declare: str | None = "utf-8") -> bytes:
    """An RSS 2.0 feed: guid, link, title, pubDate, and the rest in the project's namespace."""
    items = "".join(
        "<item>"
        + tag("guid", summary.get("id"), isPermaLink="false")
        + tag("link", summary.get("url"))
        + tag("title", summary.get("title"))
        + tag("pubDate", rfc822(summary.get("published_at")))
        + namespaced(summary)
        + "</item>\n"
        for summary in summaries
    )
    declaration = f'<?xml version="1.0" encoding="{declare}"?>\n' if declare else ""
    document = (
        f'{declaration}<rss version="2.0" xmlns:digest="{NAMESPACE}"><channel>'
        "<title>Research summaries</title><link>https://summaries.example.org/</link>"
        f"<description>Plain-language summaries</description>\n{items}</channel></rss>\n"
    )
    return document.encode(encoding)


def atom_feed(*summaries: dict[str, Any]) -> bytes:
    """An Atom feed: id, link, title, published, and the rest in the project's namespace."""
    entries = "".join(
        "<entry>"
        + tag("id", summary.get("id"))
        + (f'<link rel="alternate" href={quoteattr(summary["url"])}/>' if summary.get("url") else "")
        + tag("title", summary.get("title"))
        + tag("published", summary.get("published_at"))
        + tag("updated", summary.get("published_at"))
        + namespaced(summary)
        + "</entry>\n"
        for summary in summaries
    )
    document = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:digest="{NAMESPACE}">'
        "<title>Research summaries</title><id>https://summaries.example.org/</id>"
        f"<updated>2026-11-23T09:00:00Z</updated>\n{entries}</feed>\n"
    )
    return document.encode("utf-8")


FORMATS = {"json": json_feed, "rss": rss_feed, "atom": atom_feed}
