"""The rules that set machine opens apart (``core/opens.py``), and the pixel's place in an email."""

from datetime import UTC, datetime, timedelta

import pytest

from digest.core.opens import (
    PREFETCH_WINDOW,
    MachineReason,
    Open,
    OpenKind,
    machine_opens,
    prefetched,
    proxy_fetch,
    without_pixel,
)
from digest.tokens import ClickTokens, OpenTokens, PixelOpen, TokenInvalid

GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
SENT = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # a fixed instant: the rules read only the times given


@pytest.mark.parametrize(
    ("agent", "address", "proxy"),
    [
        ("Mozilla/5.0", "203.0.113.9", True),  # Apple's proxy names no platform
        (" mozilla/5.0 ", "2001:db8::1", True),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X)", "17.58.1.20", True),  # Apple's network
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X)", "18.58.1.20", False),
        (GMAIL, "66.249.1.1", False),
        ("Mozilla/5.0 (X11; Linux x86_64) Chrome/130", "testclient", False),  # no address to read
        ("Mozilla/5.0 (X11; Linux x86_64) Chrome/130", "::ffff:17.0.0.1", True),  # the same, dual-stack
    ],
)  # fmt: skip
def test_a_privacy_proxys_prefetch_is_told_by_its_agent_or_network(
    agent: str, address: str, proxy: bool
) -> None:
    assert proxy_fetch(agent, address) is proxy


def test_an_open_within_the_window_after_delivery_is_a_prefetch() -> None:
    assert prefetched(SENT, SENT)
    assert prefetched(SENT + PREFETCH_WINDOW - timedelta(milliseconds=1), SENT)
    assert not prefetched(SENT + PREFETCH_WINDOW, SENT)
    assert not prefetched(SENT - timedelta(seconds=1), SENT)  # before it: some other wave's business
    assert not prefetched(SENT, None)


def test_each_machine_open_names_the_first_rule_that_sets_it_apart() -> None:
    wave = SENT + timedelta(hours=5)
    opens = [
        Open("a", SENT + timedelta(seconds=3), OpenKind.proxy),  # proxy, whatever the time
        Open("b", SENT + timedelta(seconds=30), OpenKind.fetch),  # just after the send
        Open("c", wave + timedelta(seconds=10), OpenKind.fetch),  # just after a later wave began
        Open("d", SENT + timedelta(hours=2), OpenKind.fetch),  # a scanner's visitor
        Open("e", SENT + timedelta(hours=2), OpenKind.fetch),  # a person
    ]
    found = machine_opens(opens, [wave, SENT], scanners={"d"})
    assert found == {
        0: MachineReason.proxy,
        1: MachineReason.prefetch,
        2: MachineReason.prefetch,
        3: MachineReason.scanner,
    }
    assert machine_opens(opens, [], scanners=set()) == {0: MachineReason.proxy}


def test_the_pixel_leaves_an_email_whole() -> None:
    html = (
        '<p>Hi</p><img src="https://d.example.org/o/WzFd.abc-_.gif" width="1" height="1" alt="">'
        '<img src="https://d.example.org/logo.gif" alt="Logo"><a href="https://d.example.org/o/x.gif">x</a>'
    )
    assert without_pixel(html) == (
        '<p>Hi</p><img src="https://d.example.org/logo.gif" alt="Logo"><a href="https://d.example.org/o/x.gif">x</a>'
    )


def test_pixel_tokens_have_a_salt_of_their_own() -> None:
    keys = ["old-key", "new-key"]
    pixels = OpenTokens(keys)
    token = pixels.sign(PixelOpen(12))
    assert pixels.read(token) == PixelOpen(12, None)
    assert OpenTokens([*keys[:1], "another"]).read(
        OpenTokens(["another"]).sign(PixelOpen(3, 7))
    ) == PixelOpen(3, 7)
    with pytest.raises(TokenInvalid):
        ClickTokens(keys).read(token)
    with pytest.raises(TokenInvalid):
        pixels.read(token[:-1] + ("A" if token[-1] != "A" else "B"))
    with pytest.raises(TokenInvalid):
        OpenTokens(["someone-else"]).read(token)


def test_an_open_naming_its_reader_is_timed_from_their_own_delivery() -> None:
    delivered = SENT + timedelta(minutes=20)  # the reader's email left twenty minutes into the send
    wave = SENT + timedelta(hours=5)  # a later wave, for other readers
    opens = [
        Open("a", delivered + timedelta(seconds=5), OpenKind.fetch, delivered),  # on delivery: a prefetch
        Open("b", wave + timedelta(seconds=10), OpenKind.fetch, delivered),  # read hours later: a person
        Open("c", wave + timedelta(seconds=10), OpenKind.fetch),  # names nobody: the waves' rule
    ]
    found = machine_opens(opens, [SENT, wave], scanners=set())
    assert found == {0: MachineReason.prefetch, 2: MachineReason.prefetch}
