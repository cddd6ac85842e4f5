"""The issuers file a running verifier reads again: refused whole (the issuers held stay) when a reload would
fetch keys over plain http where the first file did not, when others may write it or its directory, and
skipped when it changed while it was read."""

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.unit.test_jwt_verifier import ISSUER, RSA_KEY, Clock, IdentityProvider, claims, public_jwk, signed
from zorgstroom_ops import realm
from zorgstroom_runtime import jwt_auth
from zorgstroom_runtime.auth import IssuerUnreachable, Unauthenticated
from zorgstroom_runtime.jwt_auth import RELOAD_SECONDS, AccessTokenVerifier, UnsafeIssuersFile


def new_provider_token() -> str:
    """Signed when asked, not at import: a suite run outlives a token's five minutes."""
    return signed(claims(zs_org_kind="provider", zs_org_id="20000077", zs_roles=["placements:write"]))


def verifier_of(directory: Path, clock: Clock, **kwargs: Any) -> AccessTokenVerifier:
    provider = IdentityProvider(public_jwk(RSA_KEY, "k1"))
    found = AccessTokenVerifier.from_file(
        directory / "auth-issuers.toml", transport=httpx.MockTransport(provider.handle), clock=clock, **kwargs
    )
    assert found is not None
    return found


def trusts(verifier: AccessTokenVerifier, issuer: str) -> bool:
    """Whether a token of `issuer` gets past the question of its issuer (its keys are another matter)."""
    try:
        asyncio.run(verifier.authenticate(signed(claims(iss=issuer))))
    except Unauthenticated as refused:
        return str(refused) != "the access token's issuer is not trusted"
    except IssuerUnreachable:  # its keys were looked for: it is trusted
        return True
    return True


async def speaks_for_the_new_provider(verifier: AccessTokenVerifier) -> bool:
    try:
        return (await verifier.authenticate(new_provider_token())).organisation_id == "20000077"
    except Unauthenticated:
        return False


def test_a_reload_that_brings_in_keys_over_plain_http_is_refused_and_the_issuers_held_stay(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    realm.write_issuers(tmp_path, ISSUER, ["provider:20000077"])
    clock = Clock()
    verifier = verifier_of(tmp_path, clock)  # every key over https: no reload may downgrade that
    attacker = "http://idp.attacker.example/realms/z"
    realm.write_issuers(tmp_path, attacker, ["provider:*", "region:*"])
    clock.now += RELOAD_SECONDS

    assert not trusts(verifier, attacker)
    assert "plain http (http://idp.attacker.example/realms/z)" in caplog.text
    assert asyncio.run(speaks_for_the_new_provider(verifier))  # the issuer held still answers


def test_a_verifier_told_to_refuse_plain_http_refuses_it_on_reload_only_off_this_machine(tmp_path: Path) -> None:
    local = "http://127.0.0.1:18080/realms/zorgstroom"
    realm.write_issuers(tmp_path, local, ["provider:10000011"])
    clock = Clock()
    verifier = verifier_of(tmp_path, clock, refuse_plain_http=True)  # what production's start-up would allow
    elsewhere = "http://idp.example.org/realms/z"
    realm.write_issuers(tmp_path, elsewhere, ["provider:10000011"])
    clock.now += RELOAD_SECONDS
    assert not trusts(verifier, elsewhere) and trusts(verifier, local)
    realm.write_issuers(tmp_path, "http://[::1]:18080/realms/zorgstroom", ["provider:10000011"])
    clock.now += RELOAD_SECONDS
    assert trusts(verifier, "http://[::1]:18080/realms/zorgstroom")  # on this machine, plain http is fine


@pytest.mark.parametrize("which", ["file", "directory"])
def test_an_issuers_file_others_may_write_is_refused_at_start(tmp_path: Path, which: str) -> None:
    issuers = realm.write_issuers(tmp_path, ISSUER, ["provider:10000011"])
    (issuers if which == "file" else tmp_path).chmod(0o664 if which == "file" else 0o777)
    with pytest.raises(UnsafeIssuersFile, match=f"the issuers {which} .* may be written by its group or others"):
        AccessTokenVerifier.from_file(issuers)


def test_a_reload_of_a_file_others_may_write_is_refused_until_its_mode_is_mended(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    issuers = realm.write_issuers(tmp_path, ISSUER, ["provider:10000011"])
    clock = Clock()
    verifier = verifier_of(tmp_path, clock)
    realm.write_issuers(tmp_path, ISSUER, ["provider:10000011", "provider:20000077"])
    issuers.chmod(0o666)
    clock.now += RELOAD_SECONDS
    assert not asyncio.run(speaks_for_the_new_provider(verifier))
    assert "may be written by its group or others" in caplog.text

    issuers.chmod(0o600)  # only its mode changed: looked at again all the same
    clock.now += RELOAD_SECONDS
    assert asyncio.run(speaks_for_the_new_provider(verifier))


def test_a_file_changed_while_it_was_read_is_read_again_before_it_is_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="zorgstroom_runtime.jwt_auth")
    issuers = realm.write_issuers(tmp_path, ISSUER, ["provider:10000011"])
    clock = Clock()
    verifier = verifier_of(tmp_path, clock)
    realm.write_issuers(tmp_path, ISSUER, ["provider:10000011", "provider:20000077"])
    read = jwt_auth.load_issuers

    def read_while_a_writer_is_at_it(path: Path) -> list[jwt_auth.Issuer]:
        found = read(path)
        with issuers.open("a") as more:  # the writer is not done: more follows what was read
            more.write("\n# still being written\n")
        return found

    monkeypatch.setattr(jwt_auth, "load_issuers", read_while_a_writer_is_at_it)
    clock.now += RELOAD_SECONDS
    assert not asyncio.run(speaks_for_the_new_provider(verifier))  # what was read is not taken
    assert "changed while it was read" in caplog.text

    monkeypatch.setattr(jwt_auth, "load_issuers", read)
    clock.now += RELOAD_SECONDS
    assert asyncio.run(speaks_for_the_new_provider(verifier))
