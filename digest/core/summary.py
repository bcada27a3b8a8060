"""A summary as sources deliver it, validated: PRODUCT.md's "A summary (the input)".

Text fields are plain text. Nothing here escapes or strips markup: rendering escapes everything, so a
headline such as ``<b>Coffee</b>`` is shown literally, never as markup.
"""

import hashlib
import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from digest.errors import SummaryRejected

REQUIRED_FIELDS = ("id", "url", "title", "key_takeaway", "what_it_means", "published_at")

ShortText = Field(min_length=1, max_length=500)
LongText = Field(min_length=1, max_length=20_000)


class SourceRef(BaseModel):
    """Where the summarised study was published."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    journal: str | None = Field(default=None, max_length=300)
    doi: str | None = Field(default=None, max_length=300)
    published: str | None = Field(default=None, max_length=40)


class FaqEntry(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    question: str = ShortText
    answer: str = LongText


class SummaryIn(BaseModel):
    """One validated summary. ``id`` is the stable id given by its source."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, frozen=True)

    id: str = Field(min_length=1, max_length=200)
    url: str = Field(min_length=9, max_length=2000)
    title: str = ShortText
    key_takeaway: str = LongText
    what_it_means: str = LongText
    published_at: datetime
    headline: str | None = Field(default=None, max_length=500)
    summary: str | None = Field(default=None, max_length=20_000)
    study_type: str | None = Field(default=None, max_length=200)
    evidence_level: str | None = Field(default=None, max_length=200)
    topics: tuple[str, ...] = ()
    source: SourceRef | None = None
    faq: tuple[FaqEntry, ...] = ()

    @field_validator("url")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith("https://") or any(ch.isspace() for ch in value):
            raise ValueError("must be an https:// URL without spaces")
        return value

    @field_validator("published_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("must carry a time zone, e.g. 2026-11-23T09:00:00+00:00")
        return value

    @field_validator("topics", mode="before")
    @classmethod
    def _topics(cls, value: Any) -> Any:
        if isinstance(value, list):
            cleaned = (" ".join(str(topic).split()).lower() for topic in value)
            return tuple(dict.fromkeys(topic for topic in cleaned if topic))
        return value

    @field_validator("headline", "summary", "study_type", "evidence_level", mode="after")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    def content_hash(self) -> str:
        """A fingerprint of every field, so re-ingesting an unchanged summary changes nothing."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()


def validate_summary(raw: object, *, origin: str) -> SummaryIn:
    """Validate one raw summary; raise ``SummaryRejected`` naming the origin, the id and the fields."""
    if not isinstance(raw, dict):
        raise SummaryRejected(
            origin, None, [("(summary)", f"expected a JSON object, got {type(raw).__name__}")]
        )
    raw_id = raw.get("id")
    summary_id = str(raw_id) if isinstance(raw_id, str | int) else None
    try:
        return SummaryIn.model_validate(raw)
    except ValidationError as exc:
        problems = [
            (
                ".".join(str(part) for part in error["loc"]) or "(summary)",
                "missing (required)"
                if error["type"] == "missing"
                else error["msg"].removeprefix("Value error, "),
            )
            for error in exc.errors()
        ]
        raise SummaryRejected(origin, summary_id, problems) from exc
