"""An optional, self-hosted proof-of-work challenge (ALTCHA) on the sign-up form (``DIGEST_ALTCHA``).

The browser must find a number whose SHA-256 with the challenge's salt matches it: a fraction of a
second for one person, real cost for a script signing up thousands. The ``altcha`` package makes and
verifies challenges (HMAC-signed, with an expiry); each solved challenge is stored until it expires, so a
solution works once. The solver is the small script in ``templates/pages/_proof.html``.
"""

import base64
import hmac
from datetime import timedelta
from hashlib import sha256

from altcha.v1 import AlgoType, ChallengeOptions, Payload, create_challenge, verify_solution
from pydantic import BaseModel, ConfigDict

from digest.core.clock import utc_now
from digest.subscribers import challenges
from digest.wiring import Database

LIFETIME = timedelta(minutes=20)


class Solution(BaseModel):
    """What the solver sends back (base64 of this JSON). Checked here because ``altcha`` assumes the
    types: a ``salt`` of null or a number raised inside its verifier."""

    model_config = ConfigDict(strict=True, extra="ignore")

    algorithm: AlgoType
    challenge: str
    number: int
    salt: str
    signature: str


def solution_in(payload: str) -> Payload | None:
    """The solution ``payload`` encodes, or None when it is not one (whatever is wrong with it)."""
    try:
        found = Solution.model_validate_json(base64.b64decode(payload, validate=True))
    except ValueError:  # not base64 (binascii.Error), not JSON or not these fields (ValidationError)
        return None
    return Payload(found.algorithm, found.challenge, found.number, found.salt, found.signature)


class ProofOfWork:
    def __init__(self, secret: str, engine: Database, *, max_number: int) -> None:
        # A key of its own, derived from the signing key: one secret per purpose.
        self._key = hmac.new(secret.encode(), b"digest.altcha", sha256).hexdigest()
        self._engine = engine
        self._max_number = max_number

    def challenge(self) -> dict[str, object]:
        options = ChallengeOptions(
            hmac_key=self._key, max_number=self._max_number, expires=utc_now() + LIFETIME
        )
        made = create_challenge(options)
        return {
            "algorithm": made.algorithm,
            "challenge": made.challenge,
            "maxnumber": made.max_number,
            "salt": made.salt,
            "signature": made.signature,
        }

    def accept(self, payload: str) -> bool:
        """``True`` once for a genuine, unexpired solution; ``False`` for anything else or a replay."""
        solution = solution_in(payload)
        if solution is None or not verify_solution(solution, self._key, check_expires=True)[0]:
            return False
        return challenges.spend(self._engine, solution.signature, now=utc_now(), lifetime=LIFETIME)
