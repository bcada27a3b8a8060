"""What each configured source's last read said: a feed's validators (for its next conditional GET), and
whether the source fails, since when and how often in a row. ``digest status`` shows it.

Written in the same transaction as the summaries the read brought, so a stored ETag always belongs to
summaries that are stored too: a 304 can never hide a feed's items that were never saved.
"""

from datetime import datetime

from sqlmodel import Session, col, select

from digest.db.models import SourceState
from digest.sources import SourceBatch, Validators


def known_validators(session: Session, name: str) -> Validators | None:
    state = session.exec(select(SourceState).where(SourceState.name == name[:1000])).first()
    if state is None:
        return None
    return Validators(etag=state.etag, last_modified=state.last_modified) or None


def record_read(session: Session, batch: SourceBatch, *, name: str, line: str, now: datetime) -> None:
    """Remember this read: its validators when it succeeded, its failure otherwise."""
    state = session.exec(select(SourceState).where(SourceState.name == name[:1000])).first()
    if state is None:
        state = SourceState(name=name[:1000], checked_at=now)
    state.checked_at = now
    state.report = line
    if batch.error is None:
        state.succeeded_at = now
        state.failing_since = None
        state.failures = 0
        if batch.validators is not None or not batch.not_modified:
            validators = batch.validators or Validators()
            state.etag, state.last_modified = validators.etag, validators.last_modified
    else:
        state.failing_since = state.failing_since or now
        state.failures += 1
    session.add(state)


def source_states(session: Session, names: list[str] | None = None) -> list[SourceState]:
    """The recorded state of the sources named (all when ``names`` is None), in the order named."""
    query = select(SourceState).order_by(col(SourceState.name))
    states = list(session.exec(query))
    if names is None:
        return states
    by_name = {state.name: state for state in states}
    return [by_name[name[:1000]] for name in names if name[:1000] in by_name]
