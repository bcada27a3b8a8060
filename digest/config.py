"""Settings, read from ``DIGEST_*`` environment variables and a ``.env`` file (pydantic-settings).

Settings are read once, where the program is wired (``digest.wiring``); no other module reads the
environment. Defaults serve the demo and development only: ``Settings.check()`` refuses them elsewhere.
"""

import hashlib
import re
from datetime import timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from digest.core.durations import parse_duration
from digest.errors import ConfigError, InvalidInput

DEVELOPMENT_SECRET = "development-only-secret-key-do-not-use-in-production"  # noqa: S105

Environment = Literal["development", "test", "production"]
EmailBackend = Literal["outbox", "console", "smtp", "sendgrid", "memory"]

# DIGEST_EDITORS: ``name:argon2-hash`` pairs, comma-separated. A PHC argon2 hash holds commas itself
# (``m=65536,t=3,p=4``), so entries are read by their shape, not split on commas.
ARGON2_HASH = r"\$argon2(?:id|i|d)\$(?:v=\d+\$)?m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}"
EDITOR_ENTRY = re.compile(rf"\s*(?P<name>[A-Za-z0-9._@-]{{1,100}})\s*:\s*(?P<hash>{ARGON2_HASH})\s*(?:,|$)")


class Settings(BaseSettings):
    """Every setting of PRODUCT.md's configuration table, with its default."""

    model_config = SettingsConfigDict(
        env_prefix="DIGEST_", env_file=".env", extra="ignore", validate_by_name=True, validate_by_alias=True
    )

    env: Environment = "development"
    database_url: str = "sqlite:///digest.db"
    secret_keys: str = DEVELOPMENT_SECRET
    base_url: str = "http://127.0.0.1:8000"
    email_backend: EmailBackend = "outbox"
    outbox_dir: Path = Path("outbox")
    smtp_url: str | None = None
    sendgrid_api_key: str | None = None
    sendgrid_host: str = "https://api.sendgrid.com"
    sendgrid_sandbox: bool = False
    mail_timeout: float = Field(default=30.0, gt=0, le=600)
    send_concurrency: int = Field(default=4, ge=1, le=64)
    send_rate: float = Field(default=0.0, ge=0)
    pause_after_errors: int = Field(default=100, ge=1)
    # How long a claimed batch belongs to its sender; after that (a crash) another run sends it again.
    send_lease: timedelta = timedelta(minutes=2)
    from_: str = Field(default="Research Digest <digest@localhost>", alias="DIGEST_FROM")
    postal_address: str | None = None
    sources: str = "samples"
    schedule: str = "0 7 * * mon"
    timezone: str = "UTC"
    ingest_every: timedelta = timedelta(hours=1)  # 0: the scheduler ingests only as part of its cycle
    # How late a scheduled compose+send may still run (a scheduler that was down at the time); see
    # digest/scheduler/runner.py for why 6 hours.
    misfire_grace: timedelta = timedelta(hours=6)
    # How often the scheduler says it is alive; a standby tries to lead as often, or every 5 s if sooner.
    heartbeat_every: timedelta = timedelta(seconds=15)
    review_window: timedelta = timedelta(0)
    first_issue_lookback: timedelta = timedelta(days=7)
    max_items: int = Field(default=10, ge=1, le=50)
    batch_size: int = Field(default=1000, ge=1, le=20_000)
    # Topics subscribers can choose: these (comma-separated) plus every topic of the summaries published
    # within topics_lookback.
    topics: str = ""
    topics_lookback: timedelta = timedelta(days=90)
    editors: str | None = None
    # Editor sign-in (/editor): how long a session lasts, and failed sign-ins allowed per IP and per name.
    editor_session_max_age: timedelta = timedelta(hours=12)
    editor_login_limit: str = "5/minute;20/hour"
    sendgrid_webhook_public_key: str | None = None
    # Feed sources (DIGEST_SOURCES entries that are http(s) URLs): limits on each fetch.
    feed_timeout: timedelta = timedelta(seconds=10)
    feed_max_bytes: int = Field(default=5_000_000, ge=1_000, le=500_000_000)
    feed_max_redirects: int = Field(default=5, ge=0, le=20)
    # Provider events: "blocked" bounces in a row that make a subscriber bounced (hard bounces: at once).
    blocked_in_a_row: int = Field(default=3, ge=1, le=100)
    unsubscribe_mailto: str | None = None
    log_format: Literal["text", "json"] = "text"
    site_name: str = "Research Digest"
    consent_text: str = (
        "Yes, email me the weekly Research Digest. I can unsubscribe at any time with one click."
    )
    welcome_email: bool = True
    welcome_text: str = (
        "Once a week you will get a short email with the newest plain-language research summaries: "
        "for each one, its key takeaway and what it means for you."
    )
    confirm_max_age: timedelta = timedelta(days=7)
    confirm_resend_window: timedelta = timedelta(minutes=10)
    rate_limit_ip: str = "10/minute;60/hour"
    rate_limit_address: str = "5/hour"
    min_fill_time: timedelta = timedelta(seconds=2)
    altcha: bool = False
    altcha_max_number: int = Field(default=100_000, ge=1_000, le=10_000_000)

    @field_validator(
        "ingest_every",
        "review_window",
        "first_issue_lookback",
        "topics_lookback",
        "confirm_max_age",
        "confirm_resend_window",
        "min_fill_time",
        "send_lease",
        "misfire_grace",
        "heartbeat_every",
        "feed_timeout",
        "editor_session_max_age",
        mode="before",
    )
    @classmethod
    def _duration(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        try:
            return parse_duration(value)
        except InvalidInput as exc:  # a ValueError, so that the message names the variable
            raise ValueError(str(exc)) from exc

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
            parse_editors(value)
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"DIGEST_BASE_URL must be an http(s) URL, got {value!r}")
        return value.rstrip("/")

    @property
    def signing_keys(self) -> list[str]:
        """Keys for tokens, oldest first: itsdangerous signs with the last and verifies with all."""
        keys = [key.strip() for key in self.secret_keys.split(",") if key.strip()]
        return list(reversed(keys))

    @property
    def consent_text_version(self) -> str:
        """Changes whenever the consent text does, so each consent record says which text was agreed to."""
        return hashlib.sha256(self.consent_text.encode()).hexdigest()[:12]

    @property
    def editor_accounts(self) -> dict[str, str]:
        """Editor name -> argon2 password hash, from ``DIGEST_EDITORS``."""
        return parse_editors(self.editors or "")

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


def parse_editors(value: str) -> dict[str, str]:
    """``name:argon2-hash`` pairs, comma-separated; ``ValueError`` naming the first entry that is not one."""
    editors: dict[str, str] = {}
    position = 0
    while value[position:].strip():
        entry = EDITOR_ENTRY.match(value, position)
        if entry is None:
            shown = value[position:].strip().split(":", 1)[0][:40]
            raise ValueError(
                "expected name:argon2-hash pairs separated by commas; the entry starting "
                f"{shown!r} is not one (a hash looks like $argon2id$v=19$m=65536,t=3,p=4$salt$hash)"
            )
        if entry.group("name") in editors:
            raise ValueError(f"the editor {entry.group('name')!r} is listed twice")
        editors[entry.group("name")] = entry.group("hash")
        position = entry.end()
    return editors


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
