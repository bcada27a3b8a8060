"""Where mail leaves: the ``Mailer`` interface and its adapters (outbox, console, in-memory).

May import ``digest.core`` and ``digest.errors``; never ``digest.db``.
"""

from digest.mail.base import Envelope, Mailer, Outcome, OutgoingMessage, SharedBody
from digest.mail.console import ConsoleMailer
from digest.mail.memory import MemoryMailer
from digest.mail.outbox import OutboxMailer

__all__ = [
    "ConsoleMailer",
    "Envelope",
    "Mailer",
    "MemoryMailer",
    "OutboxMailer",
    "Outcome",
    "OutgoingMessage",
    "SharedBody",
]
