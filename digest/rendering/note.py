"""The editor's note: Markdown (CommonMark, raw HTML off) -> sanitised HTML with the email's inline styles.

markdown-it-py renders the Markdown with raw HTML shown as text; nh3 (ammonia) then keeps only a short list
of tags and https/mailto links, whatever the Markdown produced. Styles go inline on each tag, because some
Gmail contexts drop ``<style>`` blocks.
"""

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

TAGS = {"p", "a", "strong", "em", "ul", "ol", "li", "br"}
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).disable(["image", "heading", "table"])


def note_html(note: str, *, link_color: str) -> Markup:
    """``note`` as HTML safe to put in the email as it is."""
    rendered = _markdown.render(note)
    clean = nh3.clean(
        rendered,
        tags=TAGS,
        attributes={"a": {"href"}},
        url_schemes={"https", "mailto"},
        link_rel=None,
    )
    styled = (
        clean.replace("<p>", '<p style="margin:0 0 8px;">')
        .replace("<ul>", '<ul style="margin:0 0 8px;padding:0 0 0 20px;">')
        .replace("<ol>", '<ol style="margin:0 0 8px;padding:0 0 0 20px;">')
        .replace("<a href=", f'<a style="color:{link_color};" href=')
    )
    return Markup(styled)  # noqa: S704 - sanitised by nh3 just above
