"""Benchmark: durable intakes per second, against a bare endpoint and /healthz of the same process, same run.

Starts its own Kafka and PostgreSQL (fsync on, as the demo) and the intake service as a real process
(`python -m zorgstroom_intake`), exporting spans over OTLP to Jaeger when it is built (.cache/jaeger/jaeger),
else to a sink that accepts and drops them. Then, for each concurrency (16 and 64 connections), drives wrk
(a separate C process) for a fixed time against:
  1. POST /v1/intakes: valid bodies (tests/support/builders.py intake_body), a distinct Idempotency-Key each;
     every 202 is committed (outbox row, audit line) before it is answered, and the rows are counted after;
  2. POST /bench/bare-intake: the same body parsed by the same pydantic model, 202 without I/O; mounted only
     under ZS_ENVIRONMENT=test with ZS_BENCH_BARE_ENDPOINT=true (never in production);
  3. GET /healthz: the floor of the process, and the load generator's ceiling on it.
Prints rate, p50 and p99 of each, and the ratios; writes its section of bench/RESULTS.md. `--profile DIR`
also records a py-spy profile of the intake process under the POST /v1/intakes load at 16 connections.
Needs wrk (Debian: apt-get install wrk).
"""

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PGPASSFILE", str(ROOT / ".cache" / "run" / "pgpass"))  # as the Makefile sets it

from bench.results import write_section  # noqa: E402
from tests.support.builders import intake_body, valid_bsn  # noqa: E402
from tests.support.processes import ProcessStack, start_process_stack  # noqa: E402

# This benchmark's own Kafka, PostgreSQL and first of four ports: intake, then the collector's OTLP, query, gRPC.
INSTANCE, KAFKA_PORT, PG_PORT, BASE_PORT = "bench-intake", 19394, 15454, 8221
JAEGER = ROOT / ".cache" / "jaeger" / "jaeger"

WRK_SCRIPT = r"""
-- A distinct Idempotency-Key on every request (run id, thread, counter), and a BSN drawn from the list.
local threads, counter, prefix = 0, 0, ""
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
function init(args) prefix = args[1] .. "-" .. tid .. "-"; math.randomseed(tid * 7919 + os.time()) end
function request()
  counter = counter + 1
  local body = nil
  if wrk.method == "POST" then body = string.gsub(BODY, "@BSN@", BSNS[math.random(#BSNS)]) end
  return wrk.format(nil, nil, {
    ["Host"] = wrk.headers["Host"], ["Content-Type"] = "application/json",
    ["Authorization"] = wrk.headers["Authorization"], ["Idempotency-Key"] = prefix .. counter,
  }, body)
end
function done(s, latency, r)
  io.write(string.format(
    'WRK {"requests":%d,"duration_us":%d,"status_errors":%d,"socket_errors":%d,"p50_us":%d,"p99_us":%d}\n',
    s.requests, s.duration, s.errors.status, s.errors.connect + s.errors.read + s.errors.write + s.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def infra(action: str, args: argparse.Namespace) -> None:
    env = {
        **os.environ,
        "ZS_INSTANCE": args.instance,
        "ZS_KAFKA_PORT": str(args.kafka_port),
        "ZS_PG_PORT": str(args.pg_port),
    }
    for script in ("postgres.sh", "kafka.sh"):
        subprocess.run([str(ROOT / "deploy" / script), action], env=env, check=True)


class _Sink(BaseHTTPRequestHandler):
    """An OTLP/HTTP collector that accepts every export and keeps nothing (when Jaeger is not built)."""

    received = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).received += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def start_collector(run_dir: Path, otlp_port: int) -> tuple[str, Any]:
    """Jaeger if built (OTLP on otlp_port, query and gRPC on the next two), else the dropping sink; (what, handle).

    Jaeger runs the demo's config less its health-check extension (one port fewer: four in all with intake)."""
    if JAEGER.exists():
        env = {
            **os.environ,
            "ZS_JAEGER_OTLP_PORT": str(otlp_port),
            "ZS_JAEGER_QUERY_PORT": str(otlp_port + 1),
            "ZS_JAEGER_QUERY_GRPC_PORT": str(otlp_port + 2),
            "OTEL_TRACES_EXPORTER": "none",  # Jaeger's own traces: nowhere to send them
        }
        config = run_dir / "jaeger.yaml"
        demo = (ROOT / "deploy" / "jaeger" / "config.yaml").read_text()
        config.write_text(demo.replace("extensions: [jaeger_storage, jaeger_query, healthcheckv2]",
                                       "extensions: [jaeger_storage, jaeger_query]"))  # fmt: skip
        log = (run_dir / "jaeger.log").open("wb")
        process = subprocess.Popen([str(JAEGER), "--config", f"file:{config}"], env=env, stdout=log, stderr=log)
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{otlp_port + 1}/api/services", timeout=1).read()
                return "Jaeger v2 (in memory)", process
            except OSError:
                time.sleep(0.1)
        process.terminate()
        raise SystemExit(f"Jaeger did not start: see {run_dir / 'jaeger.log'}")
    server = ThreadingHTTPServer(("127.0.0.1", otlp_port), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return "an OTLP sink that accepts and drops", server


def stop_collector(handle: Any) -> None:
    if isinstance(handle, subprocess.Popen):
        handle.terminate()
        try:
            handle.wait(10)
        except subprocess.TimeoutExpired:
            handle.kill()
            handle.wait(10)
    else:
        handle.shutdown()


def exported_services(handle: Any, otlp_port: int) -> str:
    """Proof that spans were exported: the services Jaeger has traces of, or the sink's count of exports."""
    if isinstance(handle, subprocess.Popen):
        answer = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{otlp_port + 1}/api/services").read())
        return "Jaeger has traces of: " + ", ".join(answer.get("data") or ["(none)"])
    return f"the sink received {_Sink.received} OTLP exports"


async def start_intake(run_dir: Path, args: argparse.Namespace) -> ProcessStack:
    return await start_process_stack(
        f"postgresql://zorgstroom@127.0.0.1:{args.pg_port}/zorgstroom",
        f"127.0.0.1:{args.kafka_port}",
        run_dir,
        args.base_port,
        name="benchintake",
        partitions=6,
        services=["intake"],
        extra_env={
            "ZS_LOG_LEVEL": "WARNING",
            "ZS_RATE_LIMIT": "100000000/minute",  # one credential makes all the load
            "ZS_BENCH_BARE_ENDPOINT": "true",
            "ZS_DB_POOL_MAX": os.environ.get("ZS_DB_POOL_MAX", "10"),
            "ZS_HTTP_WORKERS": str(args.workers),
            **({} if args.no_traces else {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{args.base_port + 1}"}),
        },
    )


def wrk(url: str, script: Path, connections: int, seconds: float, token: str) -> dict[str, Any]:
    """One wrk run; its figures (requests, rate of answers under 400, p50/p99 in ms, errors)."""
    command = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{round(seconds)}s", "--timeout", "10s"]
    command += [
        "-s",
        str(script),
        "-H",
        f"Authorization: Bearer {token}",
        url,
        "--",
        uuid.uuid4().hex[:12],
    ]  # the run's key prefix
    answer = subprocess.run(command, capture_output=True, text=True, check=True)
    line = next((x for x in answer.stdout.splitlines() if x.startswith("WRK ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no figures:\n{answer.stdout}{answer.stderr}")
    figures = json.loads(line[4:])
    ok = figures["requests"] - figures["status_errors"]
    return {
        "requests": figures["requests"],
        "ok": ok,
        "rate": ok / (figures["duration_us"] / 1e6),
        "p50_ms": figures["p50_us"] / 1000,
        "p99_ms": figures["p99_us"] / 1000,
        "errors": figures["status_errors"] + figures["socket_errors"],
    }


def script_for(body: dict[str, Any], method: str, directory: Path, people: int = 20_000) -> Path:
    """The wrk script of one endpoint: its method, and for a POST the body with one of `people` valid BSNs
    each time (one client's intakes are ordered by a lock on its key: one BSN for all would serialise them)."""
    path = directory / f"{method.lower()}-{uuid.uuid4().hex[:6]}.lua"
    rng = random.Random(17)
    bsns = ",".join(f'"{valid_bsn(rng)}"' for _ in range(people))
    template = json.dumps(body | {"bsn": "@BSN@"})
    prelude = f"wrk.method = {json.dumps(method)}\nBODY = {json.dumps(template)}\nBSNS = {{{bsns}}}\n"
    path.write_text(prelude + WRK_SCRIPT)
    return path


async def durable_rows(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM intake.intakes"))
    finally:
        await conn.close()


def _stat(pid: int | str) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def cpu_seconds(pid: int) -> float:
    """CPU time the process and its child processes (uvicorn's workers) have used, all threads, user and system,
    from /proc (Linux)."""
    pids = [str(pid)]
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, IndexError):
            if entry.name.isdigit() and _stat(entry.name)[1] == str(pid):
                pids.append(entry.name)
    ticks = 0
    for each in pids:
        with contextlib.suppress(OSError, IndexError):
            fields = _stat(each)
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def profile(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """py-spy (not a dependency of the project: `uv run --with py-spy`) on the intake process, raw stacks."""
    command = ["uv", "run", "--frozen", "--with", "py-spy", "py-spy", "record", "--pid", str(pid)]
    command += ["--duration", str(int(seconds)), "--format", "raw", "--rate", "100", "--nonblocking", "--subprocesses"]
    command += ["-o", str(out)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run(stack: ProcessStack, seconds: float, connections: list[int], profile_dir: Path | None) -> dict[str, Any]:
    service = stack.services["intake"]
    token = stack.tokens["almere"]
    database_url = stack.env["ZS_DATABASE_URL"]
    work = Path(tempfile.mkdtemp(prefix="intake-load-"))
    body = intake_body()
    post, get = script_for(body, "POST", work), script_for(body, "GET", work)
    endpoints = {
        "POST /v1/intakes": (f"{service.url}/v1/intakes", post),
        "POST /bench/bare-intake (no I/O)": (f"{service.url}/bench/bare-intake", post),
        "GET /healthz": (f"{service.url}/healthz", get),
    }
    wrk(endpoints["POST /v1/intakes"][0], post, 16, 3, token)  # warm up: pools, caches, JIT of wrk's Lua
    results: dict[str, Any] = {}
    for c in connections:
        for name, (url, script) in endpoints.items():
            before = asyncio.run(durable_rows(database_url)) if name == "POST /v1/intakes" else 0
            spy = None
            if profile_dir is not None and c == connections[0] and name in ("POST /v1/intakes", "GET /healthz"):
                profile_dir.mkdir(parents=True, exist_ok=True)
                label = "intakes" if name.startswith("POST /v1") else "healthz"
                spy = profile(int(service.pid_file.read_text()), seconds - 1, profile_dir / f"{label}-c{c}.txt")
            pid = int(service.pid_file.read_text())
            cpu = cpu_seconds(pid)
            figures = wrk(url, script, c, seconds, token)
            # What an answer costs the intake process (ms of CPU): unlike the rate, hardly moved by what else runs.
            figures["cpu_ms"] = (cpu_seconds(pid) - cpu) * 1000 / max(figures["requests"], 1)
            if spy is not None:
                spy.wait(60)
            if name == "POST /v1/intakes":
                figures["durable"] = asyncio.run(durable_rows(database_url)) - before
                if figures["durable"] < figures["ok"]:
                    raise SystemExit(f"{figures['ok']} answered 202 but only {figures['durable']} rows committed")
            results[f"{name} @ {c}"] = figures
            print(
                f"  c={c:<3} {name:<34} {figures['rate']:>8.0f}/s  p50 {figures['p50_ms']:>6.1f} ms"
                f"  p99 {figures['p99_ms']:>6.1f} ms  CPU {figures['cpu_ms']:.2f} ms/answer"
                f"  errors {figures['errors']}",
                file=sys.stderr,
            )
    shutil.rmtree(work, ignore_errors=True)
    return results


def report(
    results: dict[str, Any], connections: list[int], collector: str, exported: str, seconds: float, workers: int
) -> None:
    headers = ["endpoint", "connections", "per second", "p50 ms", "p99 ms", "CPU ms/answer", "errors", "vs bare"]
    headers += ["vs /healthz"]
    rows, ratios = [], {}
    for c in connections:
        bare, health = results[f"POST /bench/bare-intake (no I/O) @ {c}"], results[f"GET /healthz @ {c}"]
        for name in ("POST /v1/intakes", "POST /bench/bare-intake (no I/O)", "GET /healthz"):
            f = results[f"{name} @ {c}"]
            rows.append([
                name, c, f"{f['rate']:,.0f}", f"{f['p50_ms']:.1f}", f"{f['p99_ms']:.1f}", f"{f['cpu_ms']:.2f}",
                f["errors"],
                f"{f['rate'] / bare['rate']:.2f}", f"{f['rate'] / health['rate']:.2f}",
            ])  # fmt: skip
        intakes = results[f"POST /v1/intakes @ {c}"]
        ratios[f"durable intakes / bare endpoint at {c} connections"] = f"{intakes['rate'] / bare['rate']:.2f}"
        ratios[f"durable intakes / /healthz at {c} connections"] = f"{intakes['rate'] / health['rate']:.2f}"
    print(f"\n{'':<44}" + "".join(f"{h:>14}" for h in headers[1:]))
    for row in rows:
        print(f"{row[0]:<44}" + "".join(f"{v!s:>14}" for v in row[1:]))
    for label, value in ratios.items():
        print(f"{label}: {value}")
    at16 = results.get("POST /v1/intakes @ 16")
    target = ""
    if at16 is not None:
        half = at16["rate"] >= 0.5 * results["POST /bench/bare-intake (no I/O) @ 16"]["rate"]
        met = at16["rate"] >= 1500 and at16["p99_ms"] < 50 and half
        target = (
            f"Target (issue 17, 1): 1,500 durable 202/s with p99 under 50 ms and half the bare endpoint's rate: "
            f"{'met' if met else 'not met'} at 16 connections ({at16['rate']:,.0f}/s, p99 {at16['p99_ms']:.1f} ms)."
        )
    written = write_section(
        "intake_load",
        f"Intake under load: durable 202s per second against a bare endpoint and /healthz ({seconds:.0f} s each)",
        headers,
        rows,
        ratios=ratios,
        notes=[
            f"The intake service as {'one process' if workers == 1 else f'{workers} processes on one port'} (uvicorn),"
            " real PostgreSQL (fsync on) and Kafka, static-token auth;"
            f" spans exported over OTLP to {collector} ({exported}). Load from wrk (2 threads) on the same 2 cores."
            " Every 202 counted was checked against the rows committed. CPU ms/answer: CPU time of the intake"
            " process(es) over the run per request answered, the figure least moved by what else runs.",
            *([target] if target else []),
        ],
    )
    print(f"written: {written}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--connections", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--profile", type=Path, help="record py-spy profiles (raw stacks) into this directory")
    parser.add_argument("--keep-infra", action="store_true", help="leave this benchmark's Kafka and PostgreSQL up")
    parser.add_argument("--no-traces", action="store_true", help="export no spans: what exporting them costs")
    parser.add_argument("--workers", type=int, default=1, help="intake processes on its one port (ZS_HTTP_WORKERS)")
    parser.add_argument("--instance", default=INSTANCE, help="the deploy scripts' instance of Kafka and PostgreSQL")
    parser.add_argument("--kafka-port", type=int, default=KAFKA_PORT)
    parser.add_argument("--pg-port", type=int, default=PG_PORT)
    parser.add_argument("--base-port", type=int, default=BASE_PORT, help="intake's; the collector takes the next 3")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench/intake_load.py needs wrk: apt-get install wrk")
    run_dir = ROOT / ".cache" / "run" / "bench-intake" / "services"
    run_dir.mkdir(parents=True, exist_ok=True)
    infra("start", args)
    stack: ProcessStack | None = None
    collector, handle = start_collector(run_dir, args.base_port + 1)
    try:
        stack = asyncio.run(start_intake(run_dir, args))
        results = run(stack, args.seconds, args.connections, args.profile)
        time.sleep(6)  # the exporter's schedule delay: the last spans reach the collector
        exported = exported_services(handle, args.base_port + 1)
    finally:
        if stack is not None:
            stack.stop()
        stop_collector(handle)
        if not args.keep_infra:
            infra("stop", args)
    report(results, args.connections, collector, exported, args.seconds, args.workers)


if __name__ == "__main__":
    main()
