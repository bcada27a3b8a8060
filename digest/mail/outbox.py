"""The outbox backend: each message becomes an ``.eml`` file (RFC 5322, CRLF line ends).

File names come from the message key, and files are written to a temporary name and renamed, so sending
the same delivery again replaces its file instead of adding a second copy.
"""

import os
import tempfile
from pathlib import Path

from digest.errors import TransientMailError
from digest.mail.base import Mailer, OutgoingMessage
from digest.mail.mime import to_bytes


class OutboxMailer(Mailer):
    name = "outbox"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path_for(self, key: str) -> Path:
        return self.folder / f"{key}.eml"

    def send(self, message: OutgoingMessage) -> str:
        target = self.path_for(message.key)
        data = to_bytes(message)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".eml")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temporary, target)
        except OSError as exc:
            raise TransientMailError(f"cannot write {target}: {exc}") from exc
        return str(target)
