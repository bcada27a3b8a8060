"""HTML pages: Jinja2 templates under ``templates/pages`` (autoescaped), served with strict headers.

Every page gets a fresh CSP nonce for its one ``<style>`` and, on the confirm page, its one ``<script>``.
``Referrer-Policy: no-referrer`` keeps the tokens in our URLs from leaking to linked sites.
"""

import secrets
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from digest.core.inline import words
from digest.i18n import ENGLISH, Language
from digest.rendering import emphasis, templates_dir, translated
from digest.rendering.palette import STYLE


class Pages:
    def __init__(
        self,
        site_name: str,
        *,
        logo_url: str | None = None,
        logo_alt: str | None = None,
        language: Language = ENGLISH,
    ) -> None:
        """``language``: the words, ``lang``, ``dir`` and dates of every page (``DIGEST_LANGUAGE``)."""
        self.site_name = site_name
        # DIGEST_LOGO_URL and DIGEST_LOGO_ALT: the picture on a shared archive link's card.
        self.logo_url = logo_url
        self.logo_alt = logo_alt or site_name
        self.language = language
        environment = Environment(
            loader=FileSystemLoader(str(templates_dir() / "pages")),
            autoescape=select_autoescape(["html"], default=True),
            undefined=StrictUndefined,
        )
        self._env = translated(environment, language)
        # A summary's text on a page (the archive): its inline emphasis kept, as in the email.
        self._env.filters.update(inline=emphasis, words=words)

    def gettext(self, message: str) -> str:
        """``message`` in the pages' language, for words a route puts on a page."""
        return self.language.gettext(message)

    def render(self, request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        nonce = secrets.token_urlsafe(16)
        body = self._env.get_template(name).render(
            site_name=self.site_name, style=STYLE, nonce=nonce, request=request, **context
        )
        response = HTMLResponse(body, status_code=status_code)
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
            "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
        )
        secure(response)
        return response

    def fragment(self, name: str, **context: Any) -> str:
        """A template's HTML on its own, for use outside a page (an Atom entry's content, the embed
        snippet editors copy)."""
        return self._env.get_template(name).render(site_name=self.site_name, style=STYLE, **context)


def secure(response: Response) -> None:
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
