"""Abuse protection for every entry point: rate limits per IP and per address, form tokens, honeypot.

Rate limits use the ``limits`` library's moving windows, counted where ``DIGEST_RATE_LIMIT_STORAGE``
says: in this process's memory by default (each web process counts on its own, so with N processes the
effective limit is up to N times the setting), or in a Redis that every process shares.
"""

from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request
from limits import RateLimitItem, parse_many
from limits.errors import ConfigurationError
from limits.storage import MovingWindowSupport, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from digest.errors import ConfigError, InvalidInput
from digest.i18n import N_
from digest.tokens import FormTokens, TokenInvalid

HONEYPOT_FIELD = "website"
FORM_MAX_AGE = timedelta(hours=12)


class TooManyRequests(Exception):
    """A rate limit was hit; the message says which, without saying anything about an address."""


@dataclass(frozen=True)
class Limits:
    per_ip: list[RateLimitItem]
    per_address: list[RateLimitItem]


def parse_limits(per_ip: str, per_address: str) -> Limits:
    try:
        return Limits(parse_many(per_ip), parse_many(per_address))
    except ValueError as exc:
        raise InvalidInput(f"rate limit settings must look like '10/minute;60/hour': {exc}") from exc


class Counts:
    """Moving-window counters in one store, every key under one prefix (``DIGEST_RATE_LIMIT_*``).

    The sign-up guard and the editor sign-in share one ``Counts``, so one store connection serves both.
    """

    def __init__(self, storage: str = "memory://", prefix: str = "digest") -> None:
        try:
            store = storage_from_string(storage)
        except ConfigurationError as exc:  # an unknown scheme, or the redis package not installed
            raise ConfigError(f"DIGEST_RATE_LIMIT_STORAGE={storage!r} cannot be used: {exc}") from exc
        if not isinstance(store, MovingWindowSupport):
            raise ConfigError(f"DIGEST_RATE_LIMIT_STORAGE={storage!r} cannot count moving windows")
        if not store.check():  # at start-up, not as a 500 on the first sign-up
            raise ConfigError(f"DIGEST_RATE_LIMIT_STORAGE={storage!r} does not answer: is it running?")
        self._limiter = MovingWindowRateLimiter(store)
        self.prefix = prefix

    def hit(self, item: RateLimitItem, *key: str) -> bool:
        """Count one more for ``key``; ``False`` when that goes over ``item``."""
        return self._limiter.hit(item, self.prefix, *key)

    def test(self, item: RateLimitItem, *key: str) -> bool:
        """Whether one more for ``key`` would still be within ``item``, counting nothing."""
        return self._limiter.test(item, self.prefix, *key)


class Guard:
    def __init__(
        self, form_tokens: FormTokens, limits: Limits, min_fill_time: timedelta, counts: Counts
    ) -> None:
        self.form_tokens = form_tokens
        self.limits = limits
        self.min_fill_time = min_fill_time
        self.counts = counts

    def check_ip(self, request: Request, action: str) -> None:
        self.check_reader_ip(client_ip(request), action)

    def check_reader_ip(self, ip: str, action: str) -> None:
        """The per-IP limit for ``ip``: the peer's, or a reader's that a publisher's server relays."""
        for item in self.limits.per_ip:
            if not self.counts.hit(item, "ip", action, ip):
                raise TooManyRequests(
                    N_("too many requests from your network; please wait a while and try again")
                )

    def check_address(self, address_key: str) -> None:
        # Counted per request, whatever the address's state, so hitting it reveals nothing.
        for item in self.limits.per_address:
            if not self.counts.hit(item, "address", address_key):
                raise TooManyRequests(
                    N_("too many requests for this address; please wait a while and try again")
                )

    def form_token(self, form: str) -> str:
        return self.form_tokens.issue(form)

    def is_human(self, form: str, token: str, honeypot: str) -> bool:
        """``False`` for a filled honeypot or a form sent faster than a person could fill it.

        Callers answer a bot exactly as they answer a person, and do nothing else.
        """
        age = self.form_tokens.age(token, form, max_age=FORM_MAX_AGE)
        return not honeypot and age >= self.min_fill_time.total_seconds()

    def check_form(self, form: str, token: str) -> None:
        """CSRF: the form must be one this site served (raises ``TokenInvalid``)."""
        self.form_tokens.age(token, form, max_age=FORM_MAX_AGE)


def client_ip(request: Request) -> str:
    """The peer address; behind a proxy, run uvicorn with --proxy-headers so this is the real client."""
    return request.client.host if request.client else "unknown"


__all__ = ["HONEYPOT_FIELD", "Counts", "Guard", "Limits", "TokenInvalid", "TooManyRequests", "parse_limits"]
