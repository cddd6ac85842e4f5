"""The regional waiting list (docs/domain.md, rules 2 and 11): its order (emergency first, then urgency,
then longest waiting; waiting counts from registration) and a registration as the list keeps it."""

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

from zorgstroom_contracts.codes import Need, Urgency

URGENCY_RANK = {Urgency.EMERGENCY: 0, Urgency.HIGH: 1, Urgency.NORMAL: 2}


class RegistrationStatus(StrEnum):
    WAITING = "waiting"
    PLACED = "placed"
    WITHDRAWN = "withdrawn"
    TRANSFERRED = "transferred"  # handed to a municipality outside the region: off the regional list


@dataclass(frozen=True)
class WaitingClient:
    client_ref: str
    care_form: str
    responsible_municipality: str
    urgency: Urgency
    waiting_since: date
    needs: frozenset[Need] = frozenset()
    preferred_municipalities: tuple[str, ...] = ()
    intake_id: str = ""
    in_place_of: str | None = None  # the care form of the client's open placement, if any (doorstroom)

    def waiting_days(self, today: date) -> int:
        return max(0, (today - self.waiting_since).days)


@dataclass(frozen=True)
class Registration:
    """One intake on the list, with what the responsible municipality may change (rule 11)."""

    intake_id: str
    client_ref: str
    care_form: str
    responsible_municipality: str
    urgency: Urgency
    needs: tuple[Need, ...]
    adults: int
    children: int
    preferred_municipalities: tuple[str, ...]
    waiting_since: date
    status: RegistrationStatus = RegistrationStatus.WAITING
    placement_id: str | None = None

    @property
    def is_waiting(self) -> bool:
        return self.status is RegistrationStatus.WAITING

    def updated(
        self,
        *,
        needs: Iterable[Need] | None = None,
        urgency: Urgency | None = None,
        household: tuple[int, int] | None = None,
        preferred_municipalities: Iterable[str] | None = None,
    ) -> "Registration":
        """The registration with the given values changed and the others as they were."""
        adults, children = household if household is not None else (self.adults, self.children)
        return replace(
            self,
            needs=self.needs if needs is None else tuple(sorted(set(needs))),
            urgency=self.urgency if urgency is None else urgency,
            adults=adults,
            children=children,
            preferred_municipalities=(
                self.preferred_municipalities if preferred_municipalities is None else tuple(preferred_municipalities)
            ),
        )


def priority_key(client: WaitingClient) -> tuple[int, date, str, str]:
    """Urgency, then longest waiting; the ids only break ties, so equal clients keep one order everywhere."""
    return (URGENCY_RANK[client.urgency], client.waiting_since, client.intake_id, client.client_ref)


def in_priority_order(clients: Iterable[WaitingClient]) -> list[WaitingClient]:
    return sorted(clients, key=priority_key)


def one_entry_per_client(clients: Iterable[WaitingClient]) -> list[WaitingClient]:
    """A client registered twice for one care form is placed once: by the entry that stands first."""
    seen: set[str] = set()
    first = []
    for client in in_priority_order(clients):
        if client.client_ref not in seen:
            seen.add(client.client_ref)
            first.append(client)
    return first
