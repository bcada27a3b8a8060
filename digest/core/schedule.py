"""When the weekly job is due: the cron schedule of ``DIGEST_SCHEDULE`` in ``DIGEST_TIMEZONE``.

Clock changes: on the autumn change a wall-clock time such as 02:30 Europe/Berlin happens twice, and the
trigger fires at both. Both fires name the same period (``period_key``), so the cycle composes once.
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from digest.errors import InvalidInput


def cron_trigger(expression: str, timezone: str) -> CronTrigger:
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"DIGEST_TIMEZONE: unknown time zone {timezone!r}") from exc
    try:
        return CronTrigger.from_crontab(expression, timezone=zone)
    except ValueError as exc:
        raise InvalidInput(f"DIGEST_SCHEDULE: not a cron expression: {expression!r} ({exc})") from exc


def next_fire(trigger: CronTrigger, now: datetime) -> datetime | None:
    fire: datetime | None = trigger.get_next_fire_time(None, now)
    return fire


def fire_after(trigger: CronTrigger, fire: datetime) -> datetime | None:
    """The scheduled time after ``fire``.

    The step is taken in UTC: local arithmetic on the second 02:30 of a clock-change night (``fold=1``)
    lands back in the first one, and the trigger would answer the same time again forever.
    """
    following: datetime | None = trigger.get_next_fire_time(fire, fire.astimezone(UTC) + timedelta(seconds=1))
    return following


def next_fires(trigger: CronTrigger, now: datetime, count: int) -> list[datetime]:
    fires: list[datetime] = []
    fire = next_fire(trigger, now)
    while fire is not None and len(fires) < count:
        fires.append(fire)
        fire = fire_after(trigger, fire)
    return fires


def latest_fire(
    trigger: CronTrigger, now: datetime, horizon: timedelta = timedelta(days=8)
) -> datetime | None:
    """The most recent scheduled time at or before ``now`` within ``horizon``; ``None`` if there is none.

    Searches back in growing windows so a weekly schedule and an every-minute one both cost little.
    """
    span = timedelta(hours=1)
    while True:
        start = now - min(span, horizon)
        last = None
        fire = trigger.get_next_fire_time(None, start)
        while fire is not None and fire <= now:
            last = fire
            fire = fire_after(trigger, fire)
        if last is not None or span >= horizon:
            return last
        span *= 4


def period_key(fire: datetime) -> str:
    """A stable name for the period that starts at ``fire``, e.g. ``2026-11-23T07:00Z``.

    The instant of the wall-clock time's first occurrence (``fold=0``): the two fires of a repeated
    02:30 name one period.
    """
    return fire.replace(fold=0).astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%MZ")
