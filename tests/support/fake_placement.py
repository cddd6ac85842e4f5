"""An in-memory unit of work for placement's service layer: the same interfaces as the PostgreSQL one
(zorgstroom_placement.ports), all or nothing per unit, and what was emitted and audited kept for asserting."""

import contextlib
import copy
import hashlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any
from uuid import UUID

from zorgstroom_contracts import Envelope, spec_for
from zorgstroom_contracts.events import ClientRegistered, Event
from zorgstroom_placement.domain.facilities import Facility, WijkCapExceeded, wijk_has_room
from zorgstroom_placement.domain.placements import Placement
from zorgstroom_placement.domain.transfers import Transfer, TransferStatus
from zorgstroom_placement.domain.waiting_list import Registration, RegistrationStatus, WaitingClient
from zorgstroom_placement.schemas import FacilityPut
from zorgstroom_runtime.auth import OrganisationKind, Principal, Role


@dataclass
class Store:
    """What the database would hold: committed state only."""

    registrations: dict[str, Registration] = field(default_factory=dict)
    facilities: dict[str, Facility] = field(default_factory=dict)
    wijk_places: dict[str, int] = field(default_factory=dict)
    placements: dict[str, Placement] = field(default_factory=dict)
    end_reasons: dict[str, str] = field(default_factory=dict)
    doorstroom_from: dict[str, str | None] = field(default_factory=dict)
    assessments: list[dict[str, Any]] = field(default_factory=list)
    transfers: dict[str, Transfer] = field(default_factory=dict)
    locks: list[str] = field(default_factory=list)  # "turn MO_24H", "registration i-1": the lock order to check
    emitted: list[tuple[Envelope, tuple[str, ...]]] = field(default_factory=list)
    copies: dict[UUID, Event] = field(default_factory=dict)  # what the providers' topics get, per event
    audit: list[dict[str, Any]] = field(default_factory=list)

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """The data of the emitted events (of one type), in order."""
        return [e.data for e, _ in self.emitted if event_type in (None, e.event_type)]

    def event_types(self) -> list[str]:
        return [e.event_type for e, _ in self.emitted]


def _waiting(r: Registration, in_place_of: str | None = None) -> WaitingClient:
    return WaitingClient(
        r.client_ref,
        r.care_form,
        r.responsible_municipality,
        r.urgency,
        r.waiting_since,
        frozenset(r.needs),
        r.preferred_municipalities,
        r.intake_id,
        in_place_of,
    )


class FakeWaitingList:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def add(self, event: ClientRegistered) -> bool:
        if event.intake_id in self.store.registrations:
            return False
        self.store.registrations[event.intake_id] = Registration(
            intake_id=event.intake_id,
            client_ref=event.client_ref,
            care_form=event.care_form,
            responsible_municipality=event.responsible_municipality,
            urgency=event.urgency,
            needs=tuple(event.needs),
            adults=event.household.adults,
            children=event.household.children,
            preferred_municipalities=tuple(event.preferred_municipalities),
            waiting_since=event.registered_on,
        )
        return True

    async def get(self, intake_id: str) -> Registration | None:
        return self.store.registrations.get(intake_id)

    async def get_for_update(self, intake_id: str) -> Registration | None:
        self.store.locks.append(f"registration {intake_id}")
        return self.store.registrations.get(intake_id)

    async def save(self, registration: Registration) -> None:
        self.store.registrations[registration.intake_id] = registration

    async def waiting(self, care_form: str | None) -> list[WaitingClient]:
        return [
            _waiting(r) for r in self.store.registrations.values() if r.is_waiting and care_form in (None, r.care_form)
        ]

    async def to_place(self, care_form: str) -> list[WaitingClient]:
        open_by_client = {p.client_ref: p for p in self.store.placements.values() if p.end_date is None}
        return [
            _waiting(r, open_by_client[r.client_ref].care_form if r.client_ref in open_by_client else None)
            for r in self.store.registrations.values()
            if r.is_waiting and r.care_form == care_form
        ]

    async def episode_of(self, client_ref: str) -> list[Registration]:
        def current(r: Registration) -> bool:
            if r.is_waiting:
                return True
            placement = self.store.placements.get(r.placement_id or "")
            return r.status is RegistrationStatus.PLACED and placement is not None and placement.end_date is None

        found = [r for r in self.store.registrations.values() if r.client_ref == client_ref and current(r)]
        return sorted(found, key=lambda r: (r.waiting_since, r.intake_id))

    async def mark_placed(self, intake_id: str, placement_id: str) -> bool:
        r = self.store.registrations[intake_id]
        if not r.is_waiting:  # as the UPDATE ... WHERE status = 'waiting' changes nothing
            return False
        self.store.registrations[intake_id] = replace(r, status=RegistrationStatus.PLACED, placement_id=placement_id)
        return True

    async def care_forms_of(self, client_ref: str) -> set[str]:
        return {r.care_form for r in await self.episode_of(client_ref)}

    async def set_preferences(self, client_ref: str, preferred: Sequence[str]) -> None:
        for key, r in list(self.store.registrations.items()):
            if r.client_ref == client_ref and r.is_waiting:
                self.store.registrations[key] = replace(r, preferred_municipalities=tuple(preferred))

    async def hand_over(self, intake_ids: Sequence[str], to: str, *, leaves_region: bool) -> None:
        for intake_id in intake_ids:
            r = self.store.registrations[intake_id]
            status = RegistrationStatus.TRANSFERRED if leaves_region and r.is_waiting else r.status
            self.store.registrations[intake_id] = replace(r, responsible_municipality=to, status=status)


class FakeFacilities:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def take_turn(self, care_form: str) -> None:
        self.store.locks.append(f"turn {care_form}")  # one process, one unit at a time: turns are given, and logged

    async def get(self, facility_id: str) -> Facility | None:
        return self.store.facilities.get(facility_id)

    get_for_update = get

    async def find(self, care_form: str | None, municipality: str | None) -> list[Facility]:
        return sorted(
            (
                f
                for f in self.store.facilities.values()
                if care_form in (None, f.care_form) and municipality in (None, f.municipality)
            ),
            key=lambda f: f.facility_id,
        )

    async def with_free_places(self, care_form: str) -> list[Facility]:
        return [f for f in self.store.facilities.values() if f.care_form == care_form and f.free_places > 0]

    async def save(self, facility: Facility) -> int:
        known = self.store.facilities.get(facility.facility_id)
        version = (known.version if known else 0) + 1  # as the repository raises it in the same statement
        self.store.facilities[facility.facility_id] = replace(facility, version=version)
        return version

    async def occupy(self, facility_id: str, delta: int) -> None:
        f = self.store.facilities[facility_id]
        assert 0 <= f.occupied + delta <= f.capacity, "the database would refuse a facility over capacity"
        self.store.facilities[facility_id] = replace(f, occupied=f.occupied + delta)

    async def add_wijk_places(self, wijk: str, delta: int, cap: int) -> None:
        places = self.store.wijk_places.get(wijk, 0)
        if not wijk_has_room(places, delta, cap):  # as the CHECK on wijk_places refuses it
            raise WijkCapExceeded(wijk, cap)
        self.store.wijk_places[wijk] = places + delta


class FakePlacements:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def add(self, placement: Placement, doorstroom_from: str | None) -> None:
        assert not any(
            p.client_ref == placement.client_ref and p.end_date is None for p in self.store.placements.values()
        ), "the database holds one open placement per client"
        self.store.placements[placement.placement_id] = placement
        self.store.doorstroom_from[placement.placement_id] = doorstroom_from

    async def get(self, placement_id: str) -> Placement | None:
        return self.store.placements.get(placement_id)

    async def get_for_update(self, placement_id: str) -> Placement | None:
        self.store.locks.append(f"placement {placement_id}")
        return self.store.placements.get(placement_id)

    async def open_of_client(self, client_ref: str) -> Placement | None:
        return next(
            (p for p in self.store.placements.values() if p.client_ref == client_ref and p.end_date is None), None
        )

    async def end(self, placement_id: str, reason: str, end_date: date) -> None:
        self.store.placements[placement_id] = replace(self.store.placements[placement_id], end_date=end_date)
        self.store.end_reasons[placement_id] = reason

    async def open_of_provider(self, provider_agb: str) -> list[Placement]:
        found = [p for p in self.store.placements.values() if p.provider_agb == provider_agb and p.end_date is None]
        return sorted(found, key=lambda p: (p.start_date, p.placement_id))

    async def record_assessment(
        self,
        placement_id: str,
        assessed_on: date,
        scores: dict[str, int],
        client_scores: dict[str, int] | None,
        client_wants_to_move: bool,
        ready: bool,
        support_at_home: bool,
    ) -> None:
        self.store.assessments.append({"placement_id": placement_id, "assessed_on": assessed_on, "ready": ready})
        p = self.store.placements[placement_id]
        self.store.placements[placement_id] = replace(p, ready=ready, support_at_home=support_at_home)

    async def hand_over(self, intake_ids: Sequence[str], to: str) -> None:
        for key, p in list(self.store.placements.items()):
            if p.intake_id in intake_ids and p.end_date is None:
                self.store.placements[key] = replace(p, responsible_municipality=to)


class FakeTransfers:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def add(self, transfer: Transfer) -> None:
        self.store.transfers[transfer.transfer_id] = transfer

    async def get_for_update(self, transfer_id: str) -> Transfer | None:
        return self.store.transfers.get(transfer_id)

    save = add

    async def pending_for(self, intake_ids: Sequence[str]) -> list[Transfer]:
        return [
            t
            for t in self.store.transfers.values()
            if set(t.intake_ids) & set(intake_ids)
            and (t.status is TransferStatus.PROPOSED or (t.status is TransferStatus.ACCEPTED and not t.applied))
        ]

    async def latest_accepted_effective_on(self, intake_ids: Sequence[str]) -> date | None:
        dates = [
            t.effective_on
            for t in self.store.transfers.values()
            if set(t.intake_ids) & set(intake_ids) and t.status is TransferStatus.ACCEPTED
        ]
        return max(dates, default=None)

    async def due(self, today: date) -> list[Transfer]:
        found = [
            t
            for t in self.store.transfers.values()
            if t.status is TransferStatus.ACCEPTED and not t.applied and t.effective_on <= today
        ]
        return sorted(found, key=lambda t: (t.effective_on, t.answered_on or t.effective_on, t.transfer_id))

    async def involving(self, municipality: str | None, status: TransferStatus | None) -> list[Transfer]:
        return [
            t
            for t in reversed(self.store.transfers.values())
            if municipality in (None, t.from_municipality, t.to_municipality) and status in (None, t.status)
        ]


class FakePlacementUnitOfWork:
    def __init__(self, store: Store, correlation_id: str | None) -> None:
        self.store, self.correlation_id = store, correlation_id
        self.waiting_list = FakeWaitingList(store)
        self.facilities = FakeFacilities(store)
        self.placements = FakePlacements(store)
        self.transfers = FakeTransfers(store)

    async def emit(self, event: Event, *, also_to: Sequence[str] = (), copy: Event | None = None) -> Envelope:
        spec_for(event)  # only contract events leave placement
        envelope = Envelope.wrap(event, producer="placement", region="flevoland", correlation_id=self.correlation_id)
        self.store.emitted.append((envelope, tuple(also_to)))
        if also_to:
            self.store.copies[envelope.event_id] = copy or event
        return envelope

    async def audit_as(
        self, principal: Principal, action: str, *, client_ref: str | None = None, subject: str | None = None
    ) -> None:
        self.store.audit.append(
            {"on_behalf_of": principal.organisation, "action": action, "client_ref": client_ref, "subject": subject}
        )


class FakeUnits:
    """The factory the service receives; each unit commits by keeping its changes, or rolls them back."""

    def __init__(self) -> None:
        self.store = Store()

    @contextlib.asynccontextmanager
    async def __call__(self, *, correlation_id: str | None = None) -> AsyncIterator[FakePlacementUnitOfWork]:
        before = copy.deepcopy(self.store)
        try:
            yield FakePlacementUnitOfWork(self.store, correlation_id)
        except BaseException:
            self.store.__dict__.update(before.__dict__)  # rolled back: as if nothing happened
            raise

    @contextlib.asynccontextmanager
    async def event(self) -> AsyncIterator[FakePlacementUnitOfWork]:
        """The unit of work a Kafka handler receives (the consumer opened it)."""
        async with self() as uow:
            yield uow


# --- what the tests send: registrations as intake emits them, facilities, callers ----------------------

_ROLES = {
    "municipality": frozenset(
        {Role.INTAKE_REGISTER, Role.WAITING_LIST_READ, Role.PLACEMENTS_WRITE, Role.CLIENTS_TRANSFER}
    ),
    "provider": frozenset({Role.FACILITIES_WRITE, Role.PLACEMENTS_WRITE}),
    "region": frozenset({Role.REPORTS_REGION, Role.WAITING_LIST_READ, Role.FACILITIES_WRITE, Role.CLIENTS_TRANSFER}),
}


def municipality(code: str) -> Principal:
    return Principal(f"municipality-{code}", OrganisationKind.MUNICIPALITY, code, _ROLES["municipality"])


def provider(agb: str) -> Principal:
    return Principal(f"provider-{agb}", OrganisationKind.PROVIDER, agb, _ROLES["provider"])


def region_staff(code: str = "flevoland") -> Principal:
    return Principal(f"region-{code}", OrganisationKind.REGION, code, _ROLES["region"])


_NAMES: dict[str, str] = {}


def ref(name: str) -> str:
    """A client_ref (a 64-hex pseudonym) for a short name a test reads better."""
    client_ref = hashlib.sha256(name.encode()).hexdigest()
    _NAMES[client_ref] = name
    return client_ref


def name(client_ref: str) -> str:
    return _NAMES.get(client_ref, client_ref)


def client_registered(intake_id: str, client: str, **overrides: Any) -> ClientRegistered:
    """ClientRegistered as intake emits it, for the client with this short name."""
    values: dict[str, Any] = {
        "intake_id": intake_id,
        "client_ref": ref(client),
        "registering_municipality": "0034",
        "responsible_municipality": "0034",
        "care_form": "MO_24H",
        "needs": ["psychiatric"],
        "urgency": "normal",
        "household": {"adults": 1, "children": 0},
        "preferred_municipalities": [],
        "registered_on": date(2027, 3, 1),
    }
    return ClientRegistered.model_validate(values | overrides)


def facility_put(provider_agb: str, municipality: str, wijk: str | None, capacity: int, **extra: Any) -> FacilityPut:
    body: dict[str, Any] = {
        "provider_agb": provider_agb,
        "name": f"Illustrative facility {wijk or municipality}",
        "municipality": municipality,
        "wijk": wijk,
        "care_form": "MO_24H",
        "capacity": capacity,
        "supported_needs": ["psychiatric", "addiction"],
    }
    return FacilityPut.model_validate(body | extra)
