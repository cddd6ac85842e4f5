"""Relapse as the region's monitors count it (docs/domain.md, rule 8): one per outflow."""

from collections import defaultdict
from dataclasses import dataclass

from zorgstroom_contracts.region import within_months_after
from zorgstroom_reporting.domain.facts import Facts, Outflow, Registration
from zorgstroom_reporting.domain.responsibility import Responsibility


@dataclass(frozen=True)
class Relapse:
    outflow: Outflow
    registration: Registration  # counted in the month of this registration
    municipality: str  # responsible at the outflow: its outflow failed, whoever registers again


def is_relapse(outflow: Outflow, registration: Registration, months: int) -> bool:
    """A registration of the same client within `months` calendar months after the outflow date, that day
    itself included (a registration on the day of the outflow is a failed outflow too)."""
    return registration.client_ref == outflow.client_ref and within_months_after(
        outflow.outflow_date, registration.registered_on, months
    )


def relapses(facts: Facts, months: int, who: Responsibility) -> list[Relapse]:
    """Every outflow followed by a registration within the window, with the first such registration (two
    registrations on one day are one relapse), attributed to the municipality responsible at the outflow."""
    by_client: dict[str, list[Registration]] = defaultdict(list)
    for r in sorted(facts.registrations, key=lambda r: (r.registered_on, r.intake_id)):
        by_client[r.client_ref].append(r)
    intake_of = {p.placement_id: p.intake_id for p in facts.placements}
    found = []
    for o in facts.outflows:
        first = next((r for r in by_client.get(o.client_ref, ()) if is_relapse(o, r, months)), None)
        if first is not None:
            at_outflow = who.on(o.client_ref, intake_of.get(o.placement_id), o.responsible, o.outflow_date)
            found.append(Relapse(o, first, at_outflow))
    return found
