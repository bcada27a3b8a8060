"""Turning an issue into email: Jinja2 -> MJML -> HTML, plus a plain-text twin. The only importer of mjml.

An issue is rendered once. Per-recipient values (unsubscribe and preferences links) are left as markers
and filled in per recipient by ``Personalizer``, so MJML never runs per recipient. Each render writes its
markers with its own random key (``RenderedEmail.markers``), kept with the stored render.

May import ``digest.core`` and ``digest.errors``.
"""

from digest.core.personalize import Markers, Personalizer, RecipientLinks, new_key
from digest.rendering.email import (
    IssueView,
    ItemView,
    NoticeView,
    RenderedEmail,
    Renderer,
    SiteView,
    emphasis,
    templates_dir,
    translated,
)

__all__ = [
    "IssueView",
    "ItemView",
    "Markers",
    "NoticeView",
    "Personalizer",
    "RecipientLinks",
    "RenderedEmail",
    "Renderer",
    "SiteView",
    "emphasis",
    "new_key",
    "templates_dir",
    "translated",
]
