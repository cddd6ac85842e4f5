"""What placement's service layer needs from the outside world, as interfaces: its repositories and its
unit of work. The Postgres implementations are in adapters/; tests use the in-memory fake in
tests/support/fake_placement.py, which follows the same interfaces."""

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import date
from typing import Protocol

from zorgstroom_contracts import Envelope
from zorgstroom_contracts.events import ClientRegistered, Event
from zorgstroom_placement.domain.facilities import Facility
from zorgstroom_placement.domain.placements import Placement
from zorgstroom_placement.domain.transfers import Transfer, TransferStatus
from zorgstroom_placement.domain.waiting_list import Registration, WaitingClient
from zorgstroom_runtime.auth import Principal


class WaitingList(Protocol):
    async def add(self, event: ClientRegistered) -> bool:
        """Put a registration on the list; False when it was there already (a redelivered event)."""

    async def get(self, intake_id: str) -> Registration | None:
        """Without a lock: to learn the care form whose turn to take before locking the row."""

    async def get_for_update(self, intake_id: str) -> Registration | None: ...
    async def save(self, registration: Registration) -> None: ...
    async def waiting(self, care_form: str | None) -> list[WaitingClient]: ...

    async def to_place(self, care_form: str) -> list[WaitingClient]:
        """Waiting entries of one care form, each with the care form of the client's open placement, if any."""

    async def episode_of(self, client_ref: str) -> list[Registration]:
        """The client's registrations that are waiting, or placed in a placement still open."""

    async def mark_placed(self, intake_id: str, placement_id: str) -> bool:
        """Mark a WAITING registration placed; False, changing nothing, when it is no longer waiting."""

    async def care_forms_of(self, client_ref: str) -> set[str]:
        """The care forms of the client's current episode (waiting, or placed in an open placement), read
        without locking: to know whose matching turns to take before the client's rows are locked."""

    async def set_preferences(self, client_ref: str, preferred: Sequence[str]) -> None: ...

    async def hand_over(self, intake_ids: Sequence[str], to: str, *, leaves_region: bool) -> None:
        """The new municipality is responsible for these entries; out of the region, a waiting one leaves the list."""


class Facilities(Protocol):
    async def take_turn(self, care_form: str) -> None:
        """Matchers of one care form take turns (across processes) until their transaction ends."""

    async def get(self, facility_id: str) -> Facility | None: ...
    async def get_for_update(self, facility_id: str) -> Facility | None: ...
    async def find(self, care_form: str | None, municipality: str | None) -> list[Facility]: ...
    async def with_free_places(self, care_form: str) -> list[Facility]: ...
    async def save(self, facility: Facility) -> int:
        """Register or change it; returns its new version (1 for a new facility, one more for each change)."""

    async def occupy(self, facility_id: str, delta: int) -> None: ...

    async def add_wijk_places(self, wijk: str, delta: int, cap: int) -> None:
        """Raises domain.facilities.WijkCapExceeded, changing nothing, when the wijk would go over its cap."""


class Placements(Protocol):
    async def add(self, placement: Placement, doorstroom_from: str | None) -> None: ...
    async def get(self, placement_id: str) -> Placement | None:
        """Without a lock: to learn the care form whose turn to take before locking the row."""

    async def get_for_update(self, placement_id: str) -> Placement | None: ...
    async def open_of_client(self, client_ref: str) -> Placement | None: ...
    async def end(self, placement_id: str, reason: str, end_date: date) -> None: ...
    async def open_of_provider(self, provider_agb: str) -> list[Placement]: ...
    async def record_assessment(
        self,
        placement_id: str,
        assessed_on: date,
        scores: dict[str, int],
        client_scores: dict[str, int] | None,
        client_wants_to_move: bool,
        ready: bool,
        support_at_home: bool,
    ) -> None: ...
    async def hand_over(self, intake_ids: Sequence[str], to: str) -> None:
        """The new municipality is responsible for the open placements of these registrations."""


class Transfers(Protocol):
    async def add(self, transfer: Transfer) -> None: ...
    async def get_for_update(self, transfer_id: str) -> Transfer | None: ...
    async def save(self, transfer: Transfer) -> None: ...
    async def pending_for(self, intake_ids: Sequence[str]) -> list[Transfer]: ...
    async def latest_accepted_effective_on(self, intake_ids: Sequence[str]) -> date | None:
        """The latest effective date of an accepted transfer of any of these registrations, if any."""

    async def due(self, today: date) -> list[Transfer]:
        """Accepted transfers not yet applied whose effective date has come, oldest first."""

    async def involving(self, municipality: str | None, status: TransferStatus | None) -> list[Transfer]:
        """Proposals from or to a municipality (None: all), newest first."""


class PlacementUnitOfWork(Protocol):
    """One transaction: placement's rows, the events it emits and its audit lines, all or nothing."""

    @property
    def waiting_list(self) -> WaitingList: ...
    @property
    def facilities(self) -> Facilities: ...
    @property
    def placements(self) -> Placements: ...
    @property
    def transfers(self) -> Transfers: ...

    async def emit(self, event: Event, *, also_to: Sequence[str] = (), copy: Event | None = None) -> Envelope: ...
    async def audit_as(
        self, principal: Principal, action: str, *, client_ref: str | None = None, subject: str | None = None
    ) -> None: ...


# Opens a unit of work (correlation id of the request that causes it).
UnitsOfWork = Callable[..., AbstractAsyncContextManager[PlacementUnitOfWork]]
