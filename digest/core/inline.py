"""Inline emphasis in a summary's text: what may stay markup, and the words without it.

A summary's text fields are HTML fragments that may carry ``i``, ``em``, ``b``, ``strong``, ``sub`` and
``sup`` (a gene in italics, a superscript reference); nh3 (the ammonia sanitiser) keeps those, without
attributes, and reduces every other tag to its text: a link shows its words and leads nowhere, an image
disappears. Elements whose content is code or raw text (``script``, ``style``, ``textarea``...) go with
their content, which is never words for a reader. Entities are read as HTML reads them (``&lt;`` is a
``<``). Pure: no I/O.

``emphasis_html`` returns a sanitised string, not yet trusted: the renderer cuts marker-like text from it
and only then marks it safe, in one place (``digest/rendering/email.py``). ``words`` is the same text
for the plain-text part, subjects and preheaders: no tags at all (a superscript after a caret).
"""

from html import unescape

import nh3

EMPHASIS = frozenset({"i", "em", "b", "strong", "sub", "sup"})
# Dropped with what they hold: code, or raw text in which a tag would survive as characters.
DROPPED_WITH_CONTENT = frozenset(
    {"script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "template"}
)


def emphasis_html(text: str) -> str:
    """``text`` as sanitised HTML keeping only the emphasis tags, bare."""
    return _clean(text, EMPHASIS)


def words(text: str) -> str:
    """``text`` as plain words: every tag gone (their text kept) and entities read; a superscript
    written after a caret, as plain text writes powers (``10<sup>6</sup>`` reads ``10^6``)."""
    kept = emphasis_html(text)  # canonical now: any "<sup>" left is the tag, never typed characters
    return unescape(_clean(kept.replace("<sup>", "^"), frozenset()))


def _clean(text: str, tags: frozenset[str]) -> str:
    return nh3.clean(
        text,
        tags=set(tags),
        attributes={},
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        link_rel=None,
        strip_comments=True,
    ).strip()
