"""Which ready client an outflow home goes to (DOMAIN.md rule 6, policy): pure and deterministic."""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum


@dataclass(frozen=True)
class RoomsPolicy:
    """Minimum rooms per household size (persons); illustrative defaults, a region sets its own."""

    by_household_size: Mapping[int, int]

    @classmethod
    def default(cls) -> "RoomsPolicy":
        return cls({1: 1, 2: 2, 3: 2, 4: 3, 5: 3, 6: 4})

    def rooms_needed(self, adults: int, children: int) -> int:
        size = adults + children
        if size in self.by_household_size:
            return self.by_household_size[size]
        largest = max(self.by_household_size)
        if size < largest:
            return min(v for k, v in self.by_household_size.items() if k >= size)
        return self.by_household_size[largest] + math.ceil((size - largest) / 2)


@dataclass(frozen=True)
class ReadyClient:
    client_ref: str
    responsible_municipality: str
    preferred_municipalities: tuple[str, ...]
    adults: int
    children: int
    ready_since: date
    declined_units: frozenset[str] = frozenset()
    has_open_offer: bool = False


@dataclass(frozen=True)
class AvailableUnit:
    unit_id: str
    corporation_id: str
    municipality: str
    wijk: str
    rooms: int
    available_from: date


@dataclass(frozen=True)
class Offer:
    unit: AvailableUnit
    client: ReadyClient
    quota_year: int


class Refusal(StrEnum):
    """Why a unit is not offered now; a corporation sees it on its unit."""

    QUOTA_USED_UP = "quota_used_up"
    WIJK_AT_CAP = "wijk_at_cap"
    NO_FITTING_CLIENT = "no_fitting_client"


@dataclass
class Capacity:
    quota_left: dict[tuple[str, str, int], int]  # (corporation, municipality, year) -> homes still to offer
    wijk_left: dict[str, int] = field(default_factory=dict)  # wijk -> outflow homes still allowed
    default_wijk_left: int = 0


def eligible(unit: AvailableUnit, client: ReadyClient, rooms: RoomsPolicy) -> bool:
    municipality = unit.municipality
    wanted = municipality == client.responsible_municipality or municipality in client.preferred_municipalities
    return (
        wanted
        and not client.has_open_offer
        and unit.unit_id not in client.declined_units
        and unit.rooms >= rooms.rooms_needed(client.adults, client.children)
    )


def _longest_ready(client: ReadyClient) -> tuple[date, str]:
    return (client.ready_since, client.client_ref)


def choose_client(unit: AvailableUnit, clients: Sequence[ReadyClient], rooms: RoomsPolicy) -> ReadyClient | None:
    fitting = [c for c in clients if eligible(unit, c, rooms)]
    return min(fitting, key=_longest_ready) if fitting else None


def match_units(
    units: Sequence[AvailableUnit], clients: Sequence[ReadyClient], capacity: Capacity, rooms: RoomsPolicy, on: date
) -> tuple[list[Offer], dict[str, Refusal]]:
    """Offer units in order of availability; each offer holds one quota unit and one place of its wijk and
    takes its client out of this pass. Returns the offers and, per unit not offered, the reason."""
    quota = dict(capacity.quota_left)
    wijk_left = dict(capacity.wijk_left)
    waiting = sorted(clients, key=_longest_ready)
    offers: list[Offer] = []
    refusals: dict[str, Refusal] = {}
    for unit in sorted(units, key=lambda u: (u.available_from, u.unit_id)):
        year = max(on, unit.available_from).year
        key = (unit.corporation_id, unit.municipality, year)
        if quota.get(key, 0) <= 0:
            refusals[unit.unit_id] = Refusal.QUOTA_USED_UP
            continue
        if wijk_left.get(unit.wijk, capacity.default_wijk_left) <= 0:
            refusals[unit.unit_id] = Refusal.WIJK_AT_CAP
            continue
        client = choose_client(unit, waiting, rooms)
        if client is None:
            refusals[unit.unit_id] = Refusal.NO_FITTING_CLIENT
            continue
        quota[key] -= 1
        wijk_left[unit.wijk] = wijk_left.get(unit.wijk, capacity.default_wijk_left) - 1
        waiting = [c if c is not client else replace(c, has_open_offer=True) for c in waiting]
        offers.append(Offer(unit, client, year))
    return offers, refusals
