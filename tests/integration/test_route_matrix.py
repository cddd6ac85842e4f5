"""Every route of every service against every kind of caller, over HTTP against real Postgres and Kafka.

The routes are enumerated from the four apps, not listed by hand: a route without an entry in MATRIX (or an
entry without a route) fails `test_every_route_has_an_entry_in_the_matrix`. Each entry says, per request
(own and other organisation where the path or body names one), which callers are let through: "allowed"
is any answer but 401 and 403 (a handler may still answer 404 for a made-up id); a caller not let through
must get 401 when it has no valid credential (none, an expired token, a token of an untrusted issuer) and
403 when it has one. The callers with a valid credential are JWT access tokens with the roles each kind has
in the demo (zorgstroom_ops.credentials; an operator has none), the same Principal a static token gives; a
provider whose token claims every role: it must get exactly what a provider gets (roles are capped by kind);
and staff of another region, with every region role, from an issuer that may speak for that region: let
through nowhere but the public routes (a region role counts only in its own region).
"""

import importlib
import json
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

from tests.support import builders
from tests.support.builders import FACILITY
from tests.support.identity import KEY
from tests.support.infra import ROOT
from tests.support.stack import TEST_SECRET, Namespace, running
from zorgstroom_contracts.codes import ZrmDomain
from zorgstroom_ops.credentials import CORPORATION_ROLES, MUNICIPALITY_ROLES, PROVIDER_ROLES, REGION_ROLES
from zorgstroom_runtime.auth import Role
from zorgstroom_runtime.settings import ServiceSettings

SERVICES = ("intake", "placement", "housing", "reporting")
TODAY = date.today()

# The callers. Those with a valid credential act for these organisations; the "other" organisation of a
# request is another of the same kind.
NONE, EXPIRED, FOREIGN = "no credential", "expired JWT", "JWT of another issuer"
MUNICIPALITY, PROVIDER, CORPORATION, REGION, OPERATOR = "municipality", "provider", "corporation", "region", "operator"
UNAUTHENTICATED = (NONE, EXPIRED, FOREIGN)
KINDS = {
    MUNICIPALITY: ("0034", MUNICIPALITY_ROLES),
    PROVIDER: ("11111111", PROVIDER_ROLES),
    CORPORATION: ("woonstad-illustratief", CORPORATION_ROLES),
    REGION: ("flevoland", REGION_ROLES),
    OPERATOR: ("ops", []),  # no HTTP powers: the operational endpoints need no token
}
GREEDY = "provider claiming every role"  # let through exactly where a provider is
OTHER_REGION, OTHER_REGION_ID = "region staff of another region", "gooi"  # let through nowhere a region's staff is
CALLERS = (*UNAUTHENTICATED, *KINDS, GREEDY, OTHER_REGION)
OWN_AGB, OTHER_AGB = "11111111", "22222222"
OWN_CORPORATION, OTHER_CORPORATION = "woonstad-illustratief", "thuis-illustratief"
OWN_MUNICIPALITY, OTHER_MUNICIPALITY = "0034", "0995"

EVERYONE = frozenset(CALLERS)
NOBODY: frozenset[str] = frozenset()


def only(*callers: str) -> frozenset[str]:
    return frozenset(callers)


@dataclass(frozen=True)
class Try:
    """One request to a route, and the callers it lets through."""

    allowed: frozenset[str]
    params: dict[str, str] = field(default_factory=dict)  # path parameters beside DEFAULT_PARAMS
    body: Any = None
    label: str = ""  # "own" or "other" organisation


DEFAULT_PARAMS = {
    "intake_id": "8a4f2c1e-0000-4000-8000-00000000a001",
    "placement_id": "matrix-placement",
    "transfer_id": "matrix-transfer",
    "offer_id": "matrix-offer",
    "client_ref": "ab" * 32,
    "name": "swagger-ui.css",
}
UNIT = {
    "unit_id": "matrix-unit",
    "municipality": "0995",
    "wijk": "WK099501",
    "rooms": 2,
    "rent_eur": 650.0,
    "available_from": (TODAY + timedelta(days=30)).isoformat(),
    "accessible": False,
}
ASSESSMENT = {"assessed_on": TODAY.isoformat(), "scores": dict.fromkeys(ZrmDomain, 4), "client_wants_to_move": True}
CONTINGENT = {"municipality": "0995", "year": str(TODAY.year)}


def own_and_other(own: frozenset[str], other: frozenset[str], name: str, ids: tuple[str, str]) -> tuple[Try, Try]:
    """A route whose path names an organisation: asked for the caller's own and for another."""
    return Try(own, {name: ids[0]}, label="own"), Try(other, {name: ids[1]}, label="other")


def intake_body(municipality: str) -> dict[str, Any]:
    return builders.intake_body(
        registering_municipality=municipality, registered_on=(TODAY - timedelta(days=3)).isoformat()
    )


# Served to anyone, with or without a credential: the operational endpoints and the documents.
PUBLIC = {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/assets/{name}", "/asyncapi.json"}
PUBLIC_OF = {
    "placement": {"/asyncapi/service.json"},
    "housing": {"/asyncapi/service.json"},
    "intake": {"/asyncapi/service.json"},
    "reporting": {"/", "/dashboard/config.json", "/dashboard/{name:path}"},  # config.json: where people log in
}
AUDIT = (Try(only(REGION)),)  # GET /v1/audit on every service: region staff with audit:read

MATRIX: dict[str, tuple[Try, ...]] = {
    # intake
    "intake POST /v1/intakes": (
        Try(only(MUNICIPALITY), body=intake_body(OWN_MUNICIPALITY), label="own"),
        Try(NOBODY, body=intake_body(OTHER_MUNICIPALITY), label="other"),
    ),
    "intake GET /v1/intakes/{intake_id}": (Try(only(MUNICIPALITY)),),
    # placement
    "placement GET /v1/waiting-list": (Try(only(MUNICIPALITY, REGION)),),
    "placement PATCH /v1/registrations/{intake_id}": (Try(only(MUNICIPALITY), body={"urgency": "high"}),),
    "placement POST /v1/registrations/{intake_id}/withdraw": (Try(only(MUNICIPALITY), body={"reason": "duplicate"}),),
    "placement PUT /v1/facilities/{facility_id}": (
        Try(only(PROVIDER, REGION), {"facility_id": "matrix-own"}, FACILITY | {"provider_agb": OWN_AGB}, "own"),
        Try(only(REGION), {"facility_id": "matrix-other"}, FACILITY | {"provider_agb": OTHER_AGB}, "other"),
    ),
    "placement GET /v1/facilities": (Try(only(MUNICIPALITY, PROVIDER, REGION)),),
    "placement POST /v1/placements/{placement_id}/assessments": (Try(only(PROVIDER), body=ASSESSMENT),),
    "placement POST /v1/placements/{placement_id}/end": (
        Try(only(MUNICIPALITY, PROVIDER), body={"reason": "21", "end_date": TODAY.isoformat()}),
    ),
    "placement GET /v1/providers/{provider_agb}/placements": own_and_other(
        only(PROVIDER), NOBODY, "provider_agb", (OWN_AGB, OTHER_AGB)
    ),
    "placement POST /v1/clients/{client_ref}/transfer": (
        Try(
            only(MUNICIPALITY),
            body={"to_municipality": OTHER_MUNICIPALITY, "reason": "origin", "effective_on": TODAY.isoformat()},
        ),
    ),
    "placement PUT /v1/clients/{client_ref}/consent": (Try(only(MUNICIPALITY), body={"consent_to_share": True}),),
    "placement POST /v1/transfers/{transfer_id}/accept": (Try(only(MUNICIPALITY, REGION)),),
    "placement POST /v1/transfers/{transfer_id}/decline": (
        Try(only(MUNICIPALITY, REGION), body={"reason": "no_ties"}),
    ),
    "placement GET /v1/transfers": (Try(only(MUNICIPALITY, REGION)),),
    # housing
    "housing POST /v1/housing-units": (
        Try(only(CORPORATION), body=UNIT | {"corporation_id": OWN_CORPORATION}, label="own"),
        Try(NOBODY, body=UNIT | {"corporation_id": OTHER_CORPORATION, "unit_id": "matrix-other"}, label="other"),
    ),
    "housing PUT /v1/contingents/{corporation_id}/{municipality}/{year}": (
        Try(only(CORPORATION), CONTINGENT | {"corporation_id": OWN_CORPORATION}, {"units": 5}, "own"),
        Try(NOBODY, CONTINGENT | {"corporation_id": OTHER_CORPORATION}, {"units": 5}, "other"),
    ),
    "housing POST /v1/offers/{offer_id}/accept": (Try(only(CORPORATION)),),
    "housing POST /v1/offers/{offer_id}/decline": (Try(only(CORPORATION), body={"reason": "too_far"}),),
    **{
        f"housing GET /v1/corporations/{{corporation_id}}/{what}": own_and_other(
            only(CORPORATION), NOBODY, "corporation_id", (OWN_CORPORATION, OTHER_CORPORATION)
        )
        for what in ("offers", "contingents", "units")
    },
    # reporting
    **{
        f"reporting GET /v1/municipalities/{{code}}/{what}": own_and_other(
            only(MUNICIPALITY, REGION), only(REGION), "code", (OWN_MUNICIPALITY, OTHER_MUNICIPALITY)
        )
        for what in ("flows", "budget")
    },
    "reporting GET /v1/region/flows": (Try(only(MUNICIPALITY, REGION)),),
    **{
        f"reporting GET /v1/region/{what}": (Try(only(REGION)),)
        for what in ("matrix", "budget", "wijken", "occupancy", "housing")
    },
    # every service
    **{f"{service} GET /v1/audit": AUDIT for service in SERVICES},
    **{f"{service} GET {path}": (Try(EVERYONE),) for service in SERVICES for path in PUBLIC | PUBLIC_OF[service]},
}


def routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path template) of every route the app serves, through included routers; a mount or another
    route without methods is ('*', path), so it too needs an entry."""

    def walk(found: Sequence[Any], prefix: str) -> Iterator[tuple[str, str]]:
        for route in found:
            included = getattr(route, "original_router", None)  # FastAPI keeps an included router whole
            if included is not None:
                yield from walk(included.routes, prefix + route.include_context.prefix)
            elif methods := getattr(route, "methods", None):
                yield from ((method, prefix + route.path) for method in sorted(set(methods) - {"HEAD"}))
            else:
                yield "*", prefix + getattr(route, "path", repr(route))

    yield from walk(app.routes, "")


def build(service: str, settings: ServiceSettings) -> FastAPI:
    app: FastAPI = importlib.import_module(f"zorgstroom_{service}.bootstrap").build(settings)
    return app


def offline_settings(service: str) -> ServiceSettings:
    """Enough to build an app (nothing is connected to)."""
    return ServiceSettings(
        service_name=service,
        environment="test",
        database_url="postgresql://nobody@127.0.0.1:9/none",
        db_schema=service,
        kafka_bootstrap="127.0.0.1:9",
        region_file=ROOT / "data/regions/flevoland.toml",
        municipalities_file=ROOT / "data/municipalities-nl.csv",
        client_ref_secret=TEST_SECRET if service == "intake" else None,
    )


def test_every_route_has_an_entry_in_the_matrix() -> None:
    served = set()
    for service in SERVICES:
        app = build(service, offline_settings(service))
        found = {f"{service} {method} {path}" for method, path in routes(app)}
        documented = {
            f"{service} {m.upper()} {p}" for p, operations in app.openapi()["paths"].items() for m in operations
        }
        assert documented <= found, f"the walk over the routes missed {documented - found}"
        served |= found
    assert sorted(served - MATRIX.keys()) == [], "routes without an entry in MATRIX: say who may call them"
    assert sorted(MATRIX.keys() - served) == [], "entries in MATRIX of routes no service serves"


def issuers(directory: Path, issuer: str) -> Path:
    path = directory / "issuers.toml"
    speaks_for = ["region:flevoland", f"region:{OTHER_REGION_ID}", *(f"{k}:*" for k in KINDS if k != REGION)]
    may_assert = json.dumps(speaks_for)  # a TOML array of strings
    path.write_text(f'[[issuers]]\nissuer = "{issuer}"\naudience = "zorgstroom"\nmay_assert = {may_assert}\n')
    return path


def access_token(
    issuer: str, kind: str, lifetime: int = 300, key: Any = KEY, roles: list[str] | None = None, org: str = ""
) -> str:
    organisation, kind_roles = KINDS[kind]
    organisation = org or organisation
    roles = kind_roles if roles is None else roles
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": "zorgstroom",
        "exp": now + lifetime,
        "iat": now,
        "azp": f"matrix-{kind}",
        "sub": f"matrix-{kind}",
        "zs_org_kind": kind,
        "zs_org_id": organisation,
        "zs_roles": roles,
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "rsa-1", "typ": "at+jwt"})


def credentials(issuer: str) -> dict[str, dict[str, str]]:
    """The Authorization header of each caller."""
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bearer = {
        EXPIRED: access_token(issuer, REGION, lifetime=-600),
        FOREIGN: access_token("http://127.0.0.1:9/realms/elsewhere", REGION, key=stranger),
        **{kind: access_token(issuer, kind) for kind in KINDS},
        GREEDY: access_token(issuer, PROVIDER, roles=[r.value for r in Role]),
        OTHER_REGION: access_token(issuer, REGION, org=OTHER_REGION_ID),
    }
    return {NONE: {}, **{caller: {"Authorization": f"Bearer {token}"} for caller, token in bearer.items()}}


def url(template: str, params: dict[str, str]) -> str:
    values = DEFAULT_PARAMS | params
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values[m.group(1)], template)


def verdict(caller: str, status: int, allowed: bool) -> str | None:
    """Why the answer is wrong for this caller, or None."""
    if allowed:  # let through: any answer of the route's own, but no refusal and no server error
        return f"refused {status}" if status in (401, 403) else "server error" if status == 500 else None
    wanted = 401 if caller in UNAUTHENTICATED else 403
    return None if status == wanted else f"{status} instead of {wanted}"


async def test_every_route_answers_every_kind_of_caller_as_the_matrix_says(
    ns: Namespace,
    identity_provider: str,
    tmp_path: Path,
) -> None:
    issuers_file = issuers(tmp_path, identity_provider)
    headers = credentials(identity_provider)
    wrong: list[str] = []
    for service in SERVICES:
        async with running(build(service, ns.settings(service, auth_issuers_file=issuers_file)), service) as client:
            for key, tries in MATRIX.items():
                owner, method, template = key.split(" ", 2)
                if owner != service:
                    continue
                for attempt in tries:
                    for caller in CALLERS:
                        answer = await client.request(
                            method,
                            url(template, attempt.params),
                            json=attempt.body,
                            headers=headers[caller] | {"Idempotency-Key": f"matrix-{uuid.uuid4()}"},
                        )
                        allowed = caller in attempt.allowed or (caller == GREEDY and PROVIDER in attempt.allowed)
                        if why := verdict(caller, answer.status_code, allowed):
                            label = f" ({attempt.label})" if attempt.label else ""
                            wrong.append(f"{key}{label} as {caller}: {why}: {answer.text[:160]}")
    assert wrong == [], "\n".join(wrong)
