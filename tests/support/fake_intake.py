"""An in-memory unit of work for intake's service layer: the same interface as the PostgreSQL one
(zorgstroom_intake.ports), all or nothing per unit, and what was emitted and audited kept for asserting."""

import contextlib
import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from zorgstroom_contracts import Envelope
from zorgstroom_contracts.events import ClientRegistered
from zorgstroom_intake.domain.responsibility import PreviousBw
from zorgstroom_intake.ports import IntakeRow, KeyClaim, KeyedIntake


@dataclass
class Store:
    """What the database would hold: committed state only."""

    intakes: dict[UUID, IntakeRow] = field(default_factory=dict)
    keys: dict[tuple[str, str], tuple[str, UUID]] = field(default_factory=dict)
    emitted: list[Envelope] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    published: set[UUID] = field(default_factory=set)
    bw_endings: dict[str, PreviousBw] = field(default_factory=dict)


class FakeIntakes:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def _claim_key(self, organisation: str, key: str, request_hash: str, intake_id: UUID) -> bool:
        if (organisation, key) in self.store.keys:
            return False
        self.store.keys[(organisation, key)] = (request_hash, intake_id)
        return True

    async def by_key(self, organisation: str, key: str) -> KeyedIntake | None:
        found = self.store.keys.get((organisation, key))
        if found is None or found[1] not in self.store.intakes:
            return None
        return KeyedIntake(found[0], self.store.intakes[found[1]])

    async def _add(self, event: ClientRegistered, event_id: UUID, responsibility_rule: str) -> None:
        self.store.intakes[UUID(event.intake_id)] = IntakeRow(
            intake_id=UUID(event.intake_id),
            client_ref=event.client_ref,
            registering_municipality=event.registering_municipality,
            responsible_municipality=event.responsible_municipality,
            responsibility_rule=responsibility_rule,
            care_form=event.care_form,
            urgency=event.urgency.value,
            registered_on=event.registered_on,
            event_id=event_id,
        )

    async def get(self, intake_id: UUID) -> IntakeRow | None:
        return self.store.intakes.get(intake_id)


class FakeBwEndings:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def record(self, client_ref: str, ending: PreviousBw, placement_id: str) -> None:
        known = self.store.bw_endings.get(client_ref)
        if known is None or ending.ended_on >= known.ended_on:
            self.store.bw_endings[client_ref] = ending

    async def latest(self, client_ref: str) -> PreviousBw | None:
        return self.store.bw_endings.get(client_ref)


class FakeUnitOfWork:
    def __init__(self, store: Store, correlation_id: str | None) -> None:
        self.store, self.correlation_id = store, correlation_id
        self.intakes = FakeIntakes(store)
        self.bw_endings = FakeBwEndings(store)

    async def register(
        self, claim: KeyClaim, event: ClientRegistered, responsibility_rule: str, *, actor: str
    ) -> Envelope | None:
        if not await self.intakes._claim_key(claim.organisation, claim.key, claim.request_hash, UUID(event.intake_id)):
            return None
        envelope = await self.emit(event)
        await self.intakes._add(event, envelope.event_id, responsibility_rule)
        await self.audit(
            actor=actor,
            on_behalf_of=claim.organisation,
            action="intake.register",
            client_ref=event.client_ref,
            subject=event.intake_id,
        )
        return envelope

    async def emit(self, event: ClientRegistered) -> Envelope:
        envelope = Envelope.wrap(event, producer="intake", region="flevoland", correlation_id=self.correlation_id)
        self.store.emitted.append(envelope)
        return envelope

    async def published(self, event_id: UUID) -> bool:
        return event_id in self.store.published

    async def audit(self, **line: Any) -> None:
        self.store.audit.append(line)


class FakeUnits:
    """The factory the service receives; each unit commits by keeping its changes, or rolls them back."""

    def __init__(self) -> None:
        self.store = Store()

    @contextlib.asynccontextmanager
    async def __call__(
        self, *, correlation_id: str | None = None, single_statements: bool = False
    ) -> AsyncIterator[FakeUnitOfWork]:
        before = copy.deepcopy(self.store)
        try:
            yield FakeUnitOfWork(self.store, correlation_id)
        except BaseException:
            self.store.__dict__.update(before.__dict__)  # rolled back: as if nothing happened
            raise
