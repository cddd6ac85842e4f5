"""Matching waiting clients to free places (docs/domain.md, rule 3, policy): pure, deterministic, near-linear."""

from collections.abc import Sequence
from dataclasses import dataclass

from zorgstroom_contracts.codes import Need
from zorgstroom_placement.domain.waiting_list import WaitingClient, in_priority_order


@dataclass(frozen=True)
class FacilityPlaces:
    facility_id: str
    municipality: str
    care_form: str
    supported_needs: frozenset[Need]
    free_places: int


@dataclass(frozen=True)
class Match:
    client: WaitingClient
    facility_id: str
    preference: str  # "responsible", "preferred" or "region": which tier gave the place


class _Bucket:
    """Facilities of one kind in one municipality, lowest id first, with a cursor past the full ones.
    Free places only go down during a pass, so the cursor only moves forward."""

    def __init__(self, facilities: list[FacilityPlaces]) -> None:
        self.ids = [f.facility_id for f in sorted(facilities, key=lambda f: f.facility_id)]
        self.cursor = 0

    def take(self, free: dict[str, int]) -> str | None:
        while self.cursor < len(self.ids):
            facility_id = self.ids[self.cursor]
            if free[facility_id] > 0:
                free[facility_id] -= 1
                return facility_id
            self.cursor += 1
        return None


def match_waiting_clients(clients: Sequence[WaitingClient], facilities: Sequence[FacilityPlaces]) -> list[Match]:
    """Clients in waiting-list order each take a place where the care form matches and every need is
    supported: in the responsible municipality first, then the preferred ones in the client's order,
    then the lowest facility id in the region. A client who fits nowhere is passed over."""
    free = {f.facility_id: f.free_places for f in facilities if f.free_places > 0}
    usable = [f for f in facilities if f.facility_id in free]
    free_by_form: dict[str, int] = {}
    for f in usable:
        free_by_form[f.care_form] = free_by_form.get(f.care_form, 0) + f.free_places
    # Buckets per (care form, needs the client has) are built on first use: at most 16 needs sets a form.
    by_municipality: dict[tuple[str, frozenset[Need]], dict[str, _Bucket]] = {}
    regional: dict[tuple[str, frozenset[Need]], _Bucket] = {}

    def buckets(form: str, needs: frozenset[Need]) -> tuple[dict[str, _Bucket], _Bucket]:
        key = (form, needs)
        if key not in regional:
            fitting = [f for f in usable if f.care_form == form and needs <= f.supported_needs]
            grouped: dict[str, list[FacilityPlaces]] = {}
            for f in fitting:
                grouped.setdefault(f.municipality, []).append(f)
            by_municipality[key] = {m: _Bucket(fs) for m, fs in grouped.items()}
            regional[key] = _Bucket(fitting)
        return by_municipality[key], regional[key]

    matches: list[Match] = []
    for client in in_priority_order(clients):
        if free_by_form.get(client.care_form, 0) <= 0:
            continue  # every place of this care form is taken: nobody later can be placed either
        local, region = buckets(client.care_form, client.needs)
        placed = _take_place(client, local, region, free)
        if placed is not None:
            free_by_form[client.care_form] -= 1
            matches.append(Match(client, *placed))
    return matches


def _take_place(
    client: WaitingClient, local: dict[str, _Bucket], region: _Bucket, free: dict[str, int]
) -> tuple[str, str] | None:
    """The first tier with a free place gives it; the facility id and the tier's name, or None."""
    tiers = [("responsible", client.responsible_municipality)]
    tiers += [("preferred", m) for m in client.preferred_municipalities if m != client.responsible_municipality]
    for preference, municipality in tiers:
        bucket = local.get(municipality)
        facility_id = bucket.take(free) if bucket else None
        if facility_id is not None:
            return facility_id, preference
    facility_id = region.take(free)
    return (facility_id, "region") if facility_id is not None else None
