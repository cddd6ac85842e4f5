"""Each service's interactive API docs (/docs) render in a real browser with every request to another host
refused: Swagger UI comes from the service itself, and so does the OpenAPI document it shows. The page runs
under a strict Content-Security-Policy (no inline script but Swagger UI's start-up, by its hash) and breaks
none of it."""

from urllib.parse import urlsplit

import pytest
from playwright.async_api import Route, async_playwright

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, serving
from tests.support.infra import ROOT
from tests.support.stack import Namespace
from zorgstroom_housing.bootstrap import build as build_housing
from zorgstroom_intake.bootstrap import build as build_intake
from zorgstroom_placement.bootstrap import build as build_placement
from zorgstroom_reporting.bootstrap import build as build_reporting

BUILDS = {"intake": build_intake, "placement": build_placement, "housing": build_housing, "reporting": build_reporting}

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(240),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium (/usr/bin/chromium) is not installed"),
]


async def test_every_service_serves_its_api_docs_with_the_outside_network_blocked(ns: Namespace) -> None:
    outside: list[str] = []
    violations: list[str] = []

    async def only_this_machine(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for name, build in BUILDS.items():
                async with serving(build(ns.settings(name))) as base:
                    page = await browser.new_page()
                    await page.route("**/*", only_this_machine)
                    page.on(
                        "console",
                        lambda m, name=name: (
                            violations.append(f"{name}: {m.text}") if "Content Security Policy" in m.text else None
                        ),
                    )
                    answer = await page.goto(f"{base}/docs")
                    assert answer is not None
                    policy = answer.headers.get("content-security-policy", "")
                    assert "script-src 'self' 'sha256-" in policy and "unsafe-eval" not in policy, (name, policy)
                    await page.wait_for_selector(".opblock", timeout=30_000)  # operations, rendered from /openapi.json
                    title = await page.text_content(".information-container .title")
                    operations = await page.locator(".opblock").count()
                    (ROOT / "test-artifacts/api-docs").mkdir(parents=True, exist_ok=True)
                    await page.screenshot(path=str(ROOT / f"test-artifacts/api-docs/{name}.png"), full_page=False)
                    await page.close()
                    assert title and "Zorgstroom" in title, name
                    assert operations >= 2, (name, operations)
        finally:
            await browser.close()
    assert outside == []
    assert violations == []
