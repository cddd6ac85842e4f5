"""An in-memory unit of work for housing's service layer: the same interfaces as the PostgreSQL one
(zorgstroom_housing.ports), the quotas' CHECKs as domain errors, all or nothing per unit, and what was
emitted and audited kept for asserting."""

import contextlib
import copy
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from zorgstroom_contracts import Envelope
from zorgstroom_contracts.codes import EndReason, TransferReason
from zorgstroom_contracts.events import (
    ClientRegistered,
    ConsentRecorded,
    Event,
    Household,
    OutflowReadinessAssessed,
    PlacementEnded,
    PlacementMade,
    ResponsibilityTransferred,
)
from zorgstroom_contracts.region import Region
from zorgstroom_housing.domain.errors import ContingentBelowUse, QuotaExhausted
from zorgstroom_housing.domain.model import (
    Contingent,
    HousingClient,
    HousingUnit,
    OfferRow,
    OfferStatus,
    QuotaKey,
    Transfer,
    UnitStatus,
)
from zorgstroom_housing.domain.offers import AvailableUnit, ReadyClient, Refusal
from zorgstroom_housing.domain.wijk_cap import WijkOutflow
from zorgstroom_housing.schemas import HousingUnitCreate
from zorgstroom_runtime.auth import OrganisationKind, Principal, Role


@dataclass
class Store:
    """What the database would hold: committed state only."""

    units: dict[str, HousingUnit] = field(default_factory=dict)
    contingents: dict[QuotaKey, Contingent] = field(default_factory=dict)
    offers: dict[str, OfferRow] = field(default_factory=dict)  # in the order made
    offers_made_at: dict[str, datetime] = field(default_factory=dict)
    clients: dict[str, HousingClient] = field(default_factory=dict)
    ended_placements: set[str] = field(default_factory=set)
    transfers: dict[str, Transfer] = field(default_factory=dict)
    emitted: list[Envelope] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    now: datetime = datetime(2027, 1, 1, 12, 0)  # the wall clock that lapses offers

    def events(self, event_type: str) -> list[dict[str, Any]]:
        return [e.data for e in self.emitted if e.event_type == event_type]


class FakeUnitsRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self, unit_id: str) -> HousingUnit | None:
        return self.store.units.get(unit_id)

    async def add(self, unit: HousingUnit) -> None:
        assert unit.unit_id not in self.store.units, "the primary key refuses a second unit"
        self.store.units[unit.unit_id] = unit

    async def available(self) -> list[AvailableUnit]:
        return [
            AvailableUnit(u.unit_id, u.corporation_id, u.municipality, u.wijk, u.rooms, u.available_from)
            for u in self.store.units.values()
            if u.status is UnitStatus.AVAILABLE
        ]

    async def set_status(self, unit_id: str, status: UnitStatus) -> None:
        unit = self.store.units[unit_id]
        waiting = unit.waiting_reason if status is UnitStatus.AVAILABLE else None
        self.store.units[unit_id] = replace(unit, status=status, waiting_reason=waiting)

    async def set_waiting_reasons(self, reasons: Mapping[str, Refusal]) -> None:
        for unit_id, reason in reasons.items():
            if self.store.units[unit_id].status is UnitStatus.AVAILABLE:
                self.store.units[unit_id] = replace(self.store.units[unit_id], waiting_reason=reason.value)

    async def of_corporation(self, corporation_id: str) -> list[HousingUnit]:
        return sorted(
            (u for u in self.store.units.values() if u.corporation_id == corporation_id), key=lambda u: u.unit_id
        )


class FakeContingents:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _checked(self, contingent: Contingent, refusal: Exception) -> None:
        if contingent.units < 0 or contingent.used + contingent.reserved > contingent.units:
            raise refusal
        self.store.contingents[contingent.key] = contingent

    async def agree(self, corporation_id: str, municipality: str, year: int, units: int) -> Contingent:
        key = (corporation_id, municipality, year)
        known = self.store.contingents.get(key) or Contingent(*key, units=0)
        agreed = replace(known, units=units, version=known.version + 1)  # raised as the repository raises it
        self._checked(agreed, ContingentBelowUse(str(key)))
        return agreed

    async def get(self, key: QuotaKey) -> Contingent | None:
        return self.store.contingents.get(key)

    async def left(self) -> dict[QuotaKey, int]:
        return {key: c.left for key, c in self.store.contingents.items()}

    async def hold(self, key: QuotaKey) -> None:
        held = self.store.contingents.get(key)
        if held is None:
            raise QuotaExhausted(f"no quota {key}")
        self._checked(replace(held, reserved=held.reserved + 1), QuotaExhausted(str(key)))

    async def use(self, key: QuotaKey) -> None:
        held = self.store.contingents[key]
        self.store.contingents[key] = replace(held, reserved=held.reserved - 1, used=held.used + 1)

    async def release(self, key: QuotaKey) -> None:
        held = self.store.contingents[key]
        self.store.contingents[key] = replace(held, reserved=held.reserved - 1)

    async def give_back(self, key: QuotaKey) -> None:
        held = self.store.contingents[key]
        self.store.contingents[key] = replace(held, used=held.used - 1)

    async def of_corporation(self, corporation_id: str) -> list[Contingent]:
        found = [c for c in self.store.contingents.values() if c.corporation_id == corporation_id]
        return sorted(found, key=lambda c: (c.year, c.municipality))


class FakeOffers:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def add(self, offer: OfferRow) -> None:
        # The unique indexes: one open offer per unit and per client.
        assert not any(
            o.status is OfferStatus.OPEN and (o.unit_id == offer.unit_id or o.client_ref == offer.client_ref)
            for o in self.store.offers.values()
        ), "a second open offer for a unit or a client"
        self.store.offers[offer.offer_id] = offer
        self.store.offers_made_at[offer.offer_id] = self.store.now

    async def get(self, offer_id: str) -> OfferRow | None:
        return self.store.offers.get(offer_id)

    async def open_offer_of(self, client_ref: str) -> OfferRow | None:
        return next(
            (o for o in self.store.offers.values() if o.client_ref == client_ref and o.status is OfferStatus.OPEN),
            None,
        )

    async def answer(self, offer_id: str, status: OfferStatus, on: date, reason: str | None = None) -> None:
        offer = self.store.offers[offer_id]
        self.store.offers[offer_id] = replace(offer, status=status, answered_on=on, decline_reason=reason)

    async def due(self, after: timedelta, limit: int = 100) -> list[OfferRow]:
        made_at = self.store.offers_made_at
        due = [
            o
            for o in self.store.offers.values()
            if o.status is OfferStatus.OPEN and made_at[o.offer_id] + after <= self.store.now
        ]
        return sorted(due, key=lambda o: made_at[o.offer_id])[:limit]

    async def of_corporation(self, corporation_id: str) -> list[OfferRow]:
        return [o for o in self.store.offers.values() if o.corporation_id == corporation_id]


class FakeWijkHomes:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def counted(self, wijken: Sequence[str], let_since: date) -> dict[str, WijkOutflow]:
        counted = {}
        for wijk in wijken:
            offers = [o for o in self.store.offers.values() if o.wijk == wijk]
            let_on = sorted(
                o.answered_on
                for o in offers
                if o.status is OfferStatus.ACCEPTED and o.answered_on is not None and o.answered_on >= let_since
            )
            open_offers = sum(1 for o in offers if o.status is OfferStatus.OPEN)
            if let_on or open_offers:
                counted[wijk] = WijkOutflow(tuple(let_on), open_offers)
        return counted


class FakeClients:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self, client_ref: str) -> HousingClient | None:
        return self.store.clients.get(client_ref)

    async def save(self, client: HousingClient) -> None:
        self.store.clients[client.client_ref] = client

    async def placement_has_ended(self, placement_id: str) -> bool:
        return placement_id in self.store.ended_placements

    async def record_ending(self, placement_id: str) -> None:
        self.store.ended_placements.add(placement_id)

    async def ready(self) -> list[ReadyClient]:
        offers = list(self.store.offers.values())
        return [
            ReadyClient(
                client_ref=c.client_ref,
                responsible_municipality=c.responsible_municipality,
                preferred_municipalities=c.preferred_municipalities,
                adults=c.adults,
                children=c.children,
                ready_since=c.ready_since,
                declined_units=frozenset(
                    o.unit_id
                    for o in offers
                    if o.client_ref == c.client_ref and o.status in (OfferStatus.DECLINED, OfferStatus.LAPSED)
                ),
                has_open_offer=any(o.client_ref == c.client_ref and o.status is OfferStatus.OPEN for o in offers),
                intake_id=c.intake_id,
                consent_since=c.consent_since,
                transfers=tuple(t for t in self.store.transfers.values() if t.client_ref == c.client_ref),
            )
            for c in self.store.clients.values()
            if c.ready_since is not None
            and c.placement_id is not None
            and c.housed_on is None
            and c.responsible_municipality is not None
        ]


class FakeTransfers:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def add(self, transfer: Transfer) -> None:
        if transfer.transfer_id not in self.store.transfers:
            self.store.transfers[transfer.transfer_id] = replace(transfer, received=len(self.store.transfers) + 1)

    async def bind_to_episode(self, client_ref: str, intake_id: str, started_on: date) -> None:
        for t in list(self.store.transfers.values()):
            if t.client_ref == client_ref and t.intake_ids is None and t.effective_on >= started_on:
                self.store.transfers[t.transfer_id] = replace(t, intake_ids=frozenset({intake_id}))


class FakeUnitOfWork:
    def __init__(self, store: Store, region: Region, correlation_id: str | None) -> None:
        self.store, self._region, self.correlation_id = store, region, correlation_id
        self.units = FakeUnitsRepository(store)
        self.contingents = FakeContingents(store)
        self.offers = FakeOffers(store)
        self.wijk_homes = FakeWijkHomes(store)
        self.clients = FakeClients(store)
        self.transfers = FakeTransfers(store)
        self.matching_turns = 0

    async def emit(self, event: Event) -> Envelope:
        envelope = Envelope.wrap(
            event, producer="housing", region=self._region.code, correlation_id=self.correlation_id
        )
        self.store.emitted.append(envelope)
        return envelope

    async def audit_as(
        self, principal: Principal, action: str, *, client_ref: str | None = None, subject: str | None = None
    ) -> None:
        line = {"actor": principal.name, "on_behalf_of": principal.organisation, "action": action}
        self.store.audit.append(line | {"client_ref": client_ref, "subject": subject})

    async def take_matching_turn(self) -> None:
        self.matching_turns += 1  # one process: nobody to wait for


class FakeUnits:
    """The factory the service receives; each unit commits by keeping its changes, or rolls them back."""

    def __init__(self, region: Region) -> None:
        self.region = region
        self.store = Store()

    @contextlib.asynccontextmanager
    async def __call__(self, *, correlation_id: str | None = None) -> AsyncIterator[FakeUnitOfWork]:
        before = copy.deepcopy(self.store)
        try:
            yield FakeUnitOfWork(self.store, self.region, correlation_id)
        except BaseException:
            self.store.__dict__.update(before.__dict__)  # rolled back: as if nothing happened
            raise


# --- the events and callers housing meets, as builders for its tests ------------------------------

CORPORATION_ID = "woonstad"
ALMERE, LELYSTAD, DRONTEN = "0034", "0995", "0303"


def ref(name: str) -> str:
    """A client_ref (64 hex) that reads back as its name in a failing assertion's diff."""
    return name.encode().hex().ljust(64, "0")


def corporation(corporation_id: str = CORPORATION_ID) -> Principal:
    return Principal(
        f"corp-{corporation_id}", OrganisationKind.CORPORATION, corporation_id, frozenset({Role.HOUSING_WRITE})
    )


def unit_create(
    unit_id: str, available_from: date, *, wijk: str = "WK003402", rooms: int = 2, **extra: Any
) -> HousingUnitCreate:
    return HousingUnitCreate(
        corporation_id=extra.pop("corporation_id", CORPORATION_ID),
        unit_id=unit_id,
        municipality=extra.pop("municipality", ALMERE),
        wijk=wijk,
        rooms=rooms,
        rent_eur=640.0,
        available_from=available_from,
        **extra,
    )


def client_registered(
    name: str,
    intake_id: str,
    on: date,
    *,
    responsible: str = ALMERE,
    adults: int = 1,
    children: int = 0,
    consent: bool = True,
) -> ClientRegistered:
    return ClientRegistered(
        intake_id=intake_id,
        client_ref=ref(name),
        registering_municipality=responsible,
        responsible_municipality=responsible,
        care_form="BW_24H",
        needs=["psychiatric"],
        urgency="normal",
        household=Household(adults=adults, children=children),
        preferred_municipalities=[],
        registered_on=on,
        consent_to_share=consent,
    )


def consent_recorded(name: str, given: bool, on: date, *, responsible: str = ALMERE) -> ConsentRecorded:
    return ConsentRecorded(
        client_ref=ref(name), responsible_municipality=responsible, consent_to_share=given, recorded_on=on
    )


def placement_made(
    name: str,
    placement_id: str,
    on: date,
    *,
    intake_id: str | None = None,
    responsible: str = ALMERE,
    care_form: str = "BW_24H",
) -> PlacementMade:
    return PlacementMade(
        placement_id=placement_id,
        client_ref=ref(name),
        facility_id="bw-almere",
        provider_agb="11111111",
        facility_municipality=ALMERE,
        wijk="WK003401",
        responsible_municipality=responsible,
        care_form=care_form,
        start_date=on,
        waited_days=0,
        intake_id=intake_id,
    )


def placement_ended(
    name: str, placement_id: str, on: date, reason: EndReason, *, doorstroom_to: str | None = None
) -> PlacementEnded:
    return PlacementEnded(
        placement_id=placement_id,
        client_ref=ref(name),
        facility_id="bw-almere",
        provider_agb="11111111",
        responsible_municipality=ALMERE,
        reason=reason,
        end_date=on,
        doorstroom_to=doorstroom_to,
    )


def assessed(
    name: str, placement_id: str, on: date, *, ready: bool = True, responsible: str = ALMERE
) -> OutflowReadinessAssessed:
    return OutflowReadinessAssessed(
        placement_id=placement_id,
        client_ref=ref(name),
        provider_agb="11111111",
        responsible_municipality=responsible,
        assessed_on=on,
        ready=ready,
    )


def transferred(
    name: str, to: str, effective_on: date, intake_ids: list[str] | None, transfer_id: str = "t1"
) -> ResponsibilityTransferred:
    return ResponsibilityTransferred(
        client_ref=ref(name),
        from_municipality=ALMERE,
        to_municipality=to,
        to_in_region=True,
        reason=TransferReason.SOCIAL_NETWORK,
        effective_on=effective_on,
        transfer_id=transfer_id,
        intake_ids=intake_ids,
    )
