"""Signed tokens for links in emails (itsdangerous), one salt per purpose.

A token for one purpose never verifies for another: a confirmation link cannot unsubscribe and an
unsubscribe link cannot confirm. Each token carries the subscriber's id and ``token_nonce``; erasure
changes the nonce, so every earlier link stops working. Keys rotate through ``DIGEST_SECRET_KEYS``: the
newest signs, all verify.

An email's unsubscribe and preferences links also carry its issue's number (``id.nonce.issue``, all
under the signature), so an unsubscribe counts for the issue whose footer, one-click header or
preferences page was used; links signed before that (``id.nonce``) verify as they always did, with no
issue.

Links that expire (confirm) are timestamped (``URLSafeTimedSerializer``). Links that never expire
(unsubscribe, preferences: two in every email of a send) are a plain ``Signer`` over ``id.nonce``, about
eight times cheaper to make, which matters at a million recipients. Their signer keeps each key as
derived and HMAC-keyed once (``KeptKeySigner``): itsdangerous derives the key again for every token,
which took half the time of signing one. The tokens are the same bytes either way.
"""

import enum
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from itsdangerous import BadSignature, SignatureExpired, Signer, URLSafeSerializer, URLSafeTimedSerializer
from itsdangerous.signer import HMACAlgorithm

from digest.core.clock import utc_now
from digest.core.engagement import LinkKind, TrackedLink


class Purpose(enum.StrEnum):
    confirm = "confirm"
    unsubscribe = "unsubscribe"
    preferences = "preferences"


# None: the link works for as long as the subscriber exists (RFC 8058 links must keep working).
DEFAULT_MAX_AGE: dict[Purpose, timedelta | None] = {
    Purpose.confirm: timedelta(days=7),
    Purpose.unsubscribe: None,
    Purpose.preferences: None,
}


class TokenInvalid(Exception):
    """The token is tampered with, signed by an unknown key, or made for another purpose."""


class TokenExpired(TokenInvalid):
    """The token was genuine but is older than its purpose allows."""


@dataclass(frozen=True)
class TokenClaims:
    subscriber_id: int
    nonce: str
    issue: int | None = None  # the issue whose email held the link (None: a link signed without one)


class KeptKeyHMAC(HMACAlgorithm):
    """HMAC-SHA256 that sets each key up once and copies the keyed state for every value."""

    def __init__(self) -> None:
        super().__init__(hashlib.sha256)
        self._keyed: dict[bytes, hmac.HMAC] = {}

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        keyed = self._keyed.get(key)
        if keyed is None:
            keyed = self._keyed[key] = hmac.new(key, digestmod=hashlib.sha256)
        mac = keyed.copy()
        mac.update(value)
        return mac.digest()


class KeptKeySigner(Signer):
    """itsdangerous' ``Signer`` (HMAC-SHA256) with each derived key computed once, not once per token."""

    def __init__(self, keys: list[str], *, salt: str) -> None:
        super().__init__(keys, salt=salt, digest_method=hashlib.sha256, algorithm=KeptKeyHMAC())
        self._derived: dict[bytes | None, bytes] = {}

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        wanted = secret_key.encode() if isinstance(secret_key, str) else secret_key
        derived = self._derived.get(wanted)
        if derived is None:
            derived = self._derived[wanted] = super().derive_key(wanted)
        return derived


class Tokens:
    """Signs and verifies tokens; ``keys`` oldest first, the last one signs."""

    def __init__(self, keys: list[str], max_age: dict[Purpose, timedelta | None] | None = None) -> None:
        self._max_age = {**DEFAULT_MAX_AGE, **(max_age or {})}
        self._timed = {
            purpose: URLSafeTimedSerializer(
                keys, salt=f"digest.{purpose}", signer_kwargs={"digest_method": hashlib.sha256}
            )
            for purpose in Purpose
        }
        self._plain = {purpose: KeptKeySigner(keys, salt=f"digest.{purpose}") for purpose in Purpose}

    def sign(self, purpose: Purpose, subscriber_id: int, nonce: str, issue: int | None = None) -> str:
        """A token for ``purpose``; ``issue``: the number of the issue whose email carries it."""
        if self._max_age[purpose] is None:
            value = f"{subscriber_id}.{nonce}" if issue is None else f"{subscriber_id}.{nonce}.{issue}"
            return self._plain[purpose].sign(value).decode()
        return self._timed[purpose].dumps(
            [subscriber_id, nonce] if issue is None else [subscriber_id, nonce, issue]
        )

    def verify(self, purpose: Purpose, token: str) -> TokenClaims:
        """The claims of a genuine token; ``TokenExpired`` or ``TokenInvalid`` otherwise."""
        invalid = TokenInvalid(f"this {purpose} link is not valid")
        max_age = self._max_age[purpose]
        try:
            if max_age is None:
                payload: object = plain_claims(self._plain[purpose].unsign(token).decode())
            else:
                payload = self._timed[purpose].loads(token, max_age=int(max_age.total_seconds()))
        except SignatureExpired as exc:  # a subclass of BadSignature: catch it first
            raise TokenExpired(f"this {purpose} link has expired") from exc
        except (BadSignature, UnicodeDecodeError) as exc:
            raise invalid from exc
        match payload:
            case [int(subscriber_id), str(nonce)]:
                return TokenClaims(subscriber_id, nonce)
            case [int(subscriber_id), str(nonce), int(issue)] if issue > 0:
                return TokenClaims(subscriber_id, nonce, issue)
        raise invalid


def plain_claims(value: str) -> list[object] | None:
    """The claims of an untimed token's signed value: ``id.nonce`` or ``id.nonce.issue`` (nonces are
    hex, without dots); ``None`` for anything else."""
    parts = value.split(".")
    numbers = parts[:1] + parts[2:]
    if len(parts) not in (2, 3) or not parts[1] or not all(n.isascii() and n.isdigit() for n in numbers):
        return None
    return [int(parts[0]), parts[1], *(int(part) for part in parts[2:])]


FORM_EXPIRED = "this form has expired or was not served by this site; please reload it"


class FormTokens:
    """Tokens hidden in web forms: proof that a form was served by us, and when (a minimum fill time).

    Their own salt, so no link token can pass for one and no form token for a link. Each holds a random
    nonce, so two forms served in the same second differ: a sign-up spends its form's token alone.
    """

    def __init__(self, keys: list[str]) -> None:
        self._serializer = URLSafeTimedSerializer(
            keys, salt="digest.form", signer_kwargs={"digest_method": hashlib.sha256}
        )

    def issue(self, form: str) -> str:
        return self._serializer.dumps([form, secrets.token_urlsafe(9)])

    def age(self, token: str, form: str, *, max_age: timedelta) -> float:
        """Seconds since the form was served; ``TokenInvalid`` if forged, for another form, or too old."""
        try:
            payload, signed_at = self._serializer.loads(
                token, max_age=int(max_age.total_seconds()), return_timestamp=True
            )
        except BadSignature as exc:
            raise TokenInvalid(FORM_EXPIRED) from exc
        # A bare name: a form served before forms carried a nonce (at most one form lifetime ago).
        served_for = payload[0] if isinstance(payload, list) and payload else payload
        if served_for != form:
            raise TokenInvalid("this form was not served by this site; please reload it")
        seconds: float = (utc_now() - signed_at).total_seconds()
        return seconds


@dataclass(frozen=True)
class EmbedStamp:
    """What a genuine embed token says: the site it was handed to (``""``: this site's own page) and
    how many seconds ago."""

    origin: str
    age: float


class EmbedTokens:
    """Signed timestamps handed to an embedded sign-up form (``GET /embed/token``): when the form was
    set up, for the minimum fill time, and for which site.

    A salt of their own: no form, link or API token passes for one. Each holds a random nonce, so a
    sign-up spends its own token alone (replays are refused through the used-form-token table).
    """

    def __init__(self, keys: list[str]) -> None:
        self._serializer = URLSafeTimedSerializer(
            keys, salt="digest.embed", signer_kwargs={"digest_method": hashlib.sha256}
        )

    def issue(self, origin: str) -> str:
        # The time in milliseconds too: itsdangerous keeps whole seconds, too coarse for a fill time.
        issued_ms = int(utc_now().timestamp() * 1000)
        return self._serializer.dumps([origin, secrets.token_urlsafe(9), issued_ms])

    def stamp(self, token: str, *, max_age: timedelta) -> EmbedStamp:
        """The token's site and age; ``TokenInvalid`` if forged, made for another purpose, or too old."""
        try:
            payload, signed_at = self._serializer.loads(
                token, max_age=int(max_age.total_seconds()), return_timestamp=True
            )
        except (BadSignature, UnicodeDecodeError) as exc:
            raise TokenInvalid(FORM_EXPIRED) from exc
        if not (isinstance(payload, list) and len(payload) == 3 and isinstance(payload[0], str)):
            raise TokenInvalid(FORM_EXPIRED)
        issued_ms = payload[2] if isinstance(payload[2], int) else signed_at.timestamp() * 1000
        return EmbedStamp(origin=payload[0], age=utc_now().timestamp() - issued_ms / 1000)


class Scope(enum.StrEnum):
    """What an API token may do. A token issued before scopes existed may push summaries only."""

    summaries = "summaries"  # POST /api/summaries
    sign_ups = "sign-ups"  # POST /api/subscribers: double opt-in
    proven_consent = "proven-consent"  # POST /api/subscribers with "confirmed": consent proven elsewhere


@dataclass(frozen=True)
class ApiHolder:
    editor: str
    scopes: frozenset[Scope]


class ApiTokens:
    """Bearer tokens for the API (``/api/summaries``, ``/api/subscribers``), issued to an editor by
    ``digest editors token NAME --scope ...``, each good for its scopes only.

    A token is the editor's name and a fingerprint of their password hash (``DIGEST_EDITORS``), signed with
    ``DIGEST_SECRET_KEYS`` under a salt of its own: no link or form token passes for one, nor one for them.
    Nothing is stored. Removing an editor from ``DIGEST_EDITORS``, or changing their password hash, ends
    every token issued to them; they never expire otherwise.
    """

    def __init__(self, keys: list[str], editors: dict[str, str]) -> None:
        self._serializer = URLSafeSerializer(
            keys, salt="digest.api", signer_kwargs={"digest_method": hashlib.sha256}
        )
        self._fingerprints = {name: fingerprint(password_hash) for name, password_hash in editors.items()}

    def issue(self, editor: str, scopes: Iterable[Scope] = (Scope.summaries,)) -> str:
        if editor not in self._fingerprints:
            raise TokenInvalid(f"{editor!r} is not an editor in DIGEST_EDITORS")
        return self._serializer.dumps([editor, self._fingerprints[editor], sorted(set(scopes))])

    def editor(self, token: str) -> str:
        """The editor a genuine, current token was issued to; ``TokenInvalid`` otherwise."""
        return self.holder(token).editor

    def holder(self, token: str) -> ApiHolder:
        """The editor and scopes of a genuine, current token; ``TokenInvalid`` otherwise."""
        invalid = TokenInvalid("this API token is not valid")
        try:
            payload = self._serializer.loads(token)
        except (BadSignature, UnicodeDecodeError) as exc:
            raise invalid from exc
        if not (isinstance(payload, list) and len(payload) in (2, 3)):
            raise invalid
        name, print_, scopes = [*payload, [Scope.summaries]][:3]  # no scopes: issued before them
        if not (isinstance(name, str) and isinstance(print_, str) and isinstance(scopes, list)):
            raise invalid
        if self._fingerprints.get(name) != print_:
            raise TokenInvalid(
                "this API token was revoked: its editor left DIGEST_EDITORS or changed password"
            )
        try:
            return ApiHolder(name, frozenset(Scope(scope) for scope in scopes))
        except ValueError as exc:
            raise invalid from exc


def fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


class ClickTokens:
    """The tokens of tracked links (``/r/{token}``): the issue, summary, kind and address of one link.

    Signed under a salt of their own, so no other token passes for one. Only a render signs them, and a
    render signs only the addresses the issue holds: the redirect can reach nothing else (never an open
    redirect). They never expire, as the email they sit in never does.
    """

    def __init__(self, keys: list[str]) -> None:
        self._serializer = URLSafeSerializer(
            keys, salt="digest.click", signer_kwargs={"digest_method": hashlib.sha256}
        )

    def sign(self, link: TrackedLink) -> str:
        return self._serializer.dumps([link.issue, link.summary, str(link.kind), link.url])

    def read(self, token: str) -> TrackedLink:
        """The link a genuine token names; ``TokenInvalid`` otherwise."""
        try:
            payload = self._serializer.loads(token)
        except (BadSignature, UnicodeDecodeError, ValueError) as exc:
            raise TokenInvalid("this link is not valid") from exc
        match payload:
            case [int(issue), int() | None as summary, str(kind), str(url)] if kind in LinkKind.__members__:
                return TrackedLink(issue=issue, kind=LinkKind(kind), url=url, summary=summary)
        raise TokenInvalid("this link is not valid")


@dataclass(frozen=True)
class PixelOpen:
    """What an open pixel's token names: the issue, and the reader only under ``individual`` tracking
    (``None`` in a pixel rendered once for every reader of an issue or variant)."""

    issue: int
    subscriber: int | None = None


class OpenTokens:
    """The tokens of open pixels (``/o/{token}.gif``), signed under a salt of their own: no link token
    passes for one, nor one for a link. Like the links of an email, they never expire."""

    def __init__(self, keys: list[str]) -> None:
        self._serializer = URLSafeSerializer(
            keys, salt="digest.open", signer_kwargs={"digest_method": hashlib.sha256}
        )

    def sign(self, opened: PixelOpen) -> str:
        return self._serializer.dumps([opened.issue, opened.subscriber])

    def read(self, token: str) -> PixelOpen:
        """The open a genuine token names; ``TokenInvalid`` otherwise."""
        try:
            payload = self._serializer.loads(token)
        except (BadSignature, UnicodeDecodeError, ValueError) as exc:
            raise TokenInvalid("this image is not valid") from exc
        match payload:
            case [int(issue), int() | None as subscriber] if issue > 0:
                return PixelOpen(issue, subscriber)
        raise TokenInvalid("this image is not valid")


@dataclass(frozen=True)
class Reader:
    """Who a per-reader tag names: one subscriber, in the email of one issue."""

    issue: int
    subscriber: int


class ReaderTags:
    """The per-recipient part of tracked links under ``individual`` tracking (``/r/{token}/{tag}``).

    The link token (``ClickTokens``) is rendered once per issue or variant; the tag, one per recipient
    and the same for all of their links, is filled in at send time, so the send signs once per reader,
    not once per link. Its own salt, so no other token passes for one; it names its issue, so a tag from
    another issue's email does not pass with this issue's links.
    """

    def __init__(self, keys: list[str]) -> None:
        self._signer = KeptKeySigner(keys, salt="digest.reader")

    def sign(self, reader: Reader) -> str:
        return self._signer.sign(f"{reader.subscriber}.{reader.issue}").decode()

    def read(self, tag: str, *, issue: int) -> Reader:
        """The reader a genuine tag for ``issue`` names; ``TokenInvalid`` otherwise."""
        invalid = TokenInvalid("this link is not valid")
        try:
            value = self._signer.unsign(tag).decode()
        except (BadSignature, UnicodeDecodeError) as exc:
            raise invalid from exc
        parts = value.split(".")
        if len(parts) != 2 or not all(part.isascii() and part.isdigit() for part in parts):
            raise invalid
        reader = Reader(issue=int(parts[1]), subscriber=int(parts[0]))
        if reader.issue != issue:
            raise invalid
        return reader
