"""SendGrid's Event Webhook signature, and the age of its timestamp (``web/webhooks.py`` says why)."""

from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid.helpers.eventwebhook import EventWebhook

from digest.errors import ConfigError

MAX_AGE = timedelta(minutes=10)


class EventSignatures:
    """Checks SendGrid's signature and its timestamp's age, with the account's public key."""

    def __init__(self, public_key: str, *, max_age: timedelta = MAX_AGE) -> None:
        try:
            self._helper = EventWebhook(public_key.strip())
            if not isinstance(self._helper.public_key, ec.EllipticCurvePublicKey):
                raise TypeError("not an elliptic curve key")
        except Exception as exc:  # the key cannot be read, whatever the library's reason
            raise ConfigError(
                "DIGEST_SENDGRID_WEBHOOK_PUBLIC_KEY is not a valid public key: paste the verification key "
                "from SendGrid's Mail Settings > Signed Event Webhook (base64, starting MFkw)"
            ) from exc
        self.max_age = max_age

    def refusal(self, body: bytes, signature: str, timestamp: str, *, now: datetime) -> str | None:
        """Why the request is not genuine and fresh, or None when it is."""
        if not signature or not timestamp:
            return "the signature headers are missing"
        if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
            return "the timestamp is not a number of seconds"
        # Compared as seconds: a datetime cannot hold every 12-digit timestamp (year 33658 and beyond).
        if abs(now.timestamp() - int(timestamp)) > self.max_age.total_seconds():
            return f"the timestamp is more than {self.max_age.total_seconds() / 60:.0f} minutes from now"
        try:
            # The helper prefixes the timestamp and encodes to UTF-8: bytes that are not UTF-8 were
            # not what SendGrid signed. A signature that is not base64 raises instead of returning False.
            genuine = bool(self._helper.verify_signature(body.decode("utf-8"), signature, timestamp))
        except Exception:  # any failure to verify is a refusal, never a 500
            genuine = False
        return None if genuine else "the signature does not match"
