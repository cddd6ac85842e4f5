"""A test double of an identity provider: a realm's discovery document and JWKS served on 127.0.0.1, and
access tokens signed with its key, as Keycloak issues them."""

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
REALM = "/realms/zorgstroom"


@pytest.fixture
def identity_provider() -> Iterator[str]:
    """Discovery and JWKS on 127.0.0.1, as a Keycloak realm serves them; yields the issuer URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _IdentityProviderPages)
    issuer = f"http://127.0.0.1:{server.server_address[1]}{REALM}"
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key(), as_dict=True) | {"kid": "rsa-1", "use": "sig"}
    server.pages = {  # type: ignore[attr-defined]
        f"{REALM}/.well-known/openid-configuration": {"issuer": issuer, "jwks_uri": f"{issuer}/certs"},
        f"{REALM}/certs": {"keys": [jwk]},
    }
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield issuer
    server.shutdown()
    server.server_close()


class _IdentityProviderPages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        page = self.server.pages.get(self.path)  # type: ignore[attr-defined]
        body = json.dumps(page).encode()
        self.send_response(200 if page else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


def issuers_file(directory: Path, issuer: str) -> Path:
    path = directory / "issuers.toml"
    may_assert = '["region:*", "municipality:*", "provider:*"]'
    path.write_text(f'[[issuers]]\nissuer = "{issuer}"\naudience = "zorgstroom"\nmay_assert = {may_assert}\n')
    return path


def token(
    issuer: str,
    roles: list[str],
    lifetime: int = 300,
    *,
    organisation: tuple[str, str] = ("region", "flevoland"),
    client: str = "region-flevoland",
    issued_ago: int = 0,
) -> dict[str, str]:
    now = int(time.time()) - issued_ago
    claims = {
        "iss": issuer,
        "aud": "zorgstroom",
        "exp": now + lifetime,
        "iat": now,
        "azp": client,
        "sub": "3b7e2d1c-0000-4000-8000-00000000f1e0",
        "preferred_username": "rita.regio",
        "zs_org_kind": organisation[0],
        "zs_org_id": organisation[1],
        "zs_roles": roles,
    }
    signed = jwt.encode(claims, KEY, algorithm="RS256", headers={"kid": "rsa-1", "typ": "at+jwt"})
    return {"Authorization": f"Bearer {signed}"}
