"""The reporting dashboard (GET /) in Debian's chromium, against the reporting service listening on a real
127.0.0.1 port and fed by events on the real topics: the numbers in its tables are the API's for the same
period and viewer, a municipality's choice shows that municipality's numbers, protected numbers show as the
API rounds them with "afgerond op 5" beside them, nothing is fetched from outside, the
Content-Security-Policy holds, and axe-core finds no serious or critical violation."""

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Page, Route, async_playwright

from tests.integration.test_reporting_numbers import EVENTS as ALMERE_EVENTS
from tests.integration.test_reporting_numbers import reporting_app as build
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, serving
from tests.support.infra import ROOT
from tests.support.kafka import eventually, publish_events
from tests.support.stack import Namespace
from zorgstroom_contracts.events import ClientRegistered, Event, PlacementMade

AXE = ROOT / "tools/web/node_modules/axe-core/axe.min.js"
ARTIFACTS = ROOT / "test-artifacts/dashboard"
LELYSTAD = "0995"
FROM, TO, YEAR = "2027-01", "2027-06", 2027

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(420),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium (/usr/bin/chromium) is not installed"),
    pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed: run `npm ci` in tools/web"),
]


def lelystad_registered(n: int, on: str) -> ClientRegistered:
    return ClientRegistered(
        intake_id=f"l{n}", client_ref=f"{n:064x}", registering_municipality=LELYSTAD,
        responsible_municipality=LELYSTAD, responsibility_rule="wmo2015", residence_municipality=None,
        birth_year=1985, care_form="MO_24H", needs=["psychiatric"], urgency="normal",
        household={"adults": 1, "children": 0}, preferred_municipalities=[], registered_on=on,
    )  # fmt: skip


def lelystad_placed(n: int, start: str, waited: int) -> PlacementMade:
    return PlacementMade(
        placement_id=f"lp{n}", client_ref=f"{n:064x}", facility_id="fac-b", provider_agb="11111111",
        facility_municipality=LELYSTAD, wijk="WK099501", responsible_municipality=LELYSTAD, care_form="MO_24H",
        start_date=start, waited_days=waited, intake_id=f"l{n}",
    )  # fmt: skip


# Lelystad's own clients: six registrations and five placements in one month and care form: a base cell of 5,
# which rounding leaves as it is.
LELYSTAD_EVENTS: list[Event] = [
    *[lelystad_registered(n, f"2027-01-{10 + n:02d}") for n in range(1, 7)],
    *[lelystad_placed(n, f"2027-02-{n:02d}", 20 - n) for n in range(1, 6)],
]
EVENTS: list[Event] = [*ALMERE_EVENTS, *LELYSTAD_EVENTS]


@pytest.fixture
async def service(ns: Namespace) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    await publish_events(ns.infra.kafka_bootstrap, ns.prefix, EVENTS)
    async with serving(build(ns.settings("reporting"))) as base, httpx.AsyncClient(base_url=base) as http:

        async def caught_up() -> bool:  # as each municipality sees its own: exactly
            year = "from=2027-01&to=2027-12"
            almere = (await http.get(f"/v1/municipalities/0034/flows?{year}", headers=ns.auth("almere"))).json()
            own = (await http.get(f"/v1/municipalities/{LELYSTAD}/flows?{year}", headers=ns.auth("lelystad"))).json()
            housing = (await http.get(f"/v1/region/housing?{year}", headers=ns.auth("region"))).json()
            a, lelystad = almere["totals"], own["totals"]
            return (
                (a["registrations"], a["inflow"], a["outflow"], a["relapses"]) == (4, 2, 1, 1)
                and (lelystad["registrations"], lelystad["inflow"]) == (6, 5)
                and bool(housing["offers"])
            )

        await eventually(caught_up, timeout=90, interval=0.5)
        yield base, http


# ---- reading the page --------------------------------------------------------------------------------------

READ_TABLE = """(table) => {
  const text = (c) => { const t = c.querySelector('time'); return t ? t.dateTime : c.textContent.trim(); };
  const rows = (section) => section ? [...section.rows].map((r) => [...r.cells].map(text)) : [];
  return { caption: table.caption.textContent.trim(), head: rows(table.tHead), body: rows(table.tBodies[0]),
           foot: rows(table.tFoot) };
}"""


async def table(page: Page, table_id: str) -> dict[str, Any]:
    read: dict[str, Any] = await page.eval_on_selector(f"#{table_id}", READ_TABLE)
    return read


def value(text: str) -> Any:
    """A cell as the number it shows (Dutch notation: 1.234,56), "–" as None."""
    if text == "–":
        return None
    plain = text.replace("€", "").replace("%", "").replace("\xa0", "").replace(" ", "").replace("\u2212", "-")
    plain = plain.replace(".", "").replace(",", ".")
    return float(plain)


def same(shown: str, api: Any, *, scale: float = 1.0) -> bool:
    if api is None or isinstance(api, str):
        return bool(value(shown) == api)
    return bool(value(shown) == pytest.approx(api * scale, abs=0.006))


def assert_rows(shown: list[list[str]], expected: list[list[Any]], text_columns: int, label: str) -> None:
    """Each shown row against the API's: the first `text_columns` cells as text, the rest as numbers."""
    if not expected:  # rounding may leave a table empty (a small selection): the page says so in one row
        assert shown == [["Geen gegevens in deze periode."]], f"{label}: {shown} against nothing"
        return
    assert len(shown) == len(expected), f"{label}: {shown} against {expected}"
    for got, want in zip(shown, expected, strict=True):
        assert got[:text_columns] == [str(w) for w in want[:text_columns]], f"{label}: {got} against {want}"
        for cell, number in zip(got[text_columns:], want[text_columns:], strict=True):
            scale = 100.0 if isinstance(number, tuple) else 1.0
            assert same(cell, number[0] if isinstance(number, tuple) else number, scale=scale), (
                f"{label}: {got} against {want}"
            )


FLOW_KEYS = ("registrations", "inflow", "outflow", "ended_other", "waiting_at_end")


async def get(http: httpx.AsyncClient, path: str, auth: dict[str, str]) -> Any:
    response = await http.get(path, headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


async def show(page: Page, *, scope: str | None = None, sign_in: str | None = None) -> None:
    """Change the choice (or sign in) and wait until the page has loaded every section once more."""
    loads = int(await page.evaluate("Number(document.documentElement.dataset.loads || 0)"))
    if sign_in is not None:
        await page.fill("#token", sign_in)
        await page.click("#signin")
    else:
        if scope is not None:
            await page.select_option("#scope", scope)
        await page.focus("#year")
        await page.keyboard.press("Enter")  # the controls work from the keyboard: Enter submits them
    # A function, not an expression: Playwright evaluates expressions with eval, which the page's CSP refuses.
    await page.wait_for_function(
        "(before) => Number(document.documentElement.dataset.loads || 0) > before", arg=loads, timeout=30_000
    )


async def charts_drawn(page: Page) -> dict[str, bool]:
    """Per chart: an ECharts instance whose canvas has something other than blank pixels on it."""
    drawn: dict[str, bool] = await page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('.chart')].map((el) => {
          const chart = echarts.getInstanceByDom(el);
          const canvas = el.querySelector('canvas');
          if (!chart || !canvas || !canvas.width || !canvas.height) return [el.id, false];
          const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
          let drawn = false;
          for (let i = 3; i < pixels.length && !drawn; i += 4 * 17) drawn = pixels[i] > 0;
          return [el.id, drawn && el.getAttribute('role') === 'img' && Boolean(el.getAttribute('aria-label'))];
        }))"""
    )
    return drawn


async def axe_violations(page: Page, base: str) -> list[dict[str, Any]]:
    # add_script_tag(path=...) inlines the file, which the page's CSP (script-src 'self') rightly refuses; so
    # the test serves axe-core itself on a same-origin address for this one request (routed, never fetched).
    await page.add_script_tag(url=f"{base}/__test__/axe.min.js")
    violations: list[dict[str, Any]] = await page.evaluate(
        """async () => (await axe.run(document)).violations.map((v) => ({
          id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ')) }))"""
    )
    return [v for v in violations if v["impact"] in ("serious", "critical")]


# ---- the test ----------------------------------------------------------------------------------------------


async def test_the_dashboard_shows_the_apis_numbers_offline_and_accessibly(
    service: tuple[str, httpx.AsyncClient], ns: Namespace
) -> None:
    base, http = service
    region = ns.auth("region")
    period = f"from={FROM}&to={TO}"

    page_response = await http.get("/")
    assert page_response.status_code == 200 and page_response.headers["content-type"].startswith("text/html")
    csp = page_response.headers["content-security-policy"]
    for directive in ("default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'"):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    for asset, media_type in [
        ("/dashboard/dashboard.js", "text/javascript"),
        ("/dashboard/dashboard.css", "text/css"),
        ("/dashboard/vendor/echarts/echarts.min.js", "text/javascript"),
        ("/dashboard/vendor/echarts/LICENSE", "text/plain"),
    ]:
        answer = await http.get(asset)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(media_type), asset
    assert (await http.get("/dashboard/../bootstrap.py")).status_code == 404
    assert (await http.get("/dashboard/nothing.js")).status_code == 404

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    outside: list[str] = []
    local: list[str] = []
    console: list[str] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="nl-NL")
            page = await context.new_page()

            async def only_local(route: Route) -> None:
                if urlsplit(route.request.url).hostname == "127.0.0.1":
                    local.append(urlsplit(route.request.url).path)
                    await route.continue_()
                else:
                    outside.append(route.request.url)
                    await route.abort()

            await page.route("**/*", only_local)
            await page.route(f"{base}/__test__/axe.min.js", lambda route: route.fulfill(path=AXE))
            await page.add_init_script(
                "window.__csp = []; document.addEventListener('securitypolicyviolation',"
                " (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
            )
            page.on("console", lambda m: console.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: console.append(f"page error: {e}"))

            await page.goto(f"{base}/?from={FROM}&to={TO}&year={YEAR}")
            assert await page.get_attribute("html", "lang") == "nl"
            assert "alleen in deze browsersessie" in await page.inner_text("#token-uitleg")
            for control in ("token", "scope", "from", "to", "year"):  # every control has its <label for>
                assert (await page.inner_text(f"label[for={control}]")).strip()
                assert await page.locator(f"#{control}").count() == 1

            # ---- region staff, the whole region -----------------------------------------------------------
            await show(page, sign_in=ns.tokens["region"])
            stored = await page.evaluate("() => Object.values(sessionStorage)")
            assert stored == [ns.tokens["region"]]
            assert await page.evaluate("localStorage.length") == 0 and await context.cookies() == []
            assert await page.input_value("#token") == ""
            assert await page.inner_text("#errors") == ""

            flows = await get(http, f"/v1/region/flows?{period}", region)
            names = {m["municipality"]: m["name"] for m in flows["municipalities"]}
            options = await page.eval_on_selector_all("#scope option", "os => os.map(o => [o.value, o.textContent])")
            assert options[1:] == [list(item) for item in names.items()] and options[0][0] == ""
            shown = await table(page, "t-flows")
            assert_rows(
                shown["body"], [[m["name"], *[m["totals"][k] for k in FLOW_KEYS]] for m in flows["municipalities"]], 1,
                "region flows",
            )  # fmt: skip
            assert_rows(shown["foot"], [[f"Regio {flows['region']}", *[flows["totals"][k] for k in FLOW_KEYS]]], 1, "")
            assert "afgerond op 5" in await page.inner_text("#d-flows")  # the section says its figures are rounded
            assert "afgerond op 5" in await page.inner_text("#d-occupancy")
            assert_sankey(await table(page, "t-sankey"), flows["totals"])

            monthly = {c: await get(http, f"/v1/municipalities/{c}/flows?{period}", region) for c in names}
            ready = await table(page, "t-ready")
            assert ready["head"][0][1:] == list(names.values())
            assert_rows(
                ready["body"],
                [[m["month"], *[monthly[c]["months"][i]["ready_not_housed_at_end"] for c in names]]
                 for i, m in enumerate(monthly["0034"]["months"])], 1, "region ready",
            )  # fmt: skip

            occupancy = await get(http, f"/v1/region/occupancy?{period}", region)
            assert_occupancy(await table(page, "t-occupancy"), occupancy["facilities"], names)
            assert_care_forms(await table(page, "t-careforms"), occupancy["care_forms"])

            matrix = await get(http, f"/v1/region/matrix?{period}", region)
            assert_rows(
                (await table(page, "t-matrix"))["body"],
                [[names[c["responsible"]], names[c["facility_municipality"]], c["clients"]] for c in matrix["cells"]],
                2, "matrix",
            )  # fmt: skip
            assert "5" in [r[2] for r in (await table(page, "t-matrix"))["body"]]  # Lelystad's 5, a multiple of 5

            wijken = await get(http, f"/v1/region/wijken?{period}", region)
            assert_wijken(await table(page, "t-wijken"), wijken["wijken"], names, None)
            housing = await get(http, f"/v1/region/housing?{period}", region)
            assert_housing(await table(page, "t-housing"), housing["offers"], names, None)

            money = await get(http, f"/v1/region/budget?year={YEAR}", region)
            assert_budget(await table(page, "t-budget"), money["municipalities"], names)
            foot = (await table(page, "t-budget"))["foot"][0]
            assert foot[0] == "Regio"
            assert [value(foot[i]) for i in (2, 3, 5)] == [
                pytest.approx(money["totals"][k], abs=0.006) for k in ("budget_eur", "cost_eur", "settlement_eur")
            ]

            drawn = await charts_drawn(page)
            assert all(drawn.values()), drawn
            await page.screenshot(path=str(ARTIFACTS / "regio.png"), full_page=True)
            assert await axe_violations(page, base) == []

            # ---- region staff choose Almere: Almere's numbers, small ones masked ---------------------------
            await show(page, scope="0034")
            almere = await get(http, f"/v1/municipalities/0034/flows?{period}", region)
            shown = await table(page, "t-flows")
            assert_rows(
                shown["body"], [[m["month"], *[m[k] for k in FLOW_KEYS]] for m in almere["months"]], 1, "Almere"
            )
            assert shown["foot"][0][1:] == [str(almere["totals"][k]) for k in FLOW_KEYS]
            assert all(almere["totals"][k] % 5 == 0 for k in FLOW_KEYS) and "afgerond op 5" in await page.inner_text(
                "#d-flows"
            )
            assert_sankey(await table(page, "t-sankey"), almere["totals"])
            ready_keys = ("ready_not_housed_at_end", "ready_not_housed_days_median", "ready_no_consent_at_end")
            assert_rows(
                (await table(page, "t-ready"))["body"],
                [[m["month"], *[m[k] for k in ready_keys]] for m in almere["months"]],
                1,
                "Almere ready",
            )
            assert_occupancy(
                await table(page, "t-occupancy"), [f for f in occupancy["facilities"] if f["municipality"] == "0034"],
                names,
            )  # fmt: skip
            assert await page.is_hidden("#t-careforms")
            assert_rows(
                (await table(page, "t-matrix"))["body"],
                [[names[c["responsible"]], names[c["facility_municipality"]], c["clients"]] for c in matrix["cells"]
                 if "0034" in (c["responsible"], c["facility_municipality"])], 2, "Almere matrix",
            )  # fmt: skip
            assert_wijken(await table(page, "t-wijken"), wijken["wijken"], names, "0034")
            assert_housing(await table(page, "t-housing"), housing["offers"], names, "0034")
            own_money = await get(http, f"/v1/municipalities/0034/budget?year={YEAR}", region)
            assert_budget(await table(page, "t-budget"), [own_money], names)
            assert "gebied=0034" in page.url and "token" not in page.url.lower()
            drawn = await charts_drawn(page)
            assert all(drawn.values()), drawn
            await page.screenshot(path=str(ARTIFACTS / "gemeente-almere.png"), full_page=True)
            assert await axe_violations(page, base) == []

            # ---- a period the API refuses: its problem+json in the live region -----------------------------
            await page.fill("#from", "2010-01")
            await page.fill("#to", "2027-01")
            await show(page)
            errors = await page.inner_text("#errors")
            assert "422" in errors and "spans at most 120 months" in errors
            assert await page.get_attribute("#errors", "aria-live") == "assertive"
            await page.fill("#from", FROM)
            await page.fill("#to", TO)

            # ---- signing out clears the token; Lelystad signs in and reads its own numbers exactly ---------
            await page.click("#signout")
            assert await page.evaluate("sessionStorage.length") == 0
            assert await page.eval_on_selector("#t-flows", "t => t.tBodies[0].rows.length") == 0
            lelystad = ns.auth("lelystad")
            await show(page, sign_in=ns.tokens["lelystad"])  # still on Almere: not Lelystad's to read
            assert "403" in await page.inner_text("#e-flows")
            await show(page, scope=LELYSTAD)
            own = await get(http, f"/v1/municipalities/{LELYSTAD}/flows?{period}", lelystad)
            shown = await table(page, "t-flows")
            assert_rows(shown["body"], [[m["month"], *[m[k] for k in FLOW_KEYS]] for m in own["months"]], 1, "Lelystad")
            assert value(shown["foot"][0][5]) == own["totals"]["waiting_at_end"] == 1  # exact for its own viewer
            assert_budget(
                await table(page, "t-budget"), [await get(http, f"/v1/municipalities/{LELYSTAD}/budget?year={YEAR}",
                                                           lelystad)], names,
            )  # fmt: skip
            errors = await page.inner_text("#errors")
            for title in ("Bezetting", "Regionale solidariteit", "Wijken", "Woningaanbod"):
                assert f"{title}: Geen toegang met dit token (HTTP 403)" in errors
            await page.screenshot(path=str(ARTIFACTS / "gemeente-lelystad-eigen-token.png"), full_page=True)
            assert await axe_violations(page, base) == []

            assert await page.evaluate("window.__csp") == []
        finally:
            await browser.close()

    assert outside == [], f"requests to elsewhere: {outside}"
    assert {"/", "/dashboard/vendor/echarts/echarts.min.js", "/v1/region/matrix"} <= set(local)
    assert [m for m in console if "Content Security Policy" in m or "page error" in m] == [], console


def assert_sankey(shown: dict[str, Any], totals: dict[str, Any]) -> None:
    assert_rows(
        shown["body"],
        [
            ["Aangemeld", "Geplaatst", totals["inflow"]],
            ["Aangemeld", "Wachtend eind periode", totals["waiting_at_end"]],
            ["Geplaatst", "Uitgestroomd naar woning", totals["outflow"]],
            ["Geplaatst", "Anders beëindigd", totals["ended_other"]],
        ],
        2,
        "sankey",
    )
    assert same(shown["foot"][0][-1], totals["registrations"])


def care_form_of(text: str) -> str:
    return text.rsplit("(", 1)[-1].rstrip(")") if text.endswith(")") else text


def assert_occupancy(shown: dict[str, Any], facilities: list[dict[str, Any]], names: dict[str, str]) -> None:
    rows = [[r[0], r[1], r[2], care_form_of(r[3]), *r[4:]] for r in shown["body"]]
    expected = [
        [f["facility_id"], names[f["municipality"]], f["wijk"], f["care_form"], f["capacity"], f["occupied"]]
        for f in facilities
    ]
    assert_rows(rows, expected, 4, "occupancy")


def assert_care_forms(shown: dict[str, Any], care_forms: list[dict[str, Any]]) -> None:
    rows = [[care_form_of(r[0]), *r[1:]] for r in shown["body"]]
    assert_rows(rows, [[f["care_form"], f["capacity"], f["occupied"]] for f in care_forms], 1, "care forms")


def assert_wijken(shown: dict[str, Any], wijken: list[dict[str, Any]], names: dict[str, str], code: str | None) -> None:
    expected = [
        [w["wijk"], names[w["municipality"]], w["places"], w["place_cap"], w["outflow_homes"], w["outflow_home_cap"]]
        for w in wijken
        if code in (None, w["municipality"])
    ]
    assert_rows(shown["body"], expected, 2, "wijken")


def assert_housing(
    shown: dict[str, Any], offers: list[dict[str, Any]], names: dict[str, str], code: str | None
) -> None:
    keys = ("quota", "offers_made", "accepted", "declined", "lapsed", "open", "voided", "quota_left")
    expected = [
        [o["corporation_id"], names[o["municipality"]], o["quota_year"], *[o[k] for k in keys]]
        for o in offers
        if code in (None, o["municipality"])
    ]
    assert expected, "the events hold an offer"
    assert_rows(shown["body"], expected, 3, "housing")


def assert_budget(shown: dict[str, Any], rows: list[dict[str, Any]], names: dict[str, str]) -> None:
    expected = [
        [names[r["municipality"]], (r["share"],), r["budget_eur"], r["cost_eur"], r["balance_eur"], r["settlement_eur"]]
        for r in rows
    ]
    assert_rows(shown["body"], expected, 1, "budget")
