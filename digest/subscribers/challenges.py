"""Solved sign-up challenges (``DIGEST_ALTCHA``) work once: each is stored until it expires.

The web layer verifies a solution (``web/proof.py``); here it is spent. The unique signature makes a
second spend of the same solution fail, even from another web process at the same moment.
"""

from datetime import datetime, timedelta

from sqlalchemy import Engine, delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from digest.db.engine import unit_of_work
from digest.db.models import UsedChallenge


def spend(engine: Engine, signature: str, *, now: datetime, lifetime: timedelta) -> bool:
    """``True`` the first time ``signature`` is spent within its lifetime, ``False`` on a replay."""
    try:
        with unit_of_work(engine) as session:
            # Expired ones go as new ones come: the table holds at most a lifetime's worth.
            session.execute(delete(UsedChallenge).where(col(UsedChallenge.expires_at) < now))
            session.add(UsedChallenge(signature=signature[:128], expires_at=now + lifetime))
    except IntegrityError:
        return False
    return True
