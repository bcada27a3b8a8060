"""SendGrid's Mail Send request, written as JSON text (``sendgrid.py`` says why not as dicts): the members
every personalization of a body shares, written once per body; one personalization per recipient; and
the plan that puts at most 1,000 recipients in a request, never one address twice.

The text goes to the client as a ``Payload``, whose bytes format as their size: the client formats every
body into a debug message, which would otherwise hold every address and link of a send.
"""

import json
from collections.abc import Sequence
from email.utils import parseaddr
from json.encoder import encode_basestring_ascii as quoted
from typing import Any

from digest.mail.base import Envelope, SharedBody

MAX_PERSONALIZATIONS = 1000  # SendGrid's limit per request, for personalizations and recipients alike
Request = dict[str, Any]


class Payload(str):
    """A request's JSON text, which the client encodes to bytes that format as their size (see above)."""

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> "QuietBytes":
        return QuietBytes(super().encode(encoding, errors))


class QuietBytes(bytes):
    """Bytes that format (as in ``"{}".format(...)``) as their size, not their content."""

    def __format__(self, spec: str) -> str:
        return f"<{len(self)} bytes>"


def shared_members(body: SharedBody, *, sandbox: bool) -> str:
    """What every personalization of a request shares (sender, subject, content, category), as the
    members of a JSON object without its braces."""
    content = [
        {"type": kind, "value": value}
        for kind, value in (("text/plain", body.text), ("text/html", body.html))
        if value
    ]
    request: Request = {
        "from": mailbox(body.from_),
        "subject": body.subject,
        "content": content,
        "categories": [body.category],
    }
    if sandbox:
        request["mail_settings"] = {"sandbox_mode": {"enable": True}}
    return json.dumps(request, separators=(",", ":"))[1:-1]


def request(shared: str, people: list[str]) -> Payload:
    """One request's JSON: the shared members and the personalizations, each already JSON text."""
    return Payload("".join(("{", shared, ',"personalizations":[', ",".join(people), "]}")))


def personalizations(envelopes: Sequence[Envelope]) -> list[str]:
    return [personalization(e.to, e.message_id, e.headers, e.values, e.tags) for e in envelopes]


def personalization(
    to: str, message_id: str, headers: dict[str, str], values: dict[str, str], tags: dict[str, str]
) -> str:
    """One recipient, as JSON text. The spec reserves To, From, Subject and a few more, not Message-ID:
    it is set here."""
    parts = ['{"to":[', address_json(to), '],"headers":{', members(headers)]
    parts += [',"Message-ID":' if headers else '"Message-ID":', quoted(message_id), "}"]
    if values:
        parts += [',"substitutions":{', members(values), "}"]
    if tags:
        parts += [',"custom_args":{', members(tags), "}"]
    parts.append("}")
    return "".join(parts)


def members(pairs: dict[str, str]) -> str:
    """The members of a JSON object of strings, without its braces."""
    return ",".join([f"{quoted(name)}:{quoted(value)}" for name, value in pairs.items()])


def address_json(address: str) -> str:
    """``mailbox(address)`` as JSON text; a bare address (every subscriber's) skips the slow parser."""
    if "<" not in address:
        return f'{{"email":{quoted(address.strip())}}}'
    return json.dumps(mailbox(address), separators=(",", ":"))


def mailbox(address: str) -> dict[str, str]:
    """SendGrid's ``{"email", "name"}``."""
    if "<" not in address:
        return {"email": address.strip()}
    name, bare = parseaddr(address)
    return {"email": bare, "name": name} if name else {"email": bare}


def plan_requests(addresses: Sequence[str]) -> list[list[int]]:
    """Indexes grouped into requests of at most 1,000, never the same address twice in one request.

    The n-th occurrence of an address goes to the n-th round of requests: SendGrid answers a request
    that holds an address twice with a 400 for the whole request.
    """
    rounds: list[list[int]] = []
    seen: dict[str, int] = {}
    for index, address in enumerate(addresses):
        key = (address if "<" not in address else parseaddr(address)[1]).strip().lower()
        turn = seen.get(key, 0)
        seen[key] = turn + 1
        if turn == len(rounds):
            rounds.append([])
        rounds[turn].append(index)
    return [r[i : i + MAX_PERSONALIZATIONS] for r in rounds for i in range(0, len(r), MAX_PERSONALIZATIONS)]
