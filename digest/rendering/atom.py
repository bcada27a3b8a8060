"""The archive's Atom feed (RFC 4287): plain values in, one well-formed XML document out.

ElementTree builds the document, so every text and attribute is escaped by the serializer, never by
pasted strings; characters XML 1.0 cannot carry at all (most control characters) are dropped first, as a
feed reader would refuse the whole feed over one of them.

May import nothing of digest: it is given words, addresses and dates.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from xml.etree import ElementTree as ET  # builds and writes XML; parses none

ATOM = "http://www.w3.org/2005/Atom"
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class FeedEntry:
    """One issue in the feed; its page address is its id, which stays the same as long as the site's
    address does."""

    url: str
    title: str
    published: datetime
    updated: datetime
    summary: str
    content_html: str


@dataclass(frozen=True)
class Feed:
    title: str
    subtitle: str
    url: str  # the feed's own address (rel="self")
    page_url: str  # the page it mirrors (rel="alternate")
    updated: datetime  # when anything in it last changed
    language: str
    entries: Sequence[FeedEntry]


def atom_feed(feed: Feed) -> bytes:
    """``feed`` as an Atom document, UTF-8 with an XML declaration."""
    ET.register_namespace("", ATOM)
    root = ET.Element(tag("feed"), {"{http://www.w3.org/XML/1998/namespace}lang": feed.language})
    text(root, "id", feed.page_url)
    text(root, "title", feed.title)
    text(root, "subtitle", feed.subtitle)
    text(root, "updated", stamp(feed.updated))
    link(root, feed.url, "self", "application/atom+xml")
    link(root, feed.page_url, "alternate", "text/html")
    text(ET.SubElement(root, tag("author")), "name", feed.title)
    for entry in feed.entries:
        add_entry(root, entry)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def add_entry(root: ET.Element, entry: FeedEntry) -> None:
    element = ET.SubElement(root, tag("entry"))
    text(element, "id", entry.url)
    text(element, "title", entry.title)
    link(element, entry.url, "alternate", "text/html")
    text(element, "published", stamp(entry.published))
    text(element, "updated", stamp(entry.updated))
    text(element, "summary", entry.summary)
    text(element, "content", entry.content_html).set("type", "html")


def tag(name: str) -> str:
    return f"{{{ATOM}}}{name}"


def text(parent: ET.Element, name: str, value: str) -> ET.Element:
    element = ET.SubElement(parent, tag(name))
    element.text = NOT_XML.sub("", value)
    return element


def link(parent: ET.Element, href: str, rel: str, media_type: str) -> None:
    ET.SubElement(parent, tag("link"), {"rel": rel, "type": media_type, "href": NOT_XML.sub("", href)})


def stamp(moment: datetime) -> str:
    """An RFC 3339 date-time, as Atom wants it (a naive value is taken as UTC, as the database keeps it)."""
    if moment.tzinfo is None:
        return moment.isoformat(timespec="seconds") + "Z"
    return moment.isoformat(timespec="seconds")
