"""The error tree of digest. Imports nothing of the project.

::

    DigestError                    anything digest reports to a person, with a one-line message
    ├── ConfigError                a setting is missing or unsafe (ops must fix the environment)
    ├── DatabaseError              the database cannot be reached or is not migrated
    ├── NotFound                   an issue or subscriber named by the user does not exist
    ├── InvalidState               the action does not fit the current state (sending a draft, ...)
    ├── InvalidInput               a value given by a user is malformed (an address, a duration)
    ├── SummaryRejected            one summary failed validation; names the origin, the id and the field
    ├── SourceError                a whole source could not be read (missing folder, unreadable file)
    └── MailError                  a message could not be handed to the mail backend
        ├── TransientMailError     worth retrying later (timeouts, 4xx SMTP replies, 429/5xx)
        ├── PermanentMailError     this message will never go (a rejected address)
        └── MailerUnusable         no message can go (bad credentials, forbidden): stop and fix the setup
"""


class DigestError(Exception):
    """Base of every error digest reports to a person."""


class ConfigError(DigestError):
    """A setting is missing, malformed or unsafe for the environment."""


class DatabaseError(DigestError):
    """The database cannot be reached or its schema is out of date."""


class NotFound(DigestError):
    """Something the user named does not exist."""


class InvalidState(DigestError):
    """The requested action does not fit the current state."""


class InvalidInput(DigestError):
    """A value given by the user is malformed."""


class SummaryRejected(DigestError):
    """One summary failed validation: names its origin, its id and each field at fault."""

    def __init__(self, origin: str, summary_id: str | None, problems: list[tuple[str, str]]) -> None:
        self.origin = origin
        self.summary_id = summary_id
        self.problems = problems
        ident = summary_id if summary_id is not None else "(no id)"
        details = "; ".join(f"{field}: {reason}" for field, reason in problems)
        super().__init__(f"{origin}: summary {ident}: {details}")

    @property
    def fields(self) -> list[str]:
        return [field for field, _ in self.problems]


class SourceError(DigestError):
    """A whole source could not be read."""


class MailError(DigestError):
    """A message could not be handed to the mail backend.

    ``bounce`` says when the receiving server refused the recipient itself, in the words of SendGrid's
    bounce events: ``"bounce"`` (for good: 550 5.1.1 user unknown) or ``"blocked"`` (for now, or by
    policy); ``None`` when the failure is not about the recipient. The sender records it as that event.
    """

    def __init__(self, message: str = "", *, bounce: str | None = None) -> None:
        super().__init__(message)
        self.bounce = bounce


class TransientMailError(MailError):
    """A failure worth retrying later."""


class PermanentMailError(MailError):
    """A failure that retrying will not fix."""


class MailerUnusable(MailError):
    """The backend refuses every message: the send stops, nothing is marked sent, ops must act."""
