"""The console backend: prints each message, for development."""

import sys
from email import policy
from typing import TextIO

from digest.mail.base import Mailer, OutgoingMessage
from digest.mail.mime import to_mime


class ConsoleMailer(Mailer):
    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def send(self, message: OutgoingMessage) -> str:
        self.stream.write(to_mime(message).as_string(policy=policy.default))
        self.stream.write("\n" + "-" * 72 + "\n")
        self.stream.flush()
        return message.message_id
