"""Retried writes of placement and housing with an Idempotency-Key: a retry gets the first answer, changes
nothing and is audited, two identical requests at once take effect once, the same key with another request
or from another credential is refused, and keyed writes of several units do not deadlock."""

import asyncio
import contextlib
import dataclasses
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from fastapi import Request

from tests.support.builders import FACILITY
from tests.support.stack import Namespace, running
from zorgstroom_contracts import Envelope
from zorgstroom_contracts.codes import ZrmDomain
from zorgstroom_contracts.events import (
    ClientRegistered,
    ClientWaitlisted,
    ConsentRecorded,
    Event,
    Household,
    OutflowReadinessAssessed,
    PlacementMade,
)
from zorgstroom_housing.bootstrap import build as build_housing
from zorgstroom_housing.entrypoints.events import HANDLERS as HOUSING_HANDLERS
from zorgstroom_placement.bootstrap import build as build_placement
from zorgstroom_placement.entrypoints.events import on_client_registered
from zorgstroom_runtime.app import ServiceContext
from zorgstroom_runtime.auth import CredentialStore, CurrentPrincipal, Role, token_digest
from zorgstroom_runtime.idempotency import ReplayableRoute, request_unit_of_work

TODAY = date.today()
CLIENT = "c" * 64
PROVIDER = "11111111"
CORPORATION = "woonstad-illustratief"
ZRM = [d.value for d in ZrmDomain]


@dataclass(frozen=True)
class Write:
    """One write as a caller sends it, another request under the same key, and what its effect leaves."""

    who: str
    method: str
    path: str
    body: dict[str, Any] | None
    other_body: dict[str, Any]
    event_type: str
    audit_action: str


@dataclass
class Service:
    client: httpx.AsyncClient
    context: ServiceContext
    ns: Namespace

    async def send(self, write: Write, key: str, body: dict[str, Any] | None = None) -> httpx.Response:
        headers = self.ns.auth(write.who) | {"Idempotency-Key": key}
        return await self.client.request(write.method, write.path, json=body or write.body, headers=headers)

    async def effects(self, write: Write) -> tuple[int, int]:
        """Events of the write's type in the outbox (a provider's copy counts with its original), audit lines."""
        events = await self.context.pool.fetchval(
            "SELECT count(DISTINCT event_id) FROM outbox WHERE event_type = $1", write.event_type
        )
        audited = await self.context.pool.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = $1 AND outcome = 'ok'", write.audit_action
        )
        return int(events), int(audited)

    async def audit_lines(self, write: Write) -> list[tuple[str, str, str | None]]:
        """(actor, outcome, client_ref) of the write's audit lines, oldest first."""
        rows = await self.context.pool.fetch(
            "SELECT actor, outcome, client_ref FROM audit_log WHERE action = $1 ORDER BY id", write.audit_action
        )
        return [(r["actor"], r["outcome"], r["client_ref"]) for r in rows]

    async def deliver(self, handlers: Callable[[Event], Any], *events: Event) -> None:
        for event in events:
            async with self.context.unit_of_work() as uow:
                await handlers(event)(uow, Envelope.wrap(event, producer="test", region="flevoland"), event)


@contextlib.asynccontextmanager
async def service(ns: Namespace, name: str) -> AsyncIterator[Service]:
    build = build_placement if name == "placement" else build_housing
    async with running(build(ns.settings(name)), name) as client:
        yield Service(client, client._transport.app.state.context, ns)  # type: ignore[attr-defined]


def _placement_handler(event: Event) -> Any:
    return on_client_registered


def _housing_handler(event: Event) -> Any:
    return next(on.handler for on in HOUSING_HANDLERS if isinstance(event, on.event))


async def _waiting_client(s: Service) -> str:
    """A client of Almere, registered a month ago and waiting (there is no facility yet): the intake id."""
    registered = ClientRegistered(
        intake_id="i-1",
        client_ref=CLIENT,
        registering_municipality="0034",
        responsible_municipality="0034",
        care_form="MO_24H",
        needs=["psychiatric"],
        urgency="normal",
        household=Household(adults=1, children=0),
        preferred_municipalities=[],
        registered_on=TODAY - timedelta(days=30),
        consent_to_share=True,
    )
    await s.deliver(_placement_handler, registered)
    return registered.intake_id


async def _placed_client(s: Service) -> str:
    """The waiting client placed in a facility of provider 11111111: its placement id."""
    await _waiting_client(s)
    answer = await s.client.put("/v1/facilities/almere-1", json=FACILITY, headers=s.ns.auth("region"))
    assert answer.status_code == 201, answer.text
    placement_id = await s.context.pool.fetchval("SELECT placement_id FROM placements WHERE client_ref = $1", CLIENT)
    assert placement_id is not None
    return str(placement_id)


async def _proposed_transfer(s: Service) -> str:
    await _placed_client(s)
    body = {"to_municipality": "0995", "reason": "social_network", "effective_on": TODAY.isoformat()}
    answer = await s.client.post(f"/v1/clients/{CLIENT}/transfer", json=body, headers=s.ns.auth("almere"))
    assert answer.status_code == 202, answer.text
    return str(answer.json()["transfer_id"])


async def assessment(s: Service) -> Write:
    placement_id = await _placed_client(s)
    body = {"assessed_on": TODAY.isoformat(), "scores": dict.fromkeys(ZRM, 4), "client_wants_to_move": True}
    other = body | {"client_wants_to_move": False}
    path = f"/v1/placements/{placement_id}/assessments"
    return Write("provider-a", "POST", path, body, other, "OutflowReadinessAssessed", "placement.assess")


async def ending(s: Service) -> Write:
    placement_id = await _placed_client(s)
    body = {"reason": "21", "end_date": TODAY.isoformat()}
    other = body | {"end_date": (TODAY - timedelta(days=1)).isoformat()}
    return Write(
        "provider-a", "POST", f"/v1/placements/{placement_id}/end", body, other, "PlacementEnded", "placement.end"
    )


async def transfer(s: Service) -> Write:
    await _placed_client(s)
    body = {"to_municipality": "0995", "reason": "social_network", "effective_on": TODAY.isoformat()}
    other = body | {"to_municipality": "0184"}
    path = f"/v1/clients/{CLIENT}/transfer"
    return Write("almere", "POST", path, body, other, "ResponsibilityTransferProposed", "client.transfer.propose")


async def transfer_accepted(s: Service) -> Write:
    transfer_id = await _proposed_transfer(s)
    path = f"/v1/transfers/{transfer_id}/accept"
    other = {"accepted_on": TODAY.isoformat()}
    return Write("lelystad", "POST", path, {}, other, "ResponsibilityTransferred", "client.transfer.accept")


async def transfer_declined(s: Service) -> Write:
    transfer_id = await _proposed_transfer(s)
    path = f"/v1/transfers/{transfer_id}/decline"
    body, other = {"reason": "no_ties"}, {"reason": "other"}
    return Write("lelystad", "POST", path, body, other, "ResponsibilityTransferDeclined", "client.transfer.decline")


async def registration_updated(s: Service) -> Write:
    path = f"/v1/registrations/{await _waiting_client(s)}"
    body, other = {"urgency": "emergency"}, {"urgency": "high"}
    return Write("almere", "PATCH", path, body, other, "RegistrationUpdated", "registration.update")


async def registration_withdrawn(s: Service) -> Write:
    path = f"/v1/registrations/{await _waiting_client(s)}/withdraw"
    body, other = {"reason": "duplicate"}, {"reason": "moved_away"}
    return Write("almere", "POST", path, body, other, "RegistrationWithdrawn", "registration.withdraw")


async def consent(s: Service) -> Write:
    await _waiting_client(s)
    body, other = {"consent_to_share": False}, {"consent_to_share": True}
    return Write("almere", "PUT", f"/v1/clients/{CLIENT}/consent", body, other, "ConsentRecorded", "client.consent")


async def housing_unit(s: Service) -> Write:
    body = {
        "corporation_id": CORPORATION,
        "unit_id": "lelystad-1",
        "municipality": "0995",
        "wijk": "WK099501",
        "rooms": 2,
        "rent_eur": 650.0,
        "available_from": TODAY.isoformat(),
    }
    other = body | {"rooms": 3}
    return Write("corporation", "POST", "/v1/housing-units", body, other, "HousingUnitOffered", "housing.offer_unit")


async def facility(s: Service) -> Write:
    body = FACILITY | {"municipality": "0995", "wijk": "WK099501"}
    other = body | {"capacity": 3}
    return Write("region", "PUT", "/v1/facilities/lelystad-1", body, other, "FacilityRegistered", "facility.put")


async def contingent(s: Service) -> Write:
    path = f"/v1/contingents/{CORPORATION}/0995/{TODAY.year}"
    return Write(
        "corporation", "PUT", path, {"units": 5}, {"units": 6}, "HousingContingentAgreed", "housing.set_contingent"
    )


async def _open_offer(s: Service) -> str:
    """An Almere home offered to a client ready to move who consented to sharing: the offer's id."""
    placed = PlacementMade(
        placement_id="p-1",
        client_ref=CLIENT,
        facility_id="bw-almere",
        provider_agb=PROVIDER,
        facility_municipality="0034",
        wijk="WK003401",
        responsible_municipality="0034",
        care_form="BW_24H",
        start_date=TODAY - timedelta(days=200),
        waited_days=0,
        intake_id="i-1",
    )
    await s.deliver(
        _housing_handler,
        ConsentRecorded(
            client_ref=CLIENT, responsible_municipality="0034", consent_to_share=True, recorded_on=placed.start_date
        ),
        placed,
        OutflowReadinessAssessed(
            placement_id="p-1",
            client_ref=CLIENT,
            provider_agb=PROVIDER,
            responsible_municipality="0034",
            assessed_on=TODAY - timedelta(days=100),
            ready=True,
        ),
    )
    auth = s.ns.auth("corporation")
    quota = await s.client.put(f"/v1/contingents/{CORPORATION}/0034/{TODAY.year}", json={"units": 5}, headers=auth)
    assert quota.status_code == 200, quota.text
    unit = {
        "corporation_id": CORPORATION,
        "unit_id": "almere-1",
        "municipality": "0034",
        "wijk": "WK003402",
        "rooms": 2,
        "rent_eur": 650.0,
        "available_from": TODAY.isoformat(),
        "accessible": False,
    }
    assert (await s.client.post("/v1/housing-units", json=unit, headers=auth)).status_code == 202
    offer_id = await s.context.pool.fetchval("SELECT offer_id FROM offers WHERE status = 'open'")
    assert offer_id is not None
    return str(offer_id)


async def offer_accepted(s: Service) -> Write:
    path = f"/v1/offers/{await _open_offer(s)}/accept"
    other = {"answered_on": (TODAY - timedelta(days=1)).isoformat()}
    return Write("corporation", "POST", path, {}, other, "HousingOfferAccepted", "housing.offer_accepted")


async def offer_declined(s: Service) -> Write:
    path = f"/v1/offers/{await _open_offer(s)}/decline"
    body, other = {"reason": "too_far"}, {"reason": "too_small"}
    return Write("corporation", "POST", path, body, other, "HousingOfferDeclined", "housing.offer_declined")


WRITES: dict[str, tuple[str, Callable[[Service], Awaitable[Write]]]] = {
    "assessment": ("placement", assessment),
    "end": ("placement", ending),
    "transfer": ("placement", transfer),
    "transfer-accept": ("placement", transfer_accepted),
    "transfer-decline": ("placement", transfer_declined),
    "registration-update": ("placement", registration_updated),
    "registration-withdraw": ("placement", registration_withdrawn),
    "consent": ("placement", consent),
    "facility": ("placement", facility),
    "housing-unit": ("housing", housing_unit),
    "contingent": ("housing", contingent),
    "offer-accept": ("housing", offer_accepted),
    "offer-decline": ("housing", offer_declined),
}


@pytest.mark.parametrize("case", list(WRITES))
async def test_every_write_replays_its_first_answer(ns: Namespace, case: str) -> None:
    name, prepare = WRITES[case]
    async with service(ns, name) as s:
        write = await prepare(s)
        before = await s.effects(write)
        key = str(uuid.uuid4())
        first = await s.send(write, key)
        again = await s.send(write, key)
        reused = await s.send(write, key, write.other_body)
        after = await s.effects(write)
        lines = await s.audit_lines(write)
    assert first.status_code < 300, first.text
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert again.headers.get("Idempotent-Replayed") == "true" and "Idempotent-Replayed" not in first.headers
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)  # one event, one audit line
    assert [outcome for _, outcome, _ in lines[-2:]] == ["ok", "replayed"]  # reading it again is audited too
    assert lines[-1] == (write.who, "replayed", lines[-2][2])  # by the caller, naming the same client
    assert reused.status_code == 409 and reused.headers["content-type"] == "application/problem+json"
    assert reused.json()["type"].endswith("/idempotency-key-reused")


@pytest.mark.parametrize("case", list(WRITES))
async def test_two_identical_writes_at_once_take_effect_once(ns: Namespace, case: str) -> None:
    name, prepare = WRITES[case]
    async with service(ns, name) as s:
        write = await prepare(s)
        before = await s.effects(write)
        key = str(uuid.uuid4())
        answers = await asyncio.gather(s.send(write, key), s.send(write, key))
        after = await s.effects(write)
        lines = await s.audit_lines(write)
    assert [a.status_code for a in answers] == [answers[0].status_code] * 2 and answers[0].status_code < 300
    assert answers[0].json() == answers[1].json()
    assert sorted(a.headers.get("Idempotent-Replayed", "") for a in answers) == ["", "true"]
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)
    assert [outcome for _, outcome, _ in lines[-2:]] == ["ok", "replayed"]


async def test_a_refused_write_keeps_no_answer_and_its_key_serves_the_corrected_request(ns: Namespace) -> None:
    async with service(ns, "housing") as s:
        write = await contingent(s)
        key = str(uuid.uuid4())
        refused = await s.send(write, key, {"units": -1})
        corrected = await s.send(write, key)
    assert refused.status_code == 422 and corrected.status_code == 200, corrected.text
    assert "Idempotent-Replayed" not in corrected.headers and corrected.json()["units"] == 5


async def test_a_write_without_a_key_still_works_and_an_unchanged_quota_emits_nothing(ns: Namespace) -> None:
    async with service(ns, "housing") as s:
        write = await contingent(s)
        auth = s.ns.auth(write.who)
        answers = [await s.client.put(write.path, json=write.body, headers=auth) for _ in range(2)]
        events, audited = await s.effects(write)
    assert [a.status_code for a in answers] == [200, 200] and answers[0].json() == answers[1].json()
    assert (events, audited) == (1, 1)


async def test_another_credential_of_the_organisation_on_the_same_key_is_refused_not_answered(ns: Namespace) -> None:
    async with service(ns, "placement") as s:
        write = await transfer(s)
        key = str(uuid.uuid4())
        first = await s.send(write, key)
        other = await s.client.post(write.path, json=write.body, headers=ns.auth("readonly") | {"Idempotency-Key": key})
    assert first.status_code == 202, first.text
    assert other.status_code == 409 and other.json()["type"].endswith("/idempotency-key-reused")
    assert "transfer_id" not in other.json()  # the first answer is not shown to the other credential


async def test_a_replay_goes_only_to_the_same_credential_while_it_holds_its_roles(ns: Namespace) -> None:
    async with service(ns, "placement") as s:
        write = await transfer(s)
        key = str(uuid.uuid4())
        first = await s.send(write, key)
        # The credentials file is edited: a second token named "almere", and the first one's transfer role cut.
        app = s.client._transport.app  # type: ignore[attr-defined]
        almere = app.state.credentials.authenticate(ns.tokens["almere"])
        namesake = secrets.token_urlsafe(32)
        cut = dataclasses.replace(almere, roles=almere.roles - {Role.CLIENTS_TRANSFER})
        app.state.credentials = CredentialStore(
            {token_digest(namesake): almere, token_digest(ns.tokens["almere"]): cut}
        )
        headers = {"Idempotency-Key": key}
        by_namesake = await s.client.post(
            write.path, json=write.body, headers=headers | {"Authorization": f"Bearer {namesake}"}
        )
        by_cut = await s.client.post(write.path, json=write.body, headers=headers | ns.auth("almere"))
        lines = await s.audit_lines(write)
    assert first.status_code == 202, first.text
    assert by_namesake.status_code == 409 and by_namesake.json()["type"].endswith("/idempotency-key-reused")
    assert by_cut.status_code == 403, by_cut.text
    assert "transfer_id" not in by_namesake.text and "transfer_id" not in by_cut.text  # the answer is not shown
    assert [outcome for _, outcome, _ in lines] == ["ok"]  # nothing was replayed


async def test_keyed_writes_touching_the_same_keys_in_opposite_orders_both_succeed(ns: Namespace) -> None:
    """Two keyed requests whose units emit on K1 then K2 and on K2 then K1, interleaved."""

    async def touch(first: str, second: str, request: Request, principal: CurrentPrincipal) -> dict[str, bool]:
        context: ServiceContext = request.app.state.context
        for client_ref in (first, second):
            async with request_unit_of_work(context) as uow:
                waitlisted = ClientWaitlisted(
                    client_ref=client_ref,
                    care_form="MO_24H",
                    responsible_municipality="0034",
                    urgency="high",
                    waiting_since=TODAY,
                )
                await uow.emit(waitlisted)
            await asyncio.sleep(0.5)  # the other request's first unit runs meanwhile
        return {"done": True}

    k1, k2 = "1" * 64, "2" * 64
    async with service(ns, "placement") as s:
        app = s.client._transport.app  # type: ignore[attr-defined]
        app.router.add_api_route(
            "/test/touch/{first}/{second}", touch, methods=["POST"], route_class_override=ReplayableRoute
        )
        auth = ns.auth("almere")
        answers = await asyncio.gather(
            *(
                s.client.post(f"/test/touch/{a}/{b}", headers=auth | {"Idempotency-Key": str(uuid.uuid4())})
                for a, b in ((k1, k2), (k2, k1))
            )
        )
        rows = await s.context.pool.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'ClientWaitlisted'")
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert rows == 4
