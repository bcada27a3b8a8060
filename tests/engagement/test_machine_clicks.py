"""The rules that set machine clicks apart (``core/engagement.py``), from hand-made clicks."""

from datetime import UTC, datetime, timedelta

import pytest

from digest.config import load_settings
from digest.core.engagement import Click, Tracking, is_scanner, machine_clicks
from digest.errors import ConfigError

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def click(visitor: str, seconds: float, summary: int | None, kind: str = "page") -> Click:
    return Click(visitor, T + timedelta(seconds=seconds), (summary, kind))


def test_a_visitor_following_three_links_within_seconds_is_a_scanner() -> None:
    clicks = [
        click("scanner", 0.0, 1),
        click("scanner", 0.4, 2),
        click("scanner", 0.9, 2, "doi"),
        click("scanner", 1.5, None, "note"),
        click("reader", 0.2, 1),  # another visitor at the same moments: a person
        click("reader", 0.8, 1),  # the same link twice (a double click) is no burst
        click("reader", 60.0, 2),
        click("reader", 95.0, 3),
    ]
    assert machine_clicks(clicks) == {0, 1, 2, 3}


def test_a_reader_who_reads_between_links_is_a_person() -> None:
    clicks = [
        click("reader", seconds, summary) for seconds, summary in [(0, 1), (2.5, 2), (5.0, 3), (7.5, 4)]
    ]
    assert machine_clicks(clicks) == set()


def test_a_burst_later_in_the_day_is_set_apart_alone() -> None:
    clicks = [click("v", 0, 1), click("v", 600, 1), click("v", 601, 2), click("v", 602, 3)]
    assert machine_clicks(clicks) == {1, 2, 3}


def test_scanner_user_agents() -> None:
    assert is_scanner("")
    assert is_scanner("Mozilla/5.0 (compatible; bingbot/2.0)")
    assert is_scanner("python-requests/2.32")
    assert is_scanner("Barracuda Sentinel (EE)")
    assert not is_scanner("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15")
    assert not is_scanner("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/130.0 Safari/537.36 Edg/130.0")


def test_individual_tracking_is_accepted_and_opens_still_need_tracking(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DIGEST_TRACKING", "individual")
    monkeypatch.setenv("DIGEST_TRACK_OPENS", "true")
    assert load_settings().tracking == Tracking.individual
    monkeypatch.setenv("DIGEST_TRACKING", "off")
    with pytest.raises(ConfigError, match="DIGEST_TRACK_OPENS"):
        load_settings()
