"""The reporting dashboard: one static page for regional policy staff (GET /) and its own scripts, styles and
vendored libraries under /dashboard/. Nothing is fetched from elsewhere at run time. With an OpenID Connect
issuer configured (ZS_DASHBOARD_OIDC_ISSUER), a person logs in there (authorization code with PKCE) and the
page reads the /v1 reports with that person's access token; without one, with the bearer token the user pastes
in. Serving the page itself needs no authentication."""

import contextlib
import ipaddress
import logging
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from zorgstroom_runtime.jwt_auth import load_issuers
from zorgstroom_runtime.problems import Problem

log = logging.getLogger(__name__)

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
ISSUER_CHARACTERS = re.compile(r"[A-Za-z0-9._~:/?#@!$&()*+=%\[\]-]+")
DNS_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
DNS_NAME = re.compile(rf"(?=.{{1,253}}$){DNS_LABEL}(?:\.{DNS_LABEL})*\.?")


class DashboardSettings(BaseSettings):
    """Where people log in to the dashboard; read once when the service starts (a bad issuer stops it there)."""

    model_config = SettingsConfigDict(env_prefix="ZS_DASHBOARD_", env_file=".env", extra="ignore")

    oidc_issuer: str | None = Field(
        default=None,
        description="The OpenID Connect issuer people log in at, exactly its `iss` (e.g."
        " http://127.0.0.1:18080/realms/zorgstroom). Unset: the page asks for a bearer token instead.",
    )
    oidc_client_id: str = Field(
        default="zorgstroom-dashboard",
        pattern=r"^[A-Za-z0-9._:-]{1,255}$",
        description="The dashboard's public client at that issuer (authorization code with PKCE).",
    )
    idle_minutes: int = Field(
        default=30,
        ge=1,
        le=24 * 60,
        description="A logged-in page without a keystroke, click or scroll for this long logs the person out"
        " instead of renewing the access token (the realm's ssoSessionIdleTimeout is the same 30 minutes).",
    )

    @field_validator("oidc_issuer")
    @classmethod
    def _an_issuer_url(cls, issuer: str | None) -> str | None:
        if not issuer:
            return None
        parts = urlsplit(issuer)
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError("an issuer is an http(s) URL without query or fragment")
        if not ISSUER_CHARACTERS.fullmatch(issuer):  # its origin goes into the CSP header: nothing that ends a source
            raise ValueError("an issuer URL has no spaces, quotes, commas or semicolons")
        # The origin becomes a CSP source: a `*` there would be a wildcard, and user:password@ is no origin.
        if "@" in parts.netloc or not _a_host(parts.hostname):
            raise ValueError("an issuer's host is a DNS name or an IP address, without user info or wildcards")
        _ = parts.port  # raises ValueError on a port that is not a number from 0 to 65535
        # The page trusts the login page and tokens of this origin: never over plain http across a network.
        if parts.scheme != "https" and parts.hostname not in LOOPBACK:
            raise ValueError("the dashboard's issuer must use https (plain http only on 127.0.0.1, ::1 or localhost)")
        return issuer

    @property
    def issuer_origin(self) -> str | None:
        """scheme://host[:port] of the issuer: discovery and the token endpoint are fetched from it."""
        if self.oidc_issuer is None:
            return None
        parts = urlsplit(self.oidc_issuer)
        return f"{parts.scheme}://{parts.netloc}"


def _a_host(hostname: str) -> bool:
    try:
        ipaddress.ip_address(hostname)
        return True
    except ValueError:
        return DNS_NAME.fullmatch(hostname) is not None


def warn_if_untrusted(settings: DashboardSettings, issuers_file: str | None) -> None:
    """People could log in, yet every report would answer 401: the services trust only the issuers of
    ZS_AUTH_ISSUERS_FILE. Said once at start; the file may still gain the issuer later (it is re-read)."""
    if settings.oidc_issuer is None:
        return
    try:
        trusted = {entry.issuer for entry in load_issuers(Path(issuers_file))} if issuers_file else set()
    except (OSError, ValueError) as error:  # the runtime itself refuses to start on such a file
        log.warning("cannot read ZS_AUTH_ISSUERS_FILE to check the dashboard's issuer: %s", error)
        return
    if settings.oidc_issuer not in trusted:
        log.warning(
            "ZS_DASHBOARD_OIDC_ISSUER %s is not among the issuers this service trusts (ZS_AUTH_ISSUERS_FILE):"
            " people can log in to the dashboard but every report will refuse their tokens with 401",
            settings.oidc_issuer,
        )


def content_security_policy(settings: DashboardSettings) -> str:
    """No inline script or style anywhere on the page: ECharts styles the elements it creates through the
    CSSOM (element.style), which style-src does not govern; the dashboard tests check that no violation is
    reported. Only the issuer's origin is added to connect-src: the login page itself is a navigation there."""
    connect = " ".join(["'self'", *([settings.issuer_origin] if settings.issuer_origin else [])])
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"connect-src {connect}",
            "img-src 'self' data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


def security_headers(settings: DashboardSettings) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(settings),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Cache-Control": "no-cache",
    }


CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    "": "text/plain; charset=utf-8",  # LICENSE, NOTICE, VERSION
}


@contextlib.asynccontextmanager
async def _read_settings(app: FastAPI) -> AsyncIterator[None]:
    app.state.dashboard = DashboardSettings()
    warn_if_untrusted(app.state.dashboard, os.environ.get("ZS_AUTH_ISSUERS_FILE"))
    yield


router = APIRouter(tags=["dashboard"], include_in_schema=False, lifespan=_read_settings)


def _settings(request: Request) -> DashboardSettings:
    found: DashboardSettings | None = getattr(request.app.state, "dashboard", None)
    return found if found is not None else DashboardSettings()


Settings = Annotated[DashboardSettings, Depends(_settings)]


def _files(root: Path) -> dict[str, tuple[Path, str]]:
    """Every servable file below the dashboard folder by its URL path, fixed when the module loads: a request
    can name only these, never walk the file system."""
    served: dict[str, tuple[Path, str]] = {}
    for path in sorted(root.rglob("*")):
        media_type = CONTENT_TYPES.get(path.suffix)
        hidden = any(part.startswith(".") for part in path.relative_to(root).parts)  # not the install's own path
        if path.is_file() and media_type and not hidden:
            served[path.relative_to(root).as_posix()] = (path, media_type)
    return served


DASHBOARD_DIR = Path(__file__).resolve().parent.parent / "dashboard"  # package data: ships in the wheel
FILES = _files(DASHBOARD_DIR)


def _serve(name: str, settings: DashboardSettings) -> FileResponse:
    found = FILES.get(name)
    if found is None:
        raise Problem(404, "Not found", "no such file of the dashboard")
    path, media_type = found
    return FileResponse(path, media_type=media_type, headers=security_headers(settings))


@router.get("/", summary="The reporting dashboard")
async def dashboard(settings: Settings) -> FileResponse:
    return _serve("index.html", settings)


@router.get("/dashboard/config.json", summary="Where the dashboard's people log in")
async def dashboard_config(settings: Settings) -> JSONResponse:
    """The page reads this instead of an inline script: the issuer and client id, or null for the token form."""
    oidc: dict[str, Any] | None = None
    if settings.oidc_issuer is not None:
        oidc = {
            "issuer": settings.oidc_issuer,
            "client_id": settings.oidc_client_id,
            "idle_seconds": settings.idle_minutes * 60,
        }
    return JSONResponse({"oidc": oidc}, headers=security_headers(settings))


@router.get("/dashboard/{name:path}", summary="The dashboard's scripts, styles and vendored libraries")
async def dashboard_file(name: str, settings: Settings) -> FileResponse:
    return _serve(name, settings)
