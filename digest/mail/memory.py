"""The in-memory backend: the test double of every mailer, kept beside the real ones.

It records each message it accepts and can be told to fail for given addresses.
"""

from digest.errors import MailError, PermanentMailError
from digest.mail.base import Mailer, OutgoingMessage


class MemoryMailer(Mailer):
    name = "memory"

    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []
        self.failures: dict[str, MailError] = {}

    def fail_for(self, address: str, error: MailError | None = None) -> None:
        self.failures[address] = error or PermanentMailError(f"{address}: mailbox unavailable")

    def send(self, message: OutgoingMessage) -> str:
        if message.to in self.failures:
            raise self.failures[message.to]
        self.sent.append(message)
        return f"memory-{len(self.sent)}"
