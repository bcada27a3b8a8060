"""Mail headers that carry a guarantee: RFC 8058 one-click unsubscribe, deterministic Message-IDs."""

from functools import cache
from urllib.parse import quote


def list_unsubscribe_headers(https_url: str, mailto: str | None = None) -> dict[str, str]:
    """``List-Unsubscribe`` with the https URL first (RFC 8058 needs one) and ``List-Unsubscribe-Post``.

    The token lives in the URL because the one-click POST arrives without cookies or credentials.
    """
    value = f"<{https_url}>{mailto_part(mailto)}" if mailto else f"<{https_url}>"
    return {"List-Unsubscribe": value, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


@cache
def mailto_part(mailto: str) -> str:
    """The mailto half of ``List-Unsubscribe``, the same for every recipient: made once."""
    return f", <mailto:{mailto}?subject={quote('unsubscribe')}>"


def message_id(*, issue_number: int, delivery_id: int, domain: str) -> str:
    """The same delivery always gets the same Message-ID, so a resent copy can be recognised downstream."""
    return f"<digest.{issue_number}.{delivery_id}@{domain}>"


def one_click_url(url: str) -> str:
    """RFC 8058 clients only offer one-click for https URIs; an http base URL (development) is upgraded.

    Production refuses an http ``DIGEST_BASE_URL``, so there the URL is used as it is.
    """
    return "https://" + url.removeprefix("http://") if url.startswith("http://") else url
