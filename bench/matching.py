"""Benchmark: one matching pass (docs/domain.md rule 3) for 1,000, 10,000 and 100,000 waiting clients over
1,000 facilities, against a plain O(clients x facilities) reference measured in the same run.

Run with `make bench-matching` (or `uv run --frozen python bench/matching.py`). Prints figures; not a test.
The region is synthetic and deterministic (seed 7): six municipalities, five care forms, mixed needs.
"""

import random
import time
from datetime import date, timedelta

from results import write_section  # bench/results.py, beside this script
from rich.console import Console
from rich.table import Table

from zorgstroom_contracts.codes import CareForm, Need, Urgency
from zorgstroom_placement.domain.matching import FacilityPlaces, match_waiting_clients
from zorgstroom_placement.domain.waiting_list import WaitingClient, in_priority_order

MUNICIPALITIES = ["0034", "0303", "0995", "0171", "0184", "0050"]
FORMS = list(CareForm)
NEEDS = list(Need)


def region(facilities: int, clients: int, seed: int = 7) -> tuple[list[FacilityPlaces], list[WaitingClient]]:
    rng = random.Random(seed)
    places = [
        FacilityPlaces(
            f"f{i:05d}",
            rng.choice(MUNICIPALITIES),
            rng.choice(FORMS),
            frozenset(rng.sample(NEEDS, rng.randint(1, 4))),
            rng.randint(1, 30),
        )
        for i in range(facilities)
    ]
    waiting = [
        WaitingClient(
            f"c{i:07d}",
            rng.choice(FORMS),
            rng.choice(MUNICIPALITIES),
            rng.choices(list(Urgency), [5, 20, 75])[0],
            date(2026, 1, 1) + timedelta(days=rng.randrange(700)),
            frozenset(rng.sample(NEEDS, rng.randint(1, 2))),
            tuple(rng.sample(MUNICIPALITIES, rng.randint(0, 2))),
            f"i{i:07d}",
        )
        for i in range(clients)
    ]
    return places, waiting


def reference(clients: list[WaitingClient], facilities: list[FacilityPlaces]) -> int:
    """The rule written plainly: every client scans every facility (the baseline)."""
    free = {f.facility_id: f.free_places for f in facilities}
    ordered = sorted(facilities, key=lambda f: f.facility_id)
    placed = 0
    for c in in_priority_order(clients):
        tiers = [[c.responsible_municipality], *[[m] for m in c.preferred_municipalities], MUNICIPALITIES]
        for tier in tiers:
            hit = next(
                (
                    f
                    for f in ordered
                    if f.municipality in tier
                    and f.care_form is c.care_form
                    and c.needs <= f.supported_needs
                    and free[f.facility_id] > 0
                ),
                None,
            )
            if hit:
                free[hit.facility_id] -= 1
                placed += 1
                break
    return placed


def best_of(runs: int, fn) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    best, result = float("inf"), 0
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    table = Table(title="One matching pass over 1,000 facilities (best of 3; the reference once)")
    for column in (
        "waiting clients",
        "facilities",
        "implementation",
        "seconds",
        "placed",
        "µs per client",
        "cost per client vs 1k",
    ):
        table.add_column(column, justify="right")
    base = None
    rows: list[list[str]] = []
    ratios: dict[str, str] = {}
    for clients in (1_000, 10_000, 100_000):
        facilities, waiting = region(1_000, clients)
        seconds, matches = best_of(3, lambda f=facilities, w=waiting: len(match_waiting_clients(w, f)))
        per_client = seconds / clients * 1e6
        base = base or per_client
        rows.append(
            [
                f"{clients:,}",
                f"{len(facilities):,}",
                "match_waiting_clients",
                f"{seconds:.3f}",
                f"{matches:,}",
                f"{per_client:.1f}",
                f"{per_client / base:.2f}x",
            ]
        )
        table.add_row(*rows[-1])
        if clients <= 10_000:  # the baseline, in the same run: it scans every facility for every client
            ref_seconds, ref_matches = best_of(1, lambda f=facilities, w=waiting: reference(w, f))
            assert ref_matches == matches, "the reference and the matcher disagree"
            rows.append(
                [
                    f"{clients:,}",
                    f"{len(facilities):,}",
                    "reference (scan all)",
                    f"{ref_seconds:.3f}",
                    f"{ref_matches:,}",
                    f"{ref_seconds / clients * 1e6:.1f}",
                    f"{ref_seconds / seconds:.1f}x the matcher's time",
                ]
            )
            table.add_row(*rows[-1])
            ratios[f"reference / matcher at {clients:,} clients"] = f"{ref_seconds / seconds:.1f}"
    Console(width=140).print(table)
    headers = [str(column.header) for column in table.columns]
    print(f"written: {write_section('matching', str(table.title), headers, rows, ratios=ratios)}")


if __name__ == "__main__":
    main()
