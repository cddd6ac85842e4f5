"""Benchmark: time from an intake's 202 to the intake being visible in the reporting API.

Starts its own stack (native Kafka and PostgreSQL on bench ports, the four services as processes),
then over N intakes (default 1,000):
  1. latency: one intake at a time; the clock starts when the 202 arrives and stops when the
     reporting API's count for that municipality and month has gone up (polled back to back);
  2. throughput: N intakes at concurrency 16, until reporting has counted them all.
Baselines measured in the same run: the POST's own round trip and a GET /healthz on reporting, so
the figures read as ratios that carry over between machines. Prints a table and writes JSON to
bench/results/. Not a pass/fail test.
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.results import write_section  # noqa: E402
from tests.support.builders import intake_body  # noqa: E402
from tests.support.processes import ProcessStack, start_process_stack  # noqa: E402

KAFKA_PORT, PG_PORT, BASE_PORT = 19392, 15452, 8201


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def infra(action: str) -> None:
    env = {**os.environ, "ZS_INSTANCE": "bench", "ZS_KAFKA_PORT": str(KAFKA_PORT), "ZS_PG_PORT": str(PG_PORT)}
    for script in ("postgres.sh", "kafka.sh"):
        subprocess.run([str(ROOT / "deploy" / script), action], env=env, check=True)


async def start_stack(run_dir: Path) -> ProcessStack:
    return await start_process_stack(
        f"postgresql://zorgstroom@127.0.0.1:{PG_PORT}/zorgstroom",
        f"127.0.0.1:{KAFKA_PORT}",
        run_dir,
        BASE_PORT,
        name="bench",
        partitions=6,
        # The latency run polls reporting as fast as it answers: far more than one credential's rate limit allows.
        extra_env={"ZS_LOG_LEVEL": "WARNING", "ZS_RATE_LIMIT": "1000000/minute"},
    )


async def count(http: httpx.AsyncClient, url: str, auth: dict[str, str], month: str) -> int:
    answer = await http.get(f"{url}/v1/municipalities/0034/flows?from={month}&to={month}", headers=auth)
    return int(answer.json()["totals"]["registrations"])


async def latency_run(services, tokens, n: int, month: str) -> dict[str, list[float]]:  # type: ignore[no-untyped-def]
    auth = {"Authorization": f"Bearer {tokens['almere']}"}
    visible, post, health = [], [], []
    async with httpx.AsyncClient(timeout=30) as http:
        reporting, intake = services["reporting"].url, services["intake"].url
        seen = await count(http, reporting, auth, month)
        for i in range(n):
            t0 = time.perf_counter()
            await http.get(f"{reporting}/healthz")
            health.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            answer = await http.post(
                f"{intake}/v1/intakes",
                json=intake_body(registered_on=f"{month}-15"),
                headers=auth | {"Idempotency-Key": f"bench-{uuid.uuid4()}"},
            )
            accepted_at = time.perf_counter()
            assert answer.status_code == 202, answer.text
            post.append(accepted_at - t0)
            while (current := await count(http, reporting, auth, month)) <= seen:
                pass
            visible.append(time.perf_counter() - accepted_at)
            seen = current
            if (i + 1) % 100 == 0:
                print(f"  latency: {i + 1}/{n}", file=sys.stderr)
    return {"visible": visible, "post": post, "health": health}


async def throughput_run(services, tokens, n: int, month: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    auth = {"Authorization": f"Bearer {tokens['almere']}"}
    gate = asyncio.Semaphore(16)
    async with httpx.AsyncClient(timeout=30) as http:
        reporting, intake = services["reporting"].url, services["intake"].url

        async def post() -> None:
            async with gate:
                answer = await http.post(
                    f"{intake}/v1/intakes",
                    json=intake_body(registered_on=f"{month}-15"),
                    headers=auth | {"Idempotency-Key": f"bench-{uuid.uuid4()}"},
                )
                assert answer.status_code == 202

        t0 = time.perf_counter()
        await asyncio.gather(*(post() for _ in range(n)))
        accepted = time.perf_counter() - t0
        while await count(http, reporting, auth, month) < n:
            await asyncio.sleep(0.01)
        visible = time.perf_counter() - t0
    return {"accepted_seconds": accepted, "all_visible_seconds": visible, "intakes_per_second": n / visible}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--keep-infra", action="store_true", help="leave bench Kafka and PostgreSQL running")
    args = parser.parse_args()
    run_dir = ROOT / ".cache" / "run" / "bench" / "services"
    run_dir.mkdir(parents=True, exist_ok=True)
    infra("start")
    stack: ProcessStack | None = None
    try:
        stack = asyncio.run(start_stack(run_dir))
        latency = asyncio.run(latency_run(stack.services, stack.tokens, args.n, "2026-01"))
        throughput = asyncio.run(throughput_run(stack.services, stack.tokens, args.n, "2026-02"))
    finally:
        if stack is not None:
            stack.stop()
        if not args.keep_infra:
            infra("stop")
    ms = {k: [v * 1000 for v in vs] for k, vs in latency.items()}
    rows = {
        name: {
            "median_ms": statistics.median(v),
            "p90_ms": percentile(v, 90),
            "p99_ms": percentile(v, 99),
            "max_ms": max(v),
        }
        for name, v in ms.items()
    }
    base = rows["post"]["median_ms"]
    print(f"\n202 -> visible in reporting, {args.n} intakes one at a time (services as processes, real Kafka/Postgres)")
    print(f"{'measure':<28}{'median ms':>10}{'p90 ms':>10}{'p99 ms':>10}{'max ms':>10}{'median / POST':>15}")
    labels = {
        "visible": "202 -> visible in reporting",
        "post": "POST /v1/intakes (baseline)",
        "health": "GET /healthz (floor)",
    }
    for name, row in rows.items():
        print(
            f"{labels[name]:<28}{row['median_ms']:>10.1f}{row['p90_ms']:>10.1f}{row['p99_ms']:>10.1f}"
            f"{row['max_ms']:>10.1f}{row['median_ms'] / base:>15.2f}"
        )
    print(
        f"\nthroughput, {args.n} intakes at concurrency 16: all 202 in {throughput['accepted_seconds']:.1f}s, "
        f"all visible in {throughput['all_visible_seconds']:.1f}s ({throughput['intakes_per_second']:.0f} intakes/s)"
    )
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "intake_to_reporting.json").write_text(
        json.dumps({"n": args.n, "latency": rows, "throughput": throughput}, indent=1)
    )
    table = [
        [labels[name], *(f"{row[k]:.1f}" for k in ("median_ms", "p90_ms", "p99_ms", "max_ms")),
         f"{row['median_ms'] / base:.2f}"]
        for name, row in rows.items()
    ]  # fmt: skip
    written = write_section(
        "intake_to_reporting",
        f"202 to visible in reporting, {args.n:,} intakes one at a time (services as processes)",
        ["measure", "median ms", "p90 ms", "p99 ms", "max ms", "median / POST"],
        table,
        ratios={"202 -> visible, median / POST median": f"{rows['visible']['median_ms'] / base:.2f}"},
        notes=[
            f"Throughput at concurrency 16: all 202 in {throughput['accepted_seconds']:.1f} s, all visible in"
            f" {throughput['all_visible_seconds']:.1f} s ({throughput['intakes_per_second']:.0f} intakes/s)."
        ],
    )
    print(f"written: {written}")


if __name__ == "__main__":
    main()
