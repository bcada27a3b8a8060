"""Filling per-recipient values into an email rendered once per issue.

Each render draws its own random key and writes its markers with it
(``__DIGEST_UNSUBSCRIBE_URL_<key>__``, ``__DIGEST_PREFERENCES_URL_<key>__``); the key is stored with the
render (``Issue.markers``, ``IssueVariant.markers``) and only those exact markers are ever filled.
``Personalizer`` cuts a document at them once; filling a recipient is then a join of pre-cut pieces,
with no template engine on the hot path. Token characters (URL-safe base64 and dots) need no HTML
escaping, so values go in as they are. The same markers are the keys of SendGrid's ``substitutions``,
so a provider can do the filling instead.

Nothing from outside may write a marker: a summary, a feed item or an editor's words holding
``https://evil.example/?u=__DIGEST_PREFERENCES_URL__`` would otherwise send every reader's own link
there. Two locks keep them out. The key is unguessable and never shown (every page that shows a render
fills it first), so no outside text can name this render's markers. And every value from outside passes
through ``neutralised`` on its way into a render (the templates' finalize hook) and into a message's
subject (``SharedBody``): anything starting like a marker is cut by a zero-width space, which no filling
and no provider substitution matches. Only the template's own ``Marker`` values pass unchanged.
"""

import re
import secrets
from dataclasses import dataclass

# The prefix every marker starts with, in any case: cut in anything written from outside.
_PREFIX = re.compile(r"(?i)(_)(_digest_)")
_KEY = re.compile(r"[0-9a-f]{32}")


class Marker(str):
    """A marker placed by a template: the one kind of value ``neutralised`` leaves alone."""

    __slots__ = ()


def neutralised(text: str) -> str:
    """``text`` with anything that could be read as a marker cut by a zero-width space."""
    if isinstance(text, Marker):
        return text
    return _PREFIX.sub("\\1\u200b\\2", text)


def kept(text: str, marker: Marker) -> str:
    """``text`` (words from outside whose links a template followed with ``marker``) neutralised, with
    ``marker`` alone put back where it was cut: a template may then print it as it is."""
    return neutralised(text).replace(_PREFIX.sub("\\1\u200b\\2", marker), marker)


def new_key() -> str:
    """A fresh marker key for one render: 128 random bits, hex (no escaping needed anywhere)."""
    return secrets.token_hex(16)


@dataclass(frozen=True)
class RecipientLinks:
    unsubscribe: str
    preferences: str
    reader: str = ""
    """What follows each tracked link and the open pixel's token under ``individual`` tracking: ``/{tag}``
    naming the reader (``tokens.ReaderTags``); ``""`` leaves them the links every reader shares (a test
    copy, a preview, a render sent after tracking went back to ``aggregate``)."""


@dataclass(frozen=True)
class Markers:
    """The markers of one render, written with its key. ``per_reader``: the render placed the reader
    marker (``individual`` tracking), so it is filled too; otherwise it is never a substitution."""

    unsubscribe: Marker
    preferences: Marker
    reader: Marker
    per_reader: bool = False

    @classmethod
    def of(cls, key: str, *, per_reader: bool = False) -> "Markers":
        if not _KEY.fullmatch(key):
            raise ValueError("a render's marker key is 32 hex digits")
        return cls(
            Marker(f"__DIGEST_UNSUBSCRIBE_URL_{key}__"),
            Marker(f"__DIGEST_PREFERENCES_URL_{key}__"),
            Marker(f"__DIGEST_READER_{key}__"),
            per_reader,
        )

    @classmethod
    def of_render(cls, key: str, html: str) -> "Markers":
        """The markers of a stored render whose HTML is ``html``: per reader if it holds the reader's."""
        markers = cls.of(key)
        return cls.of(key, per_reader=markers.reader in html)

    def values(self, links: RecipientLinks) -> dict[str, str]:
        """Marker -> value, as a mail backend substitutes them."""
        if self.per_reader:
            return {
                self.unsubscribe: links.unsubscribe,
                self.preferences: links.preferences,
                self.reader: links.reader,
            }
        return {self.unsubscribe: links.unsubscribe, self.preferences: links.preferences}


class Personalizer:
    """A document cut at its render's markers, ready to be filled for each recipient."""

    def __init__(self, document: str, markers: Markers | None) -> None:
        """``markers``: the render's own (``None``: a document with none, such as a notice)."""
        self._markers = markers or Markers(Marker(""), Marker(""), Marker(""))
        pieces = [document]
        if markers is not None:
            placed = [
                markers.unsubscribe,
                markers.preferences,
                *([markers.reader] if markers.per_reader else []),
            ]
            split = re.compile("(" + "|".join(map(re.escape, placed)) + ")")
            pieces = split.split(document)
        self._literals = pieces[0::2]
        self._slots = [str(marker) for marker in pieces[1::2]]

    def fill(self, links: RecipientLinks) -> str:
        return self.fill_values(self._markers.values(links))

    def fill_values(self, values: dict[str, str]) -> str:
        """Fill from marker -> value pairs (the form mail backends receive)."""
        return self._join([values[marker] for marker in self._slots])

    def _join(self, values: list[str]) -> str:
        out = [self._literals[0]]
        for value, literal in zip(values, self._literals[1:], strict=True):
            out.append(value)
            out.append(literal)
        return "".join(out)
