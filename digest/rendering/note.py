"""The editor's note: Markdown (CommonMark, raw HTML off) -> sanitised HTML, with the email's inline styles or
without (for web pages).

markdown-it-py renders the Markdown with raw HTML shown as text; nh3 (ammonia) then keeps only a short list
of tags and https/mailto links, whatever the Markdown produced. Styles go inline on each tag, because some
Gmail contexts drop ``<style>`` blocks.
"""

import re
from collections.abc import Callable

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

TAGS = {"p", "a", "strong", "em", "ul", "ol", "li", "br"}
# The links of a note's Markdown as its text twin shows them: https addresses up to a space or a bracket.
_ADDRESS = re.compile(r"https://[^\s<>()\[\]]+")
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).disable(["image", "heading", "table"])


def note_html(note: str, *, link_color: str, link: Callable[[str], str] | None = None) -> Markup:
    """``note`` as HTML safe to put in the email as it is; each https link's address through ``link``."""
    styled = (
        str(note_fragment(note, link=link))
        .replace("<p>", '<p style="margin:0 0 8px;">')
        .replace("<ul>", '<ul style="margin:0 0 8px;padding:0 0 0 20px;">')
        .replace("<ol>", '<ol style="margin:0 0 8px;padding:0 0 0 20px;">')
        .replace("<a href=", f'<a style="color:{link_color};" href=')
    )
    return Markup(styled)  # noqa: S704 - sanitised by nh3 in note_fragment


def note_fragment(note: str, *, link: Callable[[str], str] | None = None) -> Markup:
    """``note`` as sanitised HTML with no styles of its own: the email styles it inline, a web page with
    its stylesheet (its CSP refuses ``style`` attributes)."""
    rendered = _markdown.render(note)

    def rewrite(tag: str, attribute: str, value: str) -> str:
        if link is not None and tag == "a" and attribute == "href" and value.startswith("https://"):
            return link(value)
        return value

    clean = nh3.clean(
        rendered,
        tags=TAGS,
        attributes={"a": {"href"}},
        url_schemes={"https", "mailto"},
        link_rel=None,
        attribute_filter=rewrite,
    )
    return Markup(clean)  # noqa: S704 - sanitised by nh3 just above


def note_links(note: str, link: Callable[[str], str]) -> str:
    """The note's Markdown with each https address through ``link`` (for the text twin)."""
    return _ADDRESS.sub(lambda found: link(found.group(0)), note)
