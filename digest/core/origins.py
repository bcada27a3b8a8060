"""Web origins (``scheme://host[:port]``) as browsers send them in ``Origin``: reading the allowed list
(``DIGEST_EMBED_ORIGINS``) and finding the origin of a page's address (``Referer``).

Imports only the standard library and ``errors``.
"""

from urllib.parse import urlsplit

from digest.errors import InvalidInput

DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_origin(text: str) -> str:
    """``text`` as the browser writes an origin: lower case, no default port; ``InvalidInput`` when it
    is not exactly an origin (a path, a query, a user name, a wildcard, another scheme)."""
    raw = text.strip()
    problem = f"{raw!r} is not an origin: write scheme://host[:port], e.g. https://www.example.org"
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(problem) from exc
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if (
        scheme not in DEFAULT_PORTS
        or not host
        or "*" in raw
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or raw.endswith("?")
        or raw.endswith("#")
    ):
        raise InvalidInput(problem)
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" if port in (None, DEFAULT_PORTS[scheme]) else f"{scheme}://{shown}:{port}"


def parse_origins(text: str) -> tuple[str, ...]:
    """Comma- or space-separated origins, each checked (``parse_origin``), duplicates once."""
    found: dict[str, None] = {}
    for entry in text.replace(",", " ").split():
        found[parse_origin(entry)] = None
    return tuple(found)


def origin_of(url: str) -> str | None:
    """The origin of a page's address, or None when it has none (``null``, a ``data:`` URL, garbage)."""
    try:
        parts = urlsplit(url.strip())
        return parse_origin(f"{parts.scheme}://{parts.netloc}")
    except (InvalidInput, ValueError):
        return None
