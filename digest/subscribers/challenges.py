"""What works once: solved sign-up challenges (``DIGEST_ALTCHA``) and sign-up form tokens.

The web layer verifies a solution (``web/proof.py``) or a form token (``web/guard.py``); here it is
spent. Each is stored until it expires; the unique column makes a second spend fail, even from another
web process at the same moment. Expired ones are deleted as new ones come, so a table holds at most one
lifetime's worth.
"""

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from digest.db.engine import unit_of_work
from digest.db.models import UsedChallenge, UsedFormToken


def spend(engine: Engine, signature: str, *, now: datetime, lifetime: timedelta) -> bool:
    """``True`` the first time ``signature`` is spent within its lifetime, ``False`` on a replay."""
    try:
        with unit_of_work(engine) as session:
            session.execute(delete(UsedChallenge).where(col(UsedChallenge.expires_at) < now))
            session.add(UsedChallenge(signature=signature[:128], expires_at=now + lifetime))
    except IntegrityError:
        return False
    return True


def spend_form_token(engine: Engine, token: str, *, now: datetime, lifetime: timedelta) -> bool:
    """``True`` the first time a sign-up comes with ``token``, ``False`` for any later one."""
    token_hash = hashlib.sha256(token.encode()).hexdigest()
    try:
        with unit_of_work(engine) as session:
            session.execute(delete(UsedFormToken).where(col(UsedFormToken.expires_at) < now))
            session.add(UsedFormToken(token_hash=token_hash, expires_at=now + lifetime))
    except IntegrityError:
        return False
    return True
