"""Benchmark: resident memory of each service process idle and under the intake load, same run (issue 17, target 7).

Starts its own native Kafka and PostgreSQL, the trace collector and the four services as processes exactly as
bench/intake_to_reporting.py does (spans exported), then reads /proc/<pid>/status of each service process:
  1. idle: after start-up and a quiet settle (default 20 s), VmRSS;
  2. under load: the open loop of bench/intake_to_reporting.py (default 200 intakes/s for 60 s, with its
     pollers of reporting's API), VmRSS sampled every half second (the largest and the mean);
  3. after: once reporting shows every intake and a settle of 10 s, VmRSS, and VmHWM (the peak resident
     size the kernel saw over the process's whole life).
The ratios are against each process's idle figure. Writes its section of bench/RESULTS.md and JSON to
bench/results/. Not a pass/fail test.
"""

import argparse
import asyncio
import json
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.intake_load import exported_services, start_collector, stop_collector  # noqa: E402
from bench.intake_to_reporting import add_infra_arguments, infra, run_open_loop, start_stack  # noqa: E402
from bench.results import write_section  # noqa: E402
from tests.support.processes import ProcessStack  # noqa: E402

# This benchmark's own Kafka (and its controller on the next port), PostgreSQL, and seven ports from BASE_PORT.
INSTANCE, KAFKA_PORT, PG_PORT, BASE_PORT = "bench-memory", 19398, 15458, 8241


def status_kib(pid: int, field: str) -> int:
    """One field of /proc/<pid>/status in KiB (VmRSS: resident now; VmHWM: the largest resident so far), summed
    over the process and its children (uvicorn's worker processes, where a service runs several)."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            lines = status.read_text().splitlines()
        except OSError:  # gone meanwhile
            continue
        values = {line.split(":", 1)[0]: line.split()[1] for line in lines if ":" in line and len(line.split()) > 1}
        if status.parent.name == str(pid) or values.get("PPid") == str(pid):
            total += int(values.get(field, 0))
    return total


class Sampler(threading.Thread):
    """VmRSS of each process every `every` seconds, in a thread beside the load's event loop."""

    def __init__(self, pids: dict[str, int], every: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pids, self.every, self.stopped = pids, every, threading.Event()
        self.samples: dict[str, list[int]] = {name: [] for name in pids}

    def run(self) -> None:
        while not self.stopped.wait(self.every):
            for name, pid in self.pids.items():
                self.samples[name].append(status_kib(pid, "VmRSS"))

    def stop(self) -> dict[str, list[int]]:
        self.stopped.set()
        self.join(5)
        return self.samples


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f}"


def measure(stack: ProcessStack, args: argparse.Namespace) -> tuple[dict[str, dict[str, float]], float, int]:
    """Idle, under load and after figures (KiB) per service; the achieved rate and the intakes sent."""
    pids = {name: int(service.pid_file.read_text()) for name, service in stack.services.items()}
    time.sleep(args.settle)
    idle = {name: status_kib(pid, "VmRSS") for name, pid in pids.items()}
    print(f"  idle: { {n: mib(v) for n, v in idle.items()} } MiB; load {args.rate:.0f}/s for {args.seconds:.0f} s",
          file=sys.stderr)  # fmt: skip
    sampler = Sampler(pids)
    sampler.start()
    load = asyncio.run(run_open_loop(stack, args.rate, args.seconds))
    samples = sampler.stop()
    time.sleep(10)
    figures = {
        name: {
            "idle": idle[name],
            "load_max": max(samples[name]),
            "load_mean": statistics.fmean(samples[name]),
            "after": status_kib(pid, "VmRSS"),
            "hwm": status_kib(pid, "VmHWM"),
        }
        for name, pid in pids.items()
    }
    accepted = sum(1 for r in load.requests if r[3] == 202)
    return figures, accepted / (max(r[2] for r in load.requests) - load.started), len(load.requests)


def report(figures: dict[str, dict[str, float]], achieved: float, sent: int, collector: str, exported: str,
           args: argparse.Namespace) -> None:  # fmt: skip
    headers = ["service", "idle MiB", "under load, largest MiB", "under load, mean MiB", "after MiB",
               "peak (VmHWM) MiB", "largest / idle", "after / idle"]  # fmt: skip
    rows = [
        [name, mib(f["idle"]), mib(f["load_max"]), mib(f["load_mean"]), mib(f["after"]), mib(f["hwm"]),
         f"{f['load_max'] / f['idle']:.2f}", f"{f['after'] / f['idle']:.2f}"]
        for name, f in figures.items()
    ]  # fmt: skip
    total = {k: sum(f[k] for f in figures.values()) for k in ("idle", "load_max", "after", "hwm")}
    rows.append(["all four", mib(total["idle"]), mib(total["load_max"]), "", mib(total["after"]), mib(total["hwm"]),
                 f"{total['load_max'] / total['idle']:.2f}", f"{total['after'] / total['idle']:.2f}"])  # fmt: skip
    ratios = {f"{name}: largest under load / idle": f"{f['load_max'] / f['idle']:.2f}" for name, f in figures.items()}
    print(f"\n{'':<12}" + "".join(f"{h:>24}" for h in headers[1:]))
    for row in rows:
        print(f"{row[0]:<12}" + "".join(f"{v!s:>24}" for v in row[1:]))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "memory.json").write_text(json.dumps({"kib": figures, "achieved_per_second": achieved}, indent=1))
    written = write_section(
        "memory",
        "Resident memory of each service process, idle and under the intake load (same run)",
        headers,
        rows,
        ratios=ratios,
        notes=[
            f"Each service is one process (uvicorn, uvloop; with its worker processes added, where a service runs"
            " several); VmRSS and VmHWM from /proc/<pid>/status. Idle: "
            f"{args.settle:.0f} s after every service was ready. Under load: bench/intake_to_reporting.py's open"
            f" loop, offered {args.rate:.0f} intakes/s for {args.seconds:.0f} s ({sent:,} sent, achieved"
            f" {achieved:.0f}/s), its six pollers asking reporting back to back; sampled every 0.5 s. After: once"
            " reporting showed every intake, and 10 s more. Spans exported over OTLP to"
            f" {collector} ({exported}).",
        ],
    )
    print(f"written: {written}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200, help="intakes per second offered")
    parser.add_argument("--seconds", type=float, default=60, help="how long the load is offered")
    parser.add_argument("--settle", type=float, default=20, help="seconds idle after start-up before measuring")
    add_infra_arguments(parser, INSTANCE, KAFKA_PORT, PG_PORT, BASE_PORT)
    args = parser.parse_args()
    run_dir = ROOT / ".cache" / "run" / args.instance / "memory"
    run_dir.mkdir(parents=True, exist_ok=True)
    infra("start", args)
    stack: ProcessStack | None = None
    collector, handle = start_collector(run_dir, args.base_port + 4)
    try:
        stack = asyncio.run(start_stack(run_dir, args, args.base_port + 4))
        figures, achieved, sent = measure(stack, args)
        exported = exported_services(handle, args.base_port + 4)
    finally:
        if stack is not None:
            stack.stop()
        stop_collector(handle)
        if not args.keep_infra:
            infra("stop", args)
    report(figures, achieved, sent, collector, exported, args)


if __name__ == "__main__":
    main()
