"""The transactional emails of subscribing: confirmation, welcome, "already subscribed".

Built and sent only after the transaction that called for them has committed (see ``subscriptions``).
"""

from dataclasses import dataclass
from email.utils import make_msgid

from digest.core.addresses import domain_of
from digest.errors import MailError
from digest.mail import Mailer, OutgoingMessage
from digest.rendering import NoticeView, Renderer
from digest.subscribers.subscriptions import Notice, NoticeKind
from digest.tokens import Purpose, Tokens


@dataclass(frozen=True)
class NoticeSettings:
    site_name: str
    base_url: str
    from_: str
    welcome_email: bool
    welcome_text: str
    confirm_days: int


class NoticeSender:
    def __init__(self, renderer: Renderer, mailer: Mailer, tokens: Tokens, settings: NoticeSettings) -> None:
        self.renderer = renderer
        self.mailer = mailer
        self.tokens = tokens
        self.settings = settings

    def send(self, notice: Notice, *, latest_issue: int | None = None) -> str | None:
        """Send ``notice``; return the backend's id, or ``None`` when this kind is switched off."""
        view = self.view(notice, latest_issue)
        if view is None:
            return None
        rendered = self.renderer.render_notice(view)
        message = OutgoingMessage(
            key=f"notices/{notice.kind}-{notice.subscriber_id}-{make_msgid().strip('<>').split('@')[0]}",
            to=notice.email,
            from_=self.settings.from_,
            subject=rendered.subject,
            html=rendered.html,
            text=rendered.text,
            message_id=make_msgid(domain=domain_of(self.settings.from_)),
        )
        try:
            return self.mailer.send(message)
        finally:
            self.mailer.close()

    def link(self, purpose: Purpose, notice: Notice) -> str:
        token = self.tokens.sign(purpose, notice.subscriber_id, notice.nonce)
        return f"{self.settings.base_url}/{purpose}/{token}"

    def view(self, notice: Notice, latest_issue: int | None) -> NoticeView | None:
        name = self.settings.site_name
        preferences = self.link(Purpose.preferences, notice)
        if notice.kind == NoticeKind.confirm:
            return NoticeView(
                subject=f"Confirm your subscription to the {name}",
                heading="Please confirm your subscription",
                paragraphs=(
                    f"Someone, probably you, asked to receive the {name} at this address.",
                    "Confirm with the button below and the weekly emails will start.",
                ),
                button_label="Confirm my subscription",
                button_url=self.link(Purpose.confirm, notice),
                closing=(
                    f"The link works for {self.settings.confirm_days} "
                    f"day{'' if self.settings.confirm_days == 1 else 's'}. "
                    "If you did not ask for this, ignore this email: nothing will be sent to you.",
                ),
                footer=f"You received this one email because this address was entered on the {name} form.",
            )
        if notice.kind == NoticeKind.welcome:
            if not self.settings.welcome_email:
                return None
            archive = f"{self.settings.base_url}/issues" + (f"/{latest_issue}" if latest_issue else "")
            return NoticeView(
                subject=f"Welcome to the {name}",
                heading="You are subscribed",
                paragraphs=(self.settings.welcome_text,),
                button_label="Read the latest issue" if latest_issue else "See past issues",
                button_url=archive,
                closing=("You can change what you get or leave at any time from your preferences.",),
                footer=f"You are receiving this because you confirmed your subscription to the {name}.",
                preferences_url=preferences,
            )
        return NoticeView(
            subject=f"You are already subscribed to the {name}",
            heading="You are already subscribed",
            paragraphs=(
                f"Someone, probably you, asked to subscribe this address to the {name}. "
                "It is subscribed already, so nothing has changed.",
            ),
            button_label="Manage preferences",
            button_url=preferences,
            footer=f"You received this because this address was entered on the {name} sign-up form.",
        )


def send_quietly(sender: NoticeSender, notice: Notice, *, latest_issue: int | None) -> MailError | None:
    """Send after the response has gone: a failure is returned for logging, never shown to the requester."""
    try:
        sender.send(notice, latest_issue=latest_issue)
    except MailError as exc:
        return exc
    return None
