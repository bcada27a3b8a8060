"""Reading the Spanish catalogue in tests: its messages, and English left untranslated in a text."""

import re
from datetime import timedelta

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from digest.core.clock import utc_now
from digest.i18n import catalogue_path
from tests.support import summary


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


def spanish_summaries() -> list[dict[str, object]]:
    """Three summaries written in Spanish, published in the last hours of the injected clock."""
    now = utc_now()
    return [
        summary(
            1,
            published_at=now - timedelta(hours=1),
            headline="Caminar diez minutos después de comer baja el azúcar en sangre",
            key_takeaway="Tres paseos cortos al día, justo después de cada comida, bajaron más la glucosa "
            "que un solo paseo de media hora.",
            what_it_means="Si tiene diabetes tipo 2, un paseo corto después de comer es un hábito fácil de "
            "probar.",
            study_type="Ensayo cruzado aleatorizado",
            evidence_level="Moderada",
            topics=["diabetes"],
        ),
        summary(
            2,
            published_at=now - timedelta(hours=2),
            headline="Dormir menos de seis horas se asocia con más resfriados",
            key_takeaway="Quienes dormían poco se resfriaron con más frecuencia tras exponerse al virus.",
            what_it_means="Dormir lo suficiente también ayuda a sus defensas.",
            study_type="Estudio de cohortes",
            evidence_level="Baja",
            topics=["sueño"],
        ),
        summary(
            3,
            published_at=now - timedelta(hours=3),
            headline="La vitamina D no redujo las caídas en mayores de 65 años",
            key_takeaway="Una pastilla diaria de vitamina D no redujo las caídas.",
            what_it_means="Los ejercicios de equilibrio y fuerza siguen siendo la mejor opción.",
            study_type="Ensayo controlado aleatorizado",
            evidence_level="Alta",
            topics=["huesos"],
        ),
    ]
