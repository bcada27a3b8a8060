"""JSON Feed 1.1 (and 1): each item carries the summary in a ``_digest`` extension object.

``_digest`` holds the summary's fields (docs/sources-and-api.md). What it leaves out is taken from the
item's own JSON Feed fields: ``id``, ``url``, ``title``, ``date_published`` (-> ``published_at``),
``tags`` (-> ``topics``) and ``content_text`` or ``summary`` (-> ``summary``, both plain text in JSON Feed).
``content_html`` is never read: it is markup. An item without ``_digest`` is rejected with that reason.
"""

import json
from typing import Any

from digest.core.summary import printable
from digest.errors import SummaryRejected
from digest.sources.base import SourceBatch
from digest.sources.items import take

VERSION_PREFIX = "https://jsonfeed.org/version/1"
EXTENSION = "_digest"
ITEM_FIELDS = {"id": "id", "url": "url", "title": "title", "date_published": "published_at", "tags": "topics"}


def parse_json_feed(origin: str, text: str) -> SourceBatch:
    """The summaries of a JSON Feed document, or the reason the document is not one."""
    batch = SourceBatch(origin=origin)
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        batch.error = f"not valid JSON: {exc}"[:300]
        return batch
    problem = feed_problem(document)
    if problem:
        batch.error = f"not a JSON Feed: {problem}"
        return batch
    for number, item in enumerate(document["items"], start=1):
        where = f"{origin} item {number}"
        raw = item_summary(item)
        if isinstance(raw, SummaryRejected):
            batch.rejected.append(SummaryRejected(where, raw.summary_id, raw.problems))
            continue
        take(batch, raw, where)
    return batch


def feed_problem(document: Any) -> str | None:
    if not isinstance(document, dict):
        return f"expected an object, got {type(document).__name__}"
    version = document.get("version")
    if not isinstance(version, str) or not version.startswith(VERSION_PREFIX):
        return f'"version" must be {VERSION_PREFIX}.1'
    if not isinstance(document.get("items"), list):
        return '"items" must be a list'
    return None


def item_summary(item: Any) -> Any:
    """The raw summary of one item (validated later), or why the item carries none."""
    if not isinstance(item, dict):
        return item  # validation names what it is instead of an object
    extension = item.get(EXTENSION)
    if not isinstance(extension, dict):
        item_id = item.get("id")
        ident = printable(str(item_id)) if isinstance(item_id, str | int) else None
        why = "missing" if extension is None else f"must be an object, got {type(extension).__name__}"
        return SummaryRejected("", ident, [(EXTENSION, f"{why}: the summary's fields belong in it")])
    raw: dict[str, Any] = {name: item[key] for key, name in ITEM_FIELDS.items() if item.get(key) is not None}
    text = item.get("content_text") or item.get("summary")
    if text is not None:
        raw["summary"] = text
    raw.update(extension)
    # JSON Feed 1.1 makes ids strings, but version 1 feeds often have numbers.
    if isinstance(raw.get("id"), int) and not isinstance(raw.get("id"), bool):
        raw["id"] = str(raw["id"])
    return raw
