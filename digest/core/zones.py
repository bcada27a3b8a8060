"""Readers' time zones and the wall-clock arithmetic of local-time delivery, with zoneinfo only.

A wall-clock time on a day in a zone is one instant: ``local_instant``. A time the clocks skip (02:30 on
a spring-forward night) is read with the offset before the change, so it lands just after the gap
(03:30); a time they repeat (the autumn night) is its first occurrence. Zones whose wall-clock time falls
on the same instant share a wave (``waves``): Europe/London and Africa/Accra in winter, for instance.
Imports nothing of the project but its errors.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from digest.errors import InvalidInput


def zone_named(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ``InvalidInput`` naming it when there is no such zone."""
    cleaned = name.strip()
    if not cleaned or len(cleaned) > 64 or cleaned not in all_zones():
        raise InvalidInput(
            f"unknown time zone {name.strip()[:80]!r}: give an IANA name such as Europe/London"
        )
    try:
        return ZoneInfo(cleaned)
    except (ZoneInfoNotFoundError, ValueError) as exc:  # listed but unreadable: a broken tzdata
        raise InvalidInput(f"unknown time zone {cleaned!r}") from exc


def checked_zone(name: str | None) -> str | None:
    """A reader's zone as stored: the IANA name, or None for an empty value (the publisher's zone)."""
    if name is None or not name.strip():
        return None
    return zone_named(name).key


@cache
def all_zones() -> frozenset[str]:
    """Every IANA zone a reader may choose (tzdata's list, without its legacy aliases of the posix tree)."""
    return frozenset(name for name in available_timezones() if not name.startswith(("posix/", "right/")))


def zone_choices() -> list[str]:
    """The zones offered on the preferences page: the IANA list, in order."""
    return sorted(all_zones())


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The instant, in UTC, when clocks in ``zone`` show ``at`` on ``day``.

    ``fold=0``: a repeated time is its first occurrence, a skipped time is read with the offset in force
    before the jump (so 02:30 on a spring-forward night is 03:30 after it).
    """
    return datetime.combine(day, at, tzinfo=zone).replace(fold=0).astimezone(UTC)


@dataclass(frozen=True)
class Wave:
    """The zones whose readers get an issue at one instant, and how many readers each has."""

    starts_at: datetime  # UTC
    zones: tuple[tuple[str, int], ...]  # (zone, readers), by name

    @property
    def readers(self) -> int:
        return sum(count for _, count in self.zones)


def waves(day: date, at: time, readers_by_zone: Mapping[str, int]) -> list[Wave]:
    """One wave per distinct instant at which some zone's clocks show ``at`` on ``day``, earliest first."""
    by_instant: dict[datetime, list[tuple[str, int]]] = {}
    for name, count in readers_by_zone.items():
        by_instant.setdefault(local_instant(day, at, ZoneInfo(name)), []).append((name, count))
    return [Wave(instant, tuple(sorted(zones))) for instant, zones in sorted(by_instant.items())]


def wall_clock(instant: datetime, zone: str) -> str:
    """``instant`` as clocks in ``zone`` show it, with the offset: ``2026-12-08T07:00+05:45``."""
    local = instant.astimezone(ZoneInfo(zone))
    return local.isoformat(timespec="minutes")


def earliest(day: date, at: time, zones: Iterable[str]) -> datetime | None:
    """When the first of ``zones`` reaches ``at`` on ``day``; None without zones."""
    instants = [local_instant(day, at, ZoneInfo(name)) for name in zones]
    return min(instants) if instants else None


WALL_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")


def wall_time(text: str, zone: str) -> datetime:
    """``2026-12-08 06:00`` (or the ``T`` form a date-time field posts) on clocks in ``zone``, in UTC."""
    cleaned = text.strip()
    for form in WALL_FORMATS:
        try:
            naive = datetime.strptime(cleaned, form)
        except ValueError:
            continue
        return local_instant(naive.date(), naive.time(), zone_named(zone))
    raise InvalidInput(f"not a date and time: {text.strip()[:40]!r}; write it as 2026-12-08 06:00")
