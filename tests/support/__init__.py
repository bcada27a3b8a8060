"""Helpers shared by the tests: summaries written to a folder source, parsed outbox messages."""

import contextlib
import io
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any
from unittest import mock

from digest.core.topics import encode
from digest.db.models import DeliveryStatus
from digest.sending.ledger import Audience

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def find_corpora() -> Path:
    """The external reference data (``shared/corpora``): beside the checkout as on a developer's machine,
    or where ``DIGEST_SHARED_CORPORA`` says, or where machines of this kind keep it (a CI clone may live
    in a temporary folder). Tests that need it fail naming the first place when none holds it."""
    places = [Path(os.environ.get("DIGEST_SHARED_CORPORA", ROOT.parent / "shared" / "corpora"))]
    places.append(Path("/work/shared/corpora"))
    return next((place for place in places if place.is_dir()), places[0])


CORPORA = find_corpora()


def summary(number: int, *, published_at: datetime | None = None, **fields: Any) -> dict[str, Any]:
    """A valid summary; ``fields`` override or add fields (``None`` removes one)."""
    when = published_at or NOW - timedelta(hours=number)
    data: dict[str, Any] = {
        "id": f"test-{number:03d}",
        "url": f"https://summaries.example.org/s/test-{number}",
        "title": f"A formal title of study number {number}",
        "headline": f"Plain headline number {number}",
        "key_takeaway": f"The key takeaway of study {number}.",
        "what_it_means": f"What study {number} means for readers.",
        "published_at": when.isoformat(),
        "study_type": "Randomised controlled trial",
        "evidence_level": "Moderate",
        "topics": ["Cardiology"],
    }
    data.update(fields)
    return {key: value for key, value in data.items() if value is not None}


def write_summaries(folder: Path, name: str, content: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
    return path


def read_outbox(outbox: Path) -> list[EmailMessage]:
    """Every message in the outbox, parsed with the standard library."""
    messages = []
    for path in sorted(outbox.glob("**/*.eml")):
        parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        messages.append(parsed)
    return messages


def parts_of(message: EmailMessage) -> tuple[str, str]:
    """The text and HTML bodies of a ``multipart/alternative`` message, checking their order."""
    assert message.get_content_type() == "multipart/alternative"
    plain, html = list(message.iter_parts())
    assert plain.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    assert isinstance(plain, EmailMessage)
    assert isinstance(html, EmailMessage)
    return str(plain.get_content()), str(html.get_content())


def whole_issue(choices: dict[tuple[str, ...], int]) -> list[Audience]:
    """For ``ledger.begin`` in tests about the ledger alone: everyone gets the issue's own email."""
    return [Audience(None, DeliveryStatus.pending, tuple(encode(choice) for choice in choices))]


def cli_refusal(words: list[str]) -> str | None:
    """Why the installed ``digest`` refuses the command line ``digest WORDS`` (an unknown command or
    option), or None when it accepts it.

    The entry point runs in-process with ``--help`` appended: click reads every option before it answers
    ``--help``, so a wrong name is refused and nothing is run."""
    (entry,) = entry_points(group="console_scripts", name="digest")
    output = io.StringIO()
    argv = ["digest", *words, "--help"]
    with (
        mock.patch.object(sys, "argv", argv),
        contextlib.redirect_stdout(output),
        contextlib.redirect_stderr(output),
    ):
        try:
            entry.load()()
        except SystemExit as exit_:
            code = exit_.code
        else:
            code = 0
    return None if code == 0 else output.getvalue()
