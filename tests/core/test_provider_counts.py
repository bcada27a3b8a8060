"""The rule that counts the provider's own opens and clicks once (``core/provider_counts.py``)."""

from datetime import UTC, datetime

import pytest

from digest.core.engagement import LinkKind
from digest.core.events import EventIn
from digest.core.provider_counts import Counted, Counting, Verdict, counted

BASE = "https://digest.example.org"
CONTENT = {
    "https://summaries.example.org/s/1": (1, LinkKind.page),
    "https://doi.org/10.1/x": (1, LinkKind.doi),
    "https://research.example.org/methods": (None, LinkKind.note),
}
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Chrome/130"


def of(kind: str, url: str | None = None, agent: str = BROWSER) -> EventIn:
    at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    return EventIn("e1", kind, "ann@example.org", at, url=url, user_agent=agent, delivery_id=1)


@pytest.mark.parametrize(
    ("event", "pixel", "expected"),
    [
        (of("click", f"{BASE}/r/abc.def"), False, Counted(Verdict.redirect_counted)),
        (of("click", "https://summaries.example.org/s/1"), False, Counted(Verdict.click, 1, "page")),
        (of("click", "https://doi.org/10.1/x"), True, Counted(Verdict.click, 1, "doi")),
        (of("click", "https://research.example.org/methods"), False, Counted(Verdict.click, None, "note")),
        (of("click", f"{BASE}/unsubscribe/tok"), False, Counted(Verdict.not_content)),
        (of("click", f"{BASE}/issues/3"), False, Counted(Verdict.not_content)),
        (of("click", None), False, Counted(Verdict.not_content)),
        (of("click", "https://summaries.example.org/s/1", "curl/8.5.0"), False, Counted(Verdict.scanner)),
        (of("open"), False, Counted(Verdict.open)),
        (of("open"), True, Counted(Verdict.pixel_counted)),
        (of("open", agent=""), False, Counted(Verdict.open)),  # SendGrid did not say: an open still
    ],
)
def test_each_reading_counts_once(event: EventIn, pixel: bool, expected: Counted) -> None:
    assert counted(event, Counting(f"{BASE}/r/", pixel=pixel), CONTENT) == expected


@pytest.mark.parametrize("event", [of("open"), of("click", "https://summaries.example.org/s/1")])
def test_nothing_counts_while_tracking_is_off(event: EventIn) -> None:
    """``DIGEST_TRACKING=off`` promises readers no counting, whatever the provider does."""
    rules = Counting(f"{BASE}/r/", pixel=False, tracking=False)
    assert counted(event, rules, CONTENT) == Counted(Verdict.tracking_off)
