"""JWT access tokens: signed by a trusted issuer's key, for our audience, in time, for an organisation the
issuer may speak for, or refused; the issuer's keys are fetched when a new key id appears, rate-limited."""

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from zorgstroom_runtime.auth import IssuerUnreachable, OrganisationKind, Role, Unauthenticated
from zorgstroom_runtime.jwt_auth import AccessTokenVerifier, Issuer

ISSUER = "https://idp.example.test/realms/zorgstroom"
JWKS_URL = f"{ISSUER}/protocol/openid-connect/certs"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ROTATED_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def public_jwk(private_key: Any, kid: str) -> dict[str, Any]:
    algorithm = jwt.algorithms.ECAlgorithm if isinstance(private_key, ec.EllipticCurvePrivateKey) else None
    to_jwk = (algorithm or jwt.algorithms.RSAAlgorithm).to_jwk
    return to_jwk(private_key.public_key(), as_dict=True) | {"kid": kid, "use": "sig"}


class IdentityProvider:
    """Discovery and JWKS as an identity provider serves them, counting the fetches."""

    def __init__(self, *keys: dict[str, Any]) -> None:
        self.keys = list(keys)
        self.fetches = 0
        self.down = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(200, json={"issuer": ISSUER, "jwks_uri": JWKS_URL})
        self.fetches += 1
        return httpx.Response(200, json={"keys": self.keys})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": ISSUER,
        "aud": ["zorgstroom", "account"],
        "exp": now + 300,
        "iat": now,
        "azp": "municipality-0034",
        "sub": "7f1c0e9a-0000-4000-8000-000000000034",
        "preferred_username": "service-account-municipality-0034",
        "zs_org_kind": "municipality",
        "zs_org_id": "0034",
        "zs_roles": ["intake:register", "intake:read", "not-a-role-of-ours"],
    } | overrides


def signed(
    payload: dict[str, Any], key: Any = RSA_KEY, kid: str = "k1", alg: str = "RS256", typ: str = "at+jwt"
) -> str:
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid, "typ": typ})


def issuer(**overrides: Any) -> Issuer:
    values: dict[str, Any] = {"issuer": ISSUER, "audience": "zorgstroom", "may_assert": ["municipality:*"]}
    return Issuer.model_validate(values | overrides)


def verifier_of(
    provider: IdentityProvider, clock: Callable[[], float] = time.monotonic, **overrides: Any
) -> AccessTokenVerifier:
    return AccessTokenVerifier([issuer(**overrides)], transport=httpx.MockTransport(provider.handle), clock=clock)


def unsigned(header: dict[str, Any], payload: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(payload)}"


async def refusal(verifier: AccessTokenVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as refused:
        await verifier.authenticate(token)
    return str(refused.value)


async def test_a_valid_token_acts_as_its_organisation_with_its_roles() -> None:
    verifier = verifier_of(IdentityProvider(public_jwk(RSA_KEY, "k1")))
    principal = await verifier.authenticate(signed(claims()))
    assert principal.name == "municipality-0034"
    assert (principal.organisation_kind, principal.organisation_id) == (OrganisationKind.MUNICIPALITY, "0034")
    assert principal.roles == {Role.INTAKE_REGISTER, Role.INTAKE_READ}  # a role that is none of ours is dropped
    assert principal.subject == "service-account-municipality-0034"


async def test_a_clients_own_token_names_no_person_though_it_has_a_sub() -> None:
    """A client-credentials token's `sub` is the client's service account: the audit must not call it a person."""
    verifier = verifier_of(IdentityProvider(public_jwk(RSA_KEY, "k1")))
    machine = claims(client_id="municipality-0034")
    del machine["preferred_username"]
    assert (await verifier.authenticate(signed(machine))).subject is None
    person = claims(preferred_username="anna.jansen")
    assert (await verifier.authenticate(signed(person))).subject == "anna.jansen"


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt"])
async def test_an_es256_token_of_either_type_is_accepted(typ: str) -> None:
    verifier = verifier_of(IdentityProvider(public_jwk(EC_KEY, "ec1")))
    principal = await verifier.authenticate(signed(claims(zs_roles="reports:own"), EC_KEY, "ec1", "ES256", typ))
    assert principal.roles == {Role.REPORTS_OWN}  # space-separated, like a scope, is read too


async def test_a_token_typed_jwt_is_refused_unless_its_issuer_is_configured_to_use_that_type() -> None:
    """RFC 9068 §4: another JWT of the same provider (typ JWT) is not taken for an access token by default."""
    provider = IdentityProvider(public_jwk(RSA_KEY, "k1"))
    token = signed(claims(), typ="JWT")
    assert "not an access token" in await refusal(verifier_of(provider), token)
    opted_in = verifier_of(provider, token_types=["at+jwt", "JWT"])
    assert (await opted_in.authenticate(token)).organisation_id == "0034"


async def test_a_role_that_is_no_name_is_ignored_not_a_server_error() -> None:
    verifier = verifier_of(IdentityProvider(public_jwk(RSA_KEY, "k1")))
    principal = await verifier.authenticate(signed(claims(zs_roles=[{}, ["intake:read"], 7, "intake:read"])))
    assert principal.roles == {Role.INTAKE_READ}


async def test_roles_are_capped_by_the_organisation_kind_whatever_the_token_claims() -> None:
    """An issuer that may speak for providers cannot make one region staff by adding reports:region."""
    verifier = verifier_of(IdentityProvider(public_jwk(RSA_KEY, "k1")), may_assert=["provider:*"])
    every_role = [r.value for r in Role]
    token = signed(claims(zs_org_kind="provider", zs_org_id="11111111", zs_roles=every_role))
    assert (await verifier.authenticate(token)).roles == {Role.FACILITIES_WRITE, Role.PLACEMENTS_WRITE}


async def test_a_token_without_iat_or_living_too_long_is_refused() -> None:
    verifier = verifier_of(IdentityProvider(public_jwk(RSA_KEY, "k1")))
    no_iat = claims()
    del no_iat["iat"]
    assert await refusal(verifier, signed(no_iat)) == "the access token lacks the claim 'iat'"
    now = int(time.time())
    long_lived = signed(claims(iat=now, exp=now + 3601))
    assert await refusal(verifier, long_lived) == "the access token lives longer than 3600 seconds"
    assert await verifier_of(IdentityProvider(public_jwk(RSA_KEY, "k1")), max_lifetime_seconds=7200).authenticate(
        long_lived
    )


async def test_a_refusal_after_a_good_signature_says_who_the_token_claimed_to_be() -> None:
    verifier = verifier_of(IdentityProvider(public_jwk(RSA_KEY, "k1")), may_assert=["municipality:0034"])
    with pytest.raises(Unauthenticated) as refused:
        await verifier.authenticate(signed(claims(zs_org_id="0995", preferred_username="anna.jansen")))
    caller = refused.value.caller
    assert caller is not None
    assert (caller.name, caller.organisation, caller.subject) == (
        "municipality-0034",
        "municipality:0995",
        "anna.jansen",
    )
    with pytest.raises(Unauthenticated) as expired:
        await verifier.authenticate(signed(claims(exp=int(time.time()) - 60)))
    assert expired.value.caller is not None and expired.value.caller.name == "municipality-0034"
    with pytest.raises(Unauthenticated) as forged:  # a bad signature tells nothing about who sent it
        await verifier.authenticate(signed(claims(), key=ROTATED_KEY))
    assert forged.value.caller is None


async def test_an_expired_token_is_refused() -> None:
    verifier = verifier_of(IdentityProvider(public_jwk(RSA_KEY, "k1")))
    token = signed(claims(exp=int(time.time()) - 60))
    assert await refusal(verifier, token) == "the access token has expired"


async def test_a_token_expired_within_the_leeway_is_still_accepted() -> None:
    verifier = verifier_of(IdentityProvider(public_jwk(RSA_KEY, "k1")))
    assert await verifier.authenticate(signed(claims(exp=int(time.time()) - 5)))


async def test_a_token_not_valid_yet_is_refused() -> None:
    verifier = verifier_of(IdentityProvider(public_jwk(RSA_KEY, "k1")))
    token = signed(claims(nbf=int(time.time()) + 600))
    assert await refusal(verifier, token) == "the access token is not valid yet"


async def test_a_token_of_another_issuer_is_refused_even_when_signed_with_a_known_key() -> None:
    provider = IdentityProvider(public_jwk(RSA_KEY, "k1"))
    verifier = verifier_of(provider)
    token = signed(claims(iss="https://idp.example.test/realms/other"))
    assert await refusal(verifier, token) == "the access token's issuer is not trusted"
    assert provider.fetches == 0


async def test_a_token_for_another_audience_is_refused() -> None:
    verifier = verifier_of(IdentityProvider(public_jwk(RSA_KEY, "k1")))
    token = signed(claims(aud="account"))
    assert await refusal(verifier, token) == "the access token is not meant for this audience"


async def test_a_token_without_expiry_is_refused() -> None:
    verifier = verifier_of(IdentityProvider(public_jwk(RSA_KEY, "k1")))
    payload = claims()
    del payload["exp"]
    assert await refusal(verifier, signed(payload)) == "the access token lacks the claim 'exp'"


async def test_an_unsigned_token_alg_none_is_refused() -> None:
    verifier = verifier_of(IdentityProvider(public_jwk(RSA_KEY, "k1")))
    token = unsigned({"alg": "none", "typ": "at+jwt", "kid": "k1"}, claims()) + "."
    assert "algorithm is not accepted" in await refusal(verifier, token)
    token_with_junk = unsigned({"alg": "none", "typ": "at+jwt", "kid": "k1"}, claims()) + ".c2ln"
    assert "algorithm is not accepted" in await refusal(verifier, token_with_junk)


async def test_hs256_signed_with_the_issuers_public_key_as_secret_is_refused() -> None:
    # The classic confusion: a verifier that lets the token choose HMAC would check it with the public key.
    verifier = verifier_of(IdentityProvider(public_jwk(RSA_KEY, "k1")))
    public_pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = unsigned({"alg": "HS256", "typ": "at+jwt", "kid": "k1"}, claims())
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = signing_input + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    assert "algorithm is not accepted" in await refusal(verifier, token)


async def test_a_token_signed_by_another_key_under_a_known_key_id_is_refused() -> None:
    verifier = verifier_of(IdentityProvider(public_jwk(RSA_KEY, "k1")))
    token = signed(claims(), ROTATED_KEY, "k1")
    assert await refusal(verifier, token) == "the access token's signature does not verify"


async def test_an_algorithm_that_does_not_fit_the_key_is_refused() -> None:
    verifier = verifier_of(IdentityProvider(public_jwk(RSA_KEY, "k1")))
    token = signed(claims(), EC_KEY, "k1", "ES256")  # names the RSA key's id
    assert await refusal(verifier, token) == "the issuer's key does not fit the token's algorithm"
    meant_for_rs256 = verifier_of(IdentityProvider(public_jwk(RSA_KEY, "k1") | {"alg": "RS256"}))
    token = signed(claims(), RSA_KEY, "k1", "PS256")
    assert await refusal(meant_for_rs256, token) == "the issuer's key does not fit the token's algorithm"


async def test_an_id_token_typ_is_refused() -> None:
    verifier = verifier_of(IdentityProvider(public_jwk(RSA_KEY, "k1")))
    assert "not an access token" in await refusal(verifier, signed(claims(), typ="ID"))


async def test_a_rotated_key_is_fetched_but_unknown_key_ids_within_the_interval_are_not() -> None:
    provider, clock = IdentityProvider(public_jwk(RSA_KEY, "k1")), Clock()
    verifier = verifier_of(provider, clock, key_refresh_seconds=30)
    assert await verifier.authenticate(signed(claims()))
    assert provider.fetches == 1

    provider.keys = [public_jwk(RSA_KEY, "k1"), public_jwk(ROTATED_KEY, "k2")]  # the provider rotates
    clock.now += 31
    principal = await verifier.authenticate(signed(claims(), ROTATED_KEY, "k2"))
    assert principal.organisation_id == "0034" and provider.fetches == 2

    for made_up in ("k3", "k4", "k5"):  # a flood of bogus key ids: refused without asking the provider
        assert "key id is not among" in await refusal(verifier, signed(claims(), ROTATED_KEY, made_up))
    assert provider.fetches == 2
    clock.now += 31
    assert "key id is not among" in await refusal(verifier, signed(claims(), ROTATED_KEY, "k6"))
    assert provider.fetches == 3  # one fetch per interval at most


async def test_a_key_the_provider_withdrew_is_refused_once_the_keys_are_old() -> None:
    provider, clock = IdentityProvider(public_jwk(RSA_KEY, "k1")), Clock()
    verifier = verifier_of(provider, clock, keys_max_age_seconds=600)
    assert await verifier.authenticate(signed(claims()))
    provider.keys = [public_jwk(ROTATED_KEY, "k2")]
    clock.now += 601
    assert "key id is not among" in await refusal(verifier, signed(claims()))


async def test_an_unreachable_provider_is_not_the_callers_fault() -> None:
    provider = IdentityProvider(public_jwk(RSA_KEY, "k1"))
    provider.down = True
    with pytest.raises(IssuerUnreachable):
        await verifier_of(provider).authenticate(signed(claims()))


async def test_keys_held_stay_in_use_while_the_provider_is_down() -> None:
    provider, clock = IdentityProvider(public_jwk(RSA_KEY, "k1")), Clock()
    verifier = verifier_of(provider, clock, keys_max_age_seconds=600)
    assert await verifier.authenticate(signed(claims()))
    provider.down, clock.now = True, clock.now + 601
    assert await verifier.authenticate(signed(claims()))


async def test_an_issuer_may_not_assert_an_organisation_it_does_not_speak_for() -> None:
    verifier = verifier_of(IdentityProvider(public_jwk(RSA_KEY, "k1")), may_assert=["municipality:0034"])
    assert await verifier.authenticate(signed(claims()))
    other = signed(claims(zs_org_id="0995"))
    provider = signed(claims(zs_org_kind="provider", zs_org_id="10000011", zs_roles=["placements:write"]))
    for token in (other, provider):
        assert await refusal(verifier, token) == "the access token's issuer may not speak for that organisation"


async def test_a_token_without_an_organisation_is_refused() -> None:
    verifier = verifier_of(IdentityProvider(public_jwk(RSA_KEY, "k1")))
    assert "not an organisation kind" in await refusal(verifier, signed(claims(zs_org_kind="root")))
    assert "not an organisation id" in await refusal(verifier, signed(claims(zs_org_id=34)))


async def test_claim_names_are_the_issuers_to_choose() -> None:
    names = {"organisation_kind": "org_kind", "organisation_id": "org", "roles": "scope"}
    verifier = verifier_of(IdentityProvider(public_jwk(RSA_KEY, "k1")), claims=names)
    token = signed(claims(org_kind="municipality", org="0050", scope="reports:own openid"))
    principal = await verifier.authenticate(token)
    assert principal.organisation_id == "0050" and principal.roles == {Role.REPORTS_OWN}
