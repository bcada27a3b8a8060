"""Test helpers moved out of test_smtp.py, shared by the tests that need them."""

import socket
from collections import Counter
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, Session
from aiosmtpd.smtp import Envelope as ServerEnvelope

from digest.mail import OutgoingMessage
from tests.support.sending import FROM


@dataclass
class Received:
    peer: Any  # (host, port) of the connection the message came on
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Refusal:
    code: int
    times: int | None  # None: every try
    at: str  # "RCPT" or "DATA"
    reply: str | None = None  # the words after the code; None: a usual one for the code


@dataclass
class Recorder:
    """An aiosmtpd handler that records what it accepts and refuses what it is told to."""

    received: list[Received] = field(default_factory=list)
    ehlos: int = 0
    quits: int = 0
    refusals: dict[str, Refusal] = field(default_factory=dict)
    tries: Counter[str] = field(default_factory=Counter)

    def refuse(
        self, address: str, code: int, *, times: int | None = None, at: str = "RCPT", reply: str | None = None
    ) -> None:
        self.refusals[address] = Refusal(code, times, at, reply)

    def refusal(self, address: str, at: str) -> str | None:
        refusal = self.refusals.get(address)
        if refusal is None or refusal.at != at:
            return None
        self.tries[address] += 1
        if refusal.times is not None and self.tries[address] > refusal.times:
            return None
        detail = refusal.reply or (
            "5.1.1 no such user" if refusal.code >= 500 else "4.2.1 mailbox busy, try later"
        )
        return f"{refusal.code} {detail}"

    @property
    def peers(self) -> set[Any]:
        return {message.peer for message in self.received}

    def recipients(self) -> Counter[str]:
        return Counter(address for message in self.received for address in message.rcpt_tos)

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: ServerEnvelope, hostname: str, responses: list[str]
    ) -> list[str]:
        self.ehlos += 1
        session.host_name = hostname  # aiosmtpd leaves this to a handler that answers EHLO itself
        return responses

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: ServerEnvelope, address: str, options: list[str]
    ) -> str:
        refused = self.refusal(address, "RCPT")
        if refused:
            return refused
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: ServerEnvelope) -> str:
        for address in envelope.rcpt_tos:
            refused = self.refusal(address, "DATA")
            if refused:
                return refused
        assert isinstance(envelope.content, bytes)
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(Received(session.peer, envelope.mail_from or "", envelope.rcpt_tos, message))
        return "250 2.0.0 Ok: queued"

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: ServerEnvelope) -> str:
        self.quits += 1
        return "221 Bye"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def message(to: str = "reader@example.org") -> OutgoingMessage:
    return OutgoingMessage(
        key=f"notice/{to}",
        to=to,
        from_=FROM,
        subject="Please confirm",
        html="<p>Confirm</p>",
        text="Confirm",
        message_id=f"<notice.{to}>",
    )
