"""A summary as sources deliver it, validated: the format of docs/sources-and-api.md.

Text fields are stored as given. They may carry inline emphasis (``<i>``, ``<sup>``...): rendering keeps
those and reduces every other tag to its words (``core/inline.py``), so nothing here strips markup.
"""

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from digest.core.topics import NAME_LIMIT, normalise
from digest.errors import SummaryRejected

REQUIRED_FIELDS = ("id", "url", "title", "key_takeaway", "what_it_means", "published_at")

ShortText = Field(min_length=1, max_length=500)
LongText = Field(min_length=1, max_length=20_000)

# Control characters other than tab and line breaks: never plain text, and PostgreSQL refuses U+0000.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def no_control_characters(value: str) -> str:
    """``value``, or ``ValueError`` naming the first control character in it."""
    found = CONTROL_CHARACTERS.search(value)
    if found:
        raise ValueError(f"must not contain control characters (found U+{ord(found.group()):04X})")
    return value


def _topic(value: str) -> str:
    if len(value) > NAME_LIMIT:
        raise ValueError(f"a topic must be at most {NAME_LIMIT} characters")
    return no_control_characters(value)


# Every text field of a summary: kept as given; rendered with its inline emphasis only (core/inline.py).
Text = Annotated[str, AfterValidator(no_control_characters)]
Topic = Annotated[str, AfterValidator(_topic)]


class SourceRef(BaseModel):
    """Where the summarised study was published."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    journal: Text | None = Field(default=None, max_length=300)
    doi: Text | None = Field(default=None, max_length=300)
    published: Text | None = Field(default=None, max_length=40)


class FaqEntry(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    question: Text = ShortText
    answer: Text = LongText


class SummaryIn(BaseModel):
    """One validated summary. ``id`` is the stable id given by its source."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, frozen=True)

    id: Text = Field(min_length=1, max_length=200)
    url: Text = Field(min_length=9, max_length=2000)
    title: Text = ShortText
    key_takeaway: Text = LongText
    what_it_means: Text = LongText
    published_at: datetime
    headline: Text | None = Field(default=None, max_length=500)
    summary: Text | None = Field(default=None, max_length=20_000)
    study_type: Text | None = Field(default=None, max_length=200)
    evidence_level: Text | None = Field(default=None, max_length=200)
    topics: tuple[Topic, ...] = Field(default=(), max_length=50)
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
        try:
            value.astimezone(UTC)  # every comparison and the database see it in UTC
        except OverflowError:
            raise ValueError("must fall within the years 1 to 9999 once moved to UTC") from None
        return value

    @field_validator("topics", mode="before")
    @classmethod
    def _topics(cls, value: Any) -> Any:
        if isinstance(value, list):
            cleaned = (normalise(str(topic)) for topic in value)
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
    summary_id = printable(str(raw_id)) if isinstance(raw_id, str | int) else None
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


def printable(value: str, *, limit: int = 200) -> str:
    """``value`` fit for a one-line message: control characters and lone surrogates escaped, cut short."""
    escaped = CONTROL_CHARACTERS.sub(lambda found: f"\\x{ord(found.group()):02x}", value[:limit])
    escaped = escaped.encode("utf-8", "backslashreplace").decode("utf-8")
    return escaped + ("..." if len(value) > limit else "")
