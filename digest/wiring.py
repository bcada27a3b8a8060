"""Builds the parts of digest from its settings: the one place that turns configuration into objects.

Imported by ``cli`` (and later ``web`` and ``scheduler``); services receive what they need as arguments.
"""

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, TypeAlias, TypeVar

from sqlalchemy import Engine

from digest.config import Settings, load_settings
from digest.core.engagement import TrackedLink, Tracking, tracking_notice, visitor_key
from digest.core.provider_counts import Counting
from digest.db.engine import make_engine
from digest.engagement.clicks import ClickRecorder, TrackedLinks
from digest.engagement.opens import OpenPixels, OpenRecorder
from digest.engagement.picks import picks_for
from digest.errors import ConfigError
from digest.i18n import language
from digest.issues.compose import ComposeRules
from digest.mail import ConsoleMailer, Mailer, MemoryMailer, OutboxMailer
from digest.mail.mime import is_valid_from
from digest.rendering import Renderer, SiteView
from digest.sending.sender import IssueSender, SendSettings
from digest.sending.waves import LocalDelivery
from digest.sources import FetchRules, Source, open_sources
from digest.subscribers.engaged import EngagementCounting
from digest.subscribers.notices import NoticeSender, NoticeSettings
from digest.tokens import ApiTokens, ClickTokens, OpenTokens, PixelOpen, Purpose, ReaderTags, Tokens

T = TypeVar("T")

# The database as the entry points hold it: they hand it to use cases, which open the units of work;
# ``web`` names it by this name and never imports SQLAlchemy itself.
Database: TypeAlias = Engine

# The settings a send takes whose names say more in DIGEST_* than inside the sender.
SEND_SETTINGS = {"lease": "send_lease", "rate": "send_rate", "outage": "database_outage"}


def taken(kind: type[T], settings: Settings, renamed: Mapping[str, str] | None = None, **given: Any) -> T:
    """A ``kind`` (the dataclass of settings a part takes) holding, in each field, the setting of the
    same name, or of the name ``renamed`` maps it to; ``given`` values win. A field that no setting
    names keeps its default (and one without a default is an error here, at wiring)."""
    renamed = renamed or {}
    unknown = set(renamed.values()) - set(Settings.model_fields)
    if unknown:
        raise TypeError(f"{kind.__name__}: no setting is called {sorted(unknown)}")
    values = dict(given)
    for field in dataclasses.fields(kind):  # type: ignore[arg-type]
        name = renamed.get(field.name, field.name)
        if field.name not in values and name in Settings.model_fields:
            values[field.name] = getattr(settings, name)
    return kind(**values)


@dataclass
class Parts:
    settings: Settings

    @classmethod
    def from_environment(cls) -> "Parts":
        return cls(load_settings())

    @cached_property
    def engine(self) -> Database:
        return make_engine(self.settings.database_url)

    @cached_property
    def tokens(self) -> Tokens:
        return Tokens(self.settings.signing_keys, max_age={Purpose.confirm: self.settings.confirm_max_age})

    @cached_property
    def api_tokens(self) -> ApiTokens:
        """Bearer tokens of the push API, one per editor of ``DIGEST_EDITORS``."""
        return ApiTokens(self.settings.signing_keys, self.settings.editor_accounts)

    def sources(self, *, now: datetime) -> list[Source]:
        """The sources of ``DIGEST_SOURCES``, feeds fetched within the ``DIGEST_FEED_*`` limits."""
        settings = self.settings
        rules = taken(
            FetchRules,
            settings,
            {"max_bytes": "feed_max_bytes", "max_redirects": "feed_max_redirects"},
            timeout=settings.feed_timeout.total_seconds(),
        )
        return open_sources(settings.source_list, now=now, fetch=rules)

    @cached_property
    def renderer(self) -> Renderer:
        settings = self.settings
        site = taken(
            SiteView,
            settings,
            {"name": "site_name"},
            logo_alt=settings.logo_alt or settings.site_name,
            tracking=self.tracking_notice,
        )
        # DIGEST_TRACKING=off: the render never sees a tracker, so every link stays as written.
        tracking = self.settings.tracking != Tracking.off
        return Renderer(
            site,
            track=self.click_link if tracking else None,
            language=language(settings.language),
            pixel=self.pixel_link if settings.track_opens else None,
            per_reader=settings.tracking == Tracking.individual,
        )

    @property
    def tracking_notice(self) -> str:
        words = language(self.settings.language).translations
        return tracking_notice(self.settings.tracking, words=words, opens=self.settings.track_opens)

    def pixel_link(self, issue: int) -> str:
        """The open pixel of a render of issue ``issue``: ``/o/{token}.gif``, the same for all its
        readers (under ``individual`` tracking the render adds each one's tag: ``/o/{token}/{tag}.gif``)."""
        return f"{self.settings.base_url}/o/{self.open_tokens.sign(PixelOpen(issue))}.gif"

    @cached_property
    def open_tokens(self) -> OpenTokens:
        return OpenTokens(self.settings.signing_keys)

    def click_link(self, link: TrackedLink) -> str:
        """Where a tracked link of an email leads: ``/r/{token}`` on the site."""
        return f"{self.settings.base_url}/r/{self.click_tokens.sign(link)}"

    @cached_property
    def click_tokens(self) -> ClickTokens:
        return ClickTokens(self.settings.signing_keys)

    @cached_property
    def tracked_links(self) -> TrackedLinks:
        """What ``/r/{token}`` needs; with ``DIGEST_TRACKING=off`` it records nothing."""
        off = self.settings.tracking == Tracking.off
        individual = self.settings.tracking == Tracking.individual
        keys = self.settings.signing_keys
        recorder = None if off else ClickRecorder(self.engine, keys[-1], individual=individual)
        return TrackedLinks(self.click_tokens, recorder, self.reader_tags)

    @cached_property
    def reader_tags(self) -> ReaderTags:
        """The per-reader part of tracked links and pixels (``individual`` tracking)."""
        return ReaderTags(self.settings.signing_keys)

    @cached_property
    def open_pixels(self) -> OpenPixels:
        """What ``/o/{token}.gif`` needs; without ``DIGEST_TRACK_OPENS`` it records nothing."""
        clicks = self.tracked_links.recorder
        recorder = OpenRecorder(self.engine, clicks) if self.settings.track_opens and clicks else None
        return OpenPixels(self.open_tokens, recorder, self.reader_tags)

    def provider_counting(self) -> EngagementCounting:
        """How the provider's own open and click events count (``core/provider_counts.py``), for one
        webhook request."""
        rules = Counting(
            tracked_prefix=f"{self.settings.base_url}/r/",
            pixel=self.settings.track_opens,
            tracking=self.settings.tracking != Tracking.off,
        )
        return EngagementCounting(rules, visitor_key(self.settings.signing_keys[-1]))

    def compose_rules(self) -> ComposeRules:
        """What compose takes: ``DIGEST_MAX_ITEMS``, ``DIGEST_MAX_AGE``, ``DIGEST_FIRST_ISSUE_LOOKBACK``,
        ``DIGEST_READERS_PICKS``."""
        return taken(ComposeRules, self.settings, picks=picks_for if self.settings.readers_picks else None)

    def notice_sender(self) -> NoticeSender:
        settings = self.settings
        notice_settings = taken(NoticeSettings, settings, confirm_days=max(1, settings.confirm_max_age.days))
        return NoticeSender(self.renderer, self.mailer(), self.tokens, notice_settings)

    def __enter__(self) -> "Parts":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Return the database connections (a command may open several engines in one process)."""
        if "engine" in self.__dict__:
            self.engine.dispose()

    def sender(self) -> IssueSender:
        """An issue sender on the configured mailer, with the send settings."""
        individual = self.settings.tracking == Tracking.individual
        readers = self.reader_tags if individual else None
        send_settings = taken(
            SendSettings, self.settings, SEND_SETTINGS, local=self.local_delivery(), readers=readers
        )
        return IssueSender(self.engine, self.mailer(), self.tokens, send_settings, self.renderer)

    def local_delivery(self) -> LocalDelivery | None:
        """With ``DIGEST_DELIVERY=local``: the publisher's zone, the schedule and the misfire rule."""
        settings = self.settings
        if settings.delivery != "local":
            return None
        return LocalDelivery(settings.timezone, settings.schedule, settings.misfire_grace)

    def mailer(self) -> Mailer:
        """A new mailer for the configured backend."""
        backend = self.settings.email_backend
        if not is_valid_from(self.settings.from_):
            raise ConfigError(f"DIGEST_FROM is not a valid address: {self.settings.from_!r}")
        if backend == "outbox":
            return OutboxMailer(self.settings.outbox_dir)
        if backend == "console":
            return ConsoleMailer()
        if backend == "memory":
            return MemoryMailer()
        if backend == "smtp":
            from digest.mail.smtp import SmtpMailer

            if not self.settings.smtp_url:
                raise ConfigError(
                    "DIGEST_EMAIL_BACKEND=smtp needs DIGEST_SMTP_URL, e.g. smtp://user:pass@host:587?starttls=true"
                )
            return SmtpMailer(
                self.settings.smtp_url,
                connections=self.settings.send_concurrency,
                timeout=self.settings.mail_timeout,
            )
        from digest.mail.sendgrid import SendGridMailer

        if not self.settings.sendgrid_api_key:
            raise ConfigError("DIGEST_EMAIL_BACKEND=sendgrid needs DIGEST_SENDGRID_API_KEY")
        return SendGridMailer(
            self.settings.sendgrid_api_key,
            host=self.settings.sendgrid_host,
            timeout=self.settings.mail_timeout,
            sandbox=self.settings.sendgrid_sandbox,
            concurrency=self.settings.send_concurrency,
        )
