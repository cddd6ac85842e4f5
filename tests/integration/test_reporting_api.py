"""Reporting over HTTP: flows per municipality and for the region, JSON and CSV, and who may read what."""

import csv
import io

import asyncpg
import pytest

from tests.integration.test_delivery import registered_envelope
from tests.integration.test_reporting_numbers import reporting_app
from tests.support.kafka import eventually, produce
from tests.support.stack import Namespace, running
from zorgstroom_runtime.db import grant_service_role


@pytest.fixture
async def reporting(ns: Namespace):  # type: ignore[no-untyped-def]
    """Reporting with three registrations applied: Urk in Jan and Mar 2027, Almere in Mar 2027."""
    envelopes = [
        registered_envelope("0184", "2027-01-31"),
        registered_envelope("0184", "2027-03-01"),
        registered_envelope("0034", "2027-03-15"),
    ]
    await produce(
        ns.infra.kafka_bootstrap,
        ns.topic("wmo.client-registered.v1"),
        [(e.data["client_ref"].encode(), e.model_dump_json().encode(), []) for e in envelopes],
    )
    async with running(reporting_app(ns.settings("reporting")), "reporting") as client:

        async def applied() -> bool:  # as the responsible municipalities see them: exactly
            urk = await client.get("/v1/municipalities/0184/flows?from=2027-01&to=2027-12", headers=ns.auth("urk"))
            almere = await client.get(
                "/v1/municipalities/0034/flows?from=2027-01&to=2027-12", headers=ns.auth("almere")
            )
            return urk.json()["totals"]["registrations"] == 2 and almere.json()["totals"]["registrations"] == 1

        await eventually(applied)
        yield client


async def test_a_municipality_sees_its_registrations_per_month(reporting, ns: Namespace) -> None:  # type: ignore[no-untyped-def]
    answer = await reporting.get("/v1/municipalities/0184/flows?from=2026-12&to=2027-03", headers=ns.auth("urk"))
    assert answer.status_code == 200
    body = answer.json()
    assert body["municipality"] == "0184" and body["from"] == "2026-12" and body["to"] == "2027-03"
    assert [(m["month"], m["registrations"]) for m in body["months"]] == [
        ("2026-12", 0),
        ("2027-01", 1),
        ("2027-02", 0),
        ("2027-03", 1),
    ]
    hand = {
        "registrations": 2,
        "inflow": 0,
        "doorstroom": 0,
        "outflow": 0,
        "ended_other": 0,
        "relapses": 0,
        "withdrawals": 0,
        "transfers_in": 0,
        "transfers_out": 0,
        "waiting_at_end": 2,  # nobody placed yet: both still on the list at the end of March
        "ready_not_housed_at_end": 0,
        "ended_other_by_reason": {},
        "doorstroom_by_pair": {},
    }
    assert {k: body["totals"][k] for k in hand} == hand
    assert set(body["totals"]["by_group"]) == {"BW", "MO"}
    assert set(body["totals"]["by_care_form"]) == {"BW_24H", "BW_HOME", "MO_24H", "MO_NIGHT", "MO_EMERGENCY"}
    march = body["months"][-1]
    assert (march["waiting_now_days_median"], march["waiting_now_days_p90"]) == (44.5, 59.0)  # 59 and 30 days


async def test_the_region_sees_every_municipality_by_name(reporting, ns: Namespace) -> None:  # type: ignore[no-untyped-def]
    body = (await reporting.get("/v1/region/flows?from=2027-01&to=2027-12", headers=ns.auth("region"))).json()
    by_code = {m["municipality"]: (m["name"], m["totals"]["registrations"]) for m in body["municipalities"]}
    assert {code: name for code, (name, _) in by_code.items()} == {
        "0034": "Almere", "0303": "Dronten", "0995": "Lelystad", "0171": "Noordoostpolder", "0184": "Urk",
        "0050": "Zeewolde",
    }  # fmt: skip
    # region staff see every count rounded to 5, a period as the sum of its months' rounded cells: Urk's one of
    # January and one of March as 0 or 5 each (0, 5 or 10 in all; 10 one time in 25), Almere's 1 as 0 or 5
    assert by_code["0184"][1] in (0, 5, 10) and by_code["0034"][1] in (0, 5) and by_code["0303"][1] == 0
    assert body["disclosure"]["method"] == "random rounding to base 5" and body["disclosure"]["exact"] is False
    assert body["totals"]["registrations"] == sum(n for _, n in by_code.values())  # the region adds up what it shows
    own = (await reporting.get("/v1/region/flows?from=2027-01&to=2027-12", headers=ns.auth("urk"))).json()
    assert {m["municipality"]: m["totals"]["registrations"] for m in own["municipalities"]}["0184"] == 2
    assert own["totals"] == body["totals"] and own["disclosure"]["exact_for"] == ["0184"]
    again = (await reporting.get("/v1/region/flows?from=2027-01&to=2027-12", headers=ns.auth("region"))).json()
    assert again == body  # the same cell rounds the same way every time
    assert body["region"] == "flevoland"


async def test_every_report_is_also_csv_with_the_same_columns(reporting, ns: Namespace) -> None:  # type: ignore[no-untyped-def]
    by_param = await reporting.get(
        "/v1/municipalities/0184/flows?from=2027-01&to=2027-02&format=csv", headers=ns.auth("urk")
    )
    by_accept = await reporting.get(
        "/v1/municipalities/0184/flows?from=2027-01&to=2027-02", headers=ns.auth("urk") | {"Accept": "text/csv"}
    )
    assert by_param.headers["content-type"].startswith("text/csv") and by_param.text == by_accept.text
    rows = list(csv.DictReader(io.StringIO(by_param.text)))
    as_json = (
        await reporting.get("/v1/municipalities/0184/flows?from=2027-01&to=2027-02", headers=ns.auth("urk"))
    ).json()
    assert [(r["month"], r["registrations"], r["waiting_at_end"]) for r in rows] == [
        ("2027-01", "1", "1"),
        ("2027-02", "0", "1"),
    ]
    month = as_json["months"][0]
    flattened = {k for k in month if k not in ("by_group", "by_care_form")} | {
        f"{key}.{column}"
        for split in ("by_group", "by_care_form")
        for key, row in month[split].items()
        for column in row
    }
    assert set(rows[0]) == {"municipality", "disclosure", *flattened}  # the JSON months' figures, splits as `BW.inflow`
    assert rows[0]["disclosure"] == "exact"  # Urk's own
    assert rows[0]["BW.registrations"] == str(month["by_group"]["BW"]["registrations"])
    region = await reporting.get("/v1/region/flows?from=2027-01&to=2027-12&format=csv", headers=ns.auth("region"))
    rows = list(csv.DictReader(io.StringIO(region.text)))
    assert len(rows) == 6 and {"municipality", "name", "from", "to", "registrations", "inflow"} <= set(rows[0])


async def test_a_municipality_cannot_read_another_municipalitys_report(reporting, ns: Namespace) -> None:  # type: ignore[no-untyped-def]
    answer = await reporting.get("/v1/municipalities/0184/flows", headers=ns.auth("almere"))
    assert answer.status_code == 403 and answer.headers["content-type"] == "application/problem+json"
    assert (await reporting.get("/v1/municipalities/0184/flows", headers=ns.auth("region"))).status_code == 200


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2027-13", "from"),
        ("from=2027-05&to=2027-01", "to"),
        ("from=2017-01&to=2027-12", "to"),  # 132 months
        ("to=soon", "to"),
        ("from=0000-01", "from"),
        ("from=1999-12&to=2000-01", "from"),
        ("to=9999-12", "to"),
        ("from=9999-12&to=9999-12", "from"),
        ("from=2027-06&to=2028-02", "to"),  # the clock says 15 January 2028: February has not happened
        ("from=2028-02", "from"),
    ],
)
async def test_a_malformed_period_is_a_problem_naming_the_parameter(reporting, ns: Namespace, query, field) -> None:  # type: ignore[no-untyped-def]
    answer = await reporting.get(f"/v1/municipalities/0184/flows?{query}", headers=ns.auth("urk"))
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == field


async def test_a_municipality_outside_the_region_is_not_found(reporting, ns: Namespace) -> None:  # type: ignore[no-untyped-def]
    assert (await reporting.get("/v1/municipalities/0150/flows", headers=ns.auth("region"))).status_code == 404


async def test_reporting_is_ready_with_its_consumer_running(reporting) -> None:  # type: ignore[no-untyped-def]
    ready = await reporting.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"postgres": True, "kafka": True, "consumer": True}


async def test_reportings_login_role_reads_its_rounding_key_but_cannot_change_it(reporting, ns: Namespace) -> None:  # type: ignore[no-untyped-def]
    """Whoever could rewrite the key could choose every coin, and round a small cell up or down at will."""
    schema, role = f"reporting_{ns.suffix}", f"reporting_{ns.suffix}_app"
    admin = await asyncpg.connect(ns.infra.database_url)
    try:
        await admin.execute(f'CREATE ROLE "{role}" NOLOGIN')
        await grant_service_role(admin, schema, role)
        await admin.execute(f'SET search_path = "{schema}"; SET ROLE "{role}"')
        assert await admin.fetchval("SELECT length(secret) > 0 FROM disclosure_key")
        chosen = "decode(repeat('ab', 32), 'hex')"
        for statement in (f"UPDATE disclosure_key SET secret = {chosen}", "DELETE FROM disclosure_key"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await admin.execute(statement)
    finally:
        await admin.execute(f'RESET ROLE; DROP OWNED BY "{role}"; DROP ROLE "{role}"')
        await admin.close()
