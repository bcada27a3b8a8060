"""Which of the mail provider's own open and click events count, so that nothing is counted twice.

A publisher may turn on SendGrid's open and click tracking: SendGrid then adds its own pixel and wraps
every link of the email, and reports ``open`` and ``click`` events to the webhook. The same reading is
then seen twice: by SendGrid, and by digest's redirect (``/r/``) or pixel (``/o/``). The rule:

1. **Each event once**: events are kept by their ``sg_event_id``; a repeated event changes nothing.
2. **A click on one of our tracked links is not counted again** (``/r/...`` on this site): the redirect
   counted it when SendGrid's wrapped link forwarded the reader to it.
3. **A click on a link of the issue's content** (a summary's page, its DOI, a link of the editor's
   note) that is not a tracked link counts, as a click from ``sendgrid``: in emails sent before tracking
   was turned on, nobody else sees it.
4. **A click on anything else** (unsubscribe, preferences, view in browser, our pixel, an address the
   issue does not hold) does not count: it is not a reading of the issue.
5. **An open counts only while digest's own pixel is off** (``DIGEST_TRACK_OPENS=false``): with the
   pixel on, every opening that fetches SendGrid's image fetches ours too. An open SendGrid marks as a
   machine's (``sg_machine_open``, Apple Mail Privacy Protection) is stored as a proxy open and set
   apart like our own pixel's (``core/opens.py``).
6. An event whose user agent names a scanner or a bot (``core.engagement.is_scanner``) never counts,
   as such a request to our redirect or pixel is never stored.
7. **Nothing counts under ``DIGEST_TRACKING=off``**: the footer tells readers that nobody counts who
   reads or clicks, and digest keeps that promise whatever the provider is set to do.
8. The event must name a delivery (the ``delivery`` custom arg) to the event's address: that is how it
   finds its issue. Test copies name none and never count.
"""

import enum
from dataclasses import dataclass

from digest.core.engagement import LinkKind, is_scanner
from digest.core.events import EventIn

# The provider's events about a reading of an email.
ENGAGEMENT_EVENTS = frozenset({"open", "click"})


class Verdict(enum.StrEnum):
    open = "open"
    click = "click"
    redirect_counted = "counted by the redirect"
    pixel_counted = "counted by the pixel"
    not_content = "not a link of the issue's content"
    scanner = "a scanner's"
    tracking_off = "not counted: DIGEST_TRACKING=off"


@dataclass(frozen=True)
class Counting:
    """What the rule needs to know of the settings."""

    tracked_prefix: str  # ``{DIGEST_BASE_URL}/r/``: the tracked links the redirect counts
    pixel: bool  # DIGEST_TRACK_OPENS: our pixel counts opens
    tracking: bool = True  # False under DIGEST_TRACKING=off: readers were promised no counting


@dataclass(frozen=True)
class Counted:
    verdict: Verdict
    summary: int | None = None
    kind: str = ""


def counted(event: EventIn, rules: Counting, content: dict[str, tuple[int | None, LinkKind]]) -> Counted:
    """What an ``open`` or ``click`` event counts as; ``content``: each address of the issue's content
    (as written in the email) with its summary and kind of link."""
    if not rules.tracking:
        return Counted(Verdict.tracking_off)
    if event.user_agent and is_scanner(event.user_agent):
        return Counted(Verdict.scanner)
    if event.event == "open":
        return Counted(Verdict.pixel_counted) if rules.pixel else Counted(Verdict.open)
    url = (event.url or "").strip()
    if url.startswith(rules.tracked_prefix):
        return Counted(Verdict.redirect_counted)
    if url in content:
        summary, kind = content[url]
        return Counted(Verdict.click, summary, str(kind))
    return Counted(Verdict.not_content)
