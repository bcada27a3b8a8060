"""Settings, read from ``DIGEST_*`` environment variables and a ``.env`` file (pydantic-settings).

Settings are read once, where the program is wired (``digest.wiring``); no other module reads the
environment. Defaults serve the demo and development only: ``Settings.check()`` refuses them elsewhere.
"""

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from digest import config_values as values
from digest.core.addresses import domain_of, is_public_domain
from digest.core.engagement import Tracking
from digest.core.origins import parse_origins
from digest.errors import ConfigError
from digest.i18n import N_, language
from digest.rendering.palette import DEFAULT_BRAND

DEVELOPMENT_SECRET = "development-only-secret-key-do-not-use-in-production"  # noqa: S105

Environment = Literal["development", "test", "production"]
EmailBackend = Literal["outbox", "console", "smtp", "sendgrid", "memory"]


class Settings(BaseSettings):
    """Every setting, with its default and, in its docstring, what it means.

    The docstrings are the settings' descriptions (``use_attribute_docstrings``): docs/configuration.md is
    generated from them by ``python -m digest.devtools.settings_reference``.
    """

    model_config = SettingsConfigDict(
        env_prefix="DIGEST_",
        env_file=".env",
        extra="ignore",
        validate_by_name=True,
        validate_by_alias=True,
        use_attribute_docstrings=True,
    )

    env: Environment = "development"
    """Where this runs. Outside `development` the development signing key and a From at no real domain
    (`localhost`, `.local`, `.test`, `.example`, ...) are refused; in `production` a missing postal
    address and an http base URL are refused too."""
    database_url: str = "sqlite:///digest.db"
    """SQLAlchemy URL of the database: SQLite for one machine, `postgresql+psycopg://user:password@host/name`
    in production and for workers on several machines."""
    secret_keys: str = DEVELOPMENT_SECRET
    """Keys that sign links, form tokens, editor sessions and API tokens, comma-separated: the first signs,
    every one verifies. To rotate, put a new key first and drop the old one once its links may go."""
    base_url: str = "http://127.0.0.1:8000"
    """The public address of the web app, used in every link of every email (https in production)."""
    email_backend: EmailBackend = "outbox"
    """Where mail goes: `outbox` (`.eml` files), `console` (printed), `smtp`, `sendgrid`, or `memory` (kept
    in the process, for tests)."""
    outbox_dir: Path = Path("outbox")
    """The folder the outbox backend writes to: one folder per issue, plus `notices/` and `tests/`."""
    smtp_url: str | None = None
    """The SMTP relay for the `smtp` backend: `smtp://user:pass@host:587?starttls=true`,
    `smtps://user:pass@host:465`, optionally `&cafile=/path/ca.pem`."""
    sendgrid_api_key: str | None = None
    """The SendGrid API key for the `sendgrid` backend; it needs the Mail Send permission only."""
    sendgrid_host: str = "https://api.sendgrid.com"
    """SendGrid's API address; tests and the benchmark point it at a local stand-in."""
    sendgrid_sandbox: bool = False
    """SendGrid's sandbox mode: requests are validated and answered, and nothing is delivered."""
    mail_timeout: float = Field(default=30.0, gt=0, le=600)
    """Seconds before a provider request or an SMTP command gives up (and is retried as transient)."""
    send_concurrency: int = Field(default=4, ge=1, le=64)
    """Parallel SendGrid requests or SMTP connections per sending process."""
    send_rate: float = Field(default=0.0, ge=0)
    """The most messages per second per sending process; `0` means no cap."""
    pause_after_errors: int = Field(default=100, ge=1)
    """Failed messages in a row after which a send pauses itself until `digest send --resume`."""
    send_lease: timedelta = timedelta(minutes=2)
    """How long a sender has to hand a claimed batch over (at least 1s). The batch stays its sender's for
    this plus `DIGEST_DATABASE_OUTAGE`; after a crash, another sender sends it again once that has run
    out."""
    database_outage: timedelta = timedelta(minutes=2)
    """How long a send waits for the database to come back (a restart, a failover) before it stops with an
    error. Meanwhile it keeps the outcomes of the batch the provider took and records them when the
    database answers, so a restart sends no one the issue twice. A claimed batch's lease is
    `DIGEST_SEND_LEASE` plus this, so that no other sender takes a batch whose outcomes are held."""
    held_outcomes: Path = Path("held-outcomes")
    """The folder where a send that stops because the database stayed away longer than
    `DIGEST_DATABASE_OUTAGE` leaves the outcomes of the batch the provider had taken. The next send, worker
    or scheduler started on this machine records them before anything else, so no one gets the issue
    twice; keep it on storage that outlives the process (not a container's throwaway layer). A send that
    could not write there stops before it mails anyone."""
    from_: str = Field(default="Research Digest <digest@localhost>", alias="DIGEST_FROM")
    """The From header of every email; its domain also names the Message-IDs. Outside `development` it must
    be at a domain of the public DNS (the default, at `localhost`, is refused)."""
    postal_address: str | None = None
    """The sender's postal address, printed in every email's footer; required in production (CAN-SPAM)."""
    sources: str = "samples"
    """Where summaries come from, comma-separated: `samples` (the shipped examples), folders of `*.json`
    files, and feed URLs (JSON Feed, RSS 2.0 or Atom)."""
    schedule: str = "0 7 * * mon"
    """When the scheduled cycle composes and sends, as a cron expression (minute hour day month weekday)."""
    timezone: str = "UTC"
    """The time zone `DIGEST_SCHEDULE` is read in (an IANA name such as `Europe/Berlin`)."""
    delivery: Literal["once", "local"] = "once"
    """`once`: everyone gets an issue when its send starts. `local`: each reader gets it at the issue's time
    (its own, or the hour of `DIGEST_SCHEDULE`) on their own clock, in waves by time zone; readers without
    a zone are in `DIGEST_TIMEZONE`."""
    ingest_every: timedelta = timedelta(hours=1)
    """How often the scheduler ingests between its cycles; `0` ingests only as the cycle's first step."""
    misfire_grace: timedelta = timedelta(hours=6)
    """How late a scheduled cycle may still run after the scheduler was down (at least 1s); a later one
    is skipped with a warning."""
    heartbeat_every: timedelta = timedelta(seconds=15)
    """How often the leading scheduler records that it is alive (three missed make it stale); a standby
    tries to take the lead as often, or every 5 s if that is sooner."""
    review_window: timedelta = timedelta(0)
    """Time between a scheduled compose and its send in which an editor can hold the issue; `0` sends at
    once."""
    first_issue_lookback: timedelta = timedelta(days=7)
    """How far back the very first issue looks for summaries; nothing dated before the first issue's
    start goes into a later one."""
    max_age: timedelta = timedelta(days=30)
    """The oldest a summary may be to go into an issue. Compose takes every summary that no live or sent
    issue holds, however late it arrived, unless it is older than this; those it skips are named by
    `digest compose`, `digest status` and the editor's issue page."""
    max_items: int = Field(default=10, ge=1, le=50)
    """Summaries shown in full in an issue; the rest are listed by title under "More this week"."""
    batch_size: int = Field(default=1000, ge=1, le=20_000)
    """Deliveries claimed and recorded together. It bounds what a crash can send twice; larger batches
    send faster (the benchmark uses 5000)."""
    topics: str = ""
    """Topics subscribers can choose, comma-separated, besides the topics of recent summaries."""
    topics_lookback: timedelta = timedelta(days=90)
    """How far back the topics of published summaries are offered to subscribers."""
    editors: str | None = None
    """Editor accounts, `name:argon2-hash` pairs separated by commas (a hash's own commas are fine). They
    sign in at `/editor` and may be given API tokens."""
    editor_session_max_age: timedelta = timedelta(hours=12)
    """How long an editor's sign-in lasts."""
    editor_login_limit: str = "5/minute;20/hour"
    """Failed editor sign-ins allowed per client IP and per editor name."""
    sendgrid_webhook_public_key: str | None = None
    """The verification key of SendGrid's signed Event Webhook (base64). Without it the webhook refuses
    every request; a key that cannot be read stops `digest serve` with a one-line error."""
    feed_timeout: timedelta = timedelta(seconds=10)
    """How long a feed may take, for each network wait and for the whole download (1s to 10m)."""
    feed_max_bytes: int = Field(default=5_000_000, ge=1_000, le=500_000_000)
    """The largest feed read, counted after decompression."""
    feed_max_redirects: int = Field(default=5, ge=0, le=20)
    """Redirects followed per feed request."""
    blocked_in_a_row: int = Field(default=3, ge=1, le=100)
    """`blocked` bounces in a row that make a subscriber `bounced` (a hard bounce does at once)."""
    unsubscribe_mailto: str | None = None
    """An address added as a `mailto:` to every `List-Unsubscribe` header, after the https link."""
    log_format: Literal["text", "json"] = "text"
    """How the long-running commands log to stderr: `text`, or `json` (one object per line)."""
    site_name: str = "Research Digest"
    """The name of the digest in emails and pages."""
    brand_color: str = DEFAULT_BRAND
    """The email masthead's colour, as hex (`#0e4d64`). Its words are white in the light scheme and a light
    grey in the dark one; a colour on which either reads below WCAG AA (4.5:1) is refused at start-up."""
    logo_url: str | None = None
    """An https address of a logo image shown at the top of the email's masthead (PNG or JPEG; mail
    clients ignore SVG), and the picture of an archive page's card when its link is shared. None: the
    masthead shows the site name only."""
    logo_alt: str | None = None
    """The logo's alternative text, read out and shown when images are off; the site name by default."""
    logo_width: int = Field(default=160, ge=16, le=552)
    """The logo's width in the email, in pixels (its height follows the image's proportions)."""
    language: str = "en"
    """The language of every word readers see: emails, notices and the subscriber's pages (`en`, `es`;
    one of the catalogues under `digest/locales/`). Dates follow it, and a language written right to
    left sets the pages and emails right to left. Summaries, the site name and texts you set yourself
    (`DIGEST_CONSENT_TEXT`, `DIGEST_WELCOME_TEXT`) are shown as written: write them in this language; the
    defaults of those two are translated."""
    consent_text: str = N_(
        "Yes, email me the weekly Research Digest. I can unsubscribe at any time with one click."
    )
    """The words beside the sign-up form's consent box; each consent record keeps a hash of them."""
    welcome_email: bool = True
    """Whether confirming a subscription sends a welcome email."""
    welcome_text: str = N_(
        "Once a week you will get a short email with the newest plain-language research summaries: "
        "for each one, its key takeaway and what it means for you."
    )
    """What the welcome email tells a new subscriber to expect."""
    confirm_max_age: timedelta = timedelta(days=7)
    """How long a confirmation link works."""
    confirm_resend_window: timedelta = timedelta(minutes=10)
    """At most one confirmation (or "already subscribed" notice) per address in this window."""
    rate_limit_ip: str = "10/minute;60/hour"
    """Sign-ups allowed per client IP, on the form and the JSON API (`limits` notation)."""
    rate_limit_address: str = "5/hour"
    """Sign-ups allowed per target address."""
    rate_limit_storage: str = "memory://"
    """Where rate limits are counted: `memory://` (each web process on its own, so N processes allow N
    times the limits) or a Redis shared by every process, `redis://127.0.0.1:6379` (also `rediss://`,
    `redis+unix://`, `redis+sentinel://`, `redis+cluster://`; needs the `redis` extra,
    `pip install 'digest[redis]'`)."""
    rate_limit_prefix: str = Field(default="digest", min_length=1, max_length=100)
    """The name rate-limit counters are kept under in a shared store, so two sites using one Redis count
    apart."""
    min_fill_time: timedelta = timedelta(seconds=2)
    """A sign-up form sent back faster than this is taken for a bot: it gets the usual answer and
    nothing is done."""
    tracking: Tracking = Tracking.aggregate
    """What the links of a digest record: `off` (links go straight to their address, nothing is
    recorded), `aggregate` (links pass through `/r/...`, which counts clicks per issue, summary and
    topic and records no reader) or `individual` (each reader's links, and open pixel, carry a signed
    tag naming them, `/r/{token}/{tag}`: which subscriber clicked or opened is recorded, shown in their
    data export and erased with them; the sign-up page and every digest's footer say so). Applies to
    issues rendered after the change; an issue rendered under `individual` and sent under another
    setting carries no reader's tag."""
    readers_picks: bool = False
    """`true`: each new issue opens with "Most read last week", the previous issue's most read summaries."""
    track_opens: bool = False
    """Count opens with a 1x1 image in the HTML part of each digest (`/o/{token}.gif`), reported as an
    estimate with machine opens (privacy proxies, prefetches) set apart. Needs `DIGEST_TRACKING` other than
    `off`: refused at start-up with it."""
    altcha: bool = False
    """Ask sign-ups to solve a self-hosted proof-of-work challenge (ALTCHA)."""
    altcha_max_number: int = Field(default=100_000, ge=1_000, le=10_000_000)
    """The difficulty of the proof-of-work challenge: the largest number a browser may have to try."""
    embed_origins: str = ""
    """The sites allowed to embed the sign-up form (`/embed`), as exact origins separated by commas or
    spaces: `https://www.example.org, https://blog.example.org` (scheme, host and port only; no path, no
    wildcard). CORS and the iframe's `frame-ancestors` follow this list, and a sign-up sent from a page
    of any other site is refused. Empty: only this site's own pages."""

    @field_validator(
        "ingest_every",
        "review_window",
        "first_issue_lookback",
        "max_age",
        "topics_lookback",
        "confirm_max_age",
        "confirm_resend_window",
        "min_fill_time",
        "send_lease",
        "database_outage",
        "misfire_grace",
        "heartbeat_every",
        "feed_timeout",
        "editor_session_max_age",
        mode="before",
    )
    @classmethod
    def _duration(cls, value: object) -> object:
        return values.duration(value)

    @field_validator("send_lease")
    @classmethod
    def _send_lease(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            raise ValueError("must be at least 1s: a claimed batch must outlive its own send")
        return value

    @field_validator("misfire_grace", "heartbeat_every")
    @classmethod
    def _at_least_a_second(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            raise ValueError("must be at least 1s")
        return value

    @field_validator("feed_timeout")
    @classmethod
    def _feed_timeout(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=1) <= value <= timedelta(minutes=10):
            raise ValueError("must be between 1s and 10m")
        return value

    @field_validator("editors")
    @classmethod
    def _editors(cls, value: str | None) -> str | None:
        if value is not None:
            values.parse_editors(value)
        return value

    @field_validator("rate_limit_storage")
    @classmethod
    def _rate_limit_storage(cls, value: str) -> str:
        return values.rate_limit_store(value)

    @field_validator("brand_color")
    @classmethod
    def _brand_color(cls, value: str) -> str:
        return values.brand_colour(value)

    @field_validator("logo_url")
    @classmethod
    def _logo_url(cls, value: str | None) -> str | None:
        return values.logo_url(value)

    @field_validator("embed_origins")
    @classmethod
    def _embed_origins(cls, value: str) -> str:
        return values.embed_origins(value)

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        return values.shipped_language(value)

    @field_validator("track_opens")
    @classmethod
    def _opens_need_tracking(cls, value: bool, info: ValidationInfo) -> bool:
        # ``tracking`` is declared before ``track_opens``, so it is read by now (absent if it was invalid).
        if value and info.data.get("tracking") == Tracking.off:
            raise ValueError(
                "true needs tracking: the open pixel is tracking, and DIGEST_TRACKING=off promises readers "
                "none; set DIGEST_TRACKING=aggregate, or DIGEST_TRACK_OPENS=false"
            )
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return values.base_url(value)

    @property
    def signing_keys(self) -> list[str]:
        """Keys for tokens, oldest first: itsdangerous signs with the last and verifies with all."""
        keys = [key.strip() for key in self.secret_keys.split(",") if key.strip()]
        return list(reversed(keys))

    @property
    def consent_text_version(self) -> str:
        """Changes whenever the consent text does, so each consent record says which text was agreed to."""
        return hashlib.sha256(self.consent_shown.encode()).hexdigest()[:12]

    @property
    def consent_shown(self) -> str:
        """The consent words as the form shows them: the default in ``DIGEST_LANGUAGE``, yours as written."""
        return language(self.language).gettext(self.consent_text)

    @property
    def editor_accounts(self) -> dict[str, str]:
        """Editor name -> argon2 password hash, from ``DIGEST_EDITORS``."""
        return values.parse_editors(self.editors or "")

    @property
    def embed_origin_list(self) -> tuple[str, ...]:
        """``DIGEST_EMBED_ORIGINS`` as browsers write origins (lower case, no default port)."""
        return parse_origins(self.embed_origins)

    @property
    def source_list(self) -> list[str]:
        return [source.strip() for source in self.sources.split(",") if source.strip()]

    @property
    def topic_list(self) -> list[str]:
        return [topic for topic in self.topics.split(",") if topic.strip()]

    def check(self) -> None:
        """Refuse settings that are only fit for development, outside development."""
        if self.env == "development":
            return
        if not self.signing_keys or DEVELOPMENT_SECRET in self.signing_keys:
            raise ConfigError(
                f"DIGEST_SECRET_KEYS holds the development key while DIGEST_ENV={self.env}; "
                "set it to a long random value, e.g. "
                'python -c "import secrets; print(secrets.token_urlsafe(48))"'
            )
        if self.env == "production" and not self.postal_address:
            raise ConfigError(
                "DIGEST_POSTAL_ADDRESS is required in production (CAN-SPAM): set the sender's postal address"
            )
        if self.env == "production" and not self.base_url.startswith("https://"):
            raise ConfigError("DIGEST_BASE_URL must be https in production: unsubscribe links must be https")
        if not is_public_domain(domain_of(self.from_)):
            raise ConfigError(
                f"DIGEST_FROM must be an address at a real domain while DIGEST_ENV={self.env} (mail from "
                f"{domain_of(self.from_) or 'no domain'} is refused or taken for spam): got {self.from_!r}"
            )


def load_settings() -> Settings:
    """Read the settings, turning validation errors into one readable ``ConfigError``."""
    from pydantic import ValidationError

    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"DIGEST_{'_'.join(str(p) for p in err['loc']).upper().rstrip('_')}: "
            + err["msg"].removeprefix("Value error, ")
            for err in exc.errors()
        )
        raise ConfigError(f"bad setting: {problems}") from exc
    settings.check()
    return settings
