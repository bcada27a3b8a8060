"""Which way a summary's text runs: right to left for Arabic, Hebrew and the other RTL scripts.

Letters carry a direction (Unicode bidi class ``L``, or ``R``/``AL`` for right-to-left scripts); digits,
punctuation and spaces carry none and are skipped. The Unicode bidirectional algorithm takes a paragraph's
direction from its first letter, but a Hebrew headline that opens with a gene name (``APOE4: ...``) would
then run left to right, so a text runs the way most of its letters do, its first letter deciding a tie.
Mail clients do not all honour ``dir="auto"`` (Outlook for Windows lays text out with Word), so the
renderer writes the direction found here as an explicit ``dir`` on each block of an item. Pure: no I/O.
"""

import unicodedata
from typing import Literal

Direction = Literal["ltr", "rtl"]
RIGHT_TO_LEFT = frozenset({"R", "AL"})


def letters(text: str) -> list[Direction]:
    """The direction of each letter of ``text`` that has one, in order."""
    found: list[Direction] = []
    for character in text:
        kind = unicodedata.bidirectional(character)
        if kind == "L":
            found.append("ltr")
        elif kind in RIGHT_TO_LEFT:
            found.append("rtl")
    return found


def direction(*texts: str) -> Direction:
    """The direction of the first of ``texts`` that has letters (most of them; the first on a tie);
    left to right when none has any."""
    for text in texts:
        found = letters(text)
        if found:
            right = found.count("rtl")
            left = len(found) - right
            return found[0] if right == left else ("rtl" if right > left else "ltr")
    return "ltr"
