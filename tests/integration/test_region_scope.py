"""Region staff act for their own region only, over HTTP against real Postgres and Kafka: staff of another
region (a static credential of region gooi, or an access token of an issuer that may speak for region
gelderland) holding every region role get a 403 problem from every region report and from the facilities;
and a facility's occupancy goes to this region's staff and to its own provider only (docs/providers.md)."""

from datetime import date
from pathlib import Path

import pytest

from tests.support.builders import FACILITY
from tests.support.identity import issuers_file, token
from tests.support.stack import ORGANISATIONS, Namespace, running
from zorgstroom_ops import credentials
from zorgstroom_ops.credentials import REGION_ROLES
from zorgstroom_placement.bootstrap import build as build_placement
from zorgstroom_reporting.bootstrap import build as build_reporting
from zorgstroom_runtime.settings import ServiceSettings

PERIOD = f"from={date.today().year}-01&to={date.today():%Y-%m}"
REPORTS = [
    *(f"/v1/region/{report}?{PERIOD}" for report in ("flows", "matrix", "wijken", "occupancy", "housing")),
    "/v1/region/budget",
    f"/v1/municipalities/0034/flows?{PERIOD}",
    "/v1/municipalities/0034/budget",
]


def settings(ns: Namespace, service: str, directory: Path, issuer: str) -> tuple[ServiceSettings, dict[str, str]]:
    """The service with the test's credentials and one more, staff of region gooi with every region role; and
    the bearer token of each credential by name."""
    organisations = ORGANISATIONS | {"region-gooi": ("region", "gooi", REGION_ROLES)}
    credentials_file, tokens = credentials.write(organisations, directory / "credentials")
    configured = ns.settings(
        service, credentials_file=credentials_file, auth_issuers_file=issuers_file(directory, issuer)
    )
    return configured, tokens


def bearer(tokens: dict[str, str], name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[name]}"}


def elsewhere(tokens: dict[str, str], issuer: str) -> dict[str, dict[str, str]]:
    """Staff of another region: a static credential, and an access token of an issuer that may speak for it."""
    gelderland = token(issuer, REGION_ROLES, organisation=("region", "gelderland"), client="region-gelderland")
    return {"static gooi": bearer(tokens, "region-gooi"), "token gelderland": gelderland}


async def test_staff_of_another_region_read_no_report_of_this_region(
    ns: Namespace, identity_provider: str, tmp_path: Path
) -> None:
    configured, tokens = settings(ns, "reporting", tmp_path, identity_provider)
    async with running(build_reporting(configured), "reporting") as reporting:
        for path in REPORTS:
            own = await reporting.get(path, headers=bearer(tokens, "region"))
            assert own.status_code == 200, f"{path} by this region's staff: {own.text}"
            for name, headers in elsewhere(tokens, identity_provider).items():
                answer = await reporting.get(path, headers=headers)
                assert answer.status_code == 403, f"{path} by {name}: {answer.status_code} {answer.text[:200]}"
                assert answer.headers["content-type"].startswith("application/problem+json")
                assert "flevoland" in answer.json()["detail"], answer.text


@pytest.mark.parametrize("caller", ["static gooi", "token gelderland"])
async def test_staff_of_another_region_neither_list_facilities_nor_see_their_occupancy(
    ns: Namespace, identity_provider: str, tmp_path: Path, caller: str
) -> None:
    configured, tokens = settings(ns, "placement", tmp_path, identity_provider)
    async with running(build_placement(configured), "placement") as placement:
        body = FACILITY | {"provider_agb": "11111111"}
        put = await placement.put("/v1/facilities/scope-a", json=body, headers=bearer(tokens, "provider-a"))
        assert put.status_code == 201, put.text
        staff = elsewhere(tokens, identity_provider)[caller]
        refused = await placement.get("/v1/facilities", headers=staff)
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        refused = await placement.put("/v1/facilities/scope-a", json=body | {"capacity": 1}, headers=staff)
        assert refused.status_code == 403, refused.text
        answered = await placement.post("/v1/transfers/no-such-transfer/accept", headers=staff)
        assert answered.status_code == 403, answered.text  # a first gate: 403 whether the transfer exists or not


async def test_occupancy_goes_to_this_regions_staff_and_the_facilitys_own_provider_only(ns: Namespace) -> None:
    async with running(build_placement(ns.settings("placement")), "placement") as placement:
        for facility_id, agb, provider in [
            ("scope-a", "11111111", "provider-a"),
            ("scope-b", "22222222", "provider-b"),
        ]:
            body = FACILITY | {"provider_agb": agb, "name": facility_id}
            put = await placement.put(f"/v1/facilities/{facility_id}", json=body, headers=ns.auth(provider))
            assert put.status_code == 201, put.text

        async def occupancy(caller: str) -> dict[str, int | None]:
            answer = await placement.get("/v1/facilities", headers=ns.auth(caller))
            assert answer.status_code == 200, answer.text
            return {f["facility_id"]: f["occupied"] for f in answer.json()["facilities"]}

        assert await occupancy("region") == {"scope-a": 0, "scope-b": 0}
        assert await occupancy("provider-a") == {"scope-a": 0, "scope-b": None}
        assert await occupancy("provider-b") == {"scope-a": None, "scope-b": 0}
        assert await occupancy("almere") == {"scope-a": None, "scope-b": None}
