"""Fetching a feed over HTTP (httpx): bounded in time, size and redirects, and conditional.

Every way a fetch can fail becomes one ``SourceError`` with a line for ops, here and nowhere else:

    SourceError
    ├── timed out            no answer, or not all of it, within ``FetchRules.timeout``
    ├── too large            more than ``FetchRules.max_bytes`` (announced or counted while reading)
    ├── too many redirects   more than ``FetchRules.max_redirects``
    ├── HTTP error           any answer but 200 and 304
    └── unreachable          DNS, refused connection, TLS, a broken connection

A known ETag or Last-Modified goes back as ``If-None-Match`` / ``If-Modified-Since``, so an unchanged
feed costs one request answered 304 with no body.
"""

import time
from dataclasses import dataclass
from email.message import Message

import httpx

from digest.errors import SourceError
from digest.sources.base import Validators

USER_AGENT = "digest-feed-reader/1.0"
ACCEPT = (
    "application/feed+json, application/json;q=0.9, application/rss+xml, application/atom+xml, "
    "application/xml;q=0.9, text/xml;q=0.8, */*;q=0.1"
)


@dataclass(frozen=True)
class FetchRules:
    """Limits on one fetch. ``timeout`` bounds each network wait and the whole download."""

    timeout: float = 10.0
    max_bytes: int = 5_000_000
    max_redirects: int = 5


@dataclass(frozen=True)
class Fetched:
    """A feed's answer: a body (200), or ``not_modified`` (304) with no body."""

    body: bytes
    content_type: str
    charset: str | None
    validators: Validators
    not_modified: bool = False


def fetch(
    url: str,
    rules: FetchRules,
    known: Validators | None = None,
    *,
    transport: httpx.BaseTransport | None = None,
) -> Fetched:
    """GET ``url`` within ``rules``; raise ``SourceError`` naming what went wrong."""
    headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"}
    if known and known.etag:
        headers["If-None-Match"] = known.etag
    if known and known.last_modified:
        headers["If-Modified-Since"] = known.last_modified
    deadline = time.monotonic() + rules.timeout
    try:
        with (
            httpx.Client(
                timeout=rules.timeout,
                follow_redirects=True,
                max_redirects=rules.max_redirects,
                transport=transport,
            ) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            return answer(response, rules, known, deadline=deadline)
    except httpx.TimeoutException as exc:
        raise SourceError(f"timed out: no complete answer within {rules.timeout:g}s") from exc
    except httpx.TooManyRedirects as exc:
        raise SourceError(f"more than {rules.max_redirects} redirects") from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise SourceError(f"unreachable: {type(exc).__name__}: {exc or 'no detail'}") from exc


def answer(
    response: httpx.Response, rules: FetchRules, known: Validators | None, *, deadline: float
) -> Fetched:
    content_type, charset = media_type(response.headers.get("content-type", ""))
    if response.status_code == 304:
        # A 304 may leave out validators it does not change: keep the ones sent.
        validators = validators_of(response, known or Validators())
        return Fetched(b"", content_type, charset, validators, not_modified=True)
    if response.status_code != 200:
        raise SourceError(f"answered HTTP {response.status_code} {response.reason_phrase}".rstrip())
    body = read_capped(response, rules, deadline=deadline)
    return Fetched(body, content_type, charset, validators_of(response, Validators()))


def read_capped(response: httpx.Response, rules: FetchRules, *, deadline: float) -> bytes:
    """The body, refused as soon as it is larger than allowed or later than the timeout in all."""
    announced = response.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > rules.max_bytes:
        raise SourceError(f"too large: {int(announced):,} bytes announced, the limit is {rules.max_bytes:,}")
    chunks: list[bytes] = []
    size = 0
    # Decoded bytes are counted, so a small compressed body that inflates past the limit stops too.
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > rules.max_bytes:
            raise SourceError(f"too large: more than {rules.max_bytes:,} bytes, the limit")
        if time.monotonic() > deadline:
            raise SourceError(f"timed out: the answer took longer than {rules.timeout:g}s")
        chunks.append(chunk)
    return b"".join(chunks)


def validators_of(response: httpx.Response, fallback: Validators) -> Validators:
    etag = response.headers.get("etag") or fallback.etag
    last_modified = response.headers.get("last-modified") or fallback.last_modified
    # Kept to the stored columns' sizes; a longer value is not worth remembering.
    return Validators(
        etag=etag if etag and len(etag) <= 500 else None,
        last_modified=last_modified if last_modified and len(last_modified) <= 100 else None,
    )


def media_type(header: str) -> tuple[str, str | None]:
    """``text/xml; charset=ISO-8859-1`` -> (``text/xml``, ``iso-8859-1``)."""
    message = Message()
    message["content-type"] = header or "application/octet-stream"
    charset = message.get_param("charset")
    return message.get_content_type(), str(charset).strip().lower() if isinstance(charset, str) else None
