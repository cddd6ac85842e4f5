"""The shape of the flow reports: the domain's figures (already as the viewer may see them) as JSON, and the
same flattened into one CSV line per month; pure, no I/O."""

from typing import Any

from zorgstroom_reporting.domain.flows import COUNT_COLUMNS, STATE_COLUMNS, Flows

SHOWN_COUNTS = COUNT_COLUMNS + STATE_COLUMNS
BREAKDOWNS = ("ended_other_by_reason", "doorstroom_by_pair")  # code or pair -> count
SPLITS = ("by_group", "by_care_form")  # group or care form -> every figure


def shown(flows: Flows) -> dict[str, Any]:
    """Every figure: the total's, the breakdowns and the splits."""
    return dict(flows.total) | {
        "ended_other_by_reason": dict(flows.ended_other_by_reason),
        "doorstroom_by_pair": dict(flows.doorstroom_by_pair),
        "by_group": {g: dict(r) for g, r in flows.by_group.items()},
        "by_care_form": {c: dict(r) for c, r in flows.by_care_form.items()},
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
