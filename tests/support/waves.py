"""Helpers for local-time delivery tests: readers around the world, a day with a clock change computed from
the fixed ``NOW``, and a mailer that notes when (on the injected clock) each reader was handed a message."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from digest.core.clock import utc_now
from digest.core.zones import local_instant
from digest.db.engine import unit_of_work
from digest.mail import MemoryMailer, OutgoingMessage
from digest.rendering import Renderer
from digest.sending.sender import IssueSender, SendSettings
from digest.sending.waves import LocalDelivery
from digest.subscribers import records
from tests.support import NOW
from tests.support.sending import BASE_URL, FROM, SITE, TOKENS

PUBLISHER = "Europe/London"
# +14:00, +05:45, 0/+1, -5/-4, -3:30/-2:30, -11:00; and one reader without a zone (the publisher's).
ZONES = (
    "Pacific/Kiritimati",
    "Asia/Kathmandu",
    "Europe/London",
    "America/New_York",
    "America/St_Johns",
    "Pacific/Pago_Pago",
)
NO_ZONE = "nozone@example.org"


def address_in(zone: str) -> str:
    return f"{zone.split('/')[-1].lower()}@example.org"


def readers_around_the_world(engine: Engine) -> dict[str, str]:
    """One active reader per zone of ``ZONES`` and one without a zone; their addresses and zones."""
    people = {address_in(zone): zone for zone in ZONES}
    with unit_of_work(engine) as session:
        for address, zone in people.items():
            consent = records.Consent(form="test")
            records.add(session, address, confirmed=True, consent=consent, now=NOW, timezone=zone)
        records.add(session, NO_ZONE, confirmed=True, consent=records.Consent(form="test"), now=NOW)
    return {**people, NO_ZONE: PUBLISHER}


def clock_change_after(start: datetime, zone: str, *, forward: bool) -> date:
    """The first day after ``start`` on which clocks in ``zone`` go forward (or back)."""
    tz = ZoneInfo(zone)
    day = start.date()
    while True:
        before = datetime.combine(day, time(0), tzinfo=tz).utcoffset()
        after = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).utcoffset()
        assert before is not None
        assert after is not None
        if after != before and (after > before) == forward:
            return day
        day += timedelta(days=1)


def expected_times(people: dict[str, str], day: date, at: time) -> dict[str, datetime]:
    return {address: local_instant(day, at, ZoneInfo(zone)) for address, zone in people.items()}


class Stamped(MemoryMailer):
    """Keeps each message with the moment (``utc_now``, the injected clock) it was handed over."""

    def __init__(self) -> None:
        super().__init__()
        self.at: list[tuple[str, datetime]] = []

    def send(self, message: OutgoingMessage) -> str:
        self.at.append((message.to, utc_now()))
        return super().send(message)


def local_sender(
    engine: Engine, mailer: MemoryMailer, local: LocalDelivery, batch_size: int = 500
) -> IssueSender:
    """A sender with local-time delivery and the real clock (which the tests move)."""
    settings = SendSettings(from_=FROM, base_url=BASE_URL, batch_size=batch_size, local=local)
    return IssueSender(engine, mailer, TOKENS, settings, Renderer(SITE))
