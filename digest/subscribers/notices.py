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
        """The notice's words, in the renderer's language (``DIGEST_LANGUAGE``)."""
        if notice.kind == NoticeKind.confirm:
            return self.confirmation(notice)
        if notice.kind == NoticeKind.welcome:
            return self.welcome(notice, latest_issue) if self.settings.welcome_email else None
        return self.already_subscribed(notice)

    def confirmation(self, notice: Notice) -> NoticeView:
        words, name, days = (
            self.renderer.language.translations,
            self.settings.site_name,
            self.settings.confirm_days,
        )
        lasts = words.ngettext("The link works for %(days)d day.", "The link works for %(days)d days.", days)
        return NoticeView(
            subject=words.gettext("Confirm your subscription to the %(name)s") % {"name": name},
            heading=words.gettext("Please confirm your subscription"),
            paragraphs=(
                words.gettext("Someone, probably you, asked to receive the %(name)s at this address.")
                % {"name": name},
                words.gettext("Confirm with the button below and the weekly emails will start."),
            ),
            button_label=words.gettext("Confirm my subscription"),
            button_url=self.link(Purpose.confirm, notice),
            closing=(
                lasts % {"days": days}
                + " "
                + words.gettext(
                    "If you did not ask for this, ignore this email: nothing will be sent to you."
                ),
            ),
            footer=words.gettext(
                "You received this one email because this address was entered on the %(name)s form."
            )
            % {"name": name},
        )

    def welcome(self, notice: Notice, latest_issue: int | None) -> NoticeView:
        words, name = self.renderer.language.translations, self.settings.site_name
        archive = f"{self.settings.base_url}/issues" + (f"/{latest_issue}" if latest_issue else "")
        return NoticeView(
            subject=words.gettext("Welcome to the %(name)s") % {"name": name},
            heading=words.gettext("You are subscribed"),
            paragraphs=(words.gettext(self.settings.welcome_text),),  # the default in the list's language
            button_label=words.gettext("Read the latest issue")
            if latest_issue
            else words.gettext("See past issues"),
            button_url=archive,
            closing=(
                words.gettext("You can change what you get or leave at any time from your preferences."),
            ),
            footer=words.gettext(
                "You are receiving this because you confirmed your subscription to the %(name)s."
            )
            % {"name": name},
            preferences_url=self.link(Purpose.preferences, notice),
        )

    def already_subscribed(self, notice: Notice) -> NoticeView:
        words, name = self.renderer.language.translations, self.settings.site_name
        return NoticeView(
            subject=words.gettext("You are already subscribed to the %(name)s") % {"name": name},
            heading=words.gettext("You are already subscribed"),
            paragraphs=(
                words.gettext(
                    "Someone, probably you, asked to subscribe this address to the %(name)s. "
                    "It is subscribed already, so nothing has changed."
                )
                % {"name": name},
            ),
            button_label=words.gettext("Manage preferences"),
            button_url=self.link(Purpose.preferences, notice),
            footer=words.gettext(
                "You received this because this address was entered on the %(name)s sign-up form."
            )
            % {"name": name},
        )


def send_quietly(sender: NoticeSender, notice: Notice, *, latest_issue: int | None) -> MailError | None:
    """Send after the response has gone: a failure is returned for logging, never shown to the requester."""
    try:
        sender.send(notice, latest_issue=latest_issue)
    except MailError as exc:
        return exc
    return None
