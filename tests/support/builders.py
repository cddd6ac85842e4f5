"""Request bodies as a municipal case system would send them."""

import random
from typing import Any

from zorgstroom_intake.domain.bsn import passes_eleven_test


def valid_bsn(rng: random.Random | None = None) -> str:
    rng = rng or random.Random()
    while True:
        candidate = f"{rng.randrange(10_000_000, 999_999_999):09d}"
        if passes_eleven_test(candidate):
            return candidate


def intake_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "registering_municipality": "0034",
        "bsn": valid_bsn(),
        "birth_year": 1987,
        "care_form": "MO_24H",
        "needs": ["psychiatric", "addiction"],
        "urgency": "normal",
        "residence_municipality": "0995",
        "household": {"adults": 1, "children": 0},
        "preferred_municipalities": ["0034"],
        "registered_on": "2026-03-15",
        "consent_to_share": True,
    }
    body.update(overrides)
    return body


# A facility as region staff register it (PUT /v1/facilities/{id}); illustrative, like every facility here.
FACILITY: dict[str, Any] = {
    "provider_agb": "11111111",
    "name": "Illustrative night shelter",
    "municipality": "0034",
    "wijk": "WK003401",
    "care_form": "MO_24H",
    "capacity": 2,
    "supported_needs": ["psychiatric"],
}
