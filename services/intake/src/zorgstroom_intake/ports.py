"""What intake's service layer needs from the outside world, as interfaces: its repositories and its unit
of work. The Postgres implementations are in adapters/ (and the runtime); tests use in-memory fakes
(tests/support/fake_intake.py) that follow the same interfaces."""

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol
from uuid import UUID

from zorgstroom_contracts import Envelope
from zorgstroom_contracts.events import ClientRegistered
from zorgstroom_intake.domain.responsibility import PreviousBw


@dataclass(frozen=True)
class IntakeRow:
    intake_id: UUID
    client_ref: str
    registering_municipality: str
    responsible_municipality: str
    responsibility_rule: str
    care_form: str
    urgency: str
    registered_on: date
    event_id: UUID


@dataclass(frozen=True)
class KeyedIntake:
    request_hash: str
    intake: IntakeRow


class Intakes(Protocol):
    """What is read of intakes; a registration is written through the unit of work's `register`, in one go."""

    async def by_key(self, organisation: str, key: str) -> KeyedIntake | None: ...
    async def get(self, intake_id: UUID) -> IntakeRow | None: ...


class BwEndings(Protocol):
    """The system's own record of BW endings (from PlacementEnded): the latest per client."""

    async def record(self, client_ref: str, ending: PreviousBw, placement_id: str) -> None:
        """Keep `ending` when it is the client's latest (an earlier one arriving late changes nothing)."""

    async def latest(self, client_ref: str) -> PreviousBw | None: ...


@dataclass(frozen=True)
class KeyClaim:
    """An Idempotency-Key as the caller's organisation sent it, with the hash of the request it came with."""

    organisation: str
    key: str
    request_hash: str


class IntakeUnitOfWork(Protocol):
    """One transaction: the intake's rows, the events it emits and its audit lines, all or nothing.

    Opened with `single_statements=True` it has no transaction around it: then `register` is the one write
    that must be all or nothing, and is by itself (one statement)."""

    @property
    def intakes(self) -> Intakes: ...

    @property
    def bw_endings(self) -> BwEndings: ...

    async def register(
        self, claim: KeyClaim, event: ClientRegistered, responsibility_rule: str, *, actor: str
    ) -> Envelope | None:
        """Claim the key and, when this request owns it, store the intake with its event and its audit line
        (action intake.register, on behalf of the claim's organisation), all or nothing; None when the key was
        claimed before (waiting for a concurrent holder of it to finish)."""

    async def emit(self, event: ClientRegistered) -> Envelope: ...
    async def published(self, event_id: UUID) -> bool: ...
    async def audit(
        self,
        *,
        actor: str,
        on_behalf_of: str,
        action: str,
        client_ref: str | None = None,
        subject: str | None = None,
        outcome: Literal["ok", "replayed"] = "ok",
    ) -> None: ...


# Opens a unit of work (correlation id of the request or event that causes it; single_statements, see above).
UnitsOfWork = Callable[..., AbstractAsyncContextManager[IntakeUnitOfWork]]
