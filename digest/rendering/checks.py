"""The checks an editor sees before approving an issue: size, unsupported features, alt text, links, address.

Feature support comes from caniemail (``caniemail.json`` beside this module, derived from caniemail's
``_features`` front matter by ``tests/support/caniemail.py``, MIT): a feature counts as unsupported in Gmail
when any of its desktop webmail, iOS or Android apps says ``n``, and in Outlook on Windows when any
version does. Partial support (``a``) is not a warning: the email is built to degrade there.

May import ``digest.core``.
"""

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from digest.core.email_features import Scan, scan

GMAIL_CLIPS_AT = 102 * 1024
CLIENTS = {
    "gmail-desktop-webmail": "Gmail (desktop webmail)",
    "gmail-ios": "Gmail (iOS)",
    "gmail-android": "Gmail (Android)",
    "outlook-windows": "Outlook on Windows",
}
SUPPORT_FILE = Path(__file__).with_name("caniemail.json")


@dataclass(frozen=True)
class Unsupported:
    slug: str
    title: str
    clients: tuple[str, ...]
    where: tuple[str, ...]

    def describe(self) -> str:
        return (
            f"{self.title} ({self.slug}): not supported in {', '.join(self.clients)}; used in {self.where[0]}"
        )


@dataclass(frozen=True)
class EmailWarning:
    kind: str  # size, feature, alt, link, address
    message: str


@cache
def support_table() -> dict[str, Any]:
    features: dict[str, Any] = json.loads(SUPPORT_FILE.read_text(encoding="utf-8"))["features"]
    return features


def unsupported(found: Scan) -> list[Unsupported]:
    """Features the email uses (outside Outlook-only and ``@media`` CSS) that a target client lacks."""
    table = support_table()
    result = []
    for slug, where in sorted(found.features.items()):
        feature = table.get(slug)
        if feature is None:
            continue
        lacking = tuple(name for key, name in CLIENTS.items() if feature["support"].get(key) == "n")
        if lacking:
            result.append(Unsupported(slug, feature["title"], lacking, tuple(where)))
    return result


def check_email(html: str, *, postal_address: str | None) -> list[EmailWarning]:
    """Every warning for an issue's HTML (as sent, per-recipient links filled)."""
    found = scan(html)
    warnings: list[EmailWarning] = []
    size = len(html.encode("utf-8"))
    if size > GMAIL_CLIPS_AT:
        warnings.append(
            EmailWarning("size", f"the HTML is {size / 1024:.0f} KB: Gmail clips messages above 102 KB")
        )
    warnings += [EmailWarning("feature", feature.describe()) for feature in unsupported(found)]
    warnings += [EmailWarning("alt", f"an image has no alt text: {src}") for src in found.images_without_alt]
    warnings += [EmailWarning("link", f"a link is not https: {href}") for href in found.insecure_links]
    if not (postal_address or "").strip():
        warnings.append(
            EmailWarning("address", "no postal address in the footer: set DIGEST_POSTAL_ADDRESS (CAN-SPAM)")
        )
    return warnings
