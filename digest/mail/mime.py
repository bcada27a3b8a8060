"""Building RFC 5322 messages: ``multipart/alternative`` with the text part first, then HTML.

``to_bytes`` is on the hot path of every SMTP and outbox send. The standard library's email package
writes the headers (encoded words, folding), and the two bodies are base64-encoded by ``binascii`` in C:
the package's own body encoders run line by line in Python and cost ten times as much.
"""

import base64
import functools
import secrets
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from digest.mail.base import OutgoingMessage

# Long unbreakable header values (the List-Unsubscribe URL) would otherwise be folded into RFC 2047
# encoded words, which mail clients do not decode back into a link. 998 is RFC 5322's hard limit.
WIRE_POLICY = policy.SMTP.clone(max_line_length=998)


def to_bytes(message: OutgoingMessage) -> bytes:
    """The message as it goes on the wire: CRLF line ends, headers unfolded up to 998 characters."""
    boundary = f"=_digest_{secrets.token_hex(12)}"
    head = [
        ("Subject", message.subject),
        ("From", message.from_),
        ("To", ascii_domain(message.to)),
        ("Date", formatdate(localtime=False, usegmt=True)),
        ("Message-ID", message.message_id),
        *message.headers.items(),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
    ]
    # Clients show the last alternative they understand, so the richer HTML comes second.
    parts = [b"".join(header_line(name, value) for name, value in head), b"\r\n"]
    for subtype, content in (("plain", message.text), ("html", message.html)):
        parts.append(
            f'--{boundary}\r\nContent-Type: text/{subtype}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n".encode()
        )
        parts.append(base64.encodebytes(content.encode()).replace(b"\n", b"\r\n"))
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts)


def header_line(name: str, value: str) -> bytes:
    """One header on the wire. Plain ASCII values need neither encoding nor folding (up to 998 characters,
    RFC 5322); anything else goes through the email package's policy (RFC 2047 encoded words, folding).
    """
    if value.isascii() and value.isprintable() and len(name) + len(value) < 996:
        return f"{name}: {value}\r\n".encode()
    return encoded_header_line(name, value)


@functools.lru_cache(maxsize=64)
def encoded_header_line(name: str, value: str) -> bytes:
    """Cached: a send's subject and sender are the same for every recipient."""
    return WIRE_POLICY.fold_binary(*WIRE_POLICY.header_store_parse(name, value))


def ascii_domain(address: str) -> str:
    """A bare address with an internationalised domain written in its ASCII (IDNA) form, which every
    mail system accepts in a header, rather than as an encoded word, which none does in a domain."""
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        return address


def headers_of(message: OutgoingMessage) -> EmailMessage:
    mime = EmailMessage()
    mime["Subject"] = message.subject
    mime["From"] = message.from_
    mime["To"] = message.to
    mime["Date"] = formatdate(localtime=False, usegmt=True)
    mime["Message-ID"] = message.message_id
    for name, value in message.headers.items():
        mime[name] = value
    return mime


def to_mime(message: OutgoingMessage) -> EmailMessage:
    """The message as an ``EmailMessage`` with readable (quoted-printable) parts, e.g. for the console."""
    mime = headers_of(message)
    mime.set_content(message.text, subtype="plain", charset="utf-8")
    mime.add_alternative(message.html, subtype="html", charset="utf-8")
    return mime


def is_valid_from(address: str) -> bool:
    _, bare = parseaddr(address)
    user, _, domain = bare.rpartition("@")
    try:
        Address(username=user, domain=domain)
    except (ValueError, IndexError):
        return False
    return bool(user and domain)
