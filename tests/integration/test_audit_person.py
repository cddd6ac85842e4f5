"""NEN 7513 over HTTP against real Postgres and Kafka: every audit line of a request made with a person's
access token names that person (a write, its replay by Idempotency-Key, a read, a 403), a static token's
lines name none, and region staff find a person's lines with GET /v1/audit?person=."""

import time
import uuid
from pathlib import Path

import jwt

from tests.support.builders import FACILITY
from tests.support.identity import KEY
from tests.support.stack import Namespace, running
from zorgstroom_placement.bootstrap import build as build_placement

REGION_STAFF = ["facilities:write", "waiting-list:read", "audit:read"]


def issuers(directory: Path, issuer: str) -> Path:
    path = directory / "issuers.toml"
    path.write_text(
        f'[[issuers]]\nissuer = "{issuer}"\naudience = "zorgstroom"\n'
        'may_assert = ["region:flevoland", "municipality:*", "provider:*"]\n'
    )
    return path


def person(issuer: str, username: str, kind: str, organisation: str, roles: list[str]) -> dict[str, str]:
    """A person's access token, as the dashboard's login gets it: `preferred_username` names the person."""
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": "zorgstroom",
        "exp": now + 300,
        "iat": now,
        "azp": "zorgstroom-dashboard",
        "sub": str(uuid.uuid4()),
        "preferred_username": username,
        "zs_org_kind": kind,
        "zs_org_id": organisation,
        "zs_roles": roles,
    }
    signed = jwt.encode(claims, KEY, algorithm="RS256", headers={"kid": "rsa-1", "typ": "at+jwt"})
    return {"Authorization": f"Bearer {signed}"}


async def test_every_audit_line_of_a_persons_request_names_the_person(
    ns: Namespace,
    identity_provider: str,
    tmp_path: Path,
) -> None:
    rita = person(identity_provider, "rita.regio", "region", "flevoland", REGION_STAFF)
    piet = person(identity_provider, "piet.beleid", "municipality", "0034", ["waiting-list:read"])
    settings = ns.settings("placement", auth_issuers_file=issuers(tmp_path, identity_provider))
    async with running(build_placement(settings), "placement") as placement:
        key = {"Idempotency-Key": f"key-{uuid.uuid4()}"}
        first = await placement.put("/v1/facilities/almere-1", json=FACILITY, headers=rita | key)
        assert first.status_code == 201, first.text
        again = await placement.put("/v1/facilities/almere-1", json=FACILITY, headers=rita | key)
        assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
        read = await placement.get("/v1/waiting-list", headers=piet)
        assert read.status_code == 200, read.text
        refused = await placement.get("/v1/waiting-list", params={"municipality": "0995"}, headers=piet)
        assert refused.status_code == 403, refused.text
        static = await placement.get("/v1/waiting-list", headers=ns.auth("region"))
        assert static.status_code == 200, static.text

        trail = await placement.get("/v1/audit", params={"limit": 50}, headers=rita)
        assert trail.status_code == 200, trail.text
        lines = [(e["person"], e["actor"], e["action"], e["outcome"]) for e in reversed(trail.json()["entries"])]
        assert lines == [
            ("rita.regio", "zorgstroom-dashboard", "facility.put", "ok"),
            ("rita.regio", "zorgstroom-dashboard", "facility.put", "replayed"),
            ("piet.beleid", "zorgstroom-dashboard", "waiting_list.read", "ok"),
            ("piet.beleid", "zorgstroom-dashboard", "GET /v1/waiting-list", "refused: 403"),
            (None, "region", "waiting_list.read", "ok"),  # a static token names no person
        ]  # (the query's own line is written with the read: it is in the next page asked for)

        pietsgangs = await placement.get("/v1/audit", params={"person": "piet.beleid"}, headers=rita)
        assert pietsgangs.status_code == 200, pietsgangs.text
        assert [e["outcome"] for e in pietsgangs.json()["entries"]] == ["refused: 403", "ok"]
        queries = await placement.get("/v1/audit", params={"action": "audit.read"}, headers=rita)
        assert [e["person"] for e in queries.json()["entries"]] == ["rita.regio", "rita.regio"]
