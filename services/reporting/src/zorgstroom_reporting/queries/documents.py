"""The shape of the flow reports: the domain's figures as JSON with small numbers disclosed, and the same
flattened into one CSV line per month; pure, no I/O."""

from typing import Any

from zorgstroom_reporting.domain.disclosure import disclose_counts
from zorgstroom_reporting.domain.flows import COUNT_COLUMNS, STATE_COLUMNS, Flows, Row

SHOWN_COUNTS = COUNT_COLUMNS + STATE_COLUMNS
BREAKDOWNS = ("ended_other_by_reason", "doorstroom_by_pair")  # code or pair -> count
SPLITS = ("by_group", "by_care_form")  # group or care form -> every figure


def _breakdown(counts: dict[str, int], threshold: int, *, exact: bool) -> dict[str, Any] | None:
    """A breakdown of a total that is shown: withheld (None) when any part would be masked, since the
    masked part could be worked out by subtracting the others from the total."""
    shown = disclose_counts(counts, counts, threshold, exact=exact)
    return None if any(isinstance(v, str) for v in shown.values()) else shown


def shown(flows: Flows, threshold: int, *, exact: bool) -> dict[str, Any]:
    """Every figure, each count below the threshold masked exactly as the totals are."""

    def row(r: Row) -> dict[str, Any]:
        return disclose_counts(r, SHOWN_COUNTS, threshold, exact=exact)

    return row(flows.total) | {
        "ended_other_by_reason": _breakdown(flows.ended_other_by_reason, threshold, exact=exact),
        "doorstroom_by_pair": _breakdown(flows.doorstroom_by_pair, threshold, exact=exact),
        "by_group": {g: row(r) for g, r in flows.by_group.items()},
        "by_care_form": {c: row(r) for c, r in flows.by_care_form.items()},
    }


def _pairs(counts: object) -> str:
    """A breakdown in one CSV cell: `19=3;21=1` (code = count)."""
    return ";".join(f"{k}={v}" for k, v in counts.items()) if isinstance(counts, dict) else ""


def flat(document: dict[str, Any]) -> dict[str, Any]:
    """One CSV line: the splits as `BW.inflow`, `MO_24H.inflow`, ...; the breakdowns as `code=count` pairs."""
    line = {k: v for k, v in document.items() if k not in SPLITS and k not in BREAKDOWNS}
    line |= {k: _pairs(document.get(k)) for k in BREAKDOWNS if k in document}
    for split in SPLITS:
        for key, figures in document.get(split, {}).items():
            line |= {f"{key}.{column}": value for column, value in figures.items()}
    return line
