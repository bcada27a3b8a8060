"""Opens: what the open pixel's fetches are worth, and which of them a machine made. Pure rules, no I/O.

An open is an estimate at best. Mail clients that block images never fetch the pixel; privacy proxies
fetch it for the reader. The rules, in the order they apply:

1. ``HEAD`` requests and user agents naming a bot or a scanner (``core.engagement.is_scanner``) are
   answered and never stored, as for clicks.
2. **Proxy prefetch** (``proxy_fetch``), decided when the pixel is fetched and stored with the open:
   Apple Mail Privacy Protection loads every image of every message on delivery, through Apple's proxies,
   whether or not anyone reads it. Its requests carry the bare user agent ``Mozilla/5.0`` (a mail client
   or a browser names its platform) or come from Apple's own network, 17.0.0.0/8.
3. **Soon after the send** (report time): an open less than ``PREFETCH_WINDOW`` after the issue's send
   (or one of its local-time waves) began is a prefetch on delivery; a person has not read it yet.
   Under ``individual`` tracking the reader's own delivery time stands in for the send's
   (``early``).
4. **A scanner's visitor** (report time): an open by a visitor whose clicks on the issue include a
   scanner's burst (``core.engagement.machine_clicks``) is the scanner's too.

The rest are people's opens. Gmail's image proxy (``GoogleImageProxy``) fetches the pixel once, when the
reader first opens the message, and serves its copy afterwards: it counts as a person's open, and later
readings of the same message are not seen.
"""

import enum
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

# The pixel as a render writes it into an email's HTML (``templates/email/digest.mjml.j2``).
PIXEL_TAG = re.compile(r'<img\b[^>]*\bsrc="[^"]*/o/[A-Za-z0-9_.\-/]+\.gif"[^>]*>')
# An open this soon after the send (or a wave) began is a fetch on delivery.
PREFETCH_WINDOW = timedelta(seconds=60)
# Apple's own network: Mail Privacy Protection fetches images from it.
PROXY_NETWORKS = (ipaddress.ip_network("17.0.0.0/8"),)
# The user agent Apple's proxy sends, and nothing else does: a client names its platform.
PROXY_AGENTS = frozenset({"mozilla/5.0"})


class OpenKind(enum.StrEnum):
    """How a pixel fetch looked when it came in (stored in the open's ``kind``)."""

    fetch = "fetch"  # an ordinary client, or Gmail's proxy when the reader opens
    proxy = "proxy"  # a privacy proxy's prefetch (rule 2)


class MachineReason(enum.StrEnum):
    """Why an open was set apart (rules 2 to 4)."""

    proxy = "proxy"
    prefetch = "prefetch"
    scanner = "scanner"


def proxy_fetch(user_agent: str, address: str) -> bool:
    """Whether a pixel fetch comes from a privacy proxy that loads images on delivery (rule 2)."""
    if user_agent.strip().lower() in PROXY_AGENTS:
        return True
    try:
        client = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    if isinstance(client, ipaddress.IPv6Address) and client.ipv4_mapped is not None:
        client = client.ipv4_mapped  # an IPv4 client as a dual-stack server sees it
    return any(client in network for network in PROXY_NETWORKS if client.version == network.version)


def prefetched(opened_at: datetime, delivered_at: datetime | None) -> bool:
    """Whether an open came before anyone could have read the message delivered at ``delivered_at``."""
    return delivered_at is not None and delivered_at <= opened_at < delivered_at + PREFETCH_WINDOW


@dataclass(frozen=True)
class Open:
    """A stored open, as the rules read it."""

    visitor: str
    at: datetime
    kind: str
    delivered: datetime | None = None  # the reader's own delivery, when the open names them (individual)


def machine_opens(
    opens: Sequence[Open], starts: Iterable[datetime], scanners: set[str]
) -> dict[int, MachineReason]:
    """The positions in ``opens`` (one issue's) that a machine made, with the first rule that says so.
    ``starts``: when the issue's send and each of its waves began; ``scanners``: visitors whose clicks on
    the issue include a scanner's burst."""
    began = sorted(starts)
    found: dict[int, MachineReason] = {}
    for index, opened in enumerate(opens):
        if opened.kind == OpenKind.proxy:
            found[index] = MachineReason.proxy
        elif early(opened, began):
            found[index] = MachineReason.prefetch
        elif opened.visitor in scanners:
            found[index] = MachineReason.scanner
    return found


def early(opened: Open, starts: Sequence[datetime]) -> bool:
    """Rule 3: an open too soon after the reader's own delivery when it is known (an open naming its
    reader), else after the send's or a wave's start."""
    if opened.delivered is not None:
        return prefetched(opened.at, opened.delivered)
    return any(prefetched(opened.at, start) for start in starts)


def without_pixel(html: str) -> str:
    """An email's HTML without its open pixel: what previews show and test copies carry, so that looking
    at an issue before or beside its send counts no open."""
    return PIXEL_TAG.sub("", html)
