"""API keys, the pure parts: the key's form, its states, the overlap of a rotation, and who a key speaks for."""

import datetime
import os
from pathlib import Path
from typing import cast

import pytest
import typer
from fastapi import Request

from zorgstroom_ops.api_keys_command import (
    CredentialsError,
    IssuedKey,
    _show_key,
    new_key,
    new_key_file,
    overlap_expiry,
    parse_duration,
    parse_organisation,
    roles_for,
)
from zorgstroom_runtime.api_keys import API_KEY_ISSUER, ApiKeys, KeyState, StoredKey, parse_key, secret_digest
from zorgstroom_runtime.auth import OrganisationKind, Role, Unauthenticated
from zorgstroom_runtime.idempotency import credential_of
from zorgstroom_runtime.problems import Problem

NOW = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)


def stored(key: str, **overrides: object) -> StoredKey:
    parsed = parse_key(key)
    assert parsed is not None
    values: dict[str, object] = dict(
        key_id=parsed.key_id,
        secret_sha256=secret_digest(parsed.secret),
        organisation_kind="provider",
        organisation_id="12345678",
        name="zorgbureau-planning",
        roles=("facilities:write", "placements:write"),
        created_at=NOW - DAY,
        expires_at=NOW + DAY,
    )
    return StoredKey(**(values | overrides))  # type: ignore[arg-type]


def refusal(keys: ApiKeys, token: str, now: datetime.datetime = NOW) -> str:
    with pytest.raises(Unauthenticated) as refused:
        keys.authenticate(token, now)
    return str(refused.value)


def test_a_new_key_parses_back_into_its_id_and_a_secret_of_256_bits() -> None:
    key_id, key, digest = new_key()
    parsed = parse_key(key)
    assert parsed is not None and parsed.key_id == key_id and len(key_id) == 12
    assert key.startswith(f"zsk_{key_id}_") and len(parsed.secret) == 43  # 32 bytes, base64url
    assert secret_digest(parsed.secret) == digest and parsed.secret not in digest.hex()
    assert new_key()[1] != key


@pytest.mark.parametrize(
    "token",
    [
        "zsk_abcdefghijkl",
        "zsk_abcdefghijkl_" + "A" * 42,
        "zsk_ABCDEFGHIJKL_" + "A" * 43,
        "zsk_abcdefgh1jkl_" + "A" * 43,  # 1 is not base32
        "zsx_abcdefghijkl_" + "A" * 43,
        "zsk_abcdefghijkl_" + "A" * 43 + ".x",
    ],
)
def test_a_malformed_key_does_not_parse(token: str) -> None:
    assert parse_key(token) is None


def test_a_good_key_speaks_for_its_organisation_by_its_name() -> None:
    key = new_key()[1]
    principal = ApiKeys([stored(key)]).authenticate(key, NOW)
    assert principal.name == "zorgbureau-planning" and principal.organisation == "provider:12345678"
    assert principal.roles == {Role.FACILITIES_WRITE, Role.PLACEMENTS_WRITE}
    assert principal.issuer == API_KEY_ISSUER and principal.subject is None


def test_a_wrong_secret_for_a_good_key_id_is_an_unknown_key_and_not_echoed() -> None:
    key = new_key()[1]
    keys = ApiKeys([stored(key, revoked_at=NOW - DAY)])
    wrong = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    assert refusal(keys, wrong) == "unknown key"  # not "revoked": only the secret's holder learns that
    assert refusal(keys, new_key()[1]) == "unknown key"
    assert refusal(keys, "zsk_nonsense") == "unknown key"


def test_an_expired_key_is_refused_by_the_clock_and_a_revoked_one_as_revoked() -> None:
    key = new_key()[1]
    keys = ApiKeys([stored(key)])
    assert keys.authenticate(key, NOW + DAY - datetime.timedelta(seconds=1)).name == "zorgbureau-planning"
    assert refusal(keys, key, NOW + DAY) == "key expired"
    keys.replace([stored(key, revoked_at=NOW - datetime.timedelta(seconds=1))])
    assert refusal(keys, key) == "key revoked"
    assert key not in refusal(keys, key)


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_keys_not_loaded_yet_or_loaded_too_long_ago_are_refused_as_unavailable_not_honoured() -> None:
    key, clock = new_key()[1], Clock()
    keys = ApiKeys(max_age_seconds=30, clock=clock)
    with pytest.raises(Problem) as unloaded:
        keys.authenticate(key, NOW)
    assert unloaded.value.status == 503 and unloaded.value.kind == "key-store-unavailable"
    assert unloaded.value.headers == {"Retry-After": "5"} and key not in unloaded.value.detail

    keys.replace([stored(key)])
    clock.now += 30
    assert keys.authenticate(key, NOW).name == "zorgbureau-planning"
    clock.now += 0.1  # no load for longer than the bound: a revocation since may have been missed
    with pytest.raises(Problem, match="key store unavailable"):
        keys.authenticate(key, NOW)
    keys.replace([stored(key)])
    assert keys.authenticate(key, NOW).name == "zorgbureau-planning"


def test_a_key_holds_no_role_beyond_its_kind_whatever_the_store_says() -> None:
    key = new_key()[1]
    principal = ApiKeys([stored(key, roles=("placements:write", "intake:register", "no-such-role"))]).authenticate(
        key, NOW
    )
    assert principal.roles == {Role.PLACEMENTS_WRITE}


@pytest.mark.parametrize(
    ("overrides", "state"),
    [
        ({}, KeyState.ACTIVE),
        ({"replaced_by": "abcdefghijkl"}, KeyState.OVERLAP),
        ({"replaced_by": "abcdefghijkl", "expires_at": NOW}, KeyState.EXPIRED),
        ({"expires_at": NOW - DAY}, KeyState.EXPIRED),
        ({"revoked_at": NOW, "expires_at": NOW - DAY}, KeyState.REVOKED),
        # Revoked is what the store says, not judged by this process's clock (which may run behind the store's).
        ({"revoked_at": NOW + DAY}, KeyState.REVOKED),
    ],
)
def test_the_state_of_a_key(overrides: dict[str, object], state: KeyState) -> None:
    assert stored(new_key()[1], **overrides).state(NOW) is state


def test_a_rotation_shortens_the_old_keys_life_to_the_overlap_but_never_lengthens_it() -> None:
    week = datetime.timedelta(days=7)
    assert overlap_expiry(NOW + 30 * DAY, NOW, week) == NOW + week
    assert overlap_expiry(NOW + 2 * DAY, NOW, week) == NOW + 2 * DAY


def test_a_rotated_key_of_the_same_name_is_the_same_caller_for_idempotency() -> None:
    old, new, other = new_key()[1], new_key()[1], new_key()[1]
    keys = ApiKeys([stored(old), stored(new), stored(other, name="another-system")])
    no_request = cast(Request, None)  # an API key's credential is its organisation and name, not its token
    same = {credential_of(no_request, keys.authenticate(k, NOW)) for k in (old, new)}
    assert len(same) == 1
    assert credential_of(no_request, keys.authenticate(other, NOW)) not in same


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90d", 90 * DAY),
        ("12h", datetime.timedelta(hours=12)),
        ("30m", datetime.timedelta(minutes=30)),
        ("5s", datetime.timedelta(seconds=5)),
    ],
)
def test_durations(text: str, expected: datetime.timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "0d", "-1d", "90", "1w", "1.5h"])
def test_a_malformed_duration_is_refused(text: str) -> None:
    with pytest.raises(CredentialsError):
        parse_duration(text)


def test_organisations_are_kind_colon_id() -> None:
    found = parse_organisation("provider:12345678")
    assert found.kind is OrganisationKind.PROVIDER and found.id == "12345678" and str(found) == "provider:12345678"
    for bad in ("provider", "provider:", "operator:ops", "wizard:1", "provider:12 34"):
        with pytest.raises(CredentialsError):
            parse_organisation(bad)


def test_roles_default_to_the_kinds_and_are_capped_by_it() -> None:
    provider = parse_organisation("provider:12345678")
    assert roles_for(provider, None) == ["facilities:write", "placements:write"]
    assert roles_for(parse_organisation("corporation:woonstad"), None) == ["housing:write"]
    assert roles_for(provider, ["placements:write", "placements:write"]) == ["placements:write"]
    with pytest.raises(CredentialsError, match="intake:register"):
        roles_for(provider, ["placements:write", "intake:register"])


def test_output_writes_the_key_into_a_new_file_only_its_owner_may_read(tmp_path: Path) -> None:
    output, key = tmp_path / "almere.key", new_key()[1]
    with new_key_file(output) as key_file:
        _show_key(IssuedKey(key[4:16], key, NOW), output, key_file)
    assert output.read_text() == key + "\n" and output.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("there", ["file", "link"])
def test_output_refuses_a_file_or_link_there_already_before_a_key_is_issued(
    tmp_path: Path, there: str, capsys: pytest.CaptureFixture[str]
) -> None:
    output, planted = tmp_path / "almere.key", tmp_path / "planted"
    planted.write_text("someone else's")
    planted.chmod(0o666)
    if there == "file":
        output.write_text("")
        output.chmod(0o666)  # another user's file, which they could read the key from
    else:
        output.symlink_to(planted)
    issued = []
    with pytest.raises(typer.Exit) as refused, new_key_file(output):
        issued.append("a key")
    assert refused.value.exit_code == 2 and not issued
    assert "exists: --output writes a new file only" in capsys.readouterr().err
    assert planted.read_text() == "someone else's" and os.stat(output).st_mode & 0o777 == 0o666


def test_output_leaves_no_file_when_no_key_was_issued(tmp_path: Path) -> None:
    output = tmp_path / "almere.key"
    with pytest.raises(CredentialsError), new_key_file(output):
        raise CredentialsError("a provider may not hold intake:register")
    assert not output.exists()
