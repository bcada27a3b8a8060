"""The language readers get (``DIGEST_LANGUAGE``): gettext catalogues, text direction and dates.

Every word a reader sees, in emails, notices and pages, is an English message id looked up in a gettext
catalogue. The catalogues are the ``.po`` files under ``digest/locales/<code>/LC_MESSAGES/messages.po``,
kept in the repository as translators edit them; they are compiled in memory when first loaded (Babel),
so a checkout or an editable install needs no build step, and a fuzzy or empty entry is never used.
English is the message ids themselves and needs no catalogue.

``babel.cfg`` at the top of the repository tells ``pybabel extract`` where the messages are (Python, the
email templates, the reader's pages); docs/translations.md says how to add or update a language.
"""

import io
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from gettext import NullTranslations
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from digest.errors import ConfigError

LOCALES = Path(__file__).resolve().parent / "locales"
SOURCE_LANGUAGE = "en"
DOMAIN = "messages"


def catalogue_path(code: str) -> Path:
    return LOCALES / code / "LC_MESSAGES" / f"{DOMAIN}.po"


def shipped_languages() -> tuple[str, ...]:
    """English and every language with a catalogue, sorted."""
    found = {path.parents[1].name for path in LOCALES.glob(f"*/LC_MESSAGES/{DOMAIN}.po")}
    return tuple(sorted(found | {SOURCE_LANGUAGE}))


@dataclass(frozen=True)
class Language:
    """One language's words, its text direction and how it writes dates."""

    code: str
    translations: NullTranslations = field(default_factory=NullTranslations, compare=False)

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        return self.translations.ngettext(singular, plural, count)

    @property
    def direction(self) -> str:
        """``rtl`` for a language written right to left (Arabic, Hebrew, ...), else ``ltr``."""
        order = Locale.parse(self.code).character_order
        return "rtl" if order == "right-to-left" else "ltr"

    def date(self, when: date | datetime) -> str:
        """``when`` as a reader of this language writes a day: "4 December 2026", "4 de diciembre de 2026"."""
        # TRANSLATORS: how a day is written, as a CLDR date pattern: d is the day, MMMM the month's name,
        # y the year; put words in single quotes, as in "d 'de' MMMM 'de' y".
        pattern = self.gettext("d MMMM y")
        return format_date(when, format=pattern, locale=self.code)


ENGLISH = Language(SOURCE_LANGUAGE)


def N_(message: str) -> str:
    """Marks ``message`` for the catalogue where it is written (a setting's default); it is translated
    where it is shown."""
    return message


@cache
def language(code: str) -> Language:
    """The language ``code`` with its catalogue compiled (once per process); ``ConfigError`` naming
    ``DIGEST_LANGUAGE`` when no catalogue ships for it."""
    if code not in shipped_languages():
        raise ConfigError(
            f"DIGEST_LANGUAGE={code!r} has no catalogue; the shipped languages are "
            + ", ".join(shipped_languages())
        )
    if code == SOURCE_LANGUAGE:
        return ENGLISH
    return Language(code, compiled(catalogue_path(code), code))


def compiled(path: Path, code: str) -> Translations:
    """The ``.po`` file at ``path`` compiled in memory, leaving out fuzzy and untranslated entries."""
    try:
        with path.open("rb") as source:
            catalogue = read_po(source, locale=code, domain=DOMAIN)
    except (OSError, ValueError, UnknownLocaleError) as exc:
        raise ConfigError(f"the {code} catalogue ({path}) cannot be read: {exc}") from exc
    buffer = io.BytesIO()
    write_mo(buffer, catalogue, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)
