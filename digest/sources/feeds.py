"""A feed URL as a source: fetched (``fetch.py``), recognised by its content, parsed into summaries.

The format is told by the document itself, not by its URL or Content-Type (servers label feeds every
which way): JSON starts with ``{``, XML with ``<``, then the root says RSS or Atom. A feed that cannot be
fetched or parsed fails as a whole (``SourceBatch.error``); a bad item is rejected alone.
"""

from urllib.parse import urlsplit, urlunsplit

import httpx

from digest.errors import SourceError
from digest.sources.base import SourceBatch, Validators
from digest.sources.charsets import decode
from digest.sources.fetch import FetchRules, fetch
from digest.sources.jsonfeed import parse_json_feed
from digest.sources.xmlfeed import parse_xml_feed


class FeedSource:
    def __init__(self, url: str, rules: FetchRules, *, transport: httpx.BaseTransport | None = None) -> None:
        self.url = url
        self.name = display_name(url)
        self.rules = rules
        self.transport = transport

    def read(self, known: Validators | None = None) -> SourceBatch:
        try:
            fetched = fetch(self.url, self.rules, known, transport=self.transport)
        except SourceError as exc:
            return SourceBatch(origin=self.name, error=str(exc))
        if fetched.not_modified:
            return SourceBatch(origin=self.name, not_modified=True, validators=fetched.validators)
        batch = parse_feed(self.name, fetched.body, charset=fetched.charset)
        if batch.error is None:
            batch.validators = fetched.validators
        return batch


def parse_feed(origin: str, body: bytes, *, charset: str | None = None) -> SourceBatch:
    """Summaries from a JSON Feed, RSS 2.0 or Atom document, told apart by its first character."""
    text, _ = decode(body[:1024], charset=charset)
    start = text.lstrip("\ufeff \t\r\n")[:1]
    if start in ("{", "["):
        return parse_json_feed(origin, decode(body, charset=charset)[0])
    if start == "<":
        return parse_xml_feed(origin, body, charset=charset)
    shown = repr(text.strip()[:20]) if text.strip() else "nothing"
    return SourceBatch(origin=origin, error=f"neither a JSON Feed nor XML: the answer starts with {shown}")


def display_name(url: str) -> str:
    """The URL as reports show it: a password in it is masked."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
    except ValueError:  # a malformed URL: fetching it fails and says so
        return url
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))
