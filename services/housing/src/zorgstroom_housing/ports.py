"""What housing's service layer needs from the outside world, as interfaces: its repositories and its unit
of work. The PostgreSQL implementations are in adapters/; tests use the in-memory fake in
tests/support/fake_housing.py, which follows the same interfaces."""

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import date, timedelta
from typing import Protocol

from zorgstroom_contracts import Envelope
from zorgstroom_contracts.events import Event
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
from zorgstroom_runtime.auth import Principal


class Units(Protocol):
    async def get(self, unit_id: str) -> HousingUnit | None: ...
    async def add(self, unit: HousingUnit) -> None: ...
    async def available(self) -> list[AvailableUnit]: ...
    async def set_status(self, unit_id: str, status: UnitStatus) -> None: ...
    async def set_waiting_reasons(self, reasons: Mapping[str, Refusal]) -> None: ...
    async def of_corporation(self, corporation_id: str) -> list[HousingUnit]: ...


class Contingents(Protocol):
    async def agree(self, corporation_id: str, municipality: str, year: int, units: int) -> Contingent:
        """Set a quota, one version up; raises ContingentBelowUse when it would drop below what is used or promised."""
        ...

    async def get(self, key: QuotaKey) -> Contingent | None: ...
    async def left(self) -> dict[QuotaKey, int]: ...

    async def hold(self, key: QuotaKey) -> None:
        """Promise a home in an open offer; raises QuotaExhausted past the quota (or without one)."""
        ...

    async def use(self, key: QuotaKey) -> None: ...  # a promised home is taken (accepted)
    async def release(self, key: QuotaKey) -> None: ...  # a promised home comes back (declined, lapsed)
    async def give_back(self, key: QuotaKey) -> None: ...  # a home taken comes back (the outflow was refused)
    async def of_corporation(self, corporation_id: str) -> list[Contingent]: ...


class Offers(Protocol):
    async def add(self, offer: OfferRow) -> None: ...

    async def get(self, offer_id: str) -> OfferRow | None:
        """The offer, held against concurrent answers until the unit of work ends."""
        ...

    async def open_offer_of(self, client_ref: str) -> OfferRow | None: ...
    async def answer(self, offer_id: str, status: OfferStatus, on: date, reason: str | None = None) -> None: ...

    async def due(self, after: timedelta, limit: int = 100) -> list[OfferRow]:
        """Open offers made at least `after` ago (wall clock), oldest first."""
        ...

    async def of_corporation(self, corporation_id: str) -> list[OfferRow]: ...


class WijkHomes(Protocol):
    async def counted(self, wijken: Sequence[str], let_since: date) -> dict[str, WijkOutflow]:
        """Per wijk: the days homes were let in it from `let_since` on, and its open offers."""
        ...


class Clients(Protocol):
    async def get(self, client_ref: str) -> HousingClient | None:
        """The client, held against concurrent changes until the unit of work ends."""
        ...

    async def save(self, client: HousingClient) -> None: ...
    async def placement_has_ended(self, placement_id: str) -> bool: ...
    async def record_ending(self, placement_id: str) -> None: ...

    async def ready(self) -> list[ReadyClient]:
        """Clients ready for outflow in an open placement, not housed, with their offers' state and transfers."""
        ...


class Transfers(Protocol):
    async def add(self, transfer: Transfer) -> None: ...

    async def bind_to_episode(self, client_ref: str, intake_id: str, started_on: date) -> None:
        """Transfers that came before any episode of the client was known (older events name none) belong to
        this episode when it started on or before their effective date."""
        ...


class HousingUnitOfWork(Protocol):
    """One transaction: housing's rows, the events it emits and its audit lines, all or nothing."""

    @property
    def units(self) -> Units: ...
    @property
    def contingents(self) -> Contingents: ...
    @property
    def offers(self) -> Offers: ...
    @property
    def wijk_homes(self) -> WijkHomes: ...
    @property
    def clients(self) -> Clients: ...
    @property
    def transfers(self) -> Transfers: ...

    async def emit(self, event: Event) -> Envelope: ...
    async def audit_as(
        self, principal: Principal, action: str, *, client_ref: str | None = None, subject: str | None = None
    ) -> None: ...

    async def take_matching_turn(self) -> None:
        """Matchers (and whoever changes what they count) take turns until the unit of work ends."""
        ...


# Opens a unit of work (correlation id of the request that causes it).
UnitsOfWork = Callable[..., AbstractAsyncContextManager[HousingUnitOfWork]]
