"""How single settings' values are read and checked, for ``digest.config.Settings``' validators.

Each function takes the raw value and returns the value to keep, or raises ``ValueError`` with a message
that says what is wrong (pydantic adds the variable's name).
"""

import re
from urllib.parse import urlsplit

from digest.core.contrast import hex_colour
from digest.core.durations import parse_duration
from digest.core.origins import parse_origins
from digest.errors import ConfigError, InvalidInput
from digest.i18n import language, shipped_languages
from digest.rendering.palette import brand_problem

# Stores of the `limits` package that count moving windows (memcached cannot): DIGEST_RATE_LIMIT_STORAGE.
RATE_LIMIT_STORES = ("memory", "redis", "rediss", "redis+unix", "redis+sentinel", "redis+cluster")

# DIGEST_EDITORS: ``name:argon2-hash`` pairs, comma-separated. A PHC argon2 hash holds commas itself
# (``m=65536,t=3,p=4``), so entries are read by their shape, not split on commas.
ARGON2_HASH = r"\$argon2(?:id|i|d)\$(?:v=\d+\$)?m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}"
EDITOR_ENTRY = re.compile(rf"\s*(?P<name>[A-Za-z0-9._@-]{{1,100}})\s*:\s*(?P<hash>{ARGON2_HASH})\s*(?:,|$)")


def duration(value: object) -> object:
    """``90s``, ``15m``, ``2h``, ``7d`` as a timedelta; anything not a string is left to pydantic."""
    if not isinstance(value, str):
        return value
    try:
        return parse_duration(value)
    except InvalidInput as exc:  # a ValueError, so that the message names the variable
        raise ValueError(str(exc)) from exc


def rate_limit_store(value: str) -> str:
    scheme = urlsplit(value).scheme
    if scheme not in RATE_LIMIT_STORES:
        raise ValueError(
            f"unknown rate-limit store {value!r}: use memory:// or a Redis URL such as "
            "redis://127.0.0.1:6379 (schemes: " + ", ".join(RATE_LIMIT_STORES) + ")"
        )
    return value


def brand_colour(value: str) -> str:
    """A hex colour on which the masthead's text is readable in both schemes."""
    colour = hex_colour(value)
    problem = brand_problem(colour)
    if problem:
        raise ValueError(problem)
    return colour


def logo_url(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    parts = urlsplit(value.strip())
    if parts.scheme != "https" or not parts.netloc or any(ch.isspace() for ch in value.strip()):
        raise ValueError(f"must be an https:// address of an image without spaces, got {value!r}")
    return value.strip()


def embed_origins(value: str) -> str:
    try:
        parse_origins(value)
    except InvalidInput as exc:  # a ValueError, so that pydantic names the variable
        raise ValueError(str(exc)) from exc
    return value


def shipped_language(value: str) -> str:
    if value not in shipped_languages():
        raise ValueError(f"no catalogue ships for {value!r}; choose one of " + ", ".join(shipped_languages()))
    try:
        language(value)  # compiled now, so a broken catalogue stops start-up, not the first email
    except ConfigError as exc:
        raise ValueError(str(exc)) from exc
    return value


def base_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"DIGEST_BASE_URL must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


def parse_editors(value: str) -> dict[str, str]:
    """``name:argon2-hash`` pairs, comma-separated; ``ValueError`` naming the first entry that is not one."""
    editors: dict[str, str] = {}
    position = 0
    while value[position:].strip():
        entry = EDITOR_ENTRY.match(value, position)
        if entry is None:
            shown = value[position:].strip().split(":", 1)[0][:40]
            raise ValueError(
                "expected name:argon2-hash pairs separated by commas; the entry starting "
                f"{shown!r} is not one (a hash looks like $argon2id$v=19$m=65536,t=3,p=4$salt$hash)"
            )
        if entry.group("name") in editors:
            raise ValueError(f"the editor {entry.group('name')!r} is listed twice")
        editors[entry.group("name")] = entry.group("hash")
        position = entry.end()
    return editors
