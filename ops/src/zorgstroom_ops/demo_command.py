"""`zorgstroom demo`: everything up, the twelve months to this one simulated through the real APIs, the
report, and where to look."""

import os

from zorgstroom_ops.config import config
from zorgstroom_ops.realm import people_of
from zorgstroom_ops.report_command import report
from zorgstroom_ops.simulate_command import simulate
from zorgstroom_ops.stack import RegionFile, console, demo_data, keycloak_issuer, region_of, service_urls, tokens, up
from zorgstroom_ops.traces import latest_intake_trace
from zorgstroom_runtime.region import Region


def demo(years: int = 1, seed: int = 42, region_file: RegionFile = None) -> None:
    """Everything up, the months up to today simulated through the real APIs, the report, and where to look."""
    up(region_file)
    simulate(years, seed, region_file)
    report(None, region_file)
    _where_to_look(region_file)


def _where_to_look(region_file: RegionFile) -> None:
    urls = service_urls()
    console.print(f"reporting API: {urls['reporting']}/v1/region/flows?from=YYYY-MM&to=YYYY-MM (CSV: add &format=csv)")
    issuer = keycloak_issuer()
    _dashboard(urls["reporting"], region_of(region_file), logs_in=issuer is not None)
    console.print("API docs (Swagger UI, offline): " + ", ".join(f"{u}/docs" for u in urls.values()))
    console.print("OpenAPI: " + ", ".join(f"{u}/openapi.json" for u in urls.values()) + "; AsyncAPI: /asyncapi.json")
    console.print(f"metrics: {urls['intake']}/metrics; credentials for the demo: {config().run / 'tokens.json'}")
    if issuer is not None:
        console.print(
            f"identity provider: Keycloak, issuer {issuer}; each organisation's client id and secret for client"
            f" credentials in {config().run / 'client-secrets.json'} (docs/identity.md);"
            f" admin console {config().keycloak}/admin (password in {config().run / 'keycloak' / 'admin-password'})"
        )
    if os.environ.get("ZS_METRICS", "1") != "0":
        console.print(
            f"Prometheus: {config().prometheus}"
            f"  (alert rules: {config().prometheus}/alerts; deploy/prometheus/alerts.yml)"
        )
    _traces()
    data = demo_data(region_of(region_file))
    if data is not None and config().sasl:
        agb = data.providers[0].agb
        console.print(
            f"a provider's own topic: wmo.provider.{agb}.v1, SCRAM-SHA-512 user provider-{agb}"
            f" on 127.0.0.1:{config().kafka_port}"
            f" (password in {config().run / 'kafka' / 'users.txt'});"
            f" read it with: uv run zorgstroom provider-topic {agb}"
            " (docs/providers.md has the same with confluent-kafka and kcat)"
        )
    console.print("stop everything with: make down")


def _dashboard(url: str, region: Region, *, logs_in: bool) -> None:
    """How to open the dashboard: as one of the realm's people at Keycloak, or with a pasted static token."""
    if logs_in:
        anna, pieter = people_of(region.code, region.centre_municipality)
        municipality = region.municipalities[pieter.organisation_id].name
        console.print(
            f"dashboard (Dutch): {url}/  - click Inloggen and log in at Keycloak as\n"
            f"  {anna.username} (region staff: the whole region) or {pieter.username} (policy officer of"
            f" {municipality}: its own figures);\n"
            f"  their passwords: {config().run / 'people.json'}"
        )
        return
    region_token = tokens().get(f"region-{region.code}", "")
    console.print(
        f"dashboard (Dutch, for region staff): {url}/  - paste the region staff token once:\n"
        f"  {region_token}\n"
        f"  (a municipality's own token, from {config().run / 'tokens.json'}, shows its own numbers exactly)"
    )


def _traces() -> None:
    if os.environ.get("ZS_TRACES", "1") == "0":
        return
    trace = latest_intake_trace(config().jaeger_query)
    if trace is not None and len(trace.services) == 1:
        console.print(
            "traces: this run replayed the period's intakes, which publish nothing new; "
            "for fresh traces: make down && rm -rf .cache/run/demo && make demo"
        )
    elif trace is not None:
        console.print(
            f"one intake, one trace: {trace.spans} spans across {', '.join(trace.services)}\n"
            f"  as a waterfall in this terminal: uv run zorgstroom trace {trace.trace_id}\n"
            f"  {trace.url}\n"
            f"  (Jaeger query API; all traces: {config().jaeger_query}/api/traces?service=zorgstroom-intake)"
        )
    else:
        console.print(
            "traces: the trace backend is not up yet (its first build runs in the background; progress:\n"
            "  deploy/jaeger.sh wait-built). It starts by itself once built; then register an intake and run\n"
            "  uv run zorgstroom trace <intake id>  to see its span waterfall (intake, relay, placement, reporting)."
        )
