"""Taking one raw item of a feed or a push into a batch: validated, or rejected with the reasons."""

from digest.core.summary import validate_summary
from digest.errors import SummaryRejected
from digest.sources.base import SourceBatch


def take(batch: SourceBatch, raw: object, where: str) -> None:
    """Validate ``raw`` and add it to ``batch``, or record why not; the rest of the batch goes on."""
    try:
        summary = validate_summary(raw, origin=where)
    except SummaryRejected as rejection:
        batch.rejected.append(rejection)
        return
    batch.add(summary, where)
