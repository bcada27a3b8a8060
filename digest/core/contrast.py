"""Colour contrast as WCAG 2 defines it: the one place the digest computes it.

``contrast_ratio`` of two colours (``#rgb``, ``#rrggbb`` or CSS ``rgb(r, g, b)``) is
``(L1 + 0.05) / (L2 + 0.05)`` of their relative luminances, from 1 (the same) to 21 (black on white).
WCAG AA asks 4.5:1 for body text (``AA``). Start-up checks of the brand colour, the palette tests and the
browser tests that read rendered styles all call this. Pure: no I/O.
"""

import re

AA = 4.5
_HEX = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_RGB = re.compile(r"rgba?\(\s*(\d{1,3})[\s,]+(\d{1,3})[\s,]+(\d{1,3})")


def hex_colour(value: str) -> str:
    """``value`` as ``#rrggbb`` in lower case; ``ValueError`` when it is not a hex colour."""
    text = value.strip()
    if not _HEX.fullmatch(text):
        raise ValueError(f"{value!r} is not a hex colour such as #0b4f6c")
    digits = text[1:].lower()
    if len(digits) == 3:
        digits = "".join(digit * 2 for digit in digits)
    return "#" + digits


def channels(colour: str) -> tuple[int, int, int]:
    """Red, green and blue (0-255) of a hex colour or of a CSS ``rgb()``/``rgba()`` value."""
    found = _RGB.match(colour.strip())
    if found:
        red, green, blue = (int(part) for part in found.groups())
        return red, green, blue
    digits = hex_colour(colour)
    return int(digits[1:3], 16), int(digits[3:5], 16), int(digits[5:7], 16)


def luminance(colour: str) -> float:
    """The relative luminance of ``colour``: 0 for black, 1 for white."""
    linear = [_linear(channel / 255) for channel in channels(colour)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _linear(value: float) -> float:
    return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4


def contrast_ratio(one: str, other: str) -> float:
    """How far apart two colours are for reading, 1.0 to 21.0, whichever is the text."""
    lighter, darker = sorted((luminance(one), luminance(other)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def inverted(colour: str) -> str:
    """Roughly what a mail app that forces its own dark mode does to a colour: full inversion."""
    return "#" + "".join(f"{255 - channel:02x}" for channel in channels(colour))
