"""Settings, read from ``DIGEST_*`` environment variables and a ``.env`` file (pydantic-settings).

Settings are read once, where the program is wired (``digest.wiring``); no other module reads the
environment. Defaults serve the demo and development only: ``Settings.check()`` refuses them elsewhere.
"""

import hashlib
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
    ingest_every: timedelta = timedelta(hours=1)
    review_window: timedelta = timedelta(0)
    first_issue_lookback: timedelta = timedelta(days=7)
    max_items: int = Field(default=10, ge=1, le=50)
    batch_size: int = Field(default=1000, ge=1, le=20_000)
    editors: str | None = None
    sendgrid_webhook_public_key: str | None = None
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
        "confirm_max_age",
        "confirm_resend_window",
        "min_fill_time",
        "send_lease",
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
    def source_list(self) -> list[str]:
        return [source.strip() for source in self.sources.split(",") if source.strip()]

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
