"""Every table of digest, in one module.

summary ─< issue_item >─ issue ─< delivery >─ subscriber; suppression stands alone (hashed addresses)
"""

import enum
from datetime import UTC, datetime

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from digest.db.types import UTCDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


class IssueStatus(enum.StrEnum):
    draft = "draft"
    approved = "approved"
    sending = "sending"
    sent = "sent"
    held = "held"
    cancelled = "cancelled"


class SubscriberState(enum.StrEnum):
    pending = "pending"
    active = "active"
    unsubscribed = "unsubscribed"
    bounced = "bounced"
    complained = "complained"


class DeliveryStatus(enum.StrEnum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    failed = "failed"
    skipped = "skipped"


class Summary(SQLModel, table=True):
    """A published research summary, upserted by its source id."""

    id: int | None = Field(default=None, primary_key=True)
    source_id: str = Field(max_length=200, unique=True)
    origin: str = Field(max_length=500)
    url: str = Field(max_length=2000)
    title: str = Field(max_length=500)
    headline: str | None = Field(default=None, max_length=500)
    key_takeaway: str = Field(sa_column=Column(Text, nullable=False))
    what_it_means: str = Field(sa_column=Column(Text, nullable=False))
    summary: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    study_type: str | None = Field(default=None, max_length=200)
    evidence_level: str | None = Field(default=None, max_length=200)
    topics: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    source_journal: str | None = Field(default=None, max_length=300)
    source_doi: str | None = Field(default=None, max_length=300)
    source_published: str | None = Field(default=None, max_length=40)
    faq: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    published_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    content_hash: str = Field(max_length=64)
    ingested_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))

    @property
    def display_title(self) -> str:
        return self.headline or self.title


class Issue(SQLModel, table=True):
    """One numbered issue of the digest and the email rendered for it."""

    id: int | None = Field(default=None, primary_key=True)
    number: int = Field(unique=True)
    status: str = Field(default=IssueStatus.draft, max_length=20, index=True)
    # The scheduled period this issue was composed for; unique so a double fire composes once.
    period: str | None = Field(default=None, max_length=40, unique=True)
    window_start: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    window_end: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    subject: str = Field(max_length=300)
    preheader: str = Field(default="", max_length=300)
    note: str = Field(default="", sa_column=Column(Text, nullable=False))
    html: str = Field(default="", sa_column=Column(Text, nullable=False))
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    approved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    approved_by: str | None = Field(default=None, max_length=200)
    send_started_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # A send stopped for ops to act (bad credentials, an error storm); `digest send --resume` clears it.
    paused_reason: str | None = Field(default=None, max_length=500)
    paused_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class IssueItem(SQLModel, table=True):
    """A summary's place in an issue; ``featured`` items are shown in full, the rest by title."""

    __table_args__ = (UniqueConstraint("issue_id", "summary_id"), UniqueConstraint("issue_id", "position"))

    id: int | None = Field(default=None, primary_key=True)
    issue_id: int = Field(foreign_key="issue.id", ondelete="CASCADE")
    summary_id: int = Field(foreign_key="summary.id", index=True)
    position: int
    featured: bool = True


class Subscriber(SQLModel, table=True):
    """A person on the list. ``email_key`` is the lower-cased address: addresses are unique without case."""

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320)
    email_key: str = Field(max_length=320, unique=True)
    state: str = Field(default=SubscriberState.pending, max_length=20, index=True)
    # Part of every token; changed on erasure so old links stop working.
    token_nonce: str = Field(max_length=32)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    confirmed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    unsubscribed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    consent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    consent_ip: str | None = Field(default=None, max_length=64)
    consent_user_agent: str | None = Field(default=None, max_length=500)
    consent_form: str | None = Field(default=None, max_length=200)
    consent_text_version: str | None = Field(default=None, max_length=40)
    # When the last confirmation or "already subscribed" notice went out: at most one per window.
    confirmation_sent_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    notice_sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    erased_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class Suppression(SQLModel, table=True):
    """An address that must not be mailed (erased at its owner's request), kept only as a SHA-256 hash."""

    id: int | None = Field(default=None, primary_key=True)
    email_hash: str = Field(max_length=64, unique=True)
    reason: str = Field(max_length=40)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Delivery(SQLModel, table=True):
    """One issue to one subscriber. Unique per pair: the ledger that makes a send exactly-once."""

    # No index mentions the columns a send changes (status, lease, ...): on PostgreSQL every change is
    # then a HOT update that writes no index, in pages kept half free for it (fillfactor, migration 0005).
    # Senders find pending rows by walking the primary key from where they left off (services/ledger.py).
    __table_args__ = (UniqueConstraint("issue_id", "subscriber_id"),)

    id: int | None = Field(default=None, primary_key=True)
    issue_id: int = Field(foreign_key="issue.id", ondelete="CASCADE")
    subscriber_id: int = Field(foreign_key="subscriber.id", index=True)
    status: str = Field(default=DeliveryStatus.pending, max_length=20)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=1000)
    provider_message_id: str | None = Field(default=None, max_length=200)
    # Who holds the row while it is `sending`, and until when (see services/ledger.py).
    claimed_by: str | None = Field(default=None, max_length=40)
    lease_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class UsedChallenge(SQLModel, table=True):
    """A solved proof-of-work challenge, kept until it expires so that it cannot be replayed."""

    id: int | None = Field(default=None, primary_key=True)
    signature: str = Field(max_length=128, unique=True)
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
