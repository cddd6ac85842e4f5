"""Reports kept as aggregates give the very documents the facts give: for random histories, the cells summed over
clients (domain/aggregates.py) read back as flows (domain/kept.py) equal monthly_tallies + protect_flows over all
facts, exactly and protected, for every municipality and month; batches applied as new-minus-old deltas, and a
rollover of the horizon for the clients still open, end in the same cells."""

import random
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from zorgstroom_reporting.domain.aggregates import (
    Contributions,
    by_client,
    contributions,
    open_after,
    shown_cell,
    shown_matrix,
    summed,
)
from zorgstroom_reporting.domain.disclosure import Rounding, protect_flows, protect_matrix
from zorgstroom_reporting.domain.facts import (
    Assessment,
    Consent,
    Facts,
    Outflow,
    PlacementFact,
    Registration,
    Transfer,
    Withdrawal,
)
from zorgstroom_reporting.domain.flows import Flows, monthly_tallies, totals
from zorgstroom_reporting.domain.kept import KeptCell, KeptMatrixCell, Measure, flows_of, matrix_of, measures_of
from zorgstroom_reporting.domain.months import Month, months_between
from zorgstroom_reporting.domain.solidarity import monthly_matrix
from zorgstroom_runtime.region import load_region

ROOT = Path(__file__).resolve().parents[2]
REGION = load_region(ROOT / "data/regions/flevoland.toml", ROOT / "data/municipalities-nl.csv")
IN_REGION = list(REGION.municipalities)
OUTSIDE = "0363"
FORMS = ["BW_24H", "BW_NIGHT", "MO_24H", "MO_NIGHT", "MO_EMERGENCY"]
SECRET = b"k" * 32
START, HORIZON = Month(2026, 1), Month(2027, 6)
THRESHOLD = REGION.reporting.small_number_threshold


def _day(rng: random.Random, after: date, within: int) -> date:
    return after + timedelta(days=rng.randrange(within))


def _client(rng: random.Random, n: int, facts: Facts) -> None:
    client = f"c{n}"
    home = rng.choice(IN_REGION + [OUTSIDE] * (rng.random() < 0.1))
    on = _day(rng, START.first_day(), 420)
    for episode in range(rng.choice([1, 1, 2])):
        intake, form = f"i{n}-{episode}", rng.choice([*FORMS, FORMS[0]])
        facts.registrations.append(Registration(intake, client, home, on, form, rng.random() < 0.8))
        if rng.random() < 0.2:
            facts.consents.append(Consent(client, _day(rng, on, 90), rng.random() < 0.5, None, rng.randrange(1000)))
        if rng.random() < 0.25:
            to = rng.choice([*IN_REGION, OUTSIDE])
            effective = _day(rng, on, 120)
            facts.transfers.append(
                Transfer(
                    client,
                    to,
                    effective,
                    home,
                    (intake,) if rng.random() < 0.7 else None,
                    effective,
                    f"t{n}-{episode}",
                    to != OUTSIDE,
                )
            )
        roll = rng.random()
        if roll < 0.15:
            facts.withdrawals.append(Withdrawal(intake, client, home, _day(rng, on, 200), "moved", form))
            return
        if roll < 0.3:
            return  # still waiting
        start = _day(rng, on, 150)
        end = _day(rng, start, 300) if rng.random() < 0.7 else None
        facility = rng.choice(IN_REGION)
        placement = f"p{n}-{episode}"
        doorstroom = end is not None and rng.random() < 0.15
        reason = rng.choice(["19", "21", "02"]) if end else None
        to_form = rng.choice(FORMS) if doorstroom else None
        facts.placements.append(
            PlacementFact(
                placement, intake, client, home, facility, start, (start - on).days, end, reason, form, to_form
            )
        )
        if rng.random() < 0.5:
            for k in range(rng.randrange(1, 4)):
                facts.assessments.append(Assessment(placement, _day(rng, start, 200), rng.random() < 0.6, k))
        if doorstroom and end is not None:
            then = _day(rng, end, 200) if rng.random() < 0.5 else None
            facts.placements.append(
                PlacementFact(
                    f"{placement}-d",
                    intake,
                    client,
                    home,
                    rng.choice(IN_REGION),
                    end,
                    0,
                    then,
                    "19" if then else None,
                    to_form,
                    None,
                    placement,
                )
            )
        elif end is not None and reason == "19":
            facts.outflows.append(Outflow(placement, client, home, end))
            on = _day(rng, end, 500)  # a relapse, or a late return
        else:
            return
        if rng.random() < 0.1:  # an ending that arrived before its placement: no start known
            facts.placements.append(
                PlacementFact(f"{placement}-x", None, client, home, None, None, None, _day(rng, on, 60), "21")
            )


def history(seed: int, clients: int = 70) -> Facts:
    rng, facts = random.Random(seed), Facts()
    for n in range(clients):
        _client(rng, n, facts)
    return facts


def _kept(total: Contributions, municipality: str, month: Month, columns: set[str] | None = None) -> list[KeptCell]:
    return [
        KeptCell(column, form, detail, n, shown_cell(SECRET, key, n, total.keys[key]))
        for key, n in total.cells.items()
        for (m, on, column, form, detail) in [key]
        if m == municipality and on == month.first_day() and n and (columns is None or column in columns)
    ]


def _measures(total: Contributions, municipality: str, month: Month) -> dict[tuple[str, str], Measure]:
    histograms: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for (m, on, column, form, days), n in total.days.items():
        if m == municipality and on == month.first_day() and n:
            histograms[column].append((form, days, n))
    return {(c, scope): found for c, h in histograms.items() for scope, found in measures_of(h, REGION).items()}


def kept_months(total: Contributions, municipality: str, first: Month, last: Month, exact: bool) -> dict[Month, Flows]:
    return {
        m: flows_of(_kept(total, municipality, m), REGION, exact, _measures(total, municipality, m), THRESHOLD)
        for m in months_between(first, last)
    }


def kept_period(total: Contributions, municipality: str, first: Month, last: Month, exact: bool) -> Flows:
    """A period's figures as the region report reads them: counts summed over its months, states at its last."""
    counts = [
        replace(c, n=sum(x.n for x in group), shown=sum(x.shown for x in group))
        for c, group in _grouped(
            [c for m in months_between(first, last) for c in _kept(total, municipality, m) if c.column not in STATES]
        ).items()
    ]
    return flows_of(counts + _kept(total, municipality, last, STATES), REGION, exact)


STATES = {"waiting_at_end", "ready_not_housed_at_end", "ready_no_consent_at_end"}


def _grouped(cells: list[KeptCell]) -> dict[KeptCell, list[KeptCell]]:
    grouped: dict[KeptCell, list[KeptCell]] = defaultdict(list)
    for c in cells:
        grouped[KeptCell(c.column, c.care_form, c.detail, 0, 0)].append(c)
    return grouped


def _municipalities(facts: Facts) -> list[str]:
    return sorted(set(IN_REGION) | {r.responsible for r in facts.registrations} | {OUTSIDE})


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kept_cells_give_the_documents_the_facts_give_exact_and_protected(seed: int) -> None:
    facts = history(seed)
    total = summed(by_client(facts).values(), REGION, HORIZON, SECRET)
    for municipality in _municipalities(facts):
        tallies = monthly_tallies(facts, municipality, START, HORIZON, REGION)
        for exact in (True, False):
            old = protect_flows(tallies, municipality, Rounding(SECRET, exact), REGION, THRESHOLD)
            new = kept_months(total, municipality, START, HORIZON, exact)
            for month in old:
                assert new[month] == old[month], (municipality, month, exact)
            assert totals(new) == totals(old)
            first = Month(2026, 7)
            assert kept_period(total, municipality, first, HORIZON, exact) == totals(
                {m: f for m, f in old.items() if m >= first}
            )


def test_the_history_covers_what_the_rules_distinguish() -> None:
    """The random histories hold every kind of fact the rules treat apart (else the test above proves little)."""
    facts = history(1)
    total = summed(by_client(facts).values(), REGION, HORIZON, SECRET)
    columns = Counter(key[2] for key in total.cells)
    for column in (
        "registrations",
        "inflow",
        "doorstroom",
        "outflow",
        "ended_other",
        "relapses",
        "withdrawals",
        "transfers_in",
        "transfers_out",
        "waiting_at_end",
        "ready_not_housed_at_end",
        "ready_no_consent_at_end",
    ):
        assert columns[column] > 0, column
    assert any(not t.to_in_region for t in facts.transfers) and any(t.intake_ids is None for t in facts.transfers)


@pytest.mark.parametrize("seed", [1, 4])
def test_the_kept_matrix_is_the_protected_matrix_of_the_facts(seed: int) -> None:
    facts = history(seed)
    total = summed(by_client(facts).values(), REGION, HORIZON, SECRET)
    parts: dict[tuple[str, str, date, str], Counter[str]] = defaultdict(Counter)
    for (responsible, facility, month, form, part), n in total.matrix.items():
        parts[(responsible, facility, month, form)][part] += n
    cells = [
        KeptMatrixCell(key[0], key[1], Month.of(key[2]), *shown_matrix(SECRET, key, *(p[x] for x in PARTS)))
        for key, p in parts.items()
    ]
    today = HORIZON.first_day() + timedelta(days=9)
    for first, last in ((START, HORIZON), (Month(2026, 5), Month(2027, 2))):
        old = protect_matrix(monthly_matrix(facts, first, last, today), Rounding(SECRET), HORIZON)
        assert matrix_of([c for c in cells if first <= c.month <= last], HORIZON) == old


PARTS = ("placements", "inflow", "client_days", "stayed_keys")


def _delta(facts: Facts, clients: set[str], horizon: Month) -> Contributions:
    mine = by_client(facts)
    return summed((mine[c] for c in clients if c in mine), REGION, horizon, SECRET)


def _facts_of(units: list[tuple[str, object]]) -> Facts:
    facts = Facts()
    kinds = {
        Registration: "registrations",
        PlacementFact: "placements",
        Outflow: "outflows",
        Assessment: "assessments",
        Transfer: "transfers",
        Withdrawal: "withdrawals",
        Consent: "consents",
    }
    placements: dict[str, PlacementFact] = {}
    for _, fact in units:
        if isinstance(fact, PlacementFact):
            placements[fact.placement_id] = fact  # a later row of a placement replaces its earlier one
        else:
            getattr(facts, kinds[type(fact)]).append(fact)
    facts.placements = list(placements.values())
    return facts


def test_batches_applied_as_deltas_in_any_order_end_in_the_cells_of_all_facts() -> None:
    facts = history(5)
    units: list[tuple[str, object]] = [(r.client_ref, r) for r in facts.registrations]
    units += [(p.client_ref, replace(p, start_date=None, waited_days=None)) for p in facts.placements if p.end_date]
    units += [(p.client_ref, p) for p in facts.placements] + [(o.client_ref, o) for o in facts.outflows]
    units += [(t.client_ref, t) for t in facts.transfers] + [(w.client_ref, w) for w in facts.withdrawals]
    units += [(c.client_ref, c) for c in facts.consents]
    owner = {p.placement_id: p.client_ref for p in facts.placements}
    units += [(owner[a.placement_id], a) for a in facts.assessments]
    rng = random.Random(5)
    rng.shuffle(units)
    # An ending may come before its placement's start, never the other way round (the start row replaces it).
    units.sort(key=lambda u: isinstance(u[1], PlacementFact) and u[1].start_date is not None)
    kept, applied = Contributions(), 0
    while applied < len(units):
        batch = units[applied : applied + rng.randrange(1, 40)]
        clients = {c for c, _ in batch}
        before = _delta(_facts_of(units[:applied]), clients, HORIZON)
        applied += len(batch)
        kept.add(_delta(_facts_of(units[:applied]), clients, HORIZON).minus(before))
    assert kept.minus(summed(by_client(facts).values(), REGION, HORIZON, SECRET)).is_empty()


@pytest.mark.parametrize("old", [Month(2026, 3), Month(2026, 9), Month(2027, 1)])
def test_a_rollover_of_the_open_clients_gives_the_cells_computed_fresh(old: Month) -> None:
    facts = history(6)
    clients = by_client(facts)
    kept = summed(clients.values(), REGION, old, SECRET)
    later = Month(2027, 6)
    still_open = [f for f in clients.values() if open_after(f, old)]
    assert 0 < len(still_open) < len(clients)
    for f in still_open:
        kept.add(contributions(f, REGION, later, SECRET).minus(contributions(f, REGION, old, SECRET)))
    assert kept.minus(summed(clients.values(), REGION, later, SECRET)).is_empty()
