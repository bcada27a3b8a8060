"""RSS 2.0 and Atom feeds whose items carry the summary in elements of the project's namespace.

The namespace is ``https://digest.example.org/ns/summary/1.0`` (README, "Feeds"). Its elements are
named after the summary's fields: ``key_takeaway``, ``what_it_means``, ``headline``, ``summary``,
``study_type``, ``evidence_level``, ``topic`` (repeated), ``source`` (with ``journal``, ``doi``,
``published``), ``faq`` (repeated, with ``question`` and ``answer``), and ``id``, ``url``, ``title``,
``published_at`` when the item's own elements should not be used for those. Otherwise ``id`` comes from
RSS ``guid`` / Atom ``id``, ``url`` from ``link``, ``title`` from ``title``, ``published_at`` from RSS
``pubDate`` / Atom ``published`` (or ``updated``), and ``topics`` from ``category``. RSS ``description``
is never read: by convention it is HTML.

Parsing goes through defusedxml: no entity expansion (billion laughs), no external references. An
element's text is its text content: markup escaped inside it stays as literal characters, and elements
nested inside it contribute their text only, so nothing in a field is ever markup.
"""

import re
from datetime import UTC
from email.utils import parsedate_to_datetime
from html.entities import name2codepoint
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from digest.sources.base import SourceBatch
from digest.sources.charsets import decode
from digest.sources.items import take

NAMESPACE = "https://digest.example.org/ns/summary/1.0"
ATOM = "http://www.w3.org/2005/Atom"
TEXT_FIELDS = (
    "id",
    "url",
    "title",
    "published_at",
    "headline",
    "key_takeaway",
    "what_it_means",
    "summary",
    "study_type",
    "evidence_level",
)
DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]{0,30});")
XML_ENTITIES = {"amp", "lt", "gt", "quot", "apos"}


def ours(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def atom(name: str) -> str:
    return f"{{{ATOM}}}{name}"


def parse_xml_feed(origin: str, body: bytes, *, charset: str | None = None) -> SourceBatch:
    """The summaries of an RSS 2.0 or Atom document, or the reason it could not be read."""
    batch = SourceBatch(origin=origin)
    text, _ = decode(body, charset=charset)
    try:
        root = parse_document(DECLARATION.sub("", text, count=1))
    except ValueError as exc:
        batch.error = str(exc)
        return batch
    if root.tag == "rss":
        channel = root.find("channel")
        items = channel.findall("item") if channel is not None else []
        raws = [rss_item(item) for item in items]
    elif root.tag == atom("feed"):
        raws = [atom_entry(entry) for entry in root.findall(atom("entry"))]
    else:
        batch.error = f"neither RSS 2.0 nor Atom: the root element is <{local_name(root.tag)}>"
        return batch
    for number, raw in enumerate(raws, start=1):
        take(batch, raw, f"{origin} item {number}")
    return batch


def parse_document(text: str) -> Element:
    """The root element; ``ValueError`` with a line for ops when the XML cannot be read safely."""
    try:
        return parse_safely(text)
    except ParseError as exc:
        if "undefined entity" not in str(exc):
            raise ValueError(f"not well-formed XML: {exc}") from exc
        # HTML entities such as &nbsp; are common in hand-made feeds, and undefined in XML.
        try:
            return parse_safely(ENTITY.sub(numeric_entity, text))
        except ParseError as again:
            raise ValueError(f"not well-formed XML: {again}") from again


def parse_safely(text: str) -> Element:
    try:
        root: Element = fromstring(text.encode("utf-8"), forbid_dtd=False)
    except DefusedXmlException as exc:
        raise ValueError(f"refused: the XML declares entities or external references ({exc})") from exc
    return root


def numeric_entity(found: re.Match[str]) -> str:
    name = found.group(1)
    if name in XML_ENTITIES or name not in name2codepoint:
        return found.group(0)
    return f"&#{name2codepoint[name]};"


def rss_item(item: Element) -> dict[str, Any]:
    raw = fields_of(item)
    fill(raw, "id", text_of(item.find("guid")))
    fill(raw, "url", text_of(item.find("link")))
    fill(raw, "title", text_of(item.find("title")))
    fill(raw, "published_at", rfc822(text_of(item.find("pubDate"))))
    if "topics" not in raw:
        fill(raw, "topics", texts(item.findall("category")))
    return raw


def atom_entry(entry: Element) -> dict[str, Any]:
    raw = fields_of(entry)
    fill(raw, "id", text_of(entry.find(atom("id"))))
    fill(raw, "url", atom_link(entry))
    fill(raw, "title", text_of(entry.find(atom("title"))))
    fill(raw, "published_at", text_of(entry.find(atom("published"))) or text_of(entry.find(atom("updated"))))
    summary = entry.find(atom("summary"))
    if summary is not None and summary.get("type", "text") == "text":
        fill(raw, "summary", text_of(summary))
    if "topics" not in raw:
        terms = [category.get("term", "").strip() for category in entry.findall(atom("category"))]
        fill(raw, "topics", [term for term in terms if term])
    return raw


def fields_of(item: Element) -> dict[str, Any]:
    """The summary's fields given in the project's namespace."""
    raw: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        fill(raw, name, text_of(item.find(ours(name))))
    fill(raw, "topics", texts(item.findall(ours("topic"))))
    source = item.find(ours("source"))
    if source is not None:
        raw["source"] = {
            name: value
            for name in ("journal", "doi", "published")
            if (value := text_of(source.find(ours(name)))) is not None
        }
    faq = [
        {"question": text_of(entry.find(ours("question"))), "answer": text_of(entry.find(ours("answer")))}
        for entry in item.findall(ours("faq"))
    ]
    fill(raw, "faq", faq)
    return raw


def fill(raw: dict[str, Any], name: str, value: Any) -> None:
    """Set ``name`` unless it is set already or ``value`` is empty."""
    if name not in raw and value not in (None, "", []):
        raw[name] = value


def text_of(element: Element | None) -> str | None:
    if element is None:
        return None
    return "".join(element.itertext()).strip() or None


def texts(elements: list[Element]) -> list[str]:
    return [value for value in (text_of(element) for element in elements) if value]


def atom_link(entry: Element) -> str | None:
    for link in entry.findall(atom("link")):
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return link.get("href", "").strip()
    return None


def rfc822(value: str | None) -> Any:
    """An RSS date as an aware datetime; as given when unreadable, so validation names the field."""
    if value is None:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return value
    # "-0000" means UTC with no local offset known (RFC 5322); Python returns such a date naive.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def local_name(tag: str) -> str:
    return tag.rpartition("}")[2][:40]
