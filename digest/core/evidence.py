"""Evidence at a glance: where a summary's evidence level sits on an ordered scale, for its badge.

Two scales are common in research summaries: GRADE's certainty of evidence (High, Moderate, Low, Very
low) and numbered levels of evidence ("Level 1", strongest, to "Level 5"). Both map onto four tones, from
strongest to weakest; anything else is shown as written, in a neutral tone. The badge always carries the
words, so colour is never the only signal. Pure: no I/O.
"""

import re
from dataclasses import dataclass
from enum import StrEnum


class Tone(StrEnum):
    strongest = "strongest"
    strong = "strong"
    weak = "weak"
    weakest = "weakest"
    neutral = "neutral"


# GRADE's words in English and in Spanish (DIGEST_LANGUAGE=es): summaries state them in their own language.
GRADE = {
    "high": Tone.strongest,
    "moderate": Tone.strong,
    "low": Tone.weak,
    "very low": Tone.weakest,
    "alta": Tone.strongest,
    "moderada": Tone.strong,
    "baja": Tone.weak,
    "muy baja": Tone.weakest,
}
NUMBERED = {1: Tone.strongest, 2: Tone.strong, 3: Tone.weak, 4: Tone.weakest, 5: Tone.weakest}
LEVEL = re.compile(r"^(?:level|loe|oxford level|nivel)?\s*([1-5])\s*[a-c]?$")


@dataclass(frozen=True)
class Evidence:
    """The badge of one evidence level: the words shown and the tone of its colour."""

    label: str
    tone: Tone


def evidence(level: str | None) -> Evidence | None:
    """The badge for ``level`` as a summary states it, or None when it states none."""
    if level is None or not level.strip():
        return None
    label = " ".join(level.split())
    key = label.casefold()
    if key in GRADE:
        return Evidence(label, GRADE[key])
    numbered = LEVEL.match(key)
    if numbered:
        return Evidence(label, NUMBERED[int(numbered.group(1))])
    return Evidence(label, Tone.neutral)
