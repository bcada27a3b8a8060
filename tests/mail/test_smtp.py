"""The SMTP backend (digest/mail/smtp.py) against a real aiosmtpd server on loopback.

``Recorder`` is the server's handler: it keeps every accepted message with the connection it came on,
counts EHLOs and QUITs, and answers a given code for given recipients (the first N tries, or always).
TLS uses a self-signed certificate made here with ``cryptography``, trusted through ``?cafile=``.
"""

import ssl
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from time import sleep
from typing import Any
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, Session
from aiosmtpd.smtp import Envelope as ServerEnvelope
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import Engine
from sqlmodel import select

from digest.core.headers import list_unsubscribe_headers
from digest.core.personalize import Markers, RecipientLinks
from digest.db.engine import unit_of_work
from digest.db.models import Issue
from digest.errors import ConfigError, MailerUnusable, PermanentMailError, TransientMailError
from digest.mail import Envelope, SharedBody
from digest.mail.smtp import SmtpMailer, SmtpServer
from tests.support import parts_of
from tests.support.sending import FROM, approved_issue, audience, issue_status, ledger, make_sender
from tests.support.smtp import Recorder, free_port, message

SENDER = "digest@news.example.org"  # the bare address of FROM: the envelope sender
USER, PASSWORD = "digest@news.example.org", "p@ss:w/rd %"
# AUTH without TLS is what a loopback test server wants; aiosmtpd warns about it on every connection.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


# --- the server --------------------------------------------------------------------------------------


@dataclass
class Server:
    recorder: Recorder
    port: int

    def url(self, scheme: str = "smtp", *, login: str = "", query: str = "") -> str:
        return f"{scheme}://{login}localhost:{self.port}" + (f"?{query}" if query else "")


Serve = Callable[..., Server]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Starts aiosmtpd servers on loopback (keyword arguments go to ``Controller``); stops them after."""
    controllers: list[Controller] = []

    def start(**options: Any) -> Server:
        recorder = Recorder()
        controller = Controller(recorder, hostname="127.0.0.1", port=free_port(), **options)
        controller.start()
        controllers.append(controller)
        return Server(recorder, controller.port)

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def smtp(serve: Serve) -> Server:
    """A plain server that takes anything."""
    return serve()


def authenticator(
    server: SMTP, session: Session, envelope: ServerEnvelope, mechanism: str, data: Any
) -> AuthResult:
    good = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=good, handled=False)  # handled=False: aiosmtpd answers 535 itself


def login(password: str = PASSWORD) -> str:
    """The user-info part of a URL, percent-encoded."""
    return f"{quote(USER, safe='')}:{quote(password, safe='')}@"


@pytest.fixture
def mailers() -> Iterator[Callable[..., SmtpMailer]]:
    """Makes SMTP mailers with a short timeout, and closes them after the test."""
    made: list[SmtpMailer] = []

    def make(url: str, *, connections: int = 1) -> SmtpMailer:
        mailer = SmtpMailer(url, connections=connections, timeout=5)
        made.append(mailer)
        return mailer

    yield make
    for mailer in made:
        mailer.close()


# --- a self-signed certificate for localhost ----------------------------------------------------------


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    # OpenSSL checks the dates against the machine's clock, which a moved Python clock does not move
    # (the year-ahead run): valid for years either side of now.
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=3 * 365))
        .not_valid_after(now + timedelta(days=3 * 365))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    paths = Certificate(folder / "cert.pem", folder / "key.pem")
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


# --- messages ----------------------------------------------------------------------------------------

MARKERS = Markers.of("1" * 32)  # a render's markers, as stored with it
BODY = SharedBody(
    subject="3 new research summaries",
    html=f'<p>This week</p><a href="{MARKERS.unsubscribe}">Unsubscribe</a>'
    f'<a href="{MARKERS.preferences}">Manage preferences</a>',
    text=f"This week\n\nUnsubscribe: {MARKERS.unsubscribe}\nManage preferences: {MARKERS.preferences}\n",
    from_=FROM,
    markers=MARKERS,
)


def links(n: int) -> RecipientLinks:
    base = "https://digest.example.org"
    return RecipientLinks(
        unsubscribe=f"{base}/unsubscribe/token-{n}", preferences=f"{base}/preferences/p-{n}"
    )


def envelopes(count: int) -> list[Envelope]:
    return [
        Envelope(
            key=f"issue-1/delivery-{n}",
            to=f"reader{n}@example.org",
            message_id=f"<digest.1.{n}@news.example.org>",
            values=MARKERS.values(links(n)),
            headers=list_unsubscribe_headers(links(n).unsubscribe),
        )
        for n in range(1, count + 1)
    ]


# --- the URL -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            f"smtp://{login()}mail.example.org:587?starttls=true",
            SmtpServer("mail.example.org", 587, "starttls", USER, PASSWORD),
        ),
        ("smtp://mail.example.org?starttls=true", SmtpServer("mail.example.org", 587, "starttls")),
        (f"smtps://{login()}mail.example.org", SmtpServer("mail.example.org", 465, "tls", USER, PASSWORD)),
        ("smtp://relay:2525", SmtpServer("relay", 2525, "plain")),
        ("smtp://relay", SmtpServer("relay", 25, "plain")),
    ],
)
def test_the_url_says_where_and_how(url: str, expected: SmtpServer) -> None:
    assert SmtpServer.from_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://mail.example.org",
        "smtp://",
        "smtp://mail.example.org:port",
        "smtp://mail.example.org?starttls=maybe",
        "smtp://mail.example.org?tls=true",
        "smtps://mail.example.org?starttls=true",
        "smtp://user@mail.example.org",
        "smtp://mail.example.org?cafile=/no/such/ca.pem",
    ],
)
def test_a_bad_url_names_the_setting(url: str) -> None:
    with pytest.raises(ConfigError, match="DIGEST_SMTP_URL"):
        SmtpMailer(url)


def test_the_password_stays_out_of_errors_and_reprs() -> None:
    url = f"smtp://{login()}mail.example.org?starttls=nope"
    with pytest.raises(ConfigError) as error:
        SmtpMailer(url)
    assert PASSWORD not in str(error.value)
    assert quote(PASSWORD, safe="") not in str(error.value)
    assert PASSWORD not in repr(SmtpServer.from_url(f"smtp://{login()}mail.example.org"))


# --- sending -----------------------------------------------------------------------------------------


def test_a_batch_arrives_complete_over_several_connections(
    smtp: Server, mailers: Callable[..., SmtpMailer]
) -> None:
    batch = envelopes(12)

    outcomes = mailers(smtp.url(), connections=3).send_batch(BODY, batch)

    assert [outcome.key for outcome in outcomes] == [envelope.key for envelope in batch]
    assert [outcome.provider_id for outcome in outcomes] == [envelope.message_id for envelope in batch]
    assert all(outcome.ok for outcome in outcomes)
    assert len(smtp.recorder.peers) == 3
    assert smtp.recorder.recipients() == Counter(envelope.to for envelope in batch)
    by_recipient = {received.rcpt_tos[0]: received for received in smtp.recorder.received}
    for n, envelope in enumerate(batch, start=1):
        received = by_recipient[envelope.to]
        assert received.mail_from == SENDER
        mail = received.message
        assert (mail["To"], mail["From"], mail["Subject"]) == (envelope.to, FROM, BODY.subject)
        assert mail["Message-ID"] == envelope.message_id
        assert mail["List-Unsubscribe"] == f"<{links(n).unsubscribe}>"
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        plain, html = parts_of(mail)  # multipart/alternative, text first, then HTML
        assert f"Unsubscribe: {links(n).unsubscribe}" in plain.splitlines()
        assert f"Manage preferences: {links(n).preferences}" in plain.splitlines()
        assert f'<a href="{links(n).unsubscribe}">Unsubscribe</a>' in html
        assert f'<a href="{links(n).preferences}">Manage preferences</a>' in html
        assert "__DIGEST_" not in plain + html


def test_connections_are_reused_and_closed_with_quit(
    smtp: Server, mailers: Callable[..., SmtpMailer]
) -> None:
    mailer = mailers(smtp.url(), connections=2)
    for _ in range(3):
        assert all(outcome.ok for outcome in mailer.send_batch(BODY, envelopes(10)))
    for n in range(5):
        mailer.send(message(f"notice{n}@example.org"))

    assert len(smtp.recorder.received) == 35
    # One connection and one EHLO per connection, however many messages went through it.
    assert len(smtp.recorder.peers) == smtp.recorder.ehlos == 2
    mailer.close()
    assert smtp.recorder.quits == 2


def test_a_550_fails_only_that_recipient(smtp: Server, mailers: Callable[..., SmtpMailer]) -> None:
    batch = envelopes(6)
    smtp.recorder.refuse(batch[2].to, 550)

    outcomes = mailers(smtp.url(), connections=2).send_batch(BODY, batch)

    refused = outcomes[2].error
    assert isinstance(refused, PermanentMailError)
    assert str(refused) == "550 5.1.1 no such user"
    assert [outcome.ok for outcome in outcomes] == [True, True, False, True, True, True]
    assert smtp.recorder.recipients() == Counter(e.to for e in batch if e is not batch[2])


@pytest.mark.parametrize(("code", "error"), [(554, PermanentMailError), (452, TransientMailError)])
def test_a_refused_message_is_mapped_by_its_code(
    smtp: Server, mailers: Callable[..., SmtpMailer], code: int, error: type[Exception]
) -> None:
    mailer = mailers(smtp.url())
    smtp.recorder.refuse("refused@example.org", code, at="DATA")

    with pytest.raises(error, match=f"^{code} "):
        mailer.send(message("refused@example.org"))
    mailer.send(message("next@example.org"))  # the same connection goes on

    assert smtp.recorder.recipients() == Counter(["next@example.org"])
    assert len(smtp.recorder.peers) == 1


def test_a_451_is_sent_when_the_send_retries_it(
    engine: Engine, tmp_path: Path, smtp: Server, mailers: Callable[..., SmtpMailer]
) -> None:
    number = approved_issue(engine, tmp_path)
    active = audience(engine, 5)
    busy = active[1]
    smtp.recorder.refuse(busy, 451, times=1)

    report = make_sender(engine, mailers(smtp.url(), connections=2), batch_size=3).send(number)

    assert (report.sent, report.failed) == (5, 0)
    assert smtp.recorder.recipients() == Counter(active)  # every active subscriber exactly once
    assert smtp.recorder.tries[busy] == 2
    rows = ledger(engine, number)
    assert {address: row.status for address, row in rows.items()} == dict.fromkeys(active, "sent")
    assert {address: row.attempts for address, row in rows.items()} == {
        address: 2 if address == busy else 1 for address in active
    }
    assert issue_status(engine, number) == "sent"


# --- authentication and TLS --------------------------------------------------------------------------


@pytest.fixture
def authenticating(serve: Serve) -> Server:
    """A server that requires AUTH (over plain text: acceptable on loopback only)."""
    return serve(authenticator=authenticator, auth_required=True, auth_require_tls=False)


def test_good_credentials_are_accepted(authenticating: Server, mailers: Callable[..., SmtpMailer]) -> None:
    mailer = mailers(authenticating.url(login=login()))
    mailer.send(message())
    mailer.send(message("second@example.org"))

    assert authenticating.recorder.recipients() == Counter(["reader@example.org", "second@example.org"])


@pytest.mark.parametrize(
    ("url_login", "fix"), [(login("wrong"), "fix user:password"), ("", "add user:password")]
)
def test_refused_or_missing_credentials_make_the_mailer_unusable(
    authenticating: Server, mailers: Callable[..., SmtpMailer], url_login: str, fix: str
) -> None:
    mailer = mailers(authenticating.url(login=url_login))
    with pytest.raises(MailerUnusable, match=f"{fix}.*DIGEST_SMTP_URL"):
        mailer.send(message())
    with pytest.raises(MailerUnusable):
        mailer.send_batch(BODY, envelopes(4))
    assert authenticating.recorder.received == []


def test_a_wrong_password_pauses_the_send(
    engine: Engine, tmp_path: Path, authenticating: Server, mailers: Callable[..., SmtpMailer]
) -> None:
    number = approved_issue(engine, tmp_path)
    active = audience(engine, 3)

    report = make_sender(engine, mailers(authenticating.url(login=login("wrong")), connections=2)).send(
        number
    )

    assert report.sent == 0
    assert report.paused is not None
    assert "DIGEST_SMTP_URL" in report.paused
    with unit_of_work(engine) as session:
        issue = session.exec(select(Issue).where(Issue.number == number)).one()
        assert issue.paused_reason == report.paused
    assert authenticating.recorder.received == []
    rows = ledger(engine, number)
    assert {address: row.status for address, row in rows.items()} == dict.fromkeys(active, "pending")


def test_starttls_then_auth_with_a_trusted_certificate(
    serve: Serve, certificate: Certificate, mailers: Callable[..., SmtpMailer]
) -> None:
    server = serve(
        tls_context=certificate.server_context(),
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    mailer = mailers(server.url(login=login(), query=f"starttls=true&cafile={certificate.cert}"))
    mailer.send(message())
    mailer.send(message("second@example.org"))

    assert server.recorder.recipients() == Counter(["reader@example.org", "second@example.org"])
    assert server.recorder.ehlos == 2  # one before STARTTLS, one after it, on one connection


def test_implicit_tls(serve: Serve, certificate: Certificate, mailers: Callable[..., SmtpMailer]) -> None:
    server = serve(ssl_context=certificate.server_context())
    mailers(server.url("smtps", query=f"cafile={certificate.cert}")).send(message())

    assert server.recorder.recipients() == Counter(["reader@example.org"])


def test_an_untrusted_certificate_makes_the_mailer_unusable(
    serve: Serve, certificate: Certificate, mailers: Callable[..., SmtpMailer]
) -> None:
    server = serve(tls_context=certificate.server_context(), require_starttls=True)
    with pytest.raises(MailerUnusable, match=r"certificate verify failed.*\?cafile="):
        mailers(server.url(query="starttls=true")).send(message())
    assert server.recorder.received == []


@pytest.mark.parametrize(
    ("url_login", "query", "says"),
    [("", "starttls=true", "does not offer STARTTLS"), (login(), "", r"offers no AUTH: add \?starttls=true")],
)
def test_what_the_server_does_not_offer_makes_the_mailer_unusable(
    smtp: Server, mailers: Callable[..., SmtpMailer], url_login: str, query: str, says: str
) -> None:
    with pytest.raises(MailerUnusable, match=f"{says}.*DIGEST_SMTP_URL"):
        mailers(smtp.url(login=url_login, query=query)).send(message())
    assert smtp.recorder.received == []


# --- a server that is down or goes away --------------------------------------------------------------


def test_a_server_that_is_down_is_a_transient_error(mailers: Callable[..., SmtpMailer]) -> None:
    mailer = mailers(f"smtp://127.0.0.1:{free_port()}", connections=2)
    with pytest.raises(TransientMailError, match="cannot open a session"):
        mailer.send(message())

    outcomes = mailer.send_batch(BODY, envelopes(6))
    assert all(isinstance(outcome.error, TransientMailError) for outcome in outcomes)


def test_a_dropped_connection_is_opened_again(serve: Serve, mailers: Callable[..., SmtpMailer]) -> None:
    server = serve(timeout=0.3)  # aiosmtpd closes a connection idle this long, without a word
    mailer = mailers(server.url())
    mailer.send(message("first@example.org"))
    sleep(0.8)  # the server has hung up by now; the mailer does not know yet

    mailer.send(message("second@example.org"))
    mailer.send(message("third@example.org"))

    assert server.recorder.recipients() == Counter(
        ["first@example.org", "second@example.org", "third@example.org"]
    )
    assert len(server.recorder.peers) == 2
