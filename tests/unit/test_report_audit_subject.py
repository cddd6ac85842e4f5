"""The subject of a report's audit line names what the report covered as answered: the months and year
after their defaults, and CSV when the answer was CSV, not the raw query string."""

from datetime import date

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from zorgstroom_reporting.entrypoints import http


def app_of() -> TestClient:
    app = FastAPI()
    app.dependency_overrides[http.today] = lambda: date(2027, 5, 14)

    @app.get("/v1/region/flows")
    async def flows(request: Request, months: http.Period, as_csv: http.AsCsv) -> str:
        return http.audit_subject(request)

    @app.get("/v1/region/budget")
    async def budget(request: Request, year: http.Year, as_csv: http.AsCsv) -> str:
        return http.audit_subject(request)

    return TestClient(app)


def test_the_subject_names_the_months_and_year_answered_and_csv() -> None:
    client = app_of()
    assert client.get("/v1/region/flows").json() == "/v1/region/flows?from=2027-01&to=2027-05"
    assert client.get("/v1/region/flows?from=2026-03&junk=x").json() == "/v1/region/flows?from=2026-03&to=2026-12"
    as_csv = client.get("/v1/region/flows?from=2026-01&to=2026-02", headers={"Accept": "text/csv"}).json()
    assert as_csv == "/v1/region/flows?from=2026-01&to=2026-02&format=csv"
    assert client.get("/v1/region/budget?format=json").json() == "/v1/region/budget?year=2027"
    assert client.get("/v1/region/budget?year=2026&format=csv").json() == "/v1/region/budget?year=2026&format=csv"
