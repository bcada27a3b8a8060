"""Topics: what subscribers choose, and the variants of an issue their choices produce. Pure.

A subscriber's choice is a set of topic names; the empty set means "everything". Someone who chose
topics gets the issue's summaries that carry at least one of them, in the issue's order; a summary
without topics goes only to those who take everything. Subscribers whose choices select the same
summaries share one *variant*, rendered once; a choice that selects nothing this week gets no email.

The number of variants is at most the number of distinct choices among active subscribers, and at
most the number of distinct unions of the issue's per-topic summary sets (``2 ** t`` for ``t`` topics
in the issue, and in practice far fewer: each variant needs someone whose choice produces it).
"""

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

EVERYTHING: tuple[str, ...] = ()
NAME_LIMIT = 100


def normalise(name: str) -> str:
    """One spelling per topic: spacing collapsed, lower case (``"  Bone   Health"`` -> ``"bone health"``)."""
    return " ".join(name.split()).lower()


def choice_of(names: Iterable[str]) -> tuple[str, ...]:
    """A choice in its one canonical form: normalised, without repeats or blanks, sorted."""
    return tuple(sorted({topic for topic in map(normalise, names) if topic}))


def encode(names: Iterable[str]) -> str:
    """How a choice is stored (``subscriber.topics``): canonical JSON, so equal choices compare equal
    as text and a send can group a million subscribers by it in the database."""
    return json.dumps(list(choice_of(names)), ensure_ascii=False)


def decode(stored: str | None) -> tuple[str, ...]:
    loaded = json.loads(stored) if stored else []
    return choice_of(str(name) for name in loaded) if isinstance(loaded, list) else EVERYTHING


def label(choice: Sequence[str]) -> str:
    """How a choice reads in reports and the editor: ``"cardiology + mental health"``, or ``"everything"``."""
    return " + ".join(choice) if choice else "everything"


@dataclass(frozen=True)
class Item:
    """One summary of an issue, with its topics (normalised at ingest)."""

    summary_id: int
    topics: frozenset[str]


def selected(items: Sequence[Item], choice: Sequence[str]) -> tuple[int, ...]:
    """The summaries of ``items`` (in their order) that someone who chose ``choice`` gets."""
    if not choice:
        return tuple(item.summary_id for item in items)
    wanted = set(choice)
    return tuple(item.summary_id for item in items if wanted & item.topics)


@dataclass(frozen=True)
class VariantPlan:
    """One variant of an issue: the summaries it holds and the choices (with their subscribers) behind it.

    ``summary_ids`` is empty for the subscribers who get nothing this week.
    """

    summary_ids: tuple[int, ...]
    choices: tuple[tuple[str, ...], ...]
    subscribers: int

    @property
    def key(self) -> str:
        """The variant's name within its issue: its summary ids, e.g. ``"12,15,19"`` (``""``: none)."""
        return ",".join(map(str, self.summary_ids))

    @property
    def empty(self) -> bool:
        return not self.summary_ids


def plan(items: Sequence[Item], choices: Mapping[tuple[str, ...], int]) -> list[VariantPlan]:
    """Group ``choices`` (each with its number of subscribers) by the summaries they select.

    Variants come largest audience first; the one with no summary, if any, comes last.
    """
    groups: dict[tuple[int, ...], list[tuple[str, ...]]] = {}
    for choice in sorted(choices):
        groups.setdefault(selected(items, choice), []).append(choice)
    plans = [
        VariantPlan(ids, tuple(members), sum(choices[member] for member in members))
        for ids, members in groups.items()
    ]
    return sorted(plans, key=lambda p: (p.empty, -p.subscribers, p.summary_ids))


def parse_key(key: str) -> tuple[int, ...]:
    """The summary ids a variant key names; ``ValueError`` for anything but comma-separated ids."""
    return tuple(int(part) for part in key.split(",")) if key else ()
