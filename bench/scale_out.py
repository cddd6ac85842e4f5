"""Benchmark: one instance of a consuming service against two sharing its partitions, same run (issue 17, target 6).

Starts its own native Kafka and PostgreSQL (fsync on, as the demo). For each consuming service (placement,
housing, reporting) and for one and then two instances of it, on a fresh topic prefix (so a fresh consumer
group) and a fresh database: the instances are started and wait until Kafka's group coordinator shows them
all in a stable group (so no start-up or rebalance is timed), then a backlog of N ClientRegistered events
(the event all three read; distinct clients, keyed by client as intake publishes them, care forms mixed) is
written in one go onto the 6 partitions, and the clock runs until the instances' /metrics
(zorgstroom_events_consumed_total) add up to N. Each instance's own count shows the work was split; the CPU
seconds each process used while draining show what bounds the ratio. Writes its section of bench/RESULTS.md
and JSON to bench/results/. Not a pass/fail test.
"""

import argparse
import asyncio
import itertools
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from confluent_kafka import Producer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PGPASSFILE", str(ROOT / ".cache" / "run" / "pgpass"))  # as the Makefile sets it

from bench.intake_to_reporting import add_infra_arguments, infra, infra_pids, machine_busy, process_cpu  # noqa: E402
from bench.results import write_section  # noqa: E402
from tests.support.processes import ProcessStack, env_of_service, start_process_stack  # noqa: E402
from zorgstroom_contracts import Envelope, spec_for, topic_name  # noqa: E402
from zorgstroom_contracts.events import ClientRegistered  # noqa: E402
from zorgstroom_ops import processes  # noqa: E402

# This benchmark's own Kafka (and its controller on the next port), PostgreSQL, and five ports from BASE_PORT.
INSTANCE, KAFKA_PORT, PG_PORT, BASE_PORT = "bench-scale", 19396, 15456, 8231
SERVICES = ("placement", "housing", "reporting")
CARE_FORMS = ("MO_24H", "BW_24H", "MO_NIGHT", "BW_HOME", "MO_EMERGENCY")
MUNICIPALITIES = ("0034", "0995", "0184", "0303", "0171", "0050")
REF, INTAKE = "f" * 64, "INTAKE-X"


@dataclass
class Drain:
    service: str
    instances: int
    events: int
    seconds: float
    per_instance: list[int]  # events each instance consumed
    cpu_seconds: list[float]  # CPU each instance used while draining
    machine_cpu: float  # CPU seconds the whole machine was busy meanwhile (every core)
    infra_cpu: float  # CPU seconds of this benchmark's PostgreSQL (its backends too) and Kafka meanwhile

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def write_backlog(bootstrap: str, prefix: str, n: int) -> float:
    """N ClientRegistered events of distinct clients; returns the seconds writing took."""
    templates = []
    for care_form, code in itertools.product(CARE_FORMS, MUNICIPALITIES):
        event = ClientRegistered(
            client_ref=REF, intake_id=INTAKE, registering_municipality=code, responsible_municipality=code,
            care_form=care_form, needs=["psychiatric"], urgency="normal", household={"adults": 1, "children": 0},
            preferred_municipalities=[code], registered_on="2026-10-05",
        )  # fmt: skip
        envelope = Envelope.wrap(event, producer="bench", region="flevoland")
        templates.append((envelope.model_dump_json(), str(envelope.event_id)))
    topic = topic_name(spec_for(event).topic, prefix)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.size": 1_000_000})
    t0 = time.monotonic()
    for i in range(n):
        text, event_id = templates[i % len(templates)]
        ref = f"{i:064x}"
        value = text.replace(event_id, str(uuid.uuid4())).replace(REF, ref).replace(INTAKE, f"intake-{i}")
        while True:
            try:
                producer.produce(topic, value.encode(), ref.encode())
                break
            except BufferError:
                producer.poll(0.1)
    producer.flush(120)
    return time.monotonic() - t0


async def wait_for_group(bootstrap: str, group: str, members: int, timeout: float = 90) -> None:
    """Until the group coordinator shows `members` consumers in a stable group (the partitions are assigned)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench-scale")
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            described = (await admin.describe_consumer_groups([group]))[0].groups[0]
            state, joined = described[2], len(described[5])
            if state == "Stable" and joined == members:
                return
            await asyncio.sleep(0.5)
        raise TimeoutError(f"group {group} not stable with {members} members (state {state}, {joined} joined)")
    finally:
        await admin.close()


def consumed(service: processes.ServiceProcess, name: str) -> int:
    """The instance's zorgstroom_events_consumed_total for its service, every topic and outcome."""
    text = httpx.get(f"{service.url}/metrics", timeout=10).text
    return round(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("zorgstroom_events_consumed_total{") and f'service="{name}"' in line
        )
    )


def cpu_seconds(service: processes.ServiceProcess) -> float:
    return process_cpu(int(service.pid_file.read_text()))


async def drain(service: str, instances: int, n: int, run_dir: Path, args: argparse.Namespace) -> Drain:
    """Start `instances` of `service` on a fresh prefix and database, then time them through a backlog of n."""
    bootstrap = f"127.0.0.1:{args.kafka_port}"
    stack: ProcessStack = await start_process_stack(
        f"postgresql://zorgstroom@127.0.0.1:{args.pg_port}/zorgstroom",
        bootstrap,
        run_dir,
        args.base_port,
        name=f"scale{instances}",
        partitions=6,
        services=[service],
        extra_env={"ZS_LOG_LEVEL": "WARNING", "ZS_RELAY_POLL_SECONDS": "1.0"},
    )
    running = [stack.services[service]]
    try:
        for extra in range(1, instances):
            other = processes.ServiceProcess(
                service, args.base_port + 3 + extra, run_dir / f"{service}-{extra + 1}.pid",
                run_dir / f"{service}-{extra + 1}.log",
            )  # fmt: skip
            processes.start(other, env_of_service(service, stack.env))
            running.append(other)
        for process in running[1:]:
            processes.wait_ready(process)
        await wait_for_group(bootstrap, f"{stack.prefix}{service}", instances)
        shared = infra_pids(args.instance, None).values()
        cpu_before, machine_before = [cpu_seconds(p) for p in running], machine_busy()
        infra_before = sum(process_cpu(pid) for pid in shared)
        t0 = time.monotonic()
        written = write_backlog(bootstrap, stack.prefix, n)
        deadline = t0 + args.timeout
        while (total := sum(counts := [consumed(p, service) for p in running])) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{service} x{instances}: {total} of {n} consumed in {args.timeout:.0f} s")
            await asyncio.sleep(0.2)
        seconds = time.monotonic() - t0
        cpu = [cpu_seconds(p) - before for p, before in zip(running, cpu_before, strict=True)]
        print(
            f"  {service} x{instances}: {n:,} in {seconds:.1f} s ({n / seconds:,.0f}/s; written in {written:.1f} s);"
            f" per instance {counts}, CPU s {[round(c, 1) for c in cpu]}",
            file=sys.stderr,
        )
        infra_cpu = sum(process_cpu(pid) for pid in shared) - infra_before
        return Drain(service, instances, n, seconds, counts, cpu, machine_busy() - machine_before, infra_cpu)
    finally:
        for process in reversed(running):
            processes.stop(process)


def report(drains: list[Drain], load_before: str, repeat: int) -> None:
    headers = ["service", "instances", "events", "seconds", "events/s", "consumed per instance",
               "CPU s per instance", "CPU s per 1,000 events", "PostgreSQL + Kafka CPU s", "machine busy, cores",
               "two / one"]  # fmt: skip
    rows, ratios = [], {}
    for one, two in zip(drains[::2], drains[1::2], strict=True):
        ratio = two.rate / one.rate
        ratios[f"{one.service}: two instances / one"] = f"{ratio:.2f}"
        for d in (one, two):
            rows.append([
                d.service, d.instances, f"{d.events:,}", f"{d.seconds:.1f}", f"{d.rate:,.0f}",
                " + ".join(f"{c:,}" for c in d.per_instance), " + ".join(f"{c:.1f}" for c in d.cpu_seconds),
                f"{1000 * sum(d.cpu_seconds) / d.events:.2f}", f"{d.infra_cpu:.1f}",
                f"{d.machine_cpu / d.seconds:.2f} of {os.cpu_count()}",
                f"{ratio:.2f}" if d is two else "1.00",
            ])  # fmt: skip
    print(f"\n{'':<12}" + "".join(f"{h:>24}" for h in headers[1:]))
    for row in rows:
        print(f"{row[0]:<12}" + "".join(f"{v!s:>24}" for v in row[1:]))
    for label, value in ratios.items():
        print(f"{label}: {value}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "scale_out.json").write_text(json.dumps([d.__dict__ for d in drains], indent=1))
    written = write_section(
        "scale_out",
        "Scale out: one instance of each consuming service against two sharing its partitions (same run)",
        headers,
        rows,
        ratios=ratios,
        notes=[
            "Each line: a fresh topic prefix (a fresh consumer group) and database; the instances started and"
            " shown stable in one group by Kafka's coordinator, then a backlog of ClientRegistered events (distinct"
            " clients, five care forms, six municipalities) written at once onto 6 partitions; the clock runs"
            " from the first write until the instances' zorgstroom_events_consumed_total add up to the backlog."
            " Consumed per instance: each one's own counter (both consumed: the partitions were shared). CPU s:"
            " what each service process used while draining; machine busy: the CPU of every process on the"
            " machine meanwhile, in cores (beside the services and PostgreSQL, fsync on, and Kafka: the machine's"
            " other work). Placement and housing apply one event per transaction"
            " (a commit each); reporting's projection a poll (up to 500) per transaction.",
            f"Load average before the first line: {load_before} (1, 5, 15 min). Each line the best of {repeat}"
            " drain(s), one and two instances taking turns.",
        ],
    )
    print(f"written: {written}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=3000, help="backlog of placement's and housing's runs")
    parser.add_argument("--projection-events", type=int, default=40000, help="backlog of reporting's runs")
    parser.add_argument("--services", nargs="+", default=list(SERVICES), choices=SERVICES)
    parser.add_argument("--timeout", type=float, default=600, help="seconds one drain may take")
    parser.add_argument("--repeat", type=int, default=1, help="drain one and two instances this often, keep the best")
    add_infra_arguments(parser, INSTANCE, KAFKA_PORT, PG_PORT, BASE_PORT)
    args = parser.parse_args()
    run_dir = ROOT / ".cache" / "run" / args.instance / "scale"
    run_dir.mkdir(parents=True, exist_ok=True)
    infra("start", args)
    load_before = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    drains: list[Drain] = []
    try:
        for service in args.services:
            n = args.projection_events if service == "reporting" else args.events
            tries = [[asyncio.run(drain(service, k, n, run_dir, args)) for k in (1, 2)] for _ in range(args.repeat)]
            drains += [max((t[k] for t in tries), key=lambda d: d.rate) for k in (0, 1)]  # the best of each
    finally:
        if not args.keep_infra:
            infra("stop", args)
    report(drains, load_before, args.repeat)


if __name__ == "__main__":
    main()
