"""Every table of digest, in one module.

summary ─< issue_item >─ issue ─< delivery >─ subscriber; suppression stands alone (hashed addresses).
An issue has one issue_variant per distinct set of its summaries that subscribers' topics select,
fixed when its send starts; each delivery names the variant its subscriber got.
What the scheduler records for ops stands alone too: jobrun (the last run of each job) and
schedulerheartbeat (one row per ``digest scheduler`` process). sourcestate keeps what each configured
source's last read said (a feed's validators, failures); providerevent keeps each event of the mail
provider's webhook once, pointing loosely (no foreign keys: a log outlives what it names) at the
subscriber and delivery it was about.
"""

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, Column, Index, Text, UniqueConstraint, false
from sqlmodel import Field, SQLModel

from digest.core.personalize import new_key
from digest.db.types import UTCDateTime


class IssueStatus(enum.StrEnum):
    draft = "draft"
    approved = "approved"
    sending = "sending"
    sent = "sent"
    held = "held"
    cancelled = "cancelled"


# Published: its send has started, so its audience is fixed and the archive shows it. The one definition.
PUBLISHED = (IssueStatus.sending, IssueStatus.sent)


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
    skipped = "skipped"  # left (or bounced) after the send started
    unmatched = "unmatched"  # none of the issue's summaries is on their topics: no email this week


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
    # The random key of the render's per-recipient markers (core/personalize.py): only these are filled.
    markers: str = Field(default_factory=new_key, max_length=32)
    # Readers' picks from the previous issue, fixed at compose, as JSON text (``core/picks.encode``): text,
    # not a JSON column, because PostgreSQL's json has no equality and queries select issues DISTINCT.
    picks: str = Field(default="[]", sa_column=Column(Text, nullable=False, server_default="[]"))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    approved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    approved_by: str | None = Field(default=None, max_length=200)
    send_started_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # A send stopped for ops to act (bad credentials, an error storm); `digest send --resume` clears it.
    paused_reason: str | None = Field(default=None, max_length=500)
    paused_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # When an editor scheduled it to go out (``digest approve --at``); None: as soon as it is approved.
    # With local delivery, its wall-clock time in DIGEST_TIMEZONE is the time each reader gets it.
    send_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


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

    # A send writes each variant's audience with ``WHERE topics IN (...) AND state = 'active'``: with both
    # columns in one index that is a lookup, whatever the planner's statistics (see migration 0010).
    __table_args__ = (Index("ix_subscriber_topics_state", "topics", "state"),)

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
    # The topics they chose, canonical JSON (``core/topics.encode``); ``[]``: everything. Indexed with the
    # state (above): a send groups the active list by it.
    topics: str = Field(default="[]", sa_column=Column(Text, nullable=False, server_default="[]"))
    # Their IANA time zone (``Asia/Kathmandu``); None: the publisher's DIGEST_TIMEZONE.
    timezone: str | None = Field(default=None, max_length=64)
    # Their last unsubscribe is counted by the issue its link named (an ``engagement`` row that names
    # no one under aggregate tracking): the report's older rule, a guess from timestamps, skips them.
    unsubscribe_recorded: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )


class Suppression(SQLModel, table=True):
    """An address that must not be mailed (erased at its owner's request), kept only as a SHA-256 hash."""

    id: int | None = Field(default=None, primary_key=True)
    email_hash: str = Field(max_length=64, unique=True)
    reason: str = Field(max_length=40)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class IssueVariant(SQLModel, table=True):
    """One version of an issue: the summaries some subscribers' topics select, rendered once.

    Written when the issue's send starts and never changed, so a resumed send gives everyone the
    variant they had. The variant holding every summary reuses the issue's own rendering.
    """

    __table_args__ = (UniqueConstraint("issue_id", "position"), UniqueConstraint("issue_id", "summaries"))

    id: int | None = Field(default=None, primary_key=True)
    issue_id: int = Field(foreign_key="issue.id", ondelete="CASCADE")
    position: int  # 1, 2, ... by audience, largest first: how reports and the editor name it
    summaries: str = Field(max_length=2000)  # its summary ids in the issue's order (``VariantPlan.key``)
    choices: list[list[str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    subscribers: int  # when the send started
    subject: str = Field(max_length=300)
    preheader: str = Field(default="", max_length=300)
    html: str = Field(default="", sa_column=Column(Text, nullable=False))
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    # The random key of the render's per-recipient markers (core/personalize.py): only these are filled.
    markers: str = Field(default_factory=new_key, max_length=32)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Delivery(SQLModel, table=True):
    """One issue to one subscriber. Unique per pair: the ledger that makes a send exactly-once."""

    # No index mentions the columns a send changes (status, lease, ...): on PostgreSQL every change is
    # then a HOT update that writes no index, in pages kept half free for it (fillfactor, migration 0005).
    # Senders find pending rows by walking the primary key from where they left off (sending/ledger.py).
    # No foreign keys either: a send writes its whole audience in one INSERT ... SELECT, and PostgreSQL
    # checks a foreign key row by row (a key-share lock on every subscriber row): with two of them that
    # took as long as the insert itself (migration 0009). Rows come only from the issue and subscriber
    # tables, and neither ever loses a row (erasure keeps the subscriber row, emptied).
    __table_args__ = (UniqueConstraint("issue_id", "subscriber_id"),)

    id: int | None = Field(default=None, primary_key=True)
    issue_id: int
    subscriber_id: int = Field(index=True)
    # Which version of the issue they get; NULL for sends started before topics (the issue's own).
    variant_id: int | None = None
    status: str = Field(default=DeliveryStatus.pending, max_length=20)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=1000)
    provider_message_id: str | None = Field(default=None, max_length=200)
    # Who holds the row while it is `sending`, and until when (see sending/ledger.py).
    claimed_by: str | None = Field(default=None, max_length=40)
    lease_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # With local delivery: the start of the wave it belongs to; no claim takes it before (NULL: at once).
    not_before: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # What the provider last said about this message (processed, deferred, delivered, bounced, blocked,
    # dropped) and when, from its webhook; the send never reads or writes these.
    provider_status: str | None = Field(default=None, max_length=20)
    provider_event_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class IssueWave(SQLModel, table=True):
    """One time zone's place in an issue's local-time send: the instant its readers' wave starts.

    Written with the audience when the send starts and never moved, but for a wave that is too late
    (``sending/waves.py``). Zones whose local time falls on one instant share a wave: their deliveries
    carry the same ``not_before``.
    """

    __table_args__ = (UniqueConstraint("issue_id", "zone"),)

    id: int | None = Field(default=None, primary_key=True)
    issue_id: int = Field(foreign_key="issue.id", ondelete="CASCADE")
    zone: str = Field(max_length=64)
    local_at: str = Field(max_length=40)  # the wall-clock time there, e.g. 2026-12-08T07:00+05:45
    starts_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    readers: int  # when the send started
    # Why it starts later than planned (a late scheduler past DIGEST_MISFIRE_GRACE), or "".
    note: str = Field(default="", max_length=300)


class UsedChallenge(SQLModel, table=True):
    """A solved proof-of-work challenge, kept until it expires so that it cannot be replayed."""

    id: int | None = Field(default=None, primary_key=True)
    signature: str = Field(max_length=128, unique=True)
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class UsedFormToken(SQLModel, table=True):
    """A sign-up form's token once a sign-up was made with it, kept until it expires: one form, one sign-up.

    Only a SHA-256 of the token is kept: the token itself says nothing about anyone.
    """

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class JobRun(SQLModel, table=True):
    """The last run of one scheduled job (``ingest``, ``compose-and-send``, ``send``), by any process.

    ``outcome`` is ``running``, ``ok``, ``failed`` or ``interrupted`` (stopped by SIGTERM mid-way).
    """

    name: str = Field(primary_key=True, max_length=40)
    outcome: str = Field(max_length=20)
    detail: str = Field(default="", sa_column=Column(Text, nullable=False))
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # Kept across failed runs: how long a job (a source, say) has been failing.
    succeeded_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class SchedulerHeartbeat(SQLModel, table=True):
    """One ``digest scheduler`` process: whether it leads or waits, and when it last said it was alive.

    A heartbeat older than a few ``every_seconds`` means that process is gone (``/healthz`` says so).
    """

    id: int | None = Field(default=None, primary_key=True)
    holder: str = Field(max_length=200, unique=True)  # host:pid
    role: str = Field(max_length=20)  # leader, standby or stopped
    every_seconds: float
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    beat_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # The leader's jobs and when each runs next (ISO 8601), as its scheduler sees them.
    next_runs: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class SourceState(SQLModel, table=True):
    """What the last read of one configured source said: a feed's validators for its next conditional GET,
    and whether the source fails (``digest status`` shows it)."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=1000, unique=True)  # as in DIGEST_SOURCES (a password in a URL masked)
    etag: str | None = Field(default=None, max_length=500)
    last_modified: str | None = Field(default=None, max_length=100)
    checked_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    succeeded_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    failing_since: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    failures: int = 0  # reads in a row that failed
    report: str = Field(default="", sa_column=Column(Text, nullable=False))  # the last read's line


class ProviderEvent(SQLModel, table=True):
    """One event of the mail provider's webhook, kept once (unique ``provider_event_id``, SendGrid's
    ``sg_event_id``) so a replayed or repeated event changes nothing. The address is kept only hashed."""

    id: int | None = Field(default=None, primary_key=True)
    provider_event_id: str = Field(max_length=200, unique=True)
    event: str = Field(max_length=40)
    bounce_type: str | None = Field(default=None, max_length=20)
    email_hash: str = Field(max_length=64, index=True)
    subscriber_id: int | None = Field(default=None, index=True)
    delivery_id: int | None = Field(default=None)
    issue_number: int | None = Field(default=None, index=True)
    reason: str | None = Field(default=None, max_length=1000)  # cleared when the subscriber is erased
    outcome: str = Field(max_length=100)  # what it changed, or why it changed nothing
    occurred_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class EditorialAction(SQLModel, table=True):
    """Who did what to an issue, and when: the editors' audit trail (approve, hold, cancel, edits, tests).

    Keyed loosely by the issue's number (no foreign key: the record outlives what it names).
    """

    id: int | None = Field(default=None, primary_key=True)
    issue_number: int = Field(index=True)
    actor: str = Field(max_length=200)  # an editor's name, or cli / scheduler
    action: str = Field(max_length=40)
    detail: str = Field(default="", sa_column=Column(Text, nullable=False))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Engagement(SQLModel, table=True):
    """One click on a tracked link, one open, or one unsubscribe from an issue's link (``visitor`` empty),
    appended and never changed: many web processes insert at once without waiting on each other's rows
    (no unique key, no update), on both databases.

    ``visitor`` is a keyed hash of the client's address and user agent for this issue on this day: it
    sets a scanner's burst apart (``core/engagement.py``) and estimates unique clicks, and names nobody.
    ``subscriber_id`` is filled only under ``DIGEST_TRACKING=individual``.
    """

    __table_args__ = (Index("ix_engagement_issue_at", "issue_number", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    issue_number: int
    summary_id: int | None = None
    action: str = Field(max_length=20)  # click, open, unsubscribe
    kind: str = Field(default="", max_length=10)  # page, doi, note (a click's link)
    source: str = Field(max_length=10)  # redirect, pixel, sendgrid
    visitor: str = Field(max_length=32)
    subscriber_id: int | None = None
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
