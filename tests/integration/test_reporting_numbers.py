"""Reporting's numbers worked out by hand: a few clients, two facilities, one outflow, one other ending
(that arrives before its placement), one relapse, one offer, one budget year; through the JSON API and the
CSV, from events on the real topics."""

import csv
import io
from datetime import date
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI

from tests.support.kafka import eventually, publish_events
from tests.support.stack import Namespace, running
from zorgstroom_contracts.codes import ZrmDomain
from zorgstroom_contracts.events import (
    ClientRegistered,
    ConsentRecorded,
    Event,
    FacilityRegistered,
    HousingContingentAgreed,
    HousingOfferAccepted,
    HousingOfferMade,
    OutflowCompleted,
    OutflowReadinessAssessed,
    PlacementEnded,
    PlacementMade,
    RegistrationWithdrawn,
    ResponsibilityTransferred,
)
from zorgstroom_reporting.bootstrap import build
from zorgstroom_reporting.entrypoints import http
from zorgstroom_runtime.settings import ServiceSettings

ALMERE = "0034"


def rounded(shown: int, true: int, base: int = 5) -> bool:
    """Whether `shown` is `true` rounded to `base` down or up, as a viewer other than its own municipality sees it."""
    down = true - true % base
    return shown in ((down, down + base) if true % base else (true,))


C1, C2, C3 = "1" * 64, "2" * 64, "3" * 64
ZRM4 = dict.fromkeys([d.value for d in ZrmDomain], 4)


def registered(intake: str, ref: str, on: str, consent: bool = True) -> ClientRegistered:
    return ClientRegistered(
        intake_id=intake, client_ref=ref, registering_municipality=ALMERE, responsible_municipality=ALMERE,
        responsibility_rule="wmo2015", residence_municipality=None, birth_year=1980, care_form="BW_24H",
        needs=["psychiatric"], urgency="normal", household={"adults": 1, "children": 0},
        preferred_municipalities=[], registered_on=on, consent_to_share=consent,
    )  # type: ignore[arg-type]  # fmt: skip


def made(
    pid: str, ref: str, intake: str, facility: str, municipality: str, form: str, start: str, waited: int
) -> PlacementMade:
    return PlacementMade(
        placement_id=pid, client_ref=ref, facility_id=facility, provider_agb="11111111",
        facility_municipality=municipality, wijk=f"WK{municipality}01", responsible_municipality=ALMERE,
        care_form=form, start_date=start, waited_days=waited, intake_id=intake,
    )  # type: ignore[arg-type]  # fmt: skip


def ended(pid: str, ref: str, facility: str, reason: str, on: str) -> PlacementEnded:
    return PlacementEnded(
        placement_id=pid, client_ref=ref, facility_id=facility, provider_agb="11111111",
        responsible_municipality=ALMERE, reason=reason, end_date=on,
    )  # type: ignore[arg-type]  # fmt: skip


EVENTS: list[Event] = [
    FacilityRegistered(facility_id="fac-a", provider_agb="11111111", name="A (illustrative)", municipality=ALMERE,
                       wijk="WK003401", care_form="BW_24H", capacity=10, supported_needs=["psychiatric"]),  # type: ignore[arg-type]
    FacilityRegistered(facility_id="fac-b", provider_agb="11111111", name="B (illustrative)", municipality="0995",
                       wijk="WK099501", care_form="MO_24H", capacity=6, supported_needs=["psychiatric"]),  # type: ignore[arg-type]
    registered("i1", C1, "2027-01-05"),
    registered("i2", C2, "2027-01-10"),
    registered("i3", C3, "2027-02-01"),
    # Consent recorded again for a client who only waits: no figure changes, the projection (and a rebuild) keeps it.
    ConsentRecorded(client_ref=C3, responsible_municipality=ALMERE, consent_to_share=True, recorded_on="2027-02-02"),  # type: ignore[arg-type]
    made("p1", C1, "i1", "fac-a", ALMERE, "BW_24H", "2027-01-15", 10),
    ended("p2", C2, "fac-b", "21", "2027-03-10"),  # the ending is published before its placement
    made("p2", C2, "i2", "fac-b", "0995", "MO_24H", "2027-02-10", 31),
    OutflowReadinessAssessed(placement_id="p1", client_ref=C1, provider_agb="11111111", responsible_municipality=ALMERE,
                             assessed_on="2027-02-20", scores=ZRM4, ready=True),  # type: ignore[arg-type]
    HousingOfferAccepted(offer_id="o1", unit_id="u1", client_ref=C1, answered_on="2027-03-25",
                         corporation_id="woonstad-illustratief", municipality=ALMERE, wijk="WK003402"),  # type: ignore[arg-type]
    HousingContingentAgreed(corporation_id="woonstad-illustratief", municipality=ALMERE, year=2027, homes=3),
    HousingOfferMade(offer_id="o1", unit_id="u1", corporation_id="woonstad-illustratief", client_ref=C1,
                     municipality=ALMERE, offered_on="2027-03-20", wijk="WK003402", quota_year=2027),  # type: ignore[arg-type]
    ended("p1", C1, "fac-a", "19", "2027-03-31"),
    OutflowCompleted(placement_id="p1", client_ref=C1, unit_id="u1", responsible_municipality=ALMERE,
                     municipality=ALMERE, outflow_date="2027-03-31", support_at_home="none", wijk="WK003402"),  # type: ignore[arg-type]
    registered("i4", C1, "2027-06-01"),  # back within twelve months: a relapse
    ResponsibilityTransferred(client_ref=C3, from_municipality=ALMERE, to_municipality="0184", to_in_region=True,
                              reason="origin", effective_on="2027-07-01"),  # type: ignore[arg-type]
]  # fmt: skip


SETTLED = ("cost_borne_eur", "balance_eur", "settlement_eur")  # a budget's figures worked out from the region's
TODAY = date(2028, 1, 15)  # the data lie in 2027, and a report covers no month after the current one


def reporting_app(settings: ServiceSettings, today: date = TODAY) -> FastAPI:
    """Reporting's app with its clock on `today`."""
    app = build(settings)
    app.dependency_overrides[http.today] = lambda: today
    return app


@pytest.fixture
async def reporting(ns: Namespace):  # type: ignore[no-untyped-def]
    await publish_events(ns.infra.kafka_bootstrap, ns.prefix, EVENTS)
    async with running(reporting_app(ns.settings("reporting")), "reporting") as client:

        async def caught_up() -> bool:
            answer = await client.get(
                "/v1/municipalities/0034/flows?from=2027-01&to=2027-12", headers=ns.auth("almere")
            )
            housing = await client.get("/v1/region/housing?from=2027-01&to=2027-12", headers=ns.auth("region"))
            return answer.json()["totals"]["relapses"] == 1 and bool(housing.json()["offers"])

        await eventually(caught_up, timeout=60)
        yield client


async def test_the_flows_are_the_numbers_worked_out_by_hand(reporting, ns: Namespace) -> None:  # type: ignore[no-untyped-def]
    body = (
        await reporting.get("/v1/municipalities/0034/flows?from=2027-01&to=2027-06", headers=ns.auth("almere"))
    ).json()
    hand = {
        "registrations": 4, "inflow": 2, "doorstroom": 0, "outflow": 1, "ended_other": 1, "relapses": 1,
        "withdrawals": 0, "transfers_in": 0, "transfers_out": 0, "waiting_at_end": 2, "ready_not_housed_at_end": 0,
        "ended_other_by_reason": {"21": 1}, "doorstroom_by_pair": {},
    }  # fmt: skip
    assert {k: body["totals"][k] for k in hand} == hand
    bw, mo = body["totals"]["by_group"]["BW"], body["totals"]["by_group"]["MO"]
    assert (bw["registrations"], bw["inflow"], bw["outflow"], bw["relapses"]) == (4, 1, 1, 1)  # every intake is BW
    assert (mo["inflow"], mo["ended_other"]) == (1, 1)  # p2 was a place in MO_24H
    assert body["totals"]["by_care_form"]["MO_24H"]["inflow"] == 1
    months = {m["month"]: m for m in body["months"]}
    assert [months[m]["waiting_at_end"] for m in sorted(months)] == [1, 1, 1, 1, 1, 2]
    assert (
        months["2027-02"]["ready_not_housed_at_end"] == 1 and months["2027-02"]["ready_not_housed_days_median"] == 8.0
    )
    assert (months["2027-01"]["waiting_days_median"], months["2027-02"]["waiting_days_median"]) == (10.0, 31.0)
    assert months["2027-03"]["stay_days_median"] == 51.5  # 75 and 28 nights
    # p2 ended without a home, WMO588 reason 21; p1's ending (19) was an outflow, so it is not "other"
    assert months["2027-03"]["ended_other_by_reason"] == {"21": 1} and months["2027-02"]["ended_other_by_reason"] == {}
    assert body["totals"]["ended_other_by_reason"] == {"21": 1}
    as_csv = await reporting.get(
        "/v1/municipalities/0034/flows?from=2027-01&to=2027-06&format=csv", headers=ns.auth("almere")
    )
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["ended_other_by_reason"] for r in rows[:3]] == ["", "", "21=1"]
    assert [(r["month"], r["inflow"], r["outflow"], r["ended_other"]) for r in rows[:3]] == [
        ("2027-01", "1", "0", "0"), ("2027-02", "1", "0", "0"), ("2027-03", "0", "1", "1"),
    ]  # fmt: skip


async def test_a_transfer_moves_a_waiting_client_to_the_new_municipality_from_its_date(
    reporting, ns: Namespace
) -> None:  # type: ignore[no-untyped-def]
    almere = (
        await reporting.get("/v1/municipalities/0034/flows?from=2027-07&to=2027-07", headers=ns.auth("almere"))
    ).json()
    urk = (await reporting.get("/v1/municipalities/0184/flows?from=2027-07&to=2027-07", headers=ns.auth("urk"))).json()
    assert (almere["totals"]["transfers_out"], almere["totals"]["waiting_at_end"]) == (1, 1)  # c1's second intake
    assert (urk["totals"]["transfers_in"], urk["totals"]["waiting_at_end"]) == (1, 1)  # c3, Urk's from 1 July


async def test_occupancy_per_facility_and_care_form(reporting, ns: Namespace) -> None:  # type: ignore[no-untyped-def]
    body = (await reporting.get("/v1/region/occupancy?from=2027-02&to=2027-02", headers=ns.auth("region"))).json()
    assert body["on"] == "2027-02-28"
    facilities = [(f["facility_id"], f["capacity"], f["occupied"]) for f in body["facilities"]]
    assert [(f, capacity) for f, capacity, _ in facilities] == [("fac-a", 10), ("fac-b", 6)]  # capacity: public
    assert all(rounded(occupied, 1) for _, _, occupied in facilities)  # one client each: 0 or 5 for everyone
    assert body["care_forms"] == [  # the sums of the facilities' shown figures
        {"care_form": "BW_24H", "capacity": 10, "occupied": facilities[0][2]},
        {"care_form": "MO_24H", "capacity": 6, "occupied": facilities[1][2]},
    ]
    assert body["disclosure"]["method"] == "random rounding to base 5"


async def test_region_staff_see_small_numbers_rounded(reporting, ns: Namespace) -> None:  # type: ignore[no-untyped-def]
    body = (
        await reporting.get("/v1/municipalities/0034/flows?from=2027-01&to=2027-06", headers=ns.auth("region"))
    ).json()
    months, totals = body["months"], body["totals"]
    assert body["disclosure"]["exact"] is False and totals["ready_not_housed_at_end"] == 0  # 0 stays 0
    assert all(m["registrations"] in (0, 5) for m in months)  # 1, 1, 1 and 1 (a relapse in June): each 0 or 5
    assert totals["registrations"] == sum(m["registrations"] for m in months)  # the period adds up its months
    assert sum(totals["ended_other_by_reason"].values()) == totals["ended_other"]  # a breakdown adds up too
    assert months[0]["waiting_days_median"] is None  # one person's wait is no median
    matrix = (await reporting.get("/v1/region/matrix?from=2027-01&to=2027-12", headers=ns.auth("region"))).json()
    # p1 (in Almere: 17, 28 and 30 nights in January-March) and p2 (in Lelystad: 19 and 9 in February-March): one
    # client each, shown as 0|5, and each month's nights as 0|100 (one coin for one client's months)
    for cell in matrix["cells"]:  # a pair whose figures both round to 0 is not listed
        assert (cell["responsible"], cell["responsible_elsewhere"]) == (ALMERE, False)
        assert cell["clients"] in (0, 5) and cell["client_days"] in (0, 100, 200, 300)
        assert cell["clients"] + cell["client_days"]
    assert {c["facility_municipality"] for c in matrix["cells"]} <= {ALMERE, "0995"}


async def test_the_budget_year_is_client_days_times_tariff_against_the_phased_in_share(
    reporting, ns: Namespace
) -> None:  # type: ignore[no-untyped-def]
    own = (await reporting.get("/v1/municipalities/0034/budget?year=2027", headers=ns.auth("almere"))).json()
    assert own["client_days"] == {"BW_24H": 75, "MO_24H": 28}
    assert own["cost_eur"] == 75 * 185.0 + 28 * 125.0  # tariffs of flevoland.toml (illustrative)
    assert (own["cost_realised_eur"], own["cost_projected_eur"]) == (own["cost_eur"], 0.0)  # both stays ended
    assert own["illustrative"] is True and own["mo_funding"] == "centre_municipality"
    share = 0.0120 + (0.0105 - 0.0120) * 1 / 10  # first year of a ten-year ingroeipad
    assert own["share"] == pytest.approx(share) and own["budget_eur"] == pytest.approx(share * 700_000_000, abs=0.01)
    region = (await reporting.get("/v1/region/budget?year=2027", headers=ns.auth("region"))).json()
    total_budget = 0.021 * 700_000_000  # the six shares of 2027 add up to 0.021
    assert region["totals"]["budget_eur"] == pytest.approx(total_budget, abs=0.1)
    assert region["totals"]["settlement_eur"] == pytest.approx(0.0, abs=0.1)  # budget-neutral
    # What Almere pays or receives is the region's figure, worked out from everyone's rounded days (Almere's
    # 103 nights show as 0 or 100 per month and facility), not from its own exact cost: the same for every viewer.
    row = next(m for m in region["municipalities"] if m["municipality"] == ALMERE)
    assert {k: own[k] for k in SETTLED} == {k: row[k] for k in SETTLED}
    surplus = total_budget - sum(m["cost_borne_eur"] for m in region["municipalities"])
    assert own["settlement_eur"] == pytest.approx(
        own["budget_eur"] - own["cost_borne_eur"] - surplus * share / 0.021, abs=0.05
    )
    assert (await reporting.get("/v1/municipalities/0034/budget?year=2027", headers=ns.auth("urk"))).status_code == 403


async def test_a_year_without_budget_data_is_a_problem_naming_the_year(reporting, ns: Namespace) -> None:  # type: ignore[no-untyped-def]
    for path, who in (
        ("/v1/region/budget?year=2031", "region"),
        ("/v1/municipalities/0034/budget?year=2031", "almere"),
    ):
        answer = await reporting.get(path, headers=ns.auth(who))
        assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["errors"][0]["field"] == "year" and "2031" in answer.json()["detail"]


async def test_wijken_and_housing_against_their_caps(reporting, ns: Namespace) -> None:  # type: ignore[no-untyped-def]
    wijken = (await reporting.get("/v1/region/wijken?from=2027-01&to=2027-12", headers=ns.auth("region"))).json()
    by_wijk: dict[str, Any] = {w["wijk"]: w for w in wijken["wijken"]}
    assert (by_wijk["WK003401"]["places"], by_wijk["WK003401"]["place_cap"]) == (10, 60)
    assert (by_wijk["WK099501"]["places"], by_wijk["WK099501"]["place_cap"]) == (6, 40)
    homes = by_wijk.get("WK003402", {"outflow_homes": 0, "outflow_home_cap": 12})  # not listed when shown as 0
    assert rounded(homes["outflow_homes"], 1) and homes["outflow_home_cap"] == 12
    housing = (
        await reporting.get("/v1/region/housing?from=2027-01&to=2027-12&format=csv", headers=ns.auth("region"))
    ).text
    (row,) = list(csv.DictReader(io.StringIO(housing)))
    accepted = int(row["accepted"])  # one offer, accepted: 0 or 5, and the quota left follows from the shown figure
    assert rounded(accepted, 1) and row["offers_made"] == row["accepted"] and int(row["quota_left"]) == 3 - accepted
    assert (row["corporation_id"], row["municipality"], row["quota_year"], row["quota"]) == (
        "woonstad-illustratief", ALMERE, "2027", "3",
    )  # fmt: skip
    assert (row["declined"], row["lapsed"], row["open"], row["disclosure"]) == (
        "0", "0", "0", "random rounding to base 5",
    )  # fmt: skip


async def test_what_is_left_of_a_quota_counts_every_acceptance_of_its_year(reporting, ns: Namespace) -> None:  # type: ignore[no-untyped-def]
    june = (await reporting.get("/v1/region/housing?from=2027-06&to=2027-06", headers=ns.auth("region"))).json()
    year = (await reporting.get("/v1/region/housing?from=2027-01&to=2027-12", headers=ns.auth("region"))).json()
    left = 3 - year["offers"][0]["accepted"]  # the March acceptance (shown 0 or 5) still uses the 2027 quota
    assert june["offers"] == [
        {"corporation_id": "woonstad-illustratief", "municipality": ALMERE, "quota_year": 2027, "quota": 3,
         "offers_made": 0, "accepted": 0, "declined": 0, "lapsed": 0, "open": 0, "voided": 0, "quota_left": left},
    ]  # fmt: skip


# Dronten's episodes: D1 moves from emergency shelter to BW the same day (doorstroom); D2's duplicate
# registration is withdrawn; D3 is transferred to Urk for one episode and registers again later (fresh);
# Amsterdam's client A1 is placed in Dronten (responsible elsewhere).
DRONTEN, AMSTERDAM = "0303", "0363"
D1, D2, D3, D4, A1 = "d" * 64, "e" * 64, "f" * 64, "c" * 64, "a" * 64


def dronten_registered(intake: str, ref: str, on: str, form: str, responsible: str = DRONTEN) -> ClientRegistered:
    return registered(intake, ref, on).model_copy(
        update={"registering_municipality": DRONTEN, "responsible_municipality": responsible, "care_form": form}
    )


def dronten_made(pid: str, ref: str, intake: str, facility: str, form: str, start: str, **extra: Any) -> PlacementMade:
    made_ = made(pid, ref, intake, facility, DRONTEN, form, start, 0)
    return made_.model_copy(update={"responsible_municipality": extra.pop("responsible", DRONTEN), **extra})


EPISODES: list[Event] = [
    FacilityRegistered(facility_id="fac-c", provider_agb="11111111", name="C (illustrative)", municipality=DRONTEN,
                       wijk="WK030301", care_form="MO_EMERGENCY", capacity=4, supported_needs=["psychiatric"]),  # type: ignore[arg-type]
    dronten_registered("i-d1", D1, "2027-01-04", "MO_EMERGENCY"),
    dronten_made("p-d1", D1, "i-d1", "fac-c", "MO_EMERGENCY", "2027-01-04"),
    dronten_registered("i-d2", D1, "2027-01-20", "BW_24H"),  # waits for BW while in emergency shelter
    PlacementEnded(placement_id="p-d1", client_ref=D1, facility_id="fac-c", provider_agb="11111111",
                   responsible_municipality=DRONTEN, reason="37", end_date="2027-03-01", care_form="MO_EMERGENCY",
                   intake_id="i-d1", doorstroom_to="BW_24H", next_placement_id="p-d2"),  # type: ignore[arg-type]
    dronten_made("p-d2", D1, "i-d2", "fac-a", "BW_24H", "2027-03-01", doorstroom_from="p-d1"),
    dronten_registered("i-d3", D2, "2027-02-01", "BW_24H"),
    RegistrationWithdrawn(intake_id="i-d3", client_ref=D2, responsible_municipality=DRONTEN, care_form="BW_24H",
                          reason="duplicate", withdrawn_on="2027-04-15"),  # type: ignore[arg-type]
    dronten_registered("i-d4", D3, "2027-01-10", "MO_24H"),
    ResponsibilityTransferred(client_ref=D3, from_municipality=DRONTEN, to_municipality="0184", to_in_region=True,
                              reason="origin", effective_on="2027-02-01", transfer_id="t-d3", intake_ids=["i-d4"],
                              accepted_on="2027-01-25"),  # type: ignore[arg-type]
    dronten_registered("i-d5", D3, "2027-05-03", "MO_24H"),  # a later registration starts fresh: Dronten's
    dronten_registered("i-a1", A1, "2027-02-10", "MO_EMERGENCY", responsible=AMSTERDAM),
    dronten_made("p-a1", A1, "i-a1", "fac-c", "MO_EMERGENCY", "2027-02-10", responsible=AMSTERDAM),
    PlacementEnded(placement_id="p-a1", client_ref=A1, facility_id="fac-c", provider_agb="11111111",
                   responsible_municipality=AMSTERDAM, reason="21", end_date="2027-02-20", care_form="MO_EMERGENCY",
                   intake_id="i-a1"),  # type: ignore[arg-type]
    dronten_registered("i-d6", D4, "2027-05-10", "BW_24H"),  # waits, then moves out of the region
    ResponsibilityTransferred(client_ref=D4, from_municipality=DRONTEN, to_municipality=AMSTERDAM, to_in_region=False,
                              reason="origin", effective_on="2027-06-01", transfer_id="t-d6", intake_ids=["i-d6"],
                              accepted_on="2027-05-20"),  # type: ignore[arg-type]
]  # fmt: skip


@pytest.fixture
async def episodes(ns: Namespace):  # type: ignore[no-untyped-def]
    await publish_events(ns.infra.kafka_bootstrap, ns.prefix, EPISODES)
    async with running(reporting_app(ns.settings("reporting")), "reporting") as client:

        async def caught_up() -> bool:
            return await episodes_applied(client, ns)

        await eventually(caught_up, timeout=60)
        yield client


async def episodes_applied(client: Any, ns: Namespace) -> bool:
    body = (
        await client.get("/v1/municipalities/0303/flows?from=2027-01&to=2027-06", headers=ns.auth("dronten"))
    ).json()
    t = body["totals"]
    applied = (t["doorstroom"], t["withdrawals"], t["registrations"], t["transfers_out"]) == (1, 1, 6, 2)
    # Amsterdam's client shows to nobody exactly (its figures are rounded): read the projection itself
    conn = await asyncpg.connect(ns.infra.database_url, server_settings={"search_path": f"reporting_{ns.suffix}"})
    try:
        a1 = await conn.fetchval(
            "SELECT count(*) FROM placements WHERE placement_id = 'p-a1' AND start_date IS NOT NULL"
            " AND end_date IS NOT NULL"
        )
    finally:
        await conn.close()
    return applied and a1 == 1


async def test_doorstroom_and_withdrawals_are_counted_apart(episodes, ns: Namespace) -> None:  # type: ignore[no-untyped-def]
    body = (
        await episodes.get("/v1/municipalities/0303/flows?from=2027-01&to=2027-06", headers=ns.auth("dronten"))
    ).json()
    t = body["totals"]
    # Six registrations are Dronten's (i-d4 was registered on 10 January, before its transfer took effect);
    # p-d2 follows p-d1 the same day: doorstroom, not a second inflow, and not an other ending.
    assert t["registrations"] == 6 and (
        t["inflow"],
        t["doorstroom"],
        t["ended_other"],
        t["outflow"],
        t["withdrawals"],
    ) == (1, 1, 0, 0, 1)
    assert t["doorstroom_by_pair"] == {"MO_EMERGENCY->BW_24H": 1}
    assert t["transfers_out"] == 2 and t["by_group"]["MO"]["transfers_out"] == 1
    assert t["waiting_at_end"] == 1  # only i-d5: i-d2 was placed, i-d3 withdrawn, i-d4 Urk's, i-d6 left the region
    months = {m["month"]: m for m in body["months"]}
    # Jan: i-d2, i-d4; Feb: i-d2, i-d3 (i-d4 is Urk's); Mar: i-d3; Apr: none (withdrawn 15 April); May: i-d5,
    # i-d6; Jun: i-d5
    assert [months[m]["waiting_at_end"] for m in sorted(months)] == [2, 2, 1, 0, 2, 1]
    assert months["2027-02"]["by_group"]["BW"]["waiting_now_days_median"] == 33.0  # i-d2 (39 days), i-d3 (27)
    assert months["2027-02"]["by_group"]["MO"]["waiting_now_days_median"] is None
    urk = (await episodes.get("/v1/municipalities/0184/flows?from=2027-05&to=2027-05", headers=ns.auth("urk"))).json()
    assert urk["totals"]["waiting_at_end"] == 1  # i-d4 only, not D3's later registration


async def test_a_client_responsible_elsewhere_shows_with_that_municipalitys_code(episodes, ns: Namespace) -> None:  # type: ignore[no-untyped-def]
    region = (await episodes.get("/v1/region/flows?from=2027-01&to=2027-06", headers=ns.auth("region"))).json()
    # Amsterdam is listed when any of its figures rounds to something: a listing must not say "1-4 clients"
    for amsterdam in region["responsible_elsewhere"]:
        assert (amsterdam["municipality"], amsterdam["name"]) == (AMSTERDAM, "Amsterdam")
        assert rounded(amsterdam["client_days"], 10, 100)  # A1's 10 nights in Dronten, rounded to 100
        totals = amsterdam["totals"]
        assert rounded(totals["registrations"], 1) and rounded(totals["by_group"]["MO"]["inflow"], 1)
        # i-d6, transferred to Amsterdam from 1 June, no longer waits on the region's list: not Amsterdam's waiting
        assert rounded(totals["transfers_in"], 1) and totals["waiting_at_end"] == 0
    matrix = (await episodes.get("/v1/region/matrix?from=2027-01&to=2027-06", headers=ns.auth("region"))).json()
    for cell in [c for c in matrix["cells"] if c["responsible"] == AMSTERDAM]:
        assert (cell["facility_municipality"], cell["responsible_elsewhere"]) == (DRONTEN, True)
        assert rounded(cell["client_days"], 10, 100) and rounded(cell["clients"], 1)
    budget = (await episodes.get("/v1/region/budget?year=2027", headers=ns.auth("region"))).json()
    recover = budget["responsible_elsewhere"]  # 10 nights, rounded to 0 (not listed) or 100; euros follow the days
    assert len(recover) <= 1 and all(
        (r["municipality"], r["client_days_MO_EMERGENCY"], r["cost_eur"]) == (AMSTERDAM, 100, 100 * 150.0)
        for r in recover
    )
    assert budget["totals"]["cost_to_recover_eur"] == 100 * 150.0 * len(recover)  # the MO_EMERGENCY tariff
    assert budget["totals"]["settlement_eur"] == 0.0
