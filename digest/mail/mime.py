"""Building RFC 5322 messages: ``multipart/alternative`` with the text part first, then HTML."""

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
    return to_mime(message).as_bytes(policy=WIRE_POLICY)


def to_mime(message: OutgoingMessage) -> EmailMessage:
    mime = EmailMessage()
    mime["Subject"] = message.subject
    mime["From"] = message.from_
    mime["To"] = message.to
    mime["Date"] = formatdate(localtime=False, usegmt=True)
    mime["Message-ID"] = message.message_id
    for name, value in message.headers.items():
        mime[name] = value
    # Clients show the last alternative they understand, so the richer HTML comes second.
    mime.set_content(message.text, subtype="plain", charset="utf-8")
    mime.add_alternative(message.html, subtype="html", charset="utf-8")
    return mime


def domain_of(address: str) -> str:
    """The domain of an address written as ``Name <user@domain>`` or ``user@domain``."""
    _, bare = parseaddr(address)
    return bare.rpartition("@")[2] or "localhost"


def is_valid_from(address: str) -> bool:
    _, bare = parseaddr(address)
    user, _, domain = bare.rpartition("@")
    try:
        Address(username=user, domain=domain)
    except (ValueError, IndexError):
        return False
    return bool(user and domain)
