"""Wall-clock arithmetic of local-time delivery (``core/zones.py``) with zoneinfo: a skipped and a repeated
hour, odd offsets, and zones grouped into as few waves as their offsets allow. Days come from the fixed
``NOW`` (the first clock change after it), never from today."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from digest.core.zones import checked_zone, local_instant, wall_time, waves
from digest.errors import InvalidInput
from tests.support import NOW
from tests.support.waves import clock_change_after


def test_a_skipped_hour_lands_just_after_the_gap_and_a_repeated_one_is_its_first() -> None:
    york = ZoneInfo("America/New_York")
    spring = clock_change_after(NOW, "America/New_York", forward=True)
    skipped = local_instant(spring, time(2, 30), york)
    assert skipped.astimezone(york).strftime("%H:%M %z") == "03:30 -0400"
    autumn = clock_change_after(NOW + timedelta(days=200), "America/New_York", forward=False)
    repeated = local_instant(autumn, time(1, 30), york)
    assert repeated.astimezone(york).strftime("%H:%M %z") == "01:30 -0400"  # before the clocks go back
    assert local_instant(autumn, time(7, 0), york) - local_instant(
        autumn - timedelta(days=1), time(7), york
    ) == (timedelta(hours=25))


@pytest.mark.parametrize(
    ("zone", "offset"),
    [
        ("Asia/Kathmandu", timedelta(hours=5, minutes=45)),
        ("Pacific/Tongatapu", timedelta(hours=13)),
        ("Pacific/Kiritimati", timedelta(hours=14)),
        ("Pacific/Marquesas", timedelta(hours=-9, minutes=-30)),
        ("America/St_Johns", timedelta(hours=-3, minutes=-30)),
        ("Pacific/Pago_Pago", timedelta(hours=-11)),
    ],
)
def test_odd_offsets(zone: str, offset: timedelta) -> None:
    day = NOW.date()  # late November: St John's is on standard time
    instant = local_instant(day, time(7, 0), ZoneInfo(zone))
    assert instant == datetime.combine(day, time(7, 0), tzinfo=UTC) - offset


def test_zones_on_one_instant_share_a_wave() -> None:
    day = NOW.date()
    found = waves(
        day, time(7), {"Europe/London": 3, "Africa/Accra": 2, "Asia/Kathmandu": 1, "Europe/Lisbon": 1}
    )
    assert [(wave.zones, wave.readers) for wave in found] == [
        ((("Asia/Kathmandu", 1),), 1),
        ((("Africa/Accra", 2), ("Europe/Lisbon", 1), ("Europe/London", 3)), 6),
    ]


def test_names_and_times_are_checked() -> None:
    assert checked_zone(" Asia/Kathmandu ") == "Asia/Kathmandu"
    assert checked_zone("") is None
    with pytest.raises(InvalidInput, match="unknown time zone 'Asia/Atlantis'"):
        checked_zone("Asia/Atlantis")
    with pytest.raises(InvalidInput, match="not a date and time"):
        wall_time("tomorrow at six", "Europe/London")
    assert wall_time("2026-12-08T06:00", "Asia/Kathmandu") == datetime(2026, 12, 8, 0, 15, tzinfo=UTC)
