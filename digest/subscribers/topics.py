"""The topics subscribers can choose from, and each subscriber's choice."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, func, select

from digest.core.topics import NAME_LIMIT, choice_of, decode, encode
from digest.db.models import Subscriber, SubscriberState, Summary
from digest.errors import InvalidInput


def offered(session: Session, *, configured: Sequence[str], lookback: timedelta, now: datetime) -> list[str]:
    """The configured topics and every topic of the summaries published within ``lookback``, sorted."""
    recent = session.exec(
        select(Summary.topics).where(
            col(Summary.published_at) > now - lookback, col(Summary.published_at) <= now
        )
    )
    names = set(choice_of(configured))
    for topics in recent:
        names.update(choice_of(topics))
    return sorted(names)


@dataclass(frozen=True)
class Offer:
    """What subscribers may choose from: ``DIGEST_TOPICS`` and the topics of summaries published within
    ``DIGEST_TOPICS_LOOKBACK``."""

    configured: tuple[str, ...] = ()
    lookback: timedelta = timedelta(days=90)

    def topics(self, session: Session, *, now: datetime) -> list[str]:
        return offered(session, configured=self.configured, lookback=self.lookback, now=now)


def chosen(subscriber: Subscriber) -> tuple[str, ...]:
    """What ``subscriber`` chose; empty: everything."""
    return decode(subscriber.topics)


def choose(subscriber: Subscriber, names: Iterable[str], *, allowed: Sequence[str] | None = None) -> None:
    """Set ``subscriber``'s topics (none: everything). With ``allowed``, any other name is refused.

    Names are normalised first, so ``"Bone  Health"`` picks ``"bone health"``.
    """
    subscriber.topics = encoded(names, allowed=allowed)


def encoded(names: Iterable[str], *, allowed: Sequence[str] | None = None) -> str:
    """``names`` checked (see ``checked``) and encoded as the subscriber's ``topics`` column holds them."""
    return encode(checked(names, allowed=allowed))


def checked(names: Iterable[str], *, allowed: Sequence[str] | None = None) -> tuple[str, ...]:
    """``names`` as a choice, or ``InvalidInput`` naming a name too long or (with ``allowed``) not allowed.

    Apart from ``choose`` so that a sign-up can be refused before anyone's record is looked up: the
    answer then depends on the input alone.
    """
    choice = choice_of(names)
    too_long = [name for name in choice if len(name) > NAME_LIMIT]
    if too_long:
        raise InvalidInput(f"a topic must be at most {NAME_LIMIT} characters: {too_long[0][:40]!r}…")
    if allowed is not None:
        unknown = sorted(set(choice) - set(choice_of(allowed)))
        if unknown:
            raise InvalidInput(
                f"unknown topic {unknown[0]!r}; the topics on offer are: {', '.join(allowed) or 'none'}"
            )
    return choice


def active_choices(session: Session) -> dict[tuple[str, ...], int]:
    """How many active subscribers made each choice (``()``: everything)."""
    rows = session.exec(
        select(Subscriber.topics, func.count())
        .where(Subscriber.state == SubscriberState.active)
        .group_by(col(Subscriber.topics))
    )
    return tally(rows)


def tally(rows: Iterable[tuple[str, int]]) -> dict[tuple[str, ...], int]:
    """(stored choice, subscribers) rows as subscribers per choice; stored spellings of one choice add up."""
    choices: dict[tuple[str, ...], int] = {}
    for stored, count in rows:
        choice = decode(stored)
        choices[choice] = choices.get(choice, 0) + count
    return choices


def subscribers_per_topic(session: Session) -> dict[str, int]:
    """For each topic, how many active subscribers chose it (those who take everything not counted)."""
    counts: dict[str, int] = {}
    for choice, count in active_choices(session).items():
        for name in choice:
            counts[name] = counts.get(name, 0) + count
    return counts
