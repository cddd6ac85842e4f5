"""The regional waiting list's order (policy, DOMAIN.md rule 2): emergency first, then urgency,
then longest waiting; waiting time counts from registration."""

from dataclasses import dataclass
from datetime import date

from zorgstroom_contracts.codes import CareForm, Urgency

URGENCY_RANK = {Urgency.EMERGENCY: 0, Urgency.HIGH: 1, Urgency.NORMAL: 2}


@dataclass(frozen=True)
class WaitingClient:
    client_ref: str
    care_form: CareForm
    responsible_municipality: str
    urgency: Urgency
    waiting_since: date

    def waiting_days(self, today: date) -> int:
        return max(0, (today - self.waiting_since).days)


def in_priority_order(clients: list[WaitingClient]) -> list[WaitingClient]:
    return sorted(clients, key=lambda c: (URGENCY_RANK[c.urgency], c.waiting_since, c.client_ref))
