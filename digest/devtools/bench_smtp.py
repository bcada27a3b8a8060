"""``digest bench --smtp``: the SMTP backend measured end to end, against one connection per message.

It fills an empty database with N synthetic active subscribers and composes one 10-summary issue from
the shipped samples (rendered once, as a send does; see ``digest/bench.py``). It then sends that issue
to all N through the real ``IssueSender`` and ``SmtpMailer``: the ledger, batches, and
``DIGEST_SEND_CONCURRENCY`` kept-open connections (``--concurrency``). On a sample of the same
subscribers it then sends the naive way: the same messages, built the same way and spread over the same
number of threads, but each on a new connection (connect, EHLO, MAIL, RCPT, DATA, QUIT), with no ledger.
It prints messages per second for both, the ratio and peak memory.

The server is Postfix's ``smtp-sink`` on loopback (``--smtp sink`` starts one on a free port, and its
own counters check that every message arrived), or any SMTP server already listening
(``--smtp HOST:PORT``). aiosmtpd is too slow to measure digest against (it tops out near 300 messages
per second), but the tests use it to run this module end to end without Postfix.
"""

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from time import perf_counter

from sqlmodel import col, select

from digest.core.personalize import Personalizer
from digest.db.engine import unit_of_work, upgrade
from digest.db.models import Subscriber, SubscriberState
from digest.devtools.bench import bench_settings, peak_rss_mb
from digest.devtools.bench_data import add_subscribers, compose_issue, require_empty
from digest.errors import ConfigError, DigestError, InvalidInput, MailError
from digest.issues.queries import get_issue
from digest.mail import OutgoingMessage
from digest.mail.mime import to_bytes
from digest.mail.smtp import Connection, SmtpMailer
from digest.sending.ledger import Recipient
from digest.sending.sender import IssueSender
from digest.wiring import Parts

SINK = "sink"
INSTALL_SINK = (
    "smtp-sink is not installed: run `apt-get install postfix` (Debian's postfix package provides "
    "/usr/sbin/smtp-sink; the Postfix daemon need not run), or pass --smtp HOST:PORT of an SMTP server"
)


@dataclass
class SmtpBenchResult:
    server: str
    database: str
    connections: int
    messages: int
    setup_seconds: float = 0.0
    send_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    message_kb: float = 0.0
    mime_ms: float = 0.0  # building one message's bytes (digest.mail.mime.to_bytes)
    phases: dict[str, float] = field(default_factory=dict)
    naive_messages: int = 0
    naive_seconds: float = 0.0
    received: int | None = None  # what smtp-sink counted, when the bench started it

    @property
    def rate(self) -> float:
        return self.messages / self.send_seconds if self.send_seconds else 0.0

    @property
    def naive_rate(self) -> float:
        return self.naive_messages / self.naive_seconds if self.naive_seconds else 0.0

    def table(self) -> str:
        ratio = self.rate / self.naive_rate if self.naive_rate else 0.0
        expected = self.messages + self.naive_messages
        per_message = 1000 / self.rate if self.rate else 0.0
        check = (
            f"{self.server} counted {self.received:,} messages of the {expected:,} sent"
            if self.received is not None
            else f"every message accepted by {self.server} (250 after DATA; a server the bench did not start "
            "is not asked to count)"
        )
        lines = [
            "| server | database | messages | connections | send time | messages/s | peak RSS "
            "| naive messages/s | ratio |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
            f"| {self.server} | {self.database} | {self.messages:,} | {self.connections} "
            f"| {self.send_seconds:.1f} s | {self.rate:,.0f} | {self.peak_rss_mb:.0f} MB "
            f"| {self.naive_rate:,.0f} | {ratio:.1f}x |",
            "",
            "where the send's time went (seconds, summed over batches): "
            + ", ".join(f"{phase} {seconds:.1f}" for phase, seconds in self.phases.items()),
            f"naive: {self.naive_messages:,} messages over {self.connections} thread(s), a new connection "
            "each (connect, EHLO, MAIL, RCPT, DATA, QUIT), no ledger",
            f"a message is about {self.message_kb:.0f} KB; building its bytes takes "
            f"{self.mime_ms:.1f} ms in one thread; the send took {per_message:.1f} ms a message",
            f"{check}; setup took {self.setup_seconds:.1f} s (not counted)",
        ]
        return "\n".join(lines)


def run_smtp_bench(
    *,
    target: str,
    messages: int,
    database: str | None,
    naive: int,
    concurrency: int,
    batch_size: int,
) -> SmtpBenchResult:
    """Send ``messages`` through the SMTP backend to ``target`` (``sink`` or ``HOST:PORT``)."""
    if messages < 1:
        raise InvalidInput("--messages must be at least 1")
    with tempfile.TemporaryDirectory(prefix="digest-bench-smtp-") as scratch:
        folder = Path(scratch)
        url = database or f"sqlite:///{folder / 'bench.db'}"
        with smtp_server(target, folder / "sink.out") as server:
            backend = {"email_backend": "smtp", "smtp_url": server.url}
            parts = Parts(bench_settings(url, concurrency=concurrency, batch_size=batch_size, **backend))
            try:
                result = measure(parts, messages, naive, server.name)
            finally:
                parts.close()
        result.received = server.received
        return result


def measure(parts: Parts, count: int, naive: int, server: str) -> SmtpBenchResult:
    engine = parts.engine
    result = SmtpBenchResult(
        server=server,
        database=engine.dialect.name,
        connections=parts.settings.send_concurrency,
        messages=count,
    )
    started = perf_counter()
    upgrade(engine)
    require_empty(engine)
    add_subscribers(engine, count)
    number = compose_issue(parts)
    result.setup_seconds = perf_counter() - started

    sender = parts.sender()
    try:
        started = perf_counter()
        report = sender.send(number)
        sender.mailer.close()  # QUIT every connection: part of the send
        result.send_seconds = perf_counter() - started
        result.peak_rss_mb = peak_rss_mb()
        result.phases = {phase: round(seconds, 2) for phase, seconds in sender.timings.items()}
        if report.paused or report.sent != count:
            raise DigestError(
                f"the SMTP send did not go through: {report.sent} of {count} sent, {report.failed} failed"
                + (f", paused: {report.paused}" if report.paused else "")
            )
        result.naive_messages = min(naive, count)
        naive_send = NaiveSend(sender, number, result.naive_messages)
        started = perf_counter()
        naive_send.run()
        result.naive_seconds = perf_counter() - started
        result.mime_ms, result.message_kb = naive_send.building()
    finally:
        sender.mailer.close()
    return result


class NaiveSend:
    """The way to avoid: the same messages as the send, built the same way, each on a new connection."""

    def __init__(self, sender: IssueSender, number: int, count: int) -> None:
        mailer = sender.mailer
        assert isinstance(mailer, SmtpMailer)
        self.mailer = mailer
        with unit_of_work(sender.engine) as session:
            issue = get_issue(session, number)
            people = session.exec(select(Subscriber).order_by(col(Subscriber.id)).limit(count)).all()
        self.body = sender.messages.body(issue)
        self.html = Personalizer(self.body.html, self.body.markers)
        self.text = Personalizer(self.body.text, self.body.markers)
        self.envelopes = [
            replace(
                sender.messages.envelope(
                    issue,
                    Recipient(0, person.id or 0, person.email, SubscriberState.active, person.token_nonce),
                ),
                message_id=f"<naive.{person.id}@{sender.messages.domain}>",
            )
            for person in people
        ]

    def message(self, index: int) -> OutgoingMessage:
        """Envelope ``index`` filled locally, as ``Mailer.send_batch`` does."""
        envelope = self.envelopes[index]
        return OutgoingMessage(
            key=envelope.key,
            to=envelope.to,
            from_=self.body.from_,
            subject=self.body.subject,
            html=self.html.fill_values(envelope.values),
            text=self.text.fill_values(envelope.values),
            message_id=envelope.message_id,
            headers=envelope.headers,
        )

    def send_one(self, index: int) -> None:
        connection = Connection(self.mailer.server, self.mailer.open)  # connect and EHLO on first use
        try:
            connection.send(self.message(index))  # MAIL, RCPT, DATA
        finally:
            connection.close()  # QUIT

    def run(self) -> None:
        """Every message, over as many threads as the send had connections."""
        with ThreadPoolExecutor(self.mailer.connections, thread_name_prefix="naive-smtp") as pool:
            try:
                list(pool.map(self.send_one, range(len(self.envelopes))))
            except MailError as exc:
                raise DigestError(f"the naive SMTP send failed: {exc}") from exc

    def building(self, sample: int = 100) -> tuple[float, float]:
        """(milliseconds to build one message's bytes, its size in KB), on up to ``sample`` messages."""
        count = min(sample, len(self.envelopes))
        if not count:
            return 0.0, 0.0
        messages = [self.message(index) for index in range(count)]
        started = perf_counter()
        size = sum(len(to_bytes(message)) for message in messages)
        return (perf_counter() - started) * 1000 / count, size / count / 1024


# --- the server --------------------------------------------------------------------------------------


@dataclass
class SmtpTarget:
    name: str
    host: str
    port: int
    received: int | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"smtp://{host}:{self.port}"


@contextmanager
def smtp_server(target: str, output: Path) -> Iterator[SmtpTarget]:
    """``sink``: smtp-sink started on a free loopback port and stopped after; else ``HOST:PORT``."""
    if target == SINK:
        with smtp_sink(output) as server:
            yield server
        return
    host, _, port = target.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit():
        raise InvalidInput(f"--smtp takes {SINK!r} or HOST:PORT, not {target!r}")
    server = SmtpTarget(target, host, int(port))
    if not answers(server.host, server.port):
        raise ConfigError(
            f"nothing answers at {target}: start smtp-sink there (smtp-sink -u postfix {target} 1000) "
            f"or pass --smtp {SINK} to have the bench start one"
        )
    yield server


def find_sink() -> str | None:
    return shutil.which("smtp-sink") or shutil.which("smtp-sink", path="/usr/sbin:/usr/local/sbin")


@contextmanager
def smtp_sink(output: Path) -> Iterator[SmtpTarget]:
    """Postfix's smtp-sink on 127.0.0.1 with running counters (-c); ``received`` is set once it stops."""
    program = find_sink()
    if program is None:
        raise ConfigError(INSTALL_SINK)
    port = free_port()
    command = [program, "-c"]
    if os.geteuid() == 0:  # smtp-sink refuses to run as root: it drops to this user once listening
        command += ["-u", unprivileged_user()]
    command += [f"127.0.0.1:{port}", "1000"]
    with output.open("wb") as sink_output:
        process = subprocess.Popen(command, stdout=sink_output, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        deadline = time.monotonic() + 10
        while not answers("127.0.0.1", port):
            if process.poll() is not None or time.monotonic() > deadline:
                said = output.read_text(errors="replace").strip().splitlines()
                raise ConfigError(f"smtp-sink did not start: {said[-1] if said else 'no output'}")
            time.sleep(0.05)
        server = SmtpTarget("smtp-sink", "127.0.0.1", port)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    server.received = sink_count(output.read_text(errors="replace"))


def sink_count(counters: str) -> int:
    """The last ``mesg=N`` of smtp-sink's running counters (``sess=1 quit=1 mesg=1``)."""
    found = re.findall(r"mesg=(\d+)", counters)
    return int(found[-1]) if found else 0


def unprivileged_user() -> str:
    for name in ("postfix", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise ConfigError("smtp-sink must not run as root, and neither the postfix nor the nobody user exists")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False
