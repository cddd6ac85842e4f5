"""Which ready client an outflow home goes to (DOMAIN.md rule 6, policy): pure and deterministic."""

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


@dataclass(frozen=True)
class RoomsPolicy:
    """Minimum rooms per household size (persons); illustrative defaults, a region sets its own."""

    by_household_size: Mapping[int, int]

    def __post_init__(self) -> None:
        # Region data: a bad table should fail where it is read, not as a KeyError deep in a matching pass.
        if not self.by_household_size:
            raise ValueError("rooms policy needs at least one household size")
        if any(size < 1 or rooms < 1 for size, rooms in self.by_household_size.items()):
            raise ValueError("household sizes and rooms must be at least 1")

    @classmethod
    def default(cls) -> "RoomsPolicy":
        return cls({1: 1, 2: 2, 3: 2, 4: 3, 5: 3, 6: 4})

    def rooms_needed(self, adults: int, children: int) -> int:
        if adults < 1 or children < 0:
            raise ValueError("a household has at least one adult (the client) and no negative children")
        size = adults + children
        if size in self.by_household_size:
            return self.by_household_size[size]
        largest = max(self.by_household_size)
        if size < largest:
            # A size the region did not list gets what the next listed size up gets: never too small a home.
            return min(rooms for listed, rooms in self.by_household_size.items() if listed >= size)
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
    """Why a unit cannot be offered at all right now; a corporation sees it on its unit."""

    QUOTA_USED_UP = "quota_used_up"
    WIJK_AT_CAP = "wijk_at_cap"
    NO_FITTING_CLIENT = "no_fitting_client"


@dataclass
class Capacity:
    """What is left to offer. A missing quota key means no quota (0); a missing wijk uses the region's default."""

    quota_left: dict[tuple[str, str, int], int]  # (corporation, municipality, year) -> homes still to offer
    wijk_left: dict[str, int] = field(default_factory=dict)  # wijk -> outflow homes still allowed
    default_wijk_left: int = 0


def eligible(unit: AvailableUnit, client: ReadyClient, rooms: RoomsPolicy) -> bool:
    """The client may be offered this unit: right municipality, household fits, not declined, no open offer."""
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


def _in_order_of_availability(unit: AvailableUnit) -> tuple[date, str]:
    return (unit.available_from, unit.unit_id)


def choose_client(unit: AvailableUnit, clients: Sequence[ReadyClient], rooms: RoomsPolicy) -> ReadyClient | None:
    """The longest-ready eligible client (ties by client_ref), or None. Client refs are assumed unique."""
    fitting = [c for c in clients if eligible(unit, c, rooms)]
    return min(fitting, key=_longest_ready) if fitting else None


def _require_unique(keys: Iterable[str], what: str) -> None:
    # Refs are primary keys upstream; a duplicate would make the outcome depend on input order, so refuse it.
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise ValueError(f"duplicate {what} {key!r}")
        seen.add(key)


def match_units(
    units: Sequence[AvailableUnit], clients: Sequence[ReadyClient], capacity: Capacity, rooms: RoomsPolicy, on: date
) -> tuple[list[Offer], dict[str, Refusal]]:
    """Offer units in order of (available_from, unit_id); each offer holds one quota unit (of the year the unit
    can be let: max(on, available_from)) and one place of its wijk, and takes its client out of this pass.
    Returns the offers in that order and, per unit not offered, the reason: quota before wijk before client.
    Units under an open offer are not passed in; clients with one are passed in and skipped."""
    _require_unique((u.unit_id for u in units), "unit_id")
    _require_unique((c.client_ref for c in clients), "client_ref")
    # Copies: the caller's capacity must still describe the database until the offers are stored.
    quota = dict(capacity.quota_left)
    wijk_left = dict(capacity.wijk_left)
    free = sorted(clients, key=_longest_ready)
    offers: list[Offer] = []
    refusals: dict[str, Refusal] = {}
    for unit in sorted(units, key=_in_order_of_availability):
        year = max(on, unit.available_from).year
        key = (unit.corporation_id, unit.municipality, year)
        if quota.get(key, 0) <= 0:
            refusals[unit.unit_id] = Refusal.QUOTA_USED_UP
            continue
        places = wijk_left.get(unit.wijk, capacity.default_wijk_left)
        if places <= 0:
            refusals[unit.unit_id] = Refusal.WIJK_AT_CAP
            continue
        client = choose_client(unit, free, rooms)
        if client is None:
            refusals[unit.unit_id] = Refusal.NO_FITTING_CLIENT
            continue
        quota[key] -= 1
        wijk_left[unit.wijk] = places - 1
        # One open offer per client: once offered, the client waits for their answer, not for a second home.
        free = [c for c in free if c.client_ref != client.client_ref]
        offers.append(Offer(unit, client, year))
    return offers, refusals
