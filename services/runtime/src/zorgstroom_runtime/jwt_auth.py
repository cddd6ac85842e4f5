"""JWT access tokens (RFC 9068) of trusted identity providers, verified against their JWKS into a Principal.

Which issuers are trusted, and which organisations each may speak for, is configuration: a TOML file
(ZS_AUTH_ISSUERS_FILE) with one `[[issuers]]` table per identity provider:

    [[issuers]]
    issuer = "https://login.example.nl/realms/zorgstroom"   # the exact `iss`
    audience = "zorgstroom"                                # must be among the token's `aud`
    may_assert = ["municipality:0034", "provider:*"]       # kind:id, or kind:* for any id of that kind
    # jwks_url = "..."    (default: the jwks_uri of <issuer>/.well-known/openid-configuration)
    # token_types = ["at+jwt", "application/at+jwt"]   (add "JWT" only for a provider that cannot type them)
    # max_lifetime_seconds = 3600                      (exp - iat above this is refused)
    # [issuers.claims]    organisation_kind = "zs_org_kind", organisation_id = "zs_org_id", roles = "zs_roles"

A running service reads the file again when it changes (checked at most every RELOAD_SECONDS, on a request
with a JWT), so an onboarded organisation is trusted without a restart; a file that no longer reads or
validates is logged and the issuers held stay in use. The file decides whom the services trust, so it and its
directory may be writable by their owner alone (unless on a read-only mount), at start and at every reload;
and a reload may not bring in keys over plain http when the file first read fetched every key over https
(production refuses plain http at start: settings.py), nor take a file changed while it was being read.
"""

import asyncio
import logging
import os
import re
import stat
import time
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import jwt
from pydantic import BaseModel, ConfigDict, Field, field_validator

from zorgstroom_runtime.auth import (
    ROLES_OF_KIND,
    IssuerUnreachable,
    OrganisationKind,
    Principal,
    RefusedCaller,
    Role,
    Unauthenticated,
)

log = logging.getLogger(__name__)
Algorithm = Literal["RS256", "ES256", "PS256"]  # asymmetric only: never `none`, never a shared HMAC secret
ORGANISATION_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
FETCH_TIMEOUT_SECONDS = 5.0
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1"})
RELOAD_SECONDS = 2.0  # how often, at most, a verifier looks whether its issuers file changed


class ClaimNames(BaseModel):
    """Where in the token an issuer puts the organisation and its roles."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    organisation_kind: str = "zs_org_kind"
    organisation_id: str = "zs_org_id"
    roles: str = "zs_roles"
    # The person a token was issued to (NEN 7513: the audit names the person). Only this claim: `sub` also
    # names a client's own service account in client-credentials tokens, which is no person.
    person: str = "preferred_username"


class Issuer(BaseModel):
    """One trusted identity provider and the organisations it may speak for."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    issuer: str = Field(min_length=1, description="The exact `iss` of its tokens.")
    audience: str = Field(min_length=1, description="Must be among a token's `aud`.")
    may_assert: tuple[str, ...] = Field(min_length=1, description="`kind:id` or `kind:*` it may assert.")
    jwks_url: str | None = Field(default=None, description="Default: the jwks_uri of its discovery document.")
    claims: ClaimNames = ClaimNames()
    algorithms: tuple[Algorithm, ...] = ("RS256", "ES256", "PS256")
    leeway_seconds: float = Field(default=30, ge=0, le=300, description="Clock skew allowed on exp and nbf.")
    key_refresh_seconds: float = Field(
        default=30, ge=0, description="At most one key fetch this often, however many unknown key ids arrive."
    )
    keys_max_age_seconds: float = Field(default=900, gt=0, description="Keys are fetched again after this long.")
    # RFC 9068 §4: an access token is typed at+jwt, so an ID token or another JWT of the same provider
    # (typ JWT) is not taken for one. "JWT" is for a provider that cannot type its access tokens.
    token_types: tuple[str, ...] = Field(default=("at+jwt", "application/at+jwt"), min_length=1)
    max_lifetime_seconds: float = Field(default=3600, gt=0, description="A token's exp - iat may not exceed this.")

    @field_validator("may_assert")
    @classmethod
    def _known_kinds(cls, entries: tuple[str, ...]) -> tuple[str, ...]:
        for entry in entries:
            kind, _, organisation = entry.partition(":")
            if kind not in OrganisationKind.__members__.values() or not organisation:
                raise ValueError(f"{entry!r} is not `kind:id` or `kind:*` of a known organisation kind")
        return entries

    def may_speak_for(self, kind: OrganisationKind, organisation_id: str) -> bool:
        return f"{kind.value}:*" in self.may_assert or f"{kind.value}:{organisation_id}" in self.may_assert

    def plain_http_urls(self) -> list[str]:
        """Its URLs that fetch keys over plain HTTP from anywhere but this machine."""
        urls = [self.issuer, *([self.jwks_url] if self.jwks_url else [])]
        return [u for u in urls if urlsplit(u).scheme != "https" and urlsplit(u).hostname not in LOOPBACK_HOSTS]


class IssuersFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    issuers: list[Issuer] = Field(min_length=1)

    @field_validator("issuers")
    @classmethod
    def _one_entry_per_issuer(cls, issuers: list[Issuer]) -> list[Issuer]:
        if len({i.issuer for i in issuers}) != len(issuers):
            raise ValueError("an issuer is listed twice")
        return issuers


def load_issuers(path: Path) -> list[Issuer]:
    return IssuersFile.model_validate(tomllib.loads(path.read_text())).issuers


class UnsafeIssuersFile(ValueError):
    """The issuers file is not fit to be trusted (others may write it, keys over plain http): not read."""


def refuse_writable_by_others(path: Path) -> None:
    """UnsafeIssuersFile when the file, or the directory it is in, may be written by its group or others: they
    could make the services trust an issuer of their own. A read-only mount (compose's :ro, a Kubernetes
    Secret) is safe whatever its mode bits say."""
    real = path.resolve()
    for target in (real, real.parent):
        found = os.stat(target)
        if found.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not os.statvfs(target).f_flag & os.ST_RDONLY:
            what = "directory" if target == real.parent else "file"
            raise UnsafeIssuersFile(
                f"the issuers {what} {target} may be written by its group or others"
                f" (mode {stat.filemode(found.st_mode)}): chmod go-w {target}"
            )


class IssuerKeys:
    """The signing keys of one issuer: fetched on first use, again when a token names a key id not among
    them (rotation) or when they are old, but never more often than `key_refresh_seconds`, so a flood of
    made-up key ids costs the identity provider at most one request per interval."""

    def __init__(self, issuer: Issuer, transport: httpx.AsyncBaseTransport | None, clock: Callable[[], float]) -> None:
        self._issuer, self._transport, self._clock = issuer, transport, clock
        self._keys: dict[str, dict[str, Any]] = {}
        self._jwks_url = issuer.jwks_url
        self._fetched_at: float | None = None
        self._failed = False
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> dict[str, Any] | None:
        """The JWK of this key id, or None when the issuer does not have it."""
        if kid in self._keys and not self._old():
            return self._keys[kid]
        async with self._lock:  # concurrent requests with the same new kid share one fetch
            if (kid not in self._keys or self._old()) and self._may_fetch():
                await self._refresh()
            if kid not in self._keys and self._failed:
                raise IssuerUnreachable("the identity provider's keys could not be fetched")
            return self._keys.get(kid)

    def _old(self) -> bool:
        return self._fetched_at is not None and self._clock() - self._fetched_at > self._issuer.keys_max_age_seconds

    def _may_fetch(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self._issuer.key_refresh_seconds

    async def _refresh(self) -> None:
        self._fetched_at = self._clock()
        try:
            async with httpx.AsyncClient(transport=self._transport, timeout=FETCH_TIMEOUT_SECONDS) as client:
                if self._jwks_url is None:
                    self._jwks_url = await self._discover(client)
                answer = await client.get(self._jwks_url)
                answer.raise_for_status()
                keys = answer.json()["keys"]
            self._keys = {k["kid"]: k for k in keys if isinstance(k, dict) and _signs(k)}
            self._failed = False
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
            # The keys held stay in use: an identity provider's short outage does not lock every caller out.
            log.warning("the keys of %s could not be fetched: %s", self._issuer.issuer, type(error).__name__)
            self._failed = True

    async def _discover(self, client: httpx.AsyncClient) -> str:
        answer = await client.get(self._issuer.issuer.rstrip("/") + "/.well-known/openid-configuration")
        answer.raise_for_status()
        document = answer.json()
        if document.get("issuer") != self._issuer.issuer:  # OpenID Connect Discovery 1.0 §4.3
            raise ValueError("the discovery document names another issuer")
        jwks_url = str(document["jwks_uri"])
        if urlsplit(self._issuer.issuer).scheme == "https" and urlsplit(jwks_url).scheme != "https":
            raise ValueError("the discovery document names keys over plain http")  # no downgrade on the way
        return jwks_url


def _same_keys(before: Issuer | None, now: Issuer) -> bool:
    fetched_by = {"issuer", "jwks_url", "key_refresh_seconds", "keys_max_age_seconds"}
    return before is not None and before.model_dump(include=fetched_by) == now.model_dump(include=fetched_by)


Stamp = tuple[int, int, int, int, int]


def _stamp(path: Path) -> Stamp:
    """What tells a changed file: its modification time, size and inode (a file replaced whole is new), and its
    and its directory's modes (a file refused for them is looked at again once they are mended)."""
    found = path.stat()
    return found.st_mtime_ns, found.st_size, found.st_ino, found.st_mode, path.resolve().parent.stat().st_mode


def _signs(jwk: dict[str, Any]) -> bool:
    return isinstance(jwk.get("kid"), str) and jwk.get("use", "sig") == "sig"


class AccessTokenVerifier:
    """Verifies a JWT access token of a trusted issuer and maps its claims to the Principal it acts as."""

    def __init__(
        self,
        issuers: Sequence[Issuer],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        source: Path | None = None,
        reload_seconds: float = RELOAD_SECONDS,
        refuse_plain_http: bool | None = None,
    ) -> None:
        self._transport, self._clock = transport, clock
        self._source, self._reload_seconds = source, reload_seconds
        # Unsaid: as the issuers first trusted (production refuses plain http at start, so its reloads do too).
        first_plain = any(i.plain_http_urls() for i in issuers)
        self._refuse_plain_http = not first_plain if refuse_plain_http is None else refuse_plain_http
        self._stamp = _stamp(source) if source is not None else None
        self._refused_stamp: Stamp | None = None
        self._checked_at = clock()
        self._issuers: dict[str, Issuer] = {}
        self._keys: dict[str, IssuerKeys] = {}
        self._trust(issuers)

    @classmethod
    def from_file(
        cls,
        path: Path | None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        refuse_plain_http: bool | None = None,
    ) -> "AccessTokenVerifier | None":
        """The verifier of an issuers file, which it reads again when the file changes; UnsafeIssuersFile (the
        service does not start) when others may write it."""
        if path is None:
            return None
        refuse_writable_by_others(path)
        issuers = load_issuers(path)
        return cls(issuers, transport=transport, clock=clock, source=path, refuse_plain_http=refuse_plain_http)

    def _trust(self, issuers: Sequence[Issuer]) -> None:
        """Trust these issuers; one whose keys are fetched as before keeps them (no needless fetch when only
        the organisations it may speak for changed)."""
        kept = {i.issuer for i in issuers if _same_keys(self._issuers.get(i.issuer), i)}
        self._keys = {
            i.issuer: self._keys[i.issuer] if i.issuer in kept else IssuerKeys(i, self._transport, self._clock)
            for i in issuers
        }
        self._issuers = {i.issuer: i for i in issuers}

    def _reload_if_changed(self) -> None:
        """The issuers file read again when it changed since it was read (at most every reload_seconds)."""
        if self._source is None or self._clock() - self._checked_at < self._reload_seconds:
            return
        self._checked_at = self._clock()
        try:
            stamp = _stamp(self._source)
            if stamp in (self._stamp, self._refused_stamp):
                return
            refuse_writable_by_others(self._source)
            issuers = self._safe(load_issuers(self._source))  # pydantic's and TOML's errors are ValueErrors
            if _stamp(self._source) != stamp:  # written to while read: perhaps half of it; read it next time
                log.info("the issuers file %s changed while it was read: read again shortly", self._source)
                return
        except (OSError, ValueError) as error:
            self._refused_stamp = stamp if not isinstance(error, OSError) else None  # said once per version
            log.error("the issuers file %s is kept as it was read before: %s", self._source, error)
            return
        self._stamp = stamp
        self._trust(issuers)
        log.info("the issuers file %s was read again: %d issuer(s)", self._source, len(issuers))

    def _safe(self, issuers: list[Issuer]) -> list[Issuer]:
        """The issuers read again, refused whole as start-up would refuse them."""
        plain = [url for issuer in issuers for url in issuer.plain_http_urls()]
        if plain and self._refuse_plain_http:
            raise UnsafeIssuersFile(f"it names an issuer or JWKS over plain http ({plain[0]}): use https")
        return issuers

    async def authenticate(self, token: str) -> Principal:
        """The Principal of a valid token; Unauthenticated (with why, and no key material) otherwise."""
        self._reload_if_changed()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            raise Unauthenticated("the bearer token is not a well-formed JWT") from None
        claimed = unverified.get("iss")
        issuer = self._issuers.get(claimed) if isinstance(claimed, str) else None
        if issuer is None:
            raise Unauthenticated("the access token's issuer is not trusted")
        algorithm = _accepted_algorithm(header, issuer)
        jwk = await self._keys[issuer.issuer].key(str(header.get("kid")))
        if jwk is None:
            raise Unauthenticated("the access token's key id is not among the issuer's keys")
        claims = _verified_claims(token, issuer, jwk, algorithm)
        return principal_of(issuer, claims)


def _accepted_algorithm(header: dict[str, Any], issuer: Issuer) -> str:
    if str(header.get("typ", "")).lower() not in {t.lower() for t in issuer.token_types}:
        raise Unauthenticated(f"the token is not an access token (typ must be {' or '.join(issuer.token_types)})")
    algorithm = header.get("alg")
    if algorithm not in issuer.algorithms:
        raise Unauthenticated(f"the signature algorithm is not accepted (only {', '.join(issuer.algorithms)})")
    if not isinstance(header.get("kid"), str):
        raise Unauthenticated("the access token names no key id (kid)")
    return str(algorithm)


_REFUSALS: list[tuple[type[jwt.InvalidTokenError], str]] = [
    (jwt.ExpiredSignatureError, "the access token has expired"),
    (jwt.ImmatureSignatureError, "the access token is not valid yet"),
    (jwt.InvalidAudienceError, "the access token is not meant for this audience"),
    (jwt.InvalidIssuerError, "the access token's issuer is not trusted"),
    (jwt.InvalidSignatureError, "the access token's signature does not verify"),
]


def _verified_claims(token: str, issuer: Issuer, jwk: dict[str, Any], algorithm: str) -> dict[str, Any]:
    if jwk.get("alg", algorithm) != algorithm:  # a key meant for one algorithm is used for that one only
        raise Unauthenticated("the issuer's key does not fit the token's algorithm")
    try:
        key = jwt.PyJWK(jwk, algorithm=algorithm)  # refuses a key of another type than the algorithm's
    except (jwt.PyJWKError, jwt.InvalidKeyError):
        raise Unauthenticated("the issuer's key does not fit the token's algorithm") from None
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=[algorithm],
            audience=issuer.audience,
            issuer=issuer.issuer,
            leeway=issuer.leeway_seconds,
            options={"require": ["exp", "iat", "iss", "aud"]},
        )
    except jwt.MissingRequiredClaimError as missing:
        raise Unauthenticated(f"the access token lacks the claim {missing.claim!r}") from None
    except jwt.InvalidTokenError as refused:
        reason = next((why for kind, why in _REFUSALS if isinstance(refused, kind)), "the access token is not valid")
        raise Unauthenticated(reason, _signed_caller(token, issuer, key, algorithm)) from None
    if claims["exp"] - claims["iat"] > issuer.max_lifetime_seconds:  # both numbers: PyJWT checked them
        raise Unauthenticated(
            f"the access token lives longer than {issuer.max_lifetime_seconds:g} seconds", _caller_of(issuer, claims)
        )
    return claims


def _signed_caller(token: str, issuer: Issuer, key: jwt.PyJWK, algorithm: str) -> RefusedCaller | None:
    """Who a refused token says it is, if its signature verifies (expired, say): None for a forgery."""
    try:
        claims = jwt.decode(
            token,
            key.key,
            algorithms=[algorithm],
            options={
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
            },
        )
    except jwt.InvalidTokenError:
        return None
    return _caller_of(issuer, claims)


def principal_of(issuer: Issuer, claims: dict[str, Any]) -> Principal:
    """The organisation, roles and caller a verified token names, if its issuer may speak for them; of the
    roles it claims, only those its organisation's kind may hold (ROLES_OF_KIND)."""
    names = issuer.claims
    caller = _caller_of(issuer, claims)
    kind_claim, organisation_id = claims.get(names.organisation_kind), claims.get(names.organisation_id)
    if not isinstance(kind_claim, str) or kind_claim not in OrganisationKind.__members__.values():
        raise Unauthenticated(f"the access token's {names.organisation_kind!r} is not an organisation kind", caller)
    if not isinstance(organisation_id, str) or not ORGANISATION_ID.fullmatch(organisation_id):
        raise Unauthenticated(f"the access token's {names.organisation_id!r} is not an organisation id", caller)
    kind = OrganisationKind(kind_claim)
    if not issuer.may_speak_for(kind, organisation_id):
        raise Unauthenticated("the access token's issuer may not speak for that organisation", caller)
    if caller is None:  # RFC 9068 §2.2: an access token names its client
        raise Unauthenticated("the access token names no client (client_id, azp or sub)")
    roles = _roles(claims.get(names.roles)) & frozenset(ROLES_OF_KIND[kind])
    return Principal(caller.name, kind, organisation_id, roles, subject=caller.subject, issuer=issuer.issuer)


def _caller_of(issuer: Issuer, claims: dict[str, Any]) -> RefusedCaller | None:
    """Who a token with a good signature says it is, for the audit even when it is refused."""
    name = next((claims[c] for c in ("client_id", "azp", "sub") if isinstance(claims.get(c), str)), None)
    if name is None:
        return None
    kind, organisation = claims.get(issuer.claims.organisation_kind), claims.get(issuer.claims.organisation_id)
    person = claims.get(issuer.claims.person)
    return RefusedCaller(
        name=name[:200],
        organisation=f"{str(kind)[:32]}:{str(organisation)[:64]}" if kind is not None else "",
        subject=person[:200] if isinstance(person, str) else None,
    )


def _roles(claim: object) -> frozenset[Role]:
    """Role names as an array or space-separated (like `scope`); names that are no Role of ours, and
    anything that is no name at all, are dropped."""
    listed = claim.split() if isinstance(claim, str) else claim if isinstance(claim, list) else []
    names = [n for n in listed if isinstance(n, str)]
    known = {r.value for r in Role}
    dropped = [n for n in names if n not in known]
    if dropped:
        log.debug("an access token's unknown roles were dropped: %s", dropped)
    return frozenset(Role(n) for n in names if n in known)
