"""`zorgstroom trace`: Jaeger's JSON of one intake's trace as waterfall rows, and their rendering."""

import json
from pathlib import Path

from rich.console import Console

from zorgstroom_ops.trace_command import render_waterfall
from zorgstroom_ops.traces import bar, format_us, is_intake_id, is_trace_id, trace_span_us, waterfall_rows

FIXTURE = Path(__file__).parent / "data" / "jaeger_intake_trace.json"  # GET /api/traces/{id}, Jaeger v2


def answer() -> dict:
    return json.loads(FIXTURE.read_text())


def test_spans_come_out_depth_first_by_parent_and_siblings_by_start_time() -> None:
    rows = waterfall_rows(answer())
    assert [(r.depth, r.service.removeprefix("zorgstroom-"), r.operation) for r in rows] == [
        (0, "intake", "POST /v1/intakes"),
        (1, "intake", "POST /v1/intakes http receive"),
        (1, "intake", "INSERT"),
        (1, "intake", "POST /v1/intakes http send"),
        (1, "intake", "wmo.client-registered.v1 publish"),
        (2, "placement", "wmo.client-registered.v1 process"),
        (3, "placement", "INSERT"),
        (3, "placement", "wmo.client-waitlisted.v1 publish"),
        (4, "reporting", "wmo.client-waitlisted.v1 process"),
        (2, "reporting", "wmo.client-registered.v1 process"),
    ]


def test_times_are_offsets_from_the_first_span_in_microseconds() -> None:
    rows = {(r.service, r.operation): r for r in waterfall_rows(answer())}
    root = rows[("zorgstroom-intake", "POST /v1/intakes")]
    publish = rows[("zorgstroom-intake", "wmo.client-registered.v1 publish")]
    assert (root.start_us, root.duration_us, root.parent_id) == (0, 48_200, None)
    assert (publish.start_us, publish.duration_us, publish.kind) == (212_300, 2_900, "producer")
    assert publish.parent_id == root.span_id
    assert trace_span_us(list(rows.values())) == 519_800 + 9_300


def test_the_tree_guides_show_which_spans_are_last_among_their_siblings() -> None:
    prefixes = [r.prefix for r in waterfall_rows(answer())]
    assert prefixes == ["", "├─ ", "├─ ", "├─ ", "└─ ", "   ├─ ", "   │  ├─ ", "   │  └─ ", "   │     └─ ", "   └─ "]


def test_errors_are_flagged_and_the_bare_trace_object_works_too() -> None:
    trace = answer()["data"][0]
    rows = waterfall_rows(trace)
    assert [r.operation for r in rows if r.error] == ["wmo.client-waitlisted.v1 process"]
    assert waterfall_rows({"data": []}) == []


def test_a_span_whose_parent_is_missing_becomes_a_root() -> None:
    trace = answer()["data"][0]
    trace["spans"] = [s for s in trace["spans"] if s["operationName"] != "wmo.client-registered.v1 publish"]
    roots = [r for r in waterfall_rows(trace) if r.depth == 0]
    assert [(r.service, r.start_us) for r in roots] == [
        ("zorgstroom-intake", 0),
        ("zorgstroom-placement", 258_900),
        ("zorgstroom-reporting", 266_400),
    ]


def test_bars_are_scaled_to_the_whole_trace_and_never_empty() -> None:
    assert bar(0, 50, 100, 10) == "█████     "
    assert bar(50, 50, 100, 10) == "     █████"
    assert bar(99, 0, 100, 10) == "         █"
    assert bar(0, 0, 0, 4) == "█   "
    assert format_us(950) == "950µs" and format_us(48_200) == "48.2ms" and format_us(2_500_000) == "2.50s"


def test_references_are_told_apart() -> None:
    assert is_trace_id("4bf92f3577b34da6a3ce929d0e0e4736") and not is_intake_id("4bf92f3577b34da6a3ce929d0e0e4736")
    assert is_intake_id("6f1c2d9e-8a4b-4c3e-9f10-2b7d5e8a1c34") and not is_trace_id(
        "6f1c2d9e-8a4b-4c3e-9f10-2b7d5e8a1c34"
    )


def test_the_waterfall_renders_every_span_with_its_service_and_bar() -> None:
    console = Console(width=140, record=True, color_system=None)
    render_waterfall(waterfall_rows(answer()), "4bf92f3577b34da6a3ce929d0e0e4736", console, bar_width=30)
    text = console.export_text()
    assert "10 spans across 3 services" in text
    assert "└─ wmo.client-registered.v1 publish [producer]" in text
    lines = [line for line in text.splitlines() if "wmo.client-waitlisted.v1 process" in line]
    assert len(lines) == 1 and " reporting " in lines[0] and lines[0].rstrip().endswith("█")
