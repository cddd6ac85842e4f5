"""The simulation's driver against an in-memory stand-in of the four APIs (the shapes of docs/http.md and
the placement endpoints agreed for issue 13): what it sends for relapse, doorstroom, withdrawals and
transfers, and that no business date it sends lies after today."""

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx

from tests.support.infra import ROOT
from zorgstroom_contracts.codes import WithdrawalReason
from zorgstroom_ops.actors import Urls
from zorgstroom_ops.client_credentials import static_callers
from zorgstroom_ops.demo_data import load_demo_data
from zorgstroom_ops.plan import Period, Rates
from zorgstroom_ops.region_run import RegionRun
from zorgstroom_ops.simulate_command import period_intakes
from zorgstroom_runtime.region import load_region

TODAY = date(2026, 11, 30)
REGION = load_region(ROOT / "data/regions/flevoland.toml", ROOT / "data/municipalities-nl.csv")
DEMO = load_demo_data(ROOT / "data/demo/flevoland.toml")
PROVIDER = DEMO.providers[0].agb
DATE_FIELDS = (
    "registered_on", "end_date", "assessed_on", "withdrawn_on", "effective_on", "accepted_on", "available_from",
    "answered_on",
)  # fmt: skip


@dataclass
class Stand:
    """Places shelter at once (BW waits), ends a placement towards a home when it is assessed (an outflow)."""

    requests: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)
    registrations: dict[str, dict[str, Any]] = field(default_factory=dict)  # by intake_id
    placed: set[str] = field(default_factory=set)  # intake ids
    open: dict[str, dict[str, Any]] = field(default_factory=dict)  # placements by id
    transfers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        who = request.headers.get("Authorization", "").removeprefix("Bearer ")
        self.requests.append((request.method, request.url.path, who, body))
        path, method = request.url.path, request.method
        if path == "/v1/intakes":
            return self._register(body)
        if path.endswith("/placements") and method == "GET":
            mine = [p for p in self.open.values() if path == f"/v1/providers/{PROVIDER}/placements"]
            return httpx.Response(200, json={"placements": mine})
        if path.endswith("/end"):
            return httpx.Response(200 if self.open.pop(path.split("/")[3], None) else 409, json={})
        if path.endswith("/assessments"):
            self.open.pop(path.split("/")[3])  # the client took a home: gone from the provider's list
            return httpx.Response(201, json={})
        if path.endswith("/withdraw"):
            return httpx.Response(409 if path.split("/")[3] in self.placed else 200, json={"status": "withdrawn"})
        if path.endswith("/transfer"):
            transfer_id = f"t-{len(self.transfers)}"
            self.transfers[transfer_id] = body
            return httpx.Response(202, json={"transfer_id": transfer_id, "status": "proposed"})
        if path.endswith("/accept"):
            return httpx.Response(200, json={"status": "accepted"})
        if path.endswith("/offers"):
            return httpx.Response(200, json={"offers": []})
        return httpx.Response(202 if path == "/v1/housing-units" else 200, json={})

    def _register(self, body: dict[str, Any]) -> httpx.Response:
        intake_id = f"i-{len(self.registrations)}"
        client_ref = hashlib.sha256(body["bsn"].encode()).hexdigest()
        self.registrations[intake_id] = body
        if not body["care_form"].startswith("BW"):
            self.placed.add(intake_id)
            self.open[f"p-{intake_id}"] = {
                "placement_id": f"p-{intake_id}", "client_ref": client_ref, "facility_id": "f",
                "care_form": body["care_form"], "responsible_municipality": body["registering_municipality"],
                "start_date": body["registered_on"], "ready": False, "support_at_home": False,
            }  # fmt: skip
        answer = {
            "intake_id": intake_id, "client_ref": client_ref, "event_id": "e",
            "responsible_municipality": body["registering_municipality"], "responsibility_rule": "r",
        }  # fmt: skip
        return httpx.Response(202, json=answer)


async def run_a_year(rates: Rates) -> tuple[Stand, Counter[str]]:
    stand = Stand()
    tokens = {f"municipality-{c}": f"municipality-{c}" for c in REGION.municipalities}
    tokens |= {f"region-{REGION.code}": "region"} | {f"provider-{p.agb}": f"provider-{p.agb}" for p in DEMO.providers}
    tokens |= {f"corporation-{c.id}": f"corporation-{c.id}" for c in DEMO.corporations}
    period = Period.ending(TODAY, 1)
    urls = Urls("http://intake", "http://placement", "http://housing")
    run = RegionRun(
        DEMO,
        REGION,
        urls,
        static_callers(tokens),
        period,
        42,
        rates,
        transport=httpx.MockTransport(stand.handle),
        settle_seconds=0,
    )
    outcome = await run.run(period_intakes(REGION, period, 42))
    return stand, outcome.statuses


async def test_a_year_sends_no_business_date_after_today_and_sets_quotas_for_each_calendar_year() -> None:
    stand, _ = await run_a_year(Rates())
    dates = [body[f] for _, _, _, body in stand.requests for f in DATE_FIELDS if f in body]
    assert dates and max(dates) <= TODAY.isoformat() and min(dates) >= "2025-12-01"
    quota_years = {path.rsplit("/", 1)[1] for method, path, _, _ in stand.requests if "/contingents/" in path}
    assert quota_years == {"2025", "2026"}


def registered_again(stand: Stand) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(first registration, later one) of each person registered more than once."""
    first: dict[str, dict[str, Any]] = {}
    pairs = []
    for body in stand.registrations.values():
        if body["bsn"] in first:
            pairs.append((first[body["bsn"]], body))
        else:
            first[body["bsn"]] = body
    return pairs


async def test_doorstroom_registers_an_emergency_or_night_shelter_client_for_24_hour_shelter_or_bw() -> None:
    stand, _ = await run_a_year(Rates(relapse=0.0, doorstroom=1.0))
    pairs = registered_again(stand)
    assert {later["care_form"] for _, later in pairs} == {"MO_24H", "BW_24H"}
    assert {first["care_form"] for first, _ in pairs} == {"MO_EMERGENCY", "MO_NIGHT"}
    assert all(later["registered_on"] == first["registered_on"] for first, later in pairs)  # from the first day
    assert all(later["urgency"] != "emergency" for _, later in pairs)


async def test_a_client_who_flowed_out_registers_again_within_the_year() -> None:
    stand, _ = await run_a_year(Rates(relapse=1.0, doorstroom=0.0))
    pairs = registered_again(stand)
    outflows = sum(1 for method, path, _, _ in stand.requests if path.endswith("/assessments"))
    assert pairs and len(pairs) <= outflows
    for first, later in pairs:
        assert later["care_form"] == first["care_form"] == "MO_24H"  # the shelter the client left for a home
        assert (date.fromisoformat(later["registered_on"]) - date.fromisoformat(first["registered_on"])).days >= 7


async def test_withdrawals_carry_a_reason_and_only_waiting_registrations_are_withdrawn() -> None:
    stand, statuses = await run_a_year(Rates(withdrawal=0.5))
    withdrawals = [(path, who, body) for _, path, who, body in stand.requests if path.endswith("/withdraw")]
    assert withdrawals and {body["reason"] for _, _, body in withdrawals} <= {r.value for r in WithdrawalReason}
    for path, who, body in withdrawals:
        registration = stand.registrations[path.split("/")[3]]
        assert who == f"municipality-{registration['registering_municipality']}"
        assert body["withdrawn_on"] > registration["registered_on"]
    assert statuses["withdrawals"] > 0 and statuses["withdrawals refused: no longer waiting"] > 0


async def test_transfers_are_proposed_in_the_last_month_and_accepted_by_the_receiving_municipality() -> None:
    stand, statuses = await run_a_year(Rates(transfer=0.5))
    accepts = {path.split("/")[3]: who for _, path, who, _ in stand.requests if path.endswith("/accept")}
    assert stand.transfers and set(accepts) == set(stand.transfers)
    for transfer_id, body in stand.transfers.items():
        assert "2026-11-01" <= body["effective_on"] <= TODAY.isoformat()
        assert accepts[transfer_id] == f"municipality-{body['to_municipality']}"
    assert statuses["transfers proposed"] == statuses["transfers accepted"] == len(stand.transfers)
