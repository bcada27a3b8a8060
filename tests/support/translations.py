"""Reading the Spanish catalogue in tests: its messages, and English left untranslated in a text."""

import re

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from digest.i18n import catalogue_path


def spanish() -> Catalog:
    with catalogue_path("es").open("rb") as source:
        return read_po(source, locale="es")


def english_left_in(text: str) -> list[str]:
    """The English of every catalogue message that Spanish words differently and that shows up in
    ``text``: for a message with placeholders, its longer fixed pieces."""
    found = []
    for message in spanish():
        if not message.id or message.string == message.id:
            continue
        english = message.id if isinstance(message.id, str) else message.id[0]
        pieces = [piece for piece in re.split(r"%\(\w+\)[sd]", english) if len(piece.strip()) > 6]
        found += [piece for piece in pieces or [english] if piece in text]
    return found
