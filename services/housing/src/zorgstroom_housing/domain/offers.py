"""Which ready client an outflow home goes to (docs/domain.md, "A home", policy): pure and
deterministic. A unit goes to the longest-ready client whose responsible municipality (on the day of the
offer) or preference matches the unit's, whose household fits, while the quota lasts and the wijk has room."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from zorgstroom_contracts.region import HousingPolicy
from zorgstroom_housing.domain.clients import responsible_on
from zorgstroom_housing.domain.model import QuotaKey, Transfer
from zorgstroom_housing.domain.wijk_cap import WijkOutflow, wijk_has_room


@dataclass(frozen=True)
class ReadyClient:
    client_ref: str
    responsible_municipality: str  # at the start of the episode; see responsible_on
    preferred_municipalities: tuple[str, ...]
    adults: int
    children: int
    ready_since: date
    declined_units: frozenset[str] = frozenset()
    has_open_offer: bool = False
    intake_id: str | None = None
    transfers: tuple[Transfer, ...] = ()
    consent_since: date | None = None  # consent to share with corporations holds from; None: no consent

    def responsible_on(self, day: date) -> str:
        return responsible_on(day, self.responsible_municipality, self.intake_id, self.transfers)


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
    offered_on: date


class Refusal(StrEnum):
    """Why a unit cannot be offered at all right now; a corporation sees it on its unit."""

    NOT_YET_AVAILABLE = "not_yet_available"
    QUOTA_USED_UP = "quota_used_up"
    WIJK_AT_CAP = "wijk_at_cap"
    NO_FITTING_CLIENT = "no_fitting_client"


@dataclass
class Capacity:
    """What is left to offer. A missing quota key means no quota (0); a wijk missing has no homes counted yet."""

    quota_left: dict[QuotaKey, int]  # (corporation, municipality, year) -> homes still to offer
    wijk_homes: dict[str, WijkOutflow] = field(default_factory=dict)


def unit_day(on: date, unit: AvailableUnit) -> date:
    """The day a unit can be let: the matching day, or later when the unit becomes available later."""
    return max(on, unit.available_from)


def offer_date(on: date, unit: AvailableUnit, client: ReadyClient) -> date:
    """An offer is dated when the unit is available, the client is ready and consents to share."""
    return max(unit_day(on, unit), client.ready_since, client.consent_since or client.ready_since)


def matching_day(on: date, today: date) -> date:
    """A pass matches from the day something happened, but never from a day after today: an offer is made
    when it is made, not ahead (a transfer or a quota of a later date counts once its day has come)."""
    return min(on, today)


def available_by(unit: AvailableUnit, today: date) -> bool:
    """A unit announced ahead waits until the day it comes free; a later pass offers it then."""
    return unit.available_from <= today


def ready_by(client: ReadyClient, today: date) -> bool:
    """Ready, and consenting, by today: consent dated ahead counts from its day, by a later pass."""
    return client.ready_since <= today and (client.consent_since is None or client.consent_since <= today)


def may_share_with_corporation(client: ReadyClient) -> bool:
    """Rule 14: a corporation stands outside the Wmo's chain of care, so without the client's consent to share
    no corporation offer is made (the unit waits for another client)."""
    return client.consent_since is not None


def quota_lasts(quota_left: Mapping[QuotaKey, int], key: QuotaKey) -> bool:
    """The corporation may still offer a home under this quota (a quota not agreed is none)."""
    return quota_left.get(key, 0) > 0


def eligible(unit: AvailableUnit, client: ReadyClient, policy: HousingPolicy, on: date) -> bool:
    """The client may be offered this unit: the unit lies in the municipality responsible for them on the day
    of the offer (or one they prefer), the household fits, they consent to share with the corporation, did not
    decline it and hold no open offer."""
    municipality = unit.municipality
    responsible = client.responsible_on(offer_date(on, unit, client))
    wanted = municipality == responsible or municipality in client.preferred_municipalities
    return (
        wanted
        and may_share_with_corporation(client)
        and not client.has_open_offer
        and unit.unit_id not in client.declined_units
        and unit.rooms >= policy.rooms_needed(client.adults, client.children)
    )


def _longest_ready(client: ReadyClient) -> tuple[date, str]:
    return (client.ready_since, client.client_ref)


def _in_order_of_availability(unit: AvailableUnit) -> tuple[date, str]:
    return (unit.available_from, unit.unit_id)


def choose_client(
    unit: AvailableUnit, clients: Sequence[ReadyClient], policy: HousingPolicy, on: date
) -> ReadyClient | None:
    """The longest-ready eligible client (ties by client_ref), or None. Client refs are assumed unique."""
    fitting = [c for c in clients if eligible(unit, c, policy, on)]
    return min(fitting, key=_longest_ready) if fitting else None


def _require_unique(keys: Iterable[str], what: str) -> None:
    # Refs are primary keys upstream; a duplicate would make the outcome depend on input order, so refuse it.
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise ValueError(f"duplicate {what} {key!r}")
        seen.add(key)


def match_units(
    units: Sequence[AvailableUnit], clients: Sequence[ReadyClient], capacity: Capacity, policy: HousingPolicy, on: date
) -> tuple[list[Offer], dict[str, Refusal]]:
    """Offer units in order of (available_from, unit_id); each offer holds one quota unit (of the year the unit
    can be let) and one slot of its wijk (judged on that day), and takes its client out of this pass.
    Returns the offers in that order and, per unit not offered, the reason: quota before wijk before client.
    Units under an open offer are not passed in; clients with one are passed in and skipped."""
    _require_unique((u.unit_id for u in units), "unit_id")
    _require_unique((c.client_ref for c in clients), "client_ref")
    # Copies: the caller's capacity must still describe the store until the offers are kept.
    quota = dict(capacity.quota_left)
    homes = dict(capacity.wijk_homes)
    free = sorted(clients, key=_longest_ready)
    offers: list[Offer] = []
    refusals: dict[str, Refusal] = {}
    for unit in sorted(units, key=_in_order_of_availability):
        day = unit_day(on, unit)
        key = (unit.corporation_id, unit.municipality, day.year)
        in_wijk = homes.get(unit.wijk, WijkOutflow())
        if not quota_lasts(quota, key):
            refusals[unit.unit_id] = Refusal.QUOTA_USED_UP
        elif not wijk_has_room(policy.wijk_outflow_cap(unit.wijk), in_wijk, day, policy.wijk_outflow_window_months):
            refusals[unit.unit_id] = Refusal.WIJK_AT_CAP
        elif (client := choose_client(unit, free, policy, on)) is None:
            refusals[unit.unit_id] = Refusal.NO_FITTING_CLIENT
        else:
            quota[key] -= 1
            homes[unit.wijk] = in_wijk.with_offer()
            # One open offer per client: once offered, the client waits for their answer, not for a second home.
            free = [c for c in free if c.client_ref != client.client_ref]
            offers.append(Offer(unit, client, day.year, offer_date(on, unit, client)))
    return offers, refusals
