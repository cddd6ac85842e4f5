"""`zorgstroom audit`: the audit trail of all four services, as region staff sees it (GET /v1/audit on each)."""

from typing import Annotated

import httpx
import typer
from rich.table import Table

from zorgstroom_ops.stack import console, region_of, service_urls, tokens


def audit(
    client_ref: Annotated[str | None, typer.Option(help="Only what was done to this client_ref.")] = None,
    actor: Annotated[str | None, typer.Option(help="Only this credential's actions.")] = None,
    person: Annotated[str | None, typer.Option(help="Only what this person did (the token's user name).")] = None,
    organisation: Annotated[str | None, typer.Option(help="Only on behalf of 'kind:id'.")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action.")] = None,
    outcome: Annotated[str | None, typer.Option(help="ok, 'refused: 401' or 'refused: 403'.")] = None,
    since: Annotated[str | None, typer.Option("--from", help="At or after (ISO 8601 with a zone).")] = None,
    until: Annotated[str | None, typer.Option("--to", help="Before (ISO 8601 with a zone).")] = None,
    limit: Annotated[int, typer.Option(help="Newest rows per service.")] = 50,
) -> None:
    """Who (credential and person) did what to which client_ref, when, with what outcome: newest first, every
    service's rows together."""
    given = {"client_ref": client_ref, "actor": actor, "person": person, "organisation": organisation}
    given["action"] = action
    given |= {"outcome": outcome, "from": since, "to": until, "limit": str(limit)}
    params = {key: value for key, value in given.items() if value is not None}
    staff = {"Authorization": f"Bearer {tokens()[f'region-{region_of(None).code}']}"}
    rows = []
    for service, url in service_urls().items():
        answer = httpx.get(f"{url}/v1/audit", params=params, headers=staff, timeout=10)
        if answer.status_code != 200:
            console.print(f"[red]{service}: {answer.status_code} {answer.text[:200]}[/red]")
            continue
        rows += [(service, entry) for entry in answer.json()["entries"]]
    columns = ("at", "service", "actor", "person", "on behalf of", "action", "client_ref", "outcome")
    table = Table(*columns, title="Audit trail")
    for service, entry in sorted(rows, key=lambda row: row[1]["at"], reverse=True):
        ref = entry["client_ref"] or ""
        table.add_row(entry["at"][:19], service, entry["actor"], entry.get("person") or "", entry["on_behalf_of"],
                      entry["action"], f"{ref[:12]}…" if ref else "", entry["outcome"])  # fmt: skip
    console.print(table)
