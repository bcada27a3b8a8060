"""Turning an issue into email: Jinja2 -> MJML -> HTML, plus a plain-text twin. The only importer of mjml.

An issue is rendered once. Per-recipient values (unsubscribe and preferences links) are left as markers
and filled in per recipient by ``Personalizer``, so MJML never runs per recipient.

May import ``digest.core`` and ``digest.errors``.
"""

from digest.core.personalize import MARKERS, Personalizer, RecipientLinks
from digest.rendering.email import (
    IssueView,
    ItemView,
    NoticeView,
    RenderedEmail,
    Renderer,
    SiteView,
    templates_dir,
)

__all__ = [
    "MARKERS",
    "IssueView",
    "ItemView",
    "NoticeView",
    "Personalizer",
    "RecipientLinks",
    "RenderedEmail",
    "Renderer",
    "SiteView",
    "templates_dir",
]
