"""``digest bench``: the send measured end to end, against the naive way, in one run.

It fills an empty database with N synthetic active subscribers, composes one 10-summary issue from the
shipped samples, and sends it through the real SendGrid adapter to the SendGrid stand-in, which runs in
a process of its own (so it does not share this process's interpreter lock) and validates requests
against SendGrid's OpenAPI spec (every Nth request: ``--validate-every``). It then sends to a sample
of the same subscribers the naive way: the email rendered for each recipient and posted one message per
request. It prints recipients per second, peak memory, where the time went, and the ratio.

With ``--topics K`` it sends twice, each on a fresh database: once with every subscriber taking
everything (one variant), once with the issue's summaries tagged with K topics and most subscribers
choosing one to three of them (many variants), and prints both rates and how far apart they are.
"""

import importlib.util
import multiprocessing
import resource
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from time import perf_counter
from typing import Any

from sqlmodel import col, select

from digest.config import Settings
from digest.core.addresses import domain_of
from digest.core.personalize import Markers, Personalizer
from digest.db.engine import drop_everything, unit_of_work, upgrade
from digest.db.models import IssueStatus, Subscriber
from digest.devtools.bench_data import add_subscribers, compose_issue, require_empty
from digest.devtools.sendgrid_standin import read_record
from digest.errors import InvalidInput
from digest.issues.compose import issue_view
from digest.issues.queries import get_issue
from digest.mail import OutgoingMessage
from digest.sending.ledger import Recipient
from digest.wiring import Parts

API_KEY = "SG.bench-key"
SPEC_IN_SHARED = Path("corpora/sendgrid/tsg_mail_v3.json")


def find_spec() -> Path | None:
    """SendGrid's spec in the ``shared`` folder beside a checkout or beside the working directory, if
    either holds it. An installed digest has neither, and the bench then runs without validating."""
    root = Path(__file__).resolve().parents[3]
    for shared in (root / "shared", Path.cwd().parent / "shared"):
        if (shared / SPEC_IN_SHARED).is_file():
            return shared / SPEC_IN_SHARED
    return None


def validation_note(spec: Path | None, validate_every: int) -> str:
    """What the stand-in checks, refusing a spec that cannot be used (missing file, no jsonschema)."""
    if spec is None:
        return "requests not validated against SendGrid's spec (not found; --spec PATH to validate)"
    if not spec.is_file():
        raise InvalidInput(f"SendGrid's spec is not at {spec}: pass --spec PATH to tsg_mail_v3.json")
    if importlib.util.find_spec("jsonschema") is None:
        raise InvalidInput("validating against SendGrid's spec needs jsonschema: pip install 'digest[bench]'")
    return f"every {validate_every}th request validated against {spec.name}"


@dataclass
class BenchResult:
    subscribers: int
    database: str
    setup_seconds: float = 0.0
    send_seconds: float = 0.0
    accepted: int = 0
    duplicates: int = 0
    peak_rss_mb: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    naive_recipients: int = 0
    naive_seconds: float = 0.0
    topics: int = 0
    variants: int = 0
    unmatched: int = 0
    processes: int = 1
    validation: str = ""

    @property
    def rate(self) -> float:
        return self.subscribers / self.send_seconds if self.send_seconds else 0.0

    @property
    def of_helpers(self) -> str:
        return f", of the first of {self.processes} sender processes" if self.processes > 1 else ""

    @property
    def naive_rate(self) -> float:
        return self.naive_recipients / self.naive_seconds if self.naive_seconds else 0.0

    def table(self) -> str:
        ratio = self.rate / self.naive_rate if self.naive_rate else 0.0
        lines = [
            "| database | subscribers | send time | recipients/s | peak RSS | naive recipients/s | ratio |",
            "|---|---:|---:|---:|---:|---:|---:|",
            f"| {self.database} | {self.subscribers:,} | {self.send_seconds:.1f} s | {self.rate:,.0f} "
            f"| {self.peak_rss_mb:.0f} MB | {self.naive_rate:,.0f} | {ratio:.0f}x |",
            "",
            f"where the send's time went (seconds, summed over batches{self.of_helpers}): "
            + ", ".join(f"{phase} {seconds:.1f}" for phase, seconds in self.phases.items()),
            f"stand-in accepted {self.accepted:,} recipients, {self.duplicates} twice; setup took "
            f"{self.setup_seconds:.1f} s (not counted); {self.validation}",
        ]
        if self.naive_recipients == 0:
            lines[2] = lines[2].rsplit("|", 3)[0] + "| not measured | |"
        if self.topics:
            lines.append(
                f"{self.topics} topics: {self.variants} variants, each rendered once; "
                f"{self.unmatched:,} subscribers with no summary on their topics (no email)"
            )
        return "\n".join(lines)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_bench(
    *,
    subscribers: int,
    database: str | None,
    spec: Path | None,
    validate_every: int,
    naive: int,
    concurrency: int,
    batch_size: int,
    topics: int = 0,
    processes: int = 1,
    tracking: str = "aggregate",
) -> BenchResult:
    validation = validation_note(spec, validate_every)
    with tempfile.TemporaryDirectory(prefix="digest-bench-") as scratch:
        folder = Path(scratch)
        url = database or f"sqlite:///{folder / 'bench.db'}"
        if processes > 1 and not url.startswith("postgresql"):
            raise InvalidInput("--processes above 1 needs PostgreSQL (--database): SQLite takes one writer")
        with standin(spec, folder / "accepted.jsonl", validate_every) as sendgrid:
            backend = {
                "email_backend": "sendgrid",
                "sendgrid_api_key": API_KEY,
                "sendgrid_host": sendgrid.url,
            }
            parts = Parts(
                bench_settings(
                    url, concurrency=concurrency, batch_size=batch_size, tracking=tracking, **backend
                )
            )
            try:
                result = measure(parts, subscribers, naive, sendgrid, topics, processes)
                result.validation = f"DIGEST_TRACKING={tracking}; {validation}"
                return result
            finally:
                if database:  # the database was given empty: leave it so, ready for the next run
                    drop_everything(parts.engine)
                parts.close()


def run_topics_bench(*, topics: int, **options: Any) -> str:
    """The same send with one variant and with ``topics`` topics, each on a fresh database."""
    if topics < 1:
        raise InvalidInput("--topics must be at least 1")
    single = run_bench(**{**options, "naive": 0})
    spread = run_bench(**options, topics=topics)
    change = (spread.rate / single.rate - 1) * 100 if single.rate else 0.0
    return "\n".join(
        [
            "one variant (every subscriber takes everything):",
            single.table(),
            "",
            f"{topics} topics:",
            spread.table(),
            "",
            f"recipients/s with {topics} topics ({spread.variants} variants): {spread.rate:,.0f} "
            f"against {single.rate:,.0f} with one variant ({change:+.0f} %)",
        ]
    )


def bench_settings(url: str, *, concurrency: int, batch_size: int, **backend: str) -> Settings:
    """The settings of a bench run: its database, its mail backend (``backend``), no secrets needed."""
    return Settings(
        env="development",
        database_url=url,
        send_concurrency=concurrency,
        batch_size=batch_size,
        base_url="https://digest.example.org",
        postal_address="Research Digest, 1 Example Street, Springfield",
        **backend,  # type: ignore[arg-type]
    )


def measure(
    parts: Parts, count: int, naive: int, sendgrid: "StandInProcess", topics: int = 0, processes: int = 1
) -> BenchResult:
    engine = parts.engine
    result = BenchResult(subscribers=count, database=engine.dialect.name, topics=topics, processes=processes)
    started = perf_counter()
    upgrade(engine)
    require_empty(engine)
    add_subscribers(engine, count, topics=topics)
    number = compose_issue(parts, topics=topics)
    result.setup_seconds = perf_counter() - started

    sender = parts.sender()
    with helpers(parts.settings, number, processes - 1) as sent_by_helpers:
        started = perf_counter()
        report = sender.send(number)
    result.send_seconds = perf_counter() - started  # until the last helper is done too
    sent = report.sent + sum(sent_by_helpers)
    result.peak_rss_mb = peak_rss_mb()
    result.phases = {phase: round(seconds, 2) for phase, seconds in sender.timings.items()}
    result.accepted, result.duplicates = sendgrid.accepted()
    result.variants = sum(v.position is not None for v in report.variants)
    result.unmatched = report.unmatched
    assert sent == count - report.unmatched, f"sent {sent} of {count - report.unmatched}"

    result.naive_recipients = min(naive, count)
    if result.naive_recipients:
        started = perf_counter()
        send_naively(parts, number, result.naive_recipients)
        result.naive_seconds = perf_counter() - started
    sender.mailer.close()
    return result


def send_naively(parts: Parts, number: int, count: int) -> None:
    """The way to avoid: render the whole email for each recipient and post one message per request."""
    sender = parts.sender()
    with unit_of_work(parts.engine) as session:
        issue = get_issue(session, number)
        view = issue_view(session, issue, language=parts.renderer.language)
        people = session.exec(select(Subscriber).order_by(col(Subscriber.id)).limit(count)).all()
    for person in people:
        rendered = parts.renderer.render_issue(view)
        recipient = Recipient(0, person.id or 0, person.email, "active", person.token_nonce)
        markers = Markers.of_render(rendered.markers, rendered.html)
        envelope, links = (
            sender.messages.envelope(issue, recipient),
            sender.messages.links_for(recipient, issue.number, per_reader=markers.per_reader),
        )
        message = OutgoingMessage(
            key=envelope.key,
            to=person.email,
            from_=parts.settings.from_,
            subject=rendered.subject,
            html=Personalizer(rendered.html, markers).fill(links),
            text=Personalizer(rendered.text, markers).fill(links),
            message_id=f"<naive.{person.id}@{domain_of(parts.settings.from_)}>",
            headers=envelope.headers,
        )
        sender.mailer.send(message)
    sender.mailer.close()


def count_accepted(record: Path) -> tuple[int, int]:
    """(recipients accepted, of which accepted more than once), from the stand-in's durable record."""
    seen: set[str] = set()
    twice = 0
    for accepted in read_record(record):
        email = str(accepted["email"])
        twice += email in seen
        seen.add(email)
    return len(seen), twice


@contextmanager
def helpers(settings: Settings, number: int, count: int) -> Iterator[list[int]]:
    """``count`` more senders, each in a process of its own (as ``digest worker`` processes would be),
    taking batches of the same send once it has started; yields, after they finish, what each sent."""
    context = multiprocessing.get_context("spawn")
    pipes = [context.Pipe() for _ in range(count)]
    processes = [context.Process(target=help_send, args=(settings, number, theirs)) for _, theirs in pipes]
    for process in processes:
        process.start()
    sent: list[int] = []
    try:
        yield sent
    finally:
        for (ours, _), process in zip(pipes, processes, strict=True):
            while not ours.poll(0.1):
                if not process.is_alive():
                    raise InvalidInput(
                        f"a helper sender stopped without a result (exit code {process.exitcode})"
                    )
            answer = ours.recv()
            process.join(10)
            if isinstance(answer, str):
                raise InvalidInput(f"a helper sender failed: {answer}")
            sent.append(int(answer))


def help_send(settings: Settings, number: int, connection: Connection) -> None:
    """One helper: waits for the send to start, then sends batches alongside the others until none is left
    (nothing, if the others finished first). Answers how many it sent, or what went wrong."""
    parts = Parts(settings)
    try:
        status = IssueStatus.approved
        while status == IssueStatus.approved:
            with unit_of_work(parts.engine) as session:
                status = IssueStatus(get_issue(session, number).status)
            time.sleep(0.01)
        if status != IssueStatus.sending:
            connection.send(0)
            return
        sender = parts.sender()
        connection.send(sender.send(number).sent)
        sender.mailer.close()
    except Exception as exc:  # reported to the bench, which stops with it
        connection.send(f"{type(exc).__name__}: {exc}")
    finally:
        parts.close()


@dataclass(frozen=True)
class StandInProcess:
    """The SendGrid stand-in running in a process of its own: its URL, and a line to ask it things."""

    url: str
    connection: Connection

    def accepted(self) -> tuple[int, int]:
        """(recipients accepted, of which more than once), counted by the stand-in's process from its
        record: a million addresses held here would count in the sender's peak memory."""
        self.connection.send("count")
        answer: tuple[int, int] = self.connection.recv()
        return answer


@contextmanager
def standin(spec: Path | None, record: Path, validate_every: int) -> Iterator[StandInProcess]:
    """The SendGrid stand-in in a process of its own."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=serve_standin, args=(theirs, spec, record, validate_every), daemon=True)
    process.start()
    try:
        if not ours.poll(30):
            raise RuntimeError("the SendGrid stand-in did not start")
        yield StandInProcess(str(ours.recv()), ours)
    finally:
        ours.send("stop")
        process.join(10)
        if process.is_alive():
            process.kill()


def serve_standin(connection: Connection, spec: Path | None, record: Path, validate_every: int) -> None:
    from digest.devtools.sendgrid_standin import SendGridStandIn

    with SendGridStandIn(API_KEY, spec, record, validate_every=validate_every) as server:
        connection.send(server.url)
        while connection.recv() == "count":
            connection.send(count_accepted(record))
