"""Signed tokens: one purpose each, tamper-proof, expiring only where they should, with key rotation."""

import hashlib
import itertools
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from digest.config import Settings
from digest.tokens import KeptKeySigner, Purpose, TokenClaims, TokenExpired, TokenInvalid, Tokens

KEYS = ["a-long-random-test-key-for-signing-tokens"]
DAY = 24 * 60 * 60


@pytest.fixture(autouse=True)
def no_outside_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``Settings`` reads ``DIGEST_*`` variables and ``.env``: keep the caller's out of these tests."""
    for name in [name for name in os.environ if name.startswith("DIGEST_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def tokens_for(secret_keys: str) -> Tokens:
    """Tokens as the program wires them from ``DIGEST_SECRET_KEYS``."""
    return Tokens(Settings(secret_keys=secret_keys).signing_keys)


def signed_days_ago(monkeypatch: pytest.MonkeyPatch, tokens: Tokens, purpose: Purpose, days: float) -> str:
    """A token whose itsdangerous timestamp lies ``days`` in the past (no sleeping)."""
    then = int(time.time() - days * DAY)
    with monkeypatch.context() as patch:
        patch.setattr(TimestampSigner, "get_timestamp", lambda self: then)
        return tokens.sign(purpose, 7, "nonce")


def tamper(token: str, index: int) -> str:
    """``token`` with the character at ``index`` replaced by a different URL-safe one."""
    replacement = "A" if token[index] != "A" else "B"
    return token[:index] + replacement + token[index + 1 :]


@pytest.mark.parametrize("purpose", list(Purpose))
def test_a_token_verifies_for_its_purpose_and_subscriber(purpose: Purpose) -> None:
    tokens = Tokens(KEYS)

    token = tokens.sign(purpose, 42, "n0nce")

    assert tokens.verify(purpose, token) == TokenClaims(subscriber_id=42, nonce="n0nce")
    assert tokens.verify(purpose, tokens.sign(purpose, 43, "other")) == TokenClaims(43, "other")


def test_a_token_is_safe_in_a_url_path() -> None:
    token = Tokens(KEYS).sign(Purpose.unsubscribe, 1, "abc")

    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


@pytest.mark.parametrize(("signed_for", "used_for"), list(itertools.permutations(Purpose, 2)))
def test_a_token_never_verifies_for_another_purpose(signed_for: Purpose, used_for: Purpose) -> None:
    tokens = Tokens(KEYS)
    token = tokens.sign(signed_for, 42, "n0nce")

    with pytest.raises(TokenInvalid) as raised:
        tokens.verify(used_for, token)

    assert not isinstance(raised.value, TokenExpired)


@pytest.mark.parametrize("purpose", list(Purpose))
def test_a_tampered_token_is_invalid(purpose: Purpose) -> None:
    tokens = Tokens(KEYS)
    token = tokens.sign(purpose, 42, "n0nce")
    payload, timestamp, signature = token.split(".")
    someone_else = tokens.sign(purpose, 43, "n0nce").split(".")[0]

    forgeries = [
        f"{someone_else}.{timestamp}.{signature}",  # another subscriber's payload under this signature
        tamper(token, len(payload) + len(timestamp) + 2 + len(signature) // 2),  # a changed signature
        tamper(token, len(payload) + 2),  # a changed timestamp
        f"{payload}.{timestamp}",  # no signature
        token[:-1],
        "",
        "not-a-token",
    ]
    for forged in forgeries:
        with pytest.raises(TokenInvalid):
            tokens.verify(purpose, forged)


def test_a_token_signed_with_an_unknown_key_is_invalid() -> None:
    stranger = Tokens(["someone-elses-key"]).sign(Purpose.unsubscribe, 42, "n0nce")

    with pytest.raises(TokenInvalid, match="not valid"):
        Tokens(KEYS).verify(Purpose.unsubscribe, stranger)


def test_a_genuine_signature_over_a_foreign_payload_is_invalid() -> None:
    """Signed with our key and salt, but not a ``[subscriber_id, nonce]`` pair: still refused."""
    serializer = URLSafeTimedSerializer(
        KEYS, salt="digest.confirm", signer_kwargs={"digest_method": hashlib.sha256}
    )
    tokens = Tokens(KEYS)
    assert tokens.verify(Purpose.confirm, serializer.dumps([5, "ok"])) == TokenClaims(5, "ok")

    for payload in ({"id": 5}, ["5", "n"], [5], "5"):
        with pytest.raises(TokenInvalid):
            tokens.verify(Purpose.confirm, serializer.dumps(payload))


def test_a_confirm_token_expires_after_a_week(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = Tokens(KEYS)

    recent = signed_days_ago(monkeypatch, tokens, Purpose.confirm, 6.9)
    stale = signed_days_ago(monkeypatch, tokens, Purpose.confirm, 7.1)

    assert tokens.verify(Purpose.confirm, recent).subscriber_id == 7
    with pytest.raises(TokenExpired, match="expired"):
        tokens.verify(Purpose.confirm, stale)


def test_an_expired_token_is_also_invalid_for_callers_that_only_catch_invalid() -> None:
    tokens = Tokens(KEYS, max_age={Purpose.confirm: timedelta(seconds=-1)})
    token = tokens.sign(Purpose.confirm, 7, "nonce")

    with pytest.raises(TokenInvalid):
        tokens.verify(Purpose.confirm, token)


def test_a_tampered_expired_token_is_invalid_not_expired(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = Tokens(KEYS)
    stale = signed_days_ago(monkeypatch, tokens, Purpose.confirm, 30)
    forged = Tokens(["someone-elses-key"]).sign(Purpose.confirm, 7, "nonce")

    with pytest.raises(TokenExpired):
        tokens.verify(Purpose.confirm, stale)
    with pytest.raises(TokenInvalid) as raised:
        tokens.verify(Purpose.confirm, forged)
    assert not isinstance(raised.value, TokenExpired)


@pytest.mark.parametrize("purpose", [Purpose.unsubscribe, Purpose.preferences])
def test_unsubscribe_and_preferences_tokens_do_not_expire(
    monkeypatch: pytest.MonkeyPatch, purpose: Purpose
) -> None:
    tokens = Tokens(KEYS)

    old = signed_days_ago(monkeypatch, tokens, purpose, 5 * 365)

    assert tokens.verify(purpose, old) == TokenClaims(subscriber_id=7, nonce="nonce")


def test_the_first_secret_key_signs_and_every_key_verifies() -> None:
    assert Settings(secret_keys=" new , old ").signing_keys == ["old", "new"]
    rotated = tokens_for("new,old")

    token = rotated.sign(Purpose.unsubscribe, 42, "n0nce")

    assert tokens_for("new").verify(Purpose.unsubscribe, token).subscriber_id == 42
    with pytest.raises(TokenInvalid):
        tokens_for("old").verify(Purpose.unsubscribe, token)
    assert rotated.verify(Purpose.unsubscribe, token).subscriber_id == 42


@pytest.mark.parametrize("purpose", list(Purpose))
def test_tokens_signed_before_a_rotation_verify_until_the_old_key_is_removed(purpose: Purpose) -> None:
    before = tokens_for("old").sign(purpose, 42, "n0nce")

    assert tokens_for("new,old").verify(purpose, before) == TokenClaims(42, "n0nce")
    assert tokens_for("newer,new,old").verify(purpose, before) == TokenClaims(42, "n0nce")
    with pytest.raises(TokenInvalid):
        tokens_for("new").verify(purpose, before)


def test_an_unsubscribe_token_carries_its_issue_under_the_signature() -> None:
    tokens = Tokens(KEYS)
    token = tokens.sign(Purpose.unsubscribe, 7, "ab12cd34ef56ab78", 3)
    assert tokens.verify(Purpose.unsubscribe, token) == TokenClaims(7, "ab12cd34ef56ab78", 3)
    subscriber, nonce, issue, signature = token.split(".")
    assert (subscriber, issue) == ("7", "3")
    for forged in (f"7.{nonce}.4.{signature}", f"7.{nonce}.{signature}", f"7.{nonce}.3.0.{signature}"):
        with pytest.raises(TokenInvalid):
            tokens.verify(Purpose.unsubscribe, forged)
    with pytest.raises(TokenInvalid):  # an issue link is no preferences link
        tokens.verify(Purpose.preferences, token)


def test_a_token_signed_before_tokens_named_their_issue_still_verifies() -> None:
    tokens = Tokens(KEYS)
    # As signed before: ``id.nonce`` under the unsubscribe salt, no issue.
    old = KeptKeySigner(KEYS, salt="digest.unsubscribe").sign("7.ab12cd34ef56ab78").decode()
    assert tokens.verify(Purpose.unsubscribe, old) == TokenClaims(7, "ab12cd34ef56ab78")
    assert tokens.verify(Purpose.unsubscribe, old).issue is None


@pytest.mark.parametrize("value", ["7.ab.", "7..3", "7.ab.x", "7.ab.²", "².ab", "7.ab.3.4", "7"])
def test_a_signed_value_of_another_shape_is_refused(value: str) -> None:
    token = KeptKeySigner(KEYS, salt="digest.unsubscribe").sign(value).decode()
    with pytest.raises(TokenInvalid):
        Tokens(KEYS).verify(Purpose.unsubscribe, token)
