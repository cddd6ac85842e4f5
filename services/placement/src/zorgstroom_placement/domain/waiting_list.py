"""The regional waiting list's order (policy, DOMAIN.md rule 2): emergency first, then urgency,
then longest waiting; waiting time counts from registration."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from zorgstroom_contracts.codes import CareForm, Need, Urgency

URGENCY_RANK = {Urgency.EMERGENCY: 0, Urgency.HIGH: 1, Urgency.NORMAL: 2}


@dataclass(frozen=True)
class WaitingClient:
    client_ref: str
    care_form: CareForm
    responsible_municipality: str
    urgency: Urgency
    waiting_since: date
    needs: frozenset[Need] = frozenset()
    preferred_municipalities: tuple[str, ...] = ()
    intake_id: str = ""

    def waiting_days(self, today: date) -> int:
        return max(0, (today - self.waiting_since).days)


def priority_key(client: WaitingClient) -> tuple[int, date, str, str]:
    """Urgency, then longest waiting; the ids only break ties, so equal clients keep one order everywhere."""
    return (URGENCY_RANK[client.urgency], client.waiting_since, client.intake_id, client.client_ref)


def in_priority_order(clients: Iterable[WaitingClient]) -> list[WaitingClient]:
    return sorted(clients, key=priority_key)
