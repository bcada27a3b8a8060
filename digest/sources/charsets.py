"""Turning a feed's bytes into text when its encoding is missing, wrong, or announced three ways at once.

The order, most reliable first:

1. a byte order mark (UTF-8, UTF-16, UTF-32), or the XML spec's own detection of UTF-16 without one;
2. UTF-8, whenever the bytes are valid UTF-8: a label that says otherwise is almost always wrong, and
   text in another encoding is almost never valid UTF-8 by accident;
3. the HTTP ``charset``, then the XML declaration's ``encoding``, when they name a codec that decodes;
4. Windows-1252 (what "ISO-8859-1" usually means in practice), then ISO-8859-1, which decodes anything.
"""

import codecs
import re

BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
DECLARED = re.compile(rb"^\s*<\?xml[^>]{0,200}?encoding\s*=\s*[\"']([A-Za-z0-9._:-]{1,40})[\"']")


def decode(body: bytes, *, charset: str | None = None) -> tuple[str, str]:
    """The text of ``body`` and the name of the encoding it was read with; never raises."""
    for bom, encoding in BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(encoding, errors="replace"), encoding
    if body.startswith(b"<\x00") or body.startswith(b"\x00<"):
        encoding = "utf-16-le" if body.startswith(b"<\x00") else "utf-16-be"
        return body.decode(encoding, errors="replace"), encoding
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    declared = DECLARED.match(body)
    labels = [charset, declared.group(1).decode("ascii") if declared else None, "windows-1252"]
    for label in labels:
        text = try_decode(body, label)
        if text is not None:
            return text, str(label).lower()
    return body.decode("iso-8859-1"), "iso-8859-1"


def try_decode(body: bytes, label: str | None) -> str | None:
    if not label:
        return None
    try:
        return body.decode(label)
    except (LookupError, ValueError):  # an unknown label, or bytes it cannot decode
        return None
