"""caniemail's feature data (``../shared/corpora/caniemail``), read from its front matter with PyYAML.

``support_table`` derives what digest ships in ``digest/rendering/caniemail.json``: for each feature, its
title and the worst support in Gmail (desktop webmail, iOS, Android) and in Outlook on Windows across
its versions. The test of that file rebuilds it from the corpus, so it cannot drift from the data.
To refresh it after updating the corpus::

    .venv/bin/python -c "from tests.support.caniemail import write_support_table; write_support_table()"
"""

import json
import os
import re
from pathlib import Path
from typing import Any

import yaml

from tests.support import CORPORA

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("DIGEST_CANIEMAIL_DIR", CORPORA / "caniemail"))
SHIPPED = ROOT / "digest" / "rendering" / "caniemail.json"
CLIENTS = {
    "gmail": ("gmail", ("desktop-webmail", "ios", "android")),
    "outlook-windows": ("outlook", ("windows",)),
}
# Worse first: one version without support makes the client unsupported.
ORDER = ("n", "a", "u", "y")


def front_matter(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8").replace("\t", "    ")  # some files hold tabs PyYAML refuses
    _, matter, _ = re.split(r"^---[ ]*$", text, maxsplit=2, flags=re.MULTILINE)
    loaded: dict[str, Any] = yaml.safe_load(matter)
    return loaded


def worst(values: list[str]) -> str:
    codes = [value.split()[0] for value in values if value.strip()] or ["u"]
    return min(codes, key=ORDER.index)


def support_table(corpus: Path = CORPUS) -> dict[str, Any]:
    features: dict[str, Any] = {}
    for path in sorted((corpus / "_features").glob("*.md")):
        if path.stem.startswith("_"):
            continue
        matter = front_matter(path)
        stats = matter.get("stats") or {}
        support = {}
        for client, (family, platforms) in CLIENTS.items():
            for platform in platforms:
                versions = (stats.get(family) or {}).get(platform) or {}
                key = client if client == "outlook-windows" else f"{client}-{platform}"
                support[key] = worst([str(value) for value in versions.values()])
        features[path.stem] = {"title": str(matter.get("title", path.stem)), "support": support}
    return {"source": "hteumeuleu/caniemail _features @ 6b086a34 (MIT)", "features": features}


def write_support_table() -> None:
    SHIPPED.write_text(json.dumps(support_table(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
