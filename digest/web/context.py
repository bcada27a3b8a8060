"""What every route needs, built once per app from the wiring: the database, tokens, pages, guard,
notices; and the posted form, read before the route runs.

Routes never open a session: they hand ``engine`` to use cases, which own the unit of work.

Routes are plain ``def``s, which FastAPI runs in worker threads: the database, argon2, rendering and mail
block, and on the event loop they would hold up every other request of the process. A route that needs
the request's body gets it from ``FormDep``, read here on the event loop (reading only waits).
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from digest.core.clock import utc_now
from digest.core.engagement import Tracking
from digest.engagement.clicks import TrackedLinks
from digest.engagement.opens import OpenPixels
from digest.issues import review
from digest.mail.sendgrid_events import EventSignatures
from digest.rendering import Renderer
from digest.subscribers import links
from digest.subscribers.engaged import EngagementCounting
from digest.subscribers.notices import NoticeSender, send_quietly
from digest.subscribers.subscriptions import Notice
from digest.subscribers.topics import Offer
from digest.tokens import ApiTokens, Tokens
from digest.web.embed_sites import Embed
from digest.web.guard import Guard
from digest.web.pages import Pages
from digest.web.proof import ProofOfWork
from digest.wiring import Database

log = logging.getLogger("digest.web")


@dataclass
class Web:
    engine: Database
    tokens: Tokens
    clicks: TrackedLinks
    pages: Pages
    guard: Guard
    notices: NoticeSender
    base_url: str
    consent_text: str
    consent_text_version: str
    resend_window: timedelta
    publisher_zone: str = "UTC"  # DIGEST_TIMEZONE: the zone of readers who chose none
    proof: ProofOfWork | None = None
    # The push API and the provider's webhook (web/api.py, web/webhooks.py); off when None.
    renderer: Renderer | None = None
    api_tokens: ApiTokens | None = None
    event_signatures: EventSignatures | None = None
    blocked_in_a_row: int = 3
    # How the provider's own open and click events count, made afresh for each webhook request.
    provider_counting: Callable[[], EngagementCounting] | None = None
    # The topics subscribers choose from: these (DIGEST_TOPICS) and those of recent summaries.
    topic_offer: Offer = field(default_factory=Offer)
    # What the sign-up page tells readers about tracked links (``core/engagement.tracking_notice``).
    tracking_notice: str = ""
    # The open pixel (``web/opens.py``); records nothing when None or without DIGEST_TRACK_OPENS.
    opens: OpenPixels | None = None
    # The embedded sign-up form (web/embed.py): its allowed sites, signed timestamps and script.
    embed: Embed | None = None
    # DIGEST_TRACKING: whether an unsubscribe's record names the reader (``individual`` only).
    tracking: Tracking = Tracking.aggregate

    def now(self) -> datetime:
        return utc_now()

    def topics_on_offer(self) -> list[str]:
        return links.on_offer(self.engine, self.topic_offer, now=self.now())

    def deliver(self, notice: Notice) -> None:
        """Runs after the response (a background task), so its cost never shows in response times."""
        error = send_quietly(self.notices, notice, latest_issue=self.latest_issue())
        if error is not None:
            log.warning(
                "could not send the %s email to subscriber %s: %s", notice.kind, notice.subscriber_id, error
            )

    def latest_issue(self) -> int | None:
        return review.latest_published(self.engine)


def web_context(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


WebDep = Annotated[Web, Depends(web_context)]


async def posted_form(request: Request) -> FormData:
    return await request.form()


FormDep = Annotated[FormData, Depends(posted_form)]
