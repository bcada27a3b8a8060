"""The SMTP backend: the standard library's smtplib, with connections kept open across messages.

``DIGEST_SMTP_URL`` says where and how::

    smtp://user:pass@host:587?starttls=true    STARTTLS, then AUTH (587 is the default port with starttls)
    smtps://user:pass@host:465                 TLS from the first byte (465 is the default port)
    smtp://host:25                             plain, for a relay on the same host or network (25)

User and password are percent-decoded (write ``@`` as ``%40``, ``:`` as ``%3A``). ``cafile=/path/ca.pem``
makes TLS trust the certificate authorities in that PEM file instead of the system's (a private relay).

A connection is opened on first use (connect, EHLO once, STARTTLS, AUTH) and kept open; one the server has
dropped since its last message is opened again, once. ``send_batch`` spreads a batch over up to
``connections`` connections, one thread each. Errors are mapped here, once:

* a 5xx reply to the recipient or the message: ``PermanentMailError`` (that message; the send goes on);
* a 4xx reply, a refused or timed-out connection: ``TransientMailError`` (the ledger retries it later);
* a refusal of the recipient (a reply to RCPT, or to DATA: each message has one recipient) also carries
  its ``bounce``, which the sender records as SendGrid's webhook would: a 5xx is a hard ``bounce``, a
  4xx or a policy refusal (5.7.x) a ``blocked`` one (see ``subscribers/events.py``);
* AUTH refused, TLS or STARTTLS impossible, AUTH required: ``MailerUnusable`` (the send pauses), saying
  what to fix in ``DIGEST_SMTP_URL``.

May import ``digest.core``, ``digest.errors`` and ``digest.mail``.
"""

import queue
import smtplib
import ssl
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from digest.errors import ConfigError, MailError, MailerUnusable, PermanentMailError, TransientMailError
from digest.mail.base import Envelope, Mailer, Outcome, OutgoingMessage, SharedBody
from digest.mail.mime import to_bytes

Security = Literal["plain", "starttls", "tls"]
DEFAULT_PORTS: dict[Security, int] = {"plain": 25, "starttls": 587, "tls": 465}
EXAMPLES = "smtp://user:pass@host:587?starttls=true, smtps://user:pass@host:465 or smtp://host:25"
FLAGS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def bad_url(reason: str) -> ConfigError:
    # The URL itself is never repeated: it may hold a password.
    return ConfigError(f"DIGEST_SMTP_URL is not usable: {reason}. Expected {EXAMPLES}")


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to connect, read from ``DIGEST_SMTP_URL``."""

    host: str
    port: int
    security: Security
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    cafile: str | None = None

    @property
    def where(self) -> str:
        return f"the SMTP server {self.host}:{self.port}"

    @classmethod
    def from_url(cls, url: str) -> "SmtpServer":
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise bad_url(str(exc)) from exc
        query = {name: values[-1] for name, values in parse_qs(parts.query, keep_blank_values=True).items()}
        if parts.scheme not in ("smtp", "smtps"):
            raise bad_url(f"the scheme must be smtp or smtps, not {parts.scheme!r}")
        if not parts.hostname:
            raise bad_url("it names no host")
        if unknown := sorted(set(query) - {"starttls", "cafile"}):
            raise bad_url(f"unknown parameter {unknown[0]!r} (known: starttls, cafile)")
        if query.get("starttls", "false").lower() not in FLAGS:
            raise bad_url("starttls must be true or false")
        starttls = FLAGS[query.get("starttls", "false").lower()]
        if parts.scheme == "smtps" and starttls:
            raise bad_url("smtps:// speaks TLS from the start; starttls=true belongs to smtp://")
        security: Security = "tls" if parts.scheme == "smtps" else "starttls" if starttls else "plain"
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        if (user is None) != (password is None):
            raise bad_url("give both the user and the password, as user:password@host")
        cafile = query.get("cafile")
        if cafile is not None and not Path(cafile).is_file():
            raise bad_url(f"cafile {cafile!r} is not a file")
        return cls(parts.hostname, port or DEFAULT_PORTS[security], security, user, password, cafile)


def tls_context(cafile: str | None) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=cafile)
    except ssl.SSLError as exc:
        raise bad_url(f"cafile {cafile!r} holds no PEM certificate ({exc})") from exc


def connect(server: SmtpServer, context: ssl.SSLContext, timeout: float) -> smtplib.SMTP:
    """A new session: connected, greeted with one EHLO, secured and logged in as the URL says."""
    if server.security == "tls":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(server.host, server.port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(server.host, server.port, timeout=timeout)
    try:
        smtp.ehlo_or_helo_if_needed()
        if server.security == "starttls":
            start_tls(smtp, server, context)
        if server.user is not None and server.password is not None:
            log_in(smtp, server, server.user, server.password)
    except BaseException:
        smtp.close()
        raise
    return smtp


def start_tls(smtp: smtplib.SMTP, server: SmtpServer, context: ssl.SSLContext) -> None:
    if not smtp.has_extn("starttls"):
        raise MailerUnusable(
            f"{server.where} does not offer STARTTLS: use smtps:// if it speaks TLS from the start, "
            "or remove ?starttls=true from DIGEST_SMTP_URL to send unencrypted"
        )
    smtp.starttls(context=context)
    smtp.ehlo_or_helo_if_needed()  # RFC 3207: the session starts over once it is encrypted


def log_in(smtp: smtplib.SMTP, server: SmtpServer, user: str, password: str) -> None:
    if not smtp.has_extn("auth"):
        hint = (
            "add ?starttls=true (many servers offer AUTH only after it) or "
            if server.security == "plain"
            else ""
        )
        raise MailerUnusable(
            f"{server.where} offers no AUTH: {hint}remove user:password from DIGEST_SMTP_URL"
        )
    smtp.login(user, password)


def reply_of(code: int, text: bytes | str) -> str:
    words = text.decode(errors="replace") if isinstance(text, bytes) else text
    return f"{code} {' '.join(words.split())}"


def setup_error(exc: Exception, server: SmtpServer) -> MailError:
    """What a failure to open a session means for the send."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return MailerUnusable(
            f"{server.where} refused the user name or password ({reply_of(exc.smtp_code, exc.smtp_error)}): "
            "fix user:password in DIGEST_SMTP_URL (percent-encoded: @ as %40, : as %3A)"
        )
    if isinstance(exc, ssl.SSLError):
        return MailerUnusable(
            f"TLS with {server.where} failed ({exc}): check DIGEST_SMTP_URL: the port (465 for smtps://, "
            "587 with ?starttls=true) and, for a private certificate authority, ?cafile=/path/ca.pem"
        )
    if isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500:
        return MailerUnusable(
            f"{server.where} refused the session ({reply_of(exc.smtp_code, exc.smtp_error)}): "
            "check the host, port and credentials in DIGEST_SMTP_URL"
        )
    return TransientMailError(f"cannot open a session with {server.where}: {exc}")


def delivery_error(exc: Exception, to: str, server: SmtpServer) -> MailError:
    """What a failure to hand one message over means: for this message, or (530) for every one."""
    text: bytes | str
    about_recipient = isinstance(exc, smtplib.SMTPRecipientsRefused | smtplib.SMTPDataError)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = exc.recipients.get(to, (0, b"no reply"))
    elif isinstance(exc, smtplib.SMTPResponseException):
        code, text = exc.smtp_code, exc.smtp_error
    elif isinstance(exc, smtplib.SMTPNotSupportedError):
        return PermanentMailError(f"{to}: {server.where} does not accept non-ASCII addresses (SMTPUTF8)")
    else:
        return TransientMailError(f"{server.where}: {exc}")
    reply = reply_of(code, text)
    if code == 530:
        return MailerUnusable(
            f"{server.where} takes no mail before authentication ({reply}): add user:password "
            "(and ?starttls=true) to DIGEST_SMTP_URL"
        )
    bounce = bounce_of(code, reply) if about_recipient else None
    return (
        PermanentMailError(reply, bounce=bounce)
        if 500 <= code < 600
        else TransientMailError(reply, bounce=bounce)
    )


def bounce_of(code: int, reply: str) -> str | None:
    """SendGrid's bounce type for a server's refusal of one recipient (``MailError.bounce``).

    421 closes the whole session: it says nothing about the recipient. A 5.7.x refusal is the server's
    policy (spam, reputation, relaying), not a mailbox that does not exist: a block, as SendGrid counts it.
    """
    if code == 421 or not 400 <= code < 600:
        return None
    enhanced = (reply.split()[1:2] or [""])[0]  # "550 5.1.1 no such user" -> "5.1.1"
    return "bounce" if code >= 500 and not enhanced.startswith("5.7.") else "blocked"


class Connection(Mailer):
    """One SMTP session, opened on first use and kept open between messages; used by one thread at a time.

    Its ``send_batch`` is the interface's: it fills each message locally and sends them in turn.
    """

    name = "smtp"

    def __init__(self, server: SmtpServer, opener: Callable[[], smtplib.SMTP]) -> None:
        self.server = server
        self.opener = opener
        self.smtp: smtplib.SMTP | None = None
        self.unreachable: TransientMailError | None = None

    def send(self, message: OutgoingMessage) -> str:
        data = to_bytes(message)
        reused = self.smtp is not None
        error = self.attempt(message, data)
        if error is not None and reused and self.smtp is None:
            # The server closed the kept-open connection since the last message: once more, on a new one.
            error = self.attempt(message, data)
        if error is not None:
            raise delivery_error(error, message.to, self.server) from error
        return message.message_id

    def attempt(self, message: OutgoingMessage, data: bytes) -> Exception | None:
        """Hand the message over (opening the connection first if needed); the error, if any."""
        smtp = self.smtp = self.smtp or self.open()
        sender = parseaddr(message.from_)[1]
        options = [] if (sender + message.to).isascii() else ["SMTPUTF8"]
        try:
            smtp.sendmail(sender, [message.to], data, mail_options=options)
        except (smtplib.SMTPException, OSError) as exc:
            if smtp.sock is None:  # smtplib closes it when the server went away or answered 421
                self.smtp = None
            return exc
        return None

    def open(self) -> smtplib.SMTP:
        # A server found unreachable is not tried again for each remaining message of the same call.
        if self.unreachable is not None:
            raise TransientMailError(str(self.unreachable))
        try:
            return self.opener()
        except TransientMailError as exc:
            self.unreachable = exc
            raise

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                self.smtp.close()
            self.smtp = None


class SmtpMailer(Mailer):
    """Sends through the server of ``DIGEST_SMTP_URL`` over up to ``connections`` kept-open connections."""

    name = "smtp"
    server_answers_per_recipient = True

    def __init__(self, url: str, *, connections: int = 1, timeout: float = 30.0) -> None:
        self.server = SmtpServer.from_url(url)
        self.context = tls_context(self.server.cafile)
        self.timeout = timeout
        self.connections = max(1, connections)
        # Last in, first out: a lone sender keeps reusing the connection that is already open.
        self.idle: queue.LifoQueue[Connection] = queue.LifoQueue()
        for _ in range(self.connections):
            self.idle.put(Connection(self.server, self.open))

    def open(self) -> smtplib.SMTP:
        try:
            return connect(self.server, self.context, self.timeout)
        except MailError:
            raise
        except (smtplib.SMTPException, OSError) as exc:
            raise setup_error(exc, self.server) from exc

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A connection for this thread alone until the block ends."""
        connection = self.idle.get()
        connection.unreachable = None
        try:
            yield connection
        finally:
            self.idle.put(connection)

    def send(self, message: OutgoingMessage) -> str:
        with self.connection() as connection:
            return connection.send(message)

    def send_batch(self, body: SharedBody, envelopes: Sequence[Envelope]) -> list[Outcome]:
        count = max(1, min(self.connections, len(envelopes)))

        def share(start: int) -> list[Outcome]:
            with self.connection() as connection:
                return connection.send_batch(body, envelopes[start::count])

        with ThreadPoolExecutor(count, thread_name_prefix="smtp") as pool:
            shares = list(pool.map(share, range(count)))
        # Envelope i went out as message i // count of share i % count.
        return [shares[i % count][i // count] for i in range(len(envelopes))]

    def close(self) -> None:
        """QUIT every open connection (waiting for any still in use)."""
        held = [self.idle.get() for _ in range(self.connections)]
        for connection in held:
            connection.close()
            self.idle.put(connection)
