"""HTTP conventions every route keeps: ``HEAD`` wherever ``GET`` is served, ``Allow`` on a 405, and
trailing-slash redirects that point at ``DIGEST_BASE_URL`` rather than at whatever ``Host`` a request named.
"""

from collections.abc import Iterable
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Characters a path may hold as they are (RFC 3986 pchar and "/"); everything else is percent-encoded.
PATH_SAFE = "/:@!$&'()*+,;=-._~"
# Set in the scope of a HEAD request answered as a GET.
HEAD_KEY = "digest.head"


class HeadAsGet:
    """Answers ``HEAD`` as the route's ``GET`` would, headers and all, with no body: uptime monitors and
    link previews ask with ``HEAD``. The route sees a ``GET``, so a ``HEAD`` where no ``GET`` is served
    gets the same 405 (and ``Allow``) a ``GET`` would."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        # A copy: the server keeps its own scope, so it still knows the request was a HEAD. ``HEAD_KEY``
        # tells a route that counts visits (a tracked link) not to count this one.
        await self.app({**scope, "method": "GET", HEAD_KEY: True}, receive, headers_only)


def allowed_methods(routes: Iterable[BaseRoute], scope: Scope) -> str:
    """Every method some route serves at this path, for ``Allow``. Each method is tried in turn: several
    routes may share a path, and FastAPI's included routers name only their first partial match."""
    served = {method for method in METHODS if serves(routes, path_only(scope, scope["path"]), method)}
    if "GET" in served:
        served.add("HEAD")
    return ", ".join(sorted(served))


METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def serves(routes: Iterable[BaseRoute], scope: Scope, method: str) -> bool:
    return any(route.matches({**scope, "method": method})[0] is Match.FULL for route in routes)


def path_only(scope: Scope, path: str) -> Scope:
    """A fresh scope for matching: the request's own carries what the first match left in it."""
    return {"type": "http", "path": path, "root_path": scope.get("root_path", ""), "headers": []}


def route_path(scope: Scope) -> str:
    """The path as the routes see it: without the prefix a proxy serves the app under (``root_path``)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root + "/") else path


class SlashRedirect:
    """The router's answer when no route matched: ``/subscribe/`` redirects to ``/subscribe`` when that
    is a route, at the site's own address (Starlette's redirect copies the request's ``Host``, so a
    forged one would send the reader elsewhere); anything else is the site's 404."""

    def __init__(self, routes: Iterable[BaseRoute], base_url: str) -> None:
        self.routes = routes
        self.base_url = base_url.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = self.target(scope)
        if target is None:
            raise HTTPException(status_code=404)
        await RedirectResponse(target, status_code=307)(scope, receive, send)

    def target(self, scope: Scope) -> str | None:
        path = route_path(scope)
        if scope["type"] != "http" or path == "/" or not path.endswith("/"):
            return None
        trimmed_scope = path_only(scope, scope["path"].rstrip("/"))
        if not any(serves(self.routes, trimmed_scope, method) for method in METHODS):
            return None
        trimmed = route_path(trimmed_scope)
        query = scope.get("query_string", b"").decode("latin-1")
        return self.base_url + quote(trimmed, safe=PATH_SAFE) + (f"?{query}" if query else "")
