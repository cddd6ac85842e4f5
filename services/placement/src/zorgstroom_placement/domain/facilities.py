"""Facilities and their places (docs/domain.md, rules 3 and 4): occupancy, the wijk cap on places, and
where a care form's facility lies (an ambulant team has no building, so no wijk)."""

from dataclasses import dataclass, field

from zorgstroom_contracts.codes import Need
from zorgstroom_contracts.region import CareFormSpec
from zorgstroom_contracts.types import municipality_wijk_matches
from zorgstroom_placement.domain.matching import FacilityPlaces


@dataclass(frozen=True)
class Facility:
    facility_id: str
    provider_agb: str
    name: str
    municipality: str
    wijk: str | None
    care_form: str
    capacity: int
    occupied: int
    supported_needs: list[Need]
    # Registrations and changes so far; not what the facility is, so two facilities alike compare equal.
    version: int = field(default=0, compare=False)

    @property
    def free_places(self) -> int:
        return max(0, self.capacity - self.occupied)

    def places(self) -> FacilityPlaces:
        return FacilityPlaces(
            self.facility_id, self.municipality, self.care_form, frozenset(self.supported_needs), self.free_places
        )


class WijkCapExceeded(Exception):
    """A wijk would hold more facility places than its cap (rule 4); the database refused it."""

    def __init__(self, wijk: str, cap: int) -> None:
        super().__init__(f"wijk {wijk} would hold more facility places than its cap of {cap}")
        self.wijk, self.cap = wijk, cap


def wijk_has_room(places_now: int, added: int, cap: int) -> bool:
    """Whether a wijk holding `places_now` facility places may take `added` more under its cap. The database
    holds the same rule as a CHECK on wijk_places (migrations/0002), so concurrent changes cannot pass it."""
    return places_now + added <= cap


def wijk_place_changes(old: Facility | None, new: Facility) -> dict[str, int]:
    """Places each wijk gains (or loses, negative) when a facility changes from `old` to `new`."""
    changes: dict[str, int] = {}
    if old is not None and old.wijk is not None:
        changes[old.wijk] = changes.get(old.wijk, 0) - old.capacity
    if new.wijk is not None:
        changes[new.wijk] = changes.get(new.wijk, 0) + new.capacity
    return {wijk: delta for wijk, delta in sorted(changes.items()) if delta}


def site_problem(care_form: CareFormSpec, municipality: str, wijk: str | None) -> str | None:
    """Why a facility of this care form cannot lie there (a message about `wijk`), or None when it can."""
    if care_form.ambulant:
        return None if wijk is None else f"an ambulant {care_form.code} team works in clients' homes and has no wijk"
    if wijk is None:
        return "a facility building needs its CBS wijk code"
    if not municipality_wijk_matches(municipality, wijk):
        return f"{wijk} does not lie in municipality {municipality}"
    return None
