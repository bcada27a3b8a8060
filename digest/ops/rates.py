"""The last issue's bounce and complaint rates, from the provider's events, against the 0.3 % line.

Counted as distinct addresses of the issue's deliveries (an address that bounced twice counts once), per
delivery sent. Events are tied to an issue only through a delivery of that issue to the same address.
"""

from dataclasses import dataclass

from sqlmodel import Session, col, func, select

from digest.db.models import Delivery, DeliveryStatus, Issue, ProviderEvent

# Complaints above this share of an issue's recipients put a sender's mail at risk (Gmail, Yahoo).
RATE_LINE_PERCENT = 0.3


@dataclass(frozen=True)
class IssueRates:
    """Bounces and complaints of one issue's recipients, against the 0.3 % line."""

    issue_number: int
    sent: int
    bounced: int
    complained: int

    def percent(self, count: int) -> float:
        return 100.0 * count / self.sent if self.sent else 0.0

    @property
    def line(self) -> str:
        def part(count: int, what: str) -> str:
            share = self.percent(count)
            flag = " ABOVE the 0.3 % line" if share > RATE_LINE_PERCENT else ""
            return f"{count} {what} ({share:.2f} %{flag})"

        bounced, complained = part(self.bounced, "bounced"), part(self.complained, "complained")
        return f"issue {self.issue_number}: {bounced}, {complained} of {self.sent} sent; the line is 0.3 %"


def issue_rates(session: Session, issue: Issue) -> IssueRates:
    """Distinct addresses of the issue that bounced (hard or blocked) or complained, per sent delivery."""
    sent = session.exec(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.issue_id == issue.id, Delivery.status == DeliveryStatus.sent)
    ).one()

    def addresses(*events: str) -> int:
        query = select(func.count(func.distinct(ProviderEvent.email_hash))).where(
            ProviderEvent.issue_number == issue.number, col(ProviderEvent.event).in_(events)
        )
        return int(session.exec(query).one())

    return IssueRates(issue.number, int(sent), addresses("bounce"), addresses("spamreport"))
