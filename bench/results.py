"""The shared writer of bench/RESULTS.md: each benchmark replaces its own section, so `make bench` rewrites the file.

A section is delimited by HTML comments naming the benchmark; the rest of the file (the other benchmarks'
sections) is kept as it is. Each section says when and on what it was measured (cores, memory, CPU model,
and the load average at the time: the machine is shared, so a figure is only as good as the quiet it had),
the command, the figures as a table, and the ratios against the baseline measured in the same run.
"""

import os
import platform
import shlex
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().with_name("RESULTS.md")
HEADER = (
    "# Benchmark results\n\n"
    "Written by the benchmarks themselves (`make bench`; each `bench/*.py` replaces its own section through\n"
    "`bench/results.py`). Absolute figures depend on the machine and on what else ran on it; the ratios are\n"
    "measured against a baseline in the same run, and are the figures to compare.\n"
)


def machine() -> str:
    """Cores, memory, CPU model and the load average: what a figure was measured on."""
    model = platform.processor() or platform.machine()
    memory = ""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")]
        model = names[0] if names else model
        meminfo = Path("/proc/meminfo").read_text().split()
        memory = f", {int(meminfo[meminfo.index('MemTotal:') + 1]) / 1024**2:.1f} GiB memory"
    except (OSError, ValueError):
        pass
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return f"{os.cpu_count()} cores{memory}, {model}; load average {load} (1, 5, 15 min) when written"


def command() -> str:
    """The command that ran this benchmark, as one would type it from the repository's root."""
    script = Path(sys.argv[0]).resolve()
    with_root = script.relative_to(RESULTS.parents[1]) if script.is_relative_to(RESULTS.parents[1]) else script
    return shlex.join(["uv", "run", "--frozen", "python", str(with_root), *sys.argv[1:]])


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def write_section(
    name: str,
    title: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    ratios: Mapping[str, object] | None = None,
    notes: Sequence[str] = (),
    path: Path = RESULTS,
) -> Path:
    """Replace (or add) the section `name` of RESULTS.md with these figures; returns the file written."""
    lines = [
        f"<!-- bench:{name} -->",
        f"## {title}",
        "",
        f"- measured: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine()}",
        f"- command: `{command()}`",
        "",
        "| " + " | ".join(_cell(h) for h in headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
        *("| " + " | ".join(_cell(v) for v in row) + " |" for row in rows),
    ]
    if ratios:
        lines += ["", "Ratios (same run):", "", *(f"- {label}: **{value}**" for label, value in ratios.items())]
    if notes:
        lines += ["", *notes]
    section = "\n".join(lines) + f"\n<!-- /bench:{name} -->\n"
    text = path.read_text() if path.exists() else HEADER
    start, end = text.find(f"<!-- bench:{name} -->"), text.find(f"<!-- /bench:{name} -->\n")
    if start >= 0 and end > start:
        text = text[:start] + section + text[end + len(f"<!-- /bench:{name} -->\n") :]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    temporary.replace(path)  # a benchmark killed halfway leaves the previous file whole
    return path
