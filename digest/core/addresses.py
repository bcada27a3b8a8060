"""Email addresses as the product writes them in headers: the domain of a From, and whether it is public."""

from email.utils import parseaddr

# Top-level names kept for local or test use: RFC 2606 and 6761 (localhost, test, example, invalid),
# mDNS (local), and by convention (localdomain, internal).
RESERVED_TOP_LEVELS = {"localhost", "local", "localdomain", "internal", "test", "example", "invalid"}


def domain_of(address: str) -> str:
    """The domain of ``Name <user@domain>`` or ``user@domain``, lower-cased; empty when there is none."""
    return parseaddr(address)[1].rpartition("@")[2].rstrip(".").lower()


def is_public_domain(domain: str) -> bool:
    """A name in the public DNS, where mail can come from: dotted, not under a reserved top-level name,
    and not an IP address (which ends in digits, or in "]" when bracketed)."""
    labels = domain.split(".")
    top = labels[-1]
    if len(labels) < 2 or not all(labels) or top in RESERVED_TOP_LEVELS:
        return False
    return top.isalpha() or top.startswith("xn--")
