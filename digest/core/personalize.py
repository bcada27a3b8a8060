"""Filling per-recipient values into an email rendered once per issue.

The rendered HTML and text carry markers such as ``__DIGEST_UNSUBSCRIBE_URL__``. ``Personalizer`` splits
them once; filling a recipient is then a join of pre-cut pieces, with no template engine on the hot path.
Token characters (URL-safe base64 and dots) need no HTML escaping, so values go in as they are. The same
markers are the keys of SendGrid's ``substitutions``, so a provider can do the filling instead.
"""

import re
from dataclasses import dataclass

MARKERS = {
    "unsubscribe": "__DIGEST_UNSUBSCRIBE_URL__",
    "preferences": "__DIGEST_PREFERENCES_URL__",
}
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
