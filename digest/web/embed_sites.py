"""Which sites may embed the sign-up form (``DIGEST_EMBED_ORIGINS``), and the HTTP that follows from it:
the origin a sign-up was sent from, CORS on the embed endpoints, ``frame-ancestors`` for the iframe.

CORS is Starlette's ``CORSMiddleware``, applied to the embed endpoints alone: every other route keeps
answering without CORS headers (and ``OPTIONS`` with a 405), as before. CORS only decides whether a
page's script may read an answer; a plain form POST is not subject to it, so each sign-up's origin is
checked here too (``sender``).
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from digest.core.origins import origin_of
from digest.tokens import EmbedTokens
from digest.web.conventions import route_path

# The routes a page of another site calls from its script; the iframe page and the script file need
# no CORS (they are framed and loaded, not read).
CORS_PATHS = frozenset({"/embed/token", "/embed/subscribe"})


@dataclass(frozen=True)
class EmbedSites:
    """The allowed origins, and this site's own (its iframe page and follow-up page post from it)."""

    allowed: tuple[str, ...]
    own: str

    def sender(self, request: Request) -> str | None:
        """The origin of the page that sent ``request`` when it may sign readers up; None otherwise.

        ``Origin`` when the browser sent one, else the ``Referer``'s: a sign-up that names neither, or
        names another site, is refused.
        """
        named = request.headers.get("origin")
        found = origin_of(named) if named and named != "null" else None
        if found is None and not named:
            found = origin_of(request.headers.get("referer", ""))
        return found if found is not None and self.accepts(found) else None

    def accepts(self, origin: str) -> bool:
        return origin == self.own or origin in self.allowed

    def back_link(self, page: str) -> str | None:
        """``page`` as a link back for the reader, only when it is an http(s) page of an allowed site."""
        origin = origin_of(page)
        return page if origin is not None and origin in self.allowed and len(page) <= 2000 else None

    def frame_ancestors(self) -> str:
        return " ".join(("'self'", *self.allowed))


class EmbedCORS:
    """``CORSMiddleware`` for ``CORS_PATHS`` only, allowing exactly ``origins``; other paths pass by."""

    def __init__(self, app: ASGIApp, origins: tuple[str, ...]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=list(origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type"],
            allow_credentials=False,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and route_path(scope) in CORS_PATHS:
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


@dataclass(frozen=True)
class Script:
    """The enhancing script (``templates/embed/embed.js``) and its version, a hash of its bytes: a
    snippet names the version it was made with, and that URL may be cached for a year."""

    body: bytes
    version: str

    @classmethod
    def load(cls, path: Path) -> "Script":
        body = path.read_bytes()
        return cls(body, hashlib.sha256(body).hexdigest()[:12])


@dataclass(frozen=True)
class Embed:
    """Everything the embed routes need: the sites, their signed timestamps, the script."""

    sites: EmbedSites
    tokens: EmbedTokens
    script: Script
