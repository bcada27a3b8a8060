"""SendGrid's signed Event Webhook as a test sends it: a key pair made for the run, and its signatures."""

import base64

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC_KEY = base64.b64encode(
    KEY.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
).decode()


def sign(body: bytes, timestamp: str, key: ec.EllipticCurvePrivateKey = KEY) -> str:
    """What SendGrid sends: base64 of the DER ECDSA P-256/SHA-256 signature of timestamp + raw body."""
    return base64.b64encode(key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
