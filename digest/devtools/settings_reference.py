"""docs/configuration.md, written from the settings class so that the page cannot drift from the code.

Each setting's description is its docstring in ``digest/config.py``. Regenerate the page with
``.venv/bin/python -m digest.devtools.settings_reference > docs/configuration.md``; tests/test_docs.py
fails while the page and this output differ.
"""

import re
import types
from dataclasses import astuple
from datetime import timedelta
from pathlib import Path
from typing import Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt
from pydantic.fields import FieldInfo

from digest.config import Settings
from digest.core.durations import format_duration

COMMAND = ".venv/bin/python -m digest.devtools.settings_reference > docs/configuration.md"

INTRO = f"""\
# Configuration

<!-- Generated from the settings' docstrings in digest/config.py: edit those, then run
{COMMAND} -->

digest reads every setting from an environment variable named `DIGEST_` and the setting's name, or from
a `.env` file in the directory it runs in; a variable set in the environment wins over the file. Nothing
else in the program reads the environment, and settings are read once, when a command starts: change one,
then restart the processes (see [operations](operations.md)).

The defaults serve the demo and development and nothing else. With `DIGEST_ENV=test` or `production` the
development signing key and a `DIGEST_FROM` at no real domain are refused, and `production` also refuses a
missing postal address and an http base URL, each with a one-line error naming the setting. A value that
cannot be read stops the command the same way: `error: bad setting: DIGEST_BATCH_SIZE: Input should be
less than or equal to 20000`.

Durations are written `0`, `90s`, `10m`, `1h30m`, `7d` or `2w`; a bare number counts seconds. Rate limits
use the notation of the `limits` package: `10/minute;60/hour` allows both at once.

| variable | default | accepts | meaning |
|---|---|---|---|
"""

LIMIT_WORDS = {Ge: "{:,} or more", Gt: "above {:,}", Le: "at most {:,}", Lt: "below {:,}"}


def variable(name: str, field: FieldInfo) -> str:
    """The environment variable that sets ``name``."""
    return field.alias or f"{Settings.model_config.get('env_prefix', '')}{name}".upper()


def variables() -> list[str]:
    """Every setting's environment variable, in the order of the settings class."""
    return [variable(name, field) for name, field in Settings.model_fields.items()]


def shown_default(value: object) -> str:
    """A default written as one would write it in the environment."""
    if value is None or value == "":
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, timedelta):
        return f"`{format_duration(value)}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{value}`"


def bounds(field: FieldInfo) -> str:
    """The numeric limits a field declares, in words: ``from 1 to 64``, ``above 0, at most 600``."""
    found = {type(limit): astuple(limit)[0] for limit in field.metadata if type(limit) in LIMIT_WORDS}
    if Ge in found and Le in found:
        return f"from {found[Ge]:,} to {found[Le]:,}"
    return ", ".join(LIMIT_WORDS[kind].format(value) for kind, value in found.items())


def accepts(field: FieldInfo) -> str:
    """What kind of value a field takes."""
    kind = field.annotation
    if get_origin(kind) in (Union, types.UnionType):
        kind = next(arg for arg in get_args(kind) if arg is not type(None))
    if get_origin(kind) is Literal:
        return ", ".join(f"`{choice}`" for choice in get_args(kind))
    if kind in (int, float):
        return f"{'whole number' if kind is int else 'number'} {bounds(field)}".strip()
    names: dict[object, str] = {bool: "`true` or `false`", timedelta: "duration", Path: "path"}
    return names.get(kind, "text")


def row(name: str, field: FieldInfo) -> str:
    if not field.description:
        raise ValueError(f"the setting {name} has no docstring: say in digest/config.py what it means")
    cells = [f"`{variable(name, field)}`", shown_default(field.default), accepts(field), field.description]
    return "| " + " | ".join(re.sub(r"\s+", " ", cell).replace("|", "\\|") for cell in cells) + " |\n"


def reference() -> str:
    """The whole of docs/configuration.md."""
    return INTRO + "".join(row(name, field) for name, field in Settings.model_fields.items())


if __name__ == "__main__":
    print(reference(), end="")
