"""When the weekly job is due: the cron schedule of ``DIGEST_SCHEDULE`` in ``DIGEST_TIMEZONE``."""

from datetime import datetime, timedelta
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
            fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
        if last is not None or span >= horizon:
            return last
        span *= 4


def period_key(fire: datetime) -> str:
    """A stable name for the period that starts at ``fire``, e.g. ``2026-11-23T07:00Z``."""
    return fire.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%MZ")
