"""End to end: a person logs in to the reporting dashboard in Debian's chromium, at the session's Keycloak
(its own login form), by authorization code with PKCE; the page reads the reports with that person's access
token, renews it with the refresh token before it expires while the person uses the page, and the audit names
the person; logout ends the session at Keycloak and in the page's other tabs, and a page left alone for the
idle window logs out by itself. Nothing is fetched from outside 127.0.0.1 and the page's CSP holds throughout.

Keycloak is the session's (tests/support/keycloak.py); the services on its SERVICE_BASE_PORT, so the
reporting service is where the realm's dashboard client redirects to."""

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.async_api import BrowserContext, Page, Request, Route, async_playwright

from tests.e2e.test_dashboard import AXE, axe_violations
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.infra import Infra
from tests.support.keycloak import SERVICE_BASE_PORT, Keycloak
from tests.support.processes import start_process_stack
from tests.support.stack import Namespace
from zorgstroom_ops.client_credentials import ClientCredentials

FROM, TO, YEAR = "2026-01", "2026-06", "2026"
OIDC_USER_KEY = "zorgstroom.oidc.user:"  # oidc-client-ts's key of the logged-in user in sessionStorage

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium (/usr/bin/chromium) is not installed"),
    pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed: run `npm ci` in tools/web"),
]


@pytest.fixture
async def reporting(infra: Infra, ns: Namespace, keycloak: Keycloak, tmp_path: Path) -> AsyncIterator[str]:
    """The services trusting the realm's tokens, the dashboard logging people in there; reporting's URL."""
    started = await start_process_stack(
        infra.database_url,
        infra.kafka_bootstrap,
        tmp_path / "stack",
        SERVICE_BASE_PORT,
        name="dashlogin",
        prefix=ns.prefix,
        extra_env={"ZS_AUTH_ISSUERS_FILE": str(keycloak.issuers_file), "ZS_DASHBOARD_OIDC_ISSUER": keycloak.issuer},
    )
    try:
        yield started.services["reporting"].url
    finally:
        started.stop()


class Browsing:
    """What the browser did: requests that left 127.0.0.1 (aborted), CSP violations on any page, console
    errors, and each call of the reporting API with whether it carried a bearer token."""

    def __init__(self) -> None:
        self.outside: list[str] = []
        self.violations: list[str] = []
        self.console: list[str] = []
        self.api_calls: list[tuple[str, bool]] = []
        self.token_requests: list[str] = []
        self.authorize: list[str] = []

    async def watch(self, context: BrowserContext, keycloak: Keycloak) -> None:
        async def only_local(route: Route) -> None:
            request = route.request
            if urlsplit(request.url).hostname != "127.0.0.1":
                self.outside.append(request.url)
                await route.abort()
                return
            if urlsplit(request.url).path.startswith("/v1/"):
                self.api_calls.append((urlsplit(request.url).path, "authorization" in request.headers))
            if request.url == keycloak.token_url and request.method == "POST":
                self.token_requests.append(_grant_type(request))
            if urlsplit(request.url).path.endswith("/protocol/openid-connect/auth"):
                self.authorize.append(request.url)
            await route.continue_()

        await context.route("**/*", only_local)
        await context.expose_function("zsCspViolation", lambda text: self.violations.append(text))
        await context.add_init_script(
            "document.addEventListener('securitypolicyviolation', (e) => window.zsCspViolation("
            "`${location.origin}: ${e.violatedDirective} ${e.blockedURI}`));"
        )

    def on(self, page: Page) -> None:
        page.on("console", lambda m: self.console.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: self.console.append(f"page error: {e}"))


def _grant_type(request: Request) -> str:
    body = request.post_data or ""
    return next((part.split("=", 1)[1] for part in body.split("&") if part.startswith("grant_type=")), "")


async def log_in(page: Page, keycloak: Keycloak, dashboard: str, username: str) -> None:
    """Click "Inloggen", fill Keycloak's own form, and wait until the dashboard has loaded its figures."""
    await page.get_by_role("button", name="Inloggen").click()
    await page.wait_for_url(f"{keycloak.url}/realms/**")
    await page.fill("#username", username)
    await page.fill("#password", keycloak.password_of(username))
    await page.click("#kc-login")
    await page.wait_for_url(f"{dashboard}/**")
    await page.wait_for_function(  # the document may still be the one on its way in
        "() => document.documentElement?.dataset.state === 'ready'", timeout=30_000
    )


async def loads(page: Page) -> int:
    return int(await page.evaluate("() => Number(document.documentElement.dataset.loads || 0)"))


async def show(page: Page, scope: str) -> None:
    """Choose an area and wait until every section has loaded once more."""
    before = await loads(page)
    await page.select_option("#scope", scope)
    await page.click("#show")
    await page.wait_for_function("(n) => Number(document.documentElement.dataset.loads || 0) > n", arg=before)


async def stored_user(page: Page) -> dict[str, Any] | None:
    """The logged-in user oidc-client-ts keeps in sessionStorage (its tokens), or None."""
    found = await page.evaluate(
        "(prefix) => Object.keys(sessionStorage).filter((k) => k.startsWith(prefix)).map((k) => sessionStorage[k])",
        OIDC_USER_KEY,
    )
    return json.loads(found[0]) if found else None


async def refresh_refused(keycloak: Keycloak, refresh_token: str) -> bool:
    """Whether Keycloak refuses this refresh token of the dashboard's client (its session ended)."""
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(
            keycloak.token_url,
            data={"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": "zorgstroom-dashboard"},
        )
    return answer.status_code == 400 and answer.json().get("error") == "invalid_grant"


async def test_a_person_logs_in_reads_the_region_as_herself_and_logs_out(reporting: str, keycloak: Keycloak) -> None:
    started = time.monotonic()
    region_staff = ClientCredentials(keycloak.token_url, "region-flevoland", keycloak.client_secret("region-flevoland"))
    browsing = Browsing()
    async with async_playwright() as p, httpx.AsyncClient(base_url=reporting, timeout=30) as http:
        page_answer = await http.get("/")
        csp = page_answer.headers["content-security-policy"]
        assert f"connect-src 'self' {keycloak.url};" in csp and "unsafe-inline" not in csp
        assert (await http.get("/dashboard/config.json")).json() == {
            "oidc": {"issuer": keycloak.issuer, "client_id": "zorgstroom-dashboard", "idle_seconds": 1800}
        }
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="nl-NL")
            await browsing.watch(context, keycloak)
            page = await context.new_page()
            browsing.on(page)
            await page.route(f"{reporting}/__test__/axe.min.js", lambda route: route.fulfill(path=AXE))
            await page.clock.install()  # time flows as usual, until the test moves it on to the token's renewal

            # ---- Anna, region staff: the login button, Keycloak's form, and back on the region's figures ----------
            await page.goto(f"{reporting}/?from={FROM}&to={TO}&year={YEAR}")
            await page.get_by_role("button", name="Inloggen").wait_for()
            assert await page.is_hidden("#token-panel") and await page.is_hidden("#who")
            await log_in(page, keycloak, reporting, "anna.jansen")
            assert urlsplit(page.url).query == f"from={FROM}&to={TO}&year={YEAR}"  # the code is gone, the choice back
            authorize = parse_qs(urlsplit(browsing.authorize[0]).query)
            assert authorize["code_challenge_method"] == ["S256"] and len(authorize["code_challenge"][0]) >= 43
            assert len(authorize["state"][0]) >= 16 and authorize["response_type"] == ["code"]
            assert await page.inner_text("#who-name") == "anna.jansen"
            assert await page.inner_text("#who-org") == ", regio flevoland"
            assert await page.inner_text("#errors") == ""
            flows = (await http.get(f"/v1/region/flows?from={FROM}&to={TO}", auth=region_staff)).json()
            shown = await page.eval_on_selector_all("#t-flows tbody th", "cells => cells.map((c) => c.textContent)")
            assert shown == [m["name"] for m in flows["municipalities"]]
            assert await page.inner_text("#t-flows tfoot th") == "Regio flevoland"
            assert await axe_violations(page, reporting) == []  # the header with her name and "Uitloggen" too

            user = await stored_user(page)
            assert user is not None and user["refresh_token"] and user["profile"]["preferred_username"] == "anna.jansen"
            assert await page.evaluate("() => localStorage.length") == 0
            assert all(with_token for _, with_token in browsing.api_calls)
            assert browsing.token_requests == ["authorization_code"]

            # ---- the audit names her for the dashboard's reads ---------------------------------------------------
            audit = await http.get("/v1/audit?person=anna.jansen&action=report.read", auth=region_staff)
            assert audit.status_code == 200, audit.text
            lines = audit.json()["entries"]
            assert {line["subject"] for line in lines} >= {
                f"/v1/region/flows?from={FROM}&to={TO}",
                f"/v1/region/budget?year={YEAR}",
            }
            assert {(line["actor"], line["on_behalf_of"], line["outcome"]) for line in lines} == {
                ("zorgstroom-dashboard", "region:flevoland", "ok")
            }

            # ---- a minute before her access token expires, the page renews it with the refresh token ---------
            await page.clock.fast_forward("04:10")
            await page.wait_for_function(
                "(old) => Object.keys(sessionStorage).some((k) => k.startsWith('zorgstroom.oidc.user:')"
                " && JSON.parse(sessionStorage[k]).access_token !== old)",
                arg=user["access_token"],
            )
            assert browsing.token_requests == ["authorization_code", "refresh_token"]
            await show(page, "0034")
            assert await page.inner_text("#errors") == ""

            # ---- a second tab logs in without the password (Keycloak's session), and is logged out with the first --
            other = await context.new_page()
            browsing.on(other)
            await other.goto(f"{reporting}/")
            await other.get_by_role("button", name="Inloggen").click()
            await other.get_by_role("button", name="Uitloggen").wait_for()
            await other.wait_for_function("() => document.documentElement.dataset.state === 'ready'")
            assert await stored_user(other) is not None

            # ---- logout ends her session at Keycloak; the tokens are gone and the API is not called with them -------
            renewed = await stored_user(page)
            assert renewed is not None
            calls_before_logout = len(browsing.api_calls)
            await page.get_by_role("button", name="Uitloggen").click()
            await page.get_by_role("button", name="Inloggen").wait_for()
            assert await stored_user(page) is None and await page.is_hidden("#who")
            await other.get_by_role("button", name="Inloggen").wait_for()
            assert await stored_user(other) is None and "ander tabblad" in await other.inner_text("#signin-state")
            await other.close()
            assert await refresh_refused(keycloak, renewed["refresh_token"])
            await page.reload()
            await page.get_by_role("button", name="Inloggen").wait_for()
            assert await stored_user(page) is None and await page.is_hidden("#who")
            assert browsing.api_calls[calls_before_logout:] == []
            assert await page.eval_on_selector("#t-flows", "t => t.tBodies[0].rows.length") == 0

            # ---- Pieter, policy officer of Almere: Keycloak asks again (no silent login), his own figures -----------
            await log_in(page, keycloak, reporting, "pieter.devries")
            assert await page.inner_text("#who-name") == "pieter.devries"
            assert await page.inner_text("#who-org") == ", gemeente Almere"
            assert await page.input_value("#scope") == "0034"  # his municipality's view first
            assert "Almere" in await page.inner_text("#t-flows caption")
            assert await page.inner_text("#e-flows") == "" and await page.inner_text("#e-budget") == ""
            pieter = await stored_user(page)
            assert pieter is not None
            as_pieter = {"Authorization": f"Bearer {pieter['access_token']}"}
            period = f"from={await page.input_value('#from')}&to={await page.input_value('#to')}"  # the defaults
            own = await http.get(f"/v1/municipalities/0034/flows?{period}", headers=as_pieter)
            assert own.status_code == 200, own.text
            months = await page.eval_on_selector_all("#t-flows tbody time", "ts => ts.map((t) => t.dateTime)")
            assert months == [m["month"] for m in own.json()["months"]]

            # ... and is refused the region's view
            await show(page, "")
            assert "HTTP 403" in await page.inner_text("#e-budget")
            assert (await http.get(f"/v1/region/budget?year={YEAR}", headers=as_pieter)).status_code == 403

            # ---- left alone for the idle window (30 minutes), the page logs him out instead of renewing ---------
            kept = await stored_user(page)
            assert kept is not None
            await page.clock.fast_forward("31:00")
            await page.get_by_role("button", name="Inloggen").wait_for()
            assert "30 minuten niets" in await page.inner_text("#signin-state")
            assert await stored_user(page) is None
            assert await refresh_refused(keycloak, kept["refresh_token"])  # his session at Keycloak ended too
        finally:
            await browser.close()

    assert browsing.outside == [], f"requests to elsewhere: {browsing.outside}"
    assert browsing.violations == [], browsing.violations
    assert [m for m in browsing.console if "Content Security Policy" in m or "page error" in m] == [], browsing.console
    print(f"dashboard login flow: {time.monotonic() - started:.1f} s")
