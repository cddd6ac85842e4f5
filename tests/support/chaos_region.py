"""The fault suite's region: its own PostgreSQL (fsync on) and Kafka (one node or a KRaft cluster), two
processes of every service, and the faults it survives, each applied and then undone."""

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from tests.support.infra import ROOT, native_env
from tests.support.processes import ProcessStack, env_of_service, start_process_stack
from zorgstroom_ops import processes
from zorgstroom_ops.processes import SERVICES
from zorgstroom_runtime.kafka import KafkaConnection, ensure_topics, project_topics


@dataclass
class ChaosInfra:
    """deploy/kafka.sh and deploy/postgres.sh under an instance of the suite's own."""

    instance: str
    kafka_port: int
    pg_port: int
    nodes: int

    @property
    def env(self) -> dict[str, str]:
        return native_env(self.instance, self.kafka_port, self.pg_port) | {
            "ZS_PG_FSYNC": "on",  # an immediate stop must lose nothing that was committed
            "ZS_KAFKA_NODES": str(self.nodes),
            "ZS_KAFKA_HEAP": "-Xmx512m -Xms128m",
        }

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{self.kafka_port + 2 * i}" for i in range(self.nodes))

    @property
    def admin_url(self) -> str:
        return f"postgresql://zorgstroom@127.0.0.1:{self.pg_port}/zorgstroom"

    @property
    def kafka(self) -> KafkaConnection:
        replicas = min(self.nodes, 3)
        return KafkaConnection(self.bootstrap, replication=replicas, min_insync=min(2, replicas))

    def deploy(self, script: str, action: str, *args: str, **env: str) -> None:
        subprocess.run([str(ROOT / "deploy" / script), action, *args], env=self.env | env, check=True, timeout=600)

    def start(self) -> None:
        # A run aborted before its clean-up may have left either behind: stop them, and start Kafka empty.
        self.stop()
        cache = Path(self.env.get("ZS_CACHE", ROOT / ".cache"))
        shutil.rmtree(cache / "run" / self.instance / "kafka", ignore_errors=True)
        self.deploy("postgres.sh", "start")
        self.deploy("kafka.sh", "start")

    def stop(self) -> None:
        self.deploy("kafka.sh", "stop")
        self.deploy("postgres.sh", "stop")


@dataclass
class Fleet:
    """Two (or more) processes of every service on one database and topic prefix."""

    stack: ProcessStack
    run_dir: Path
    base_port: int
    per_service: dict[str, list[processes.ServiceProcess]] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return self.stack.env

    @property
    def database(self) -> str:
        return self.env["ZS_DATABASE_URL"].rsplit("/", 1)[1]

    def all(self) -> list[processes.ServiceProcess]:
        return [p for group in self.per_service.values() for p in group]

    def urls(self, service: str) -> list[str]:
        return [p.url for p in self.per_service[service]]

    def process(self, service: str, n: int) -> processes.ServiceProcess:
        return self.per_service[service][n]

    def extra(self, service: str, n: int) -> processes.ServiceProcess:
        """The n-th process of a service (n >= 1), on a port of the fleet's own."""
        port = self.base_port + 4 + SERVICES.index(service) * 3 + (n - 1)
        return processes.ServiceProcess(
            service, port, self.run_dir / f"{service}-{n + 1}.pid", self.run_dir / f"{service}-{n + 1}.log"
        )

    def start(self, service: processes.ServiceProcess) -> None:
        processes.start(service, env_of_service(service.name, self.env))

    def stop(self) -> None:
        for service in self.all():
            processes.stop(service)


async def start_fleet(infra: ChaosInfra, run_dir: Path, base_port: int, per_service: int = 2) -> Fleet:
    prefix = f"chaos{os.getpid()}."
    # The topics first, at the cluster's replication: the stack's own ensure_topics then finds them.
    await ensure_topics(infra.kafka, project_topics(prefix), partitions=3)
    replicas = str(infra.kafka.replication)
    extra_env = {
        "ZS_KAFKA_BOOTSTRAP": infra.bootstrap,
        "ZS_KAFKA_REPLICATION_FACTOR": replicas,
        "ZS_KAFKA_MIN_INSYNC_REPLICAS": str(infra.kafka.min_insync),
    }
    stack = await start_process_stack(
        infra.admin_url, infra.bootstrap, run_dir, base_port, name="chaos", prefix=prefix, extra_env=extra_env
    )
    fleet = Fleet(stack, run_dir, base_port, {name: [s] for name, s in stack.services.items()})
    try:
        more = [fleet.extra(name, n) for name in SERVICES for n in range(1, per_service)]
        for service in more:
            fleet.start(service)
            fleet.per_service[service.name].append(service)
        for service in more:
            await asyncio.to_thread(processes.wait_ready, service, 180)
    except BaseException:
        fleet.stop()
        raise
    return fleet


def pid_of(service: processes.ServiceProcess) -> int:
    return int(service.pid_file.read_text())


async def wait_gone(service: processes.ServiceProcess, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while service.running() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    if service.running():
        os.kill(pid_of(service), signal.SIGKILL)
        while service.running():
            await asyncio.sleep(0.1)


async def restart(fleet: Fleet, service: processes.ServiceProcess) -> None:
    fleet.start(service)
    await asyncio.to_thread(processes.wait_ready, service, 180)


Fault = Callable[["Faults"], Awaitable[str]]


@dataclass
class Faults:
    """Each fault is applied, held, and undone; it returns what it did, in words, for the log."""

    infra: ChaosInfra
    fleet: Fleet
    pick: Callable[[list[Any]], object]  # the seeded generator's choice

    async def kill9(self) -> str:
        service = self.pick(self.fleet.all())
        assert isinstance(service, processes.ServiceProcess)
        os.kill(pid_of(service), signal.SIGKILL)
        await wait_gone(service)
        await restart(self.fleet, service)
        return f"kill -9 of {service.name} on :{service.port}, restarted"

    async def sigterm(self) -> str:
        service = self.pick(self.fleet.all())
        assert isinstance(service, processes.ServiceProcess)
        os.kill(pid_of(service), signal.SIGTERM)
        await wait_gone(service)
        await restart(self.fleet, service)
        return f"SIGTERM of {service.name} on :{service.port}, restarted"

    async def stop_relay_leader(self, hold: float = 22.0) -> str:
        """SIGSTOP of the process whose relay holds its schema's lease: another must take over."""
        service_name = str(self.pick(["intake", "placement", "housing"]))  # reporting publishes nothing
        leader = await self._relay_leader(service_name)
        if leader is None:
            return f"SIGSTOP skipped: no {service_name} relay held the lease"
        os.kill(pid_of(leader), signal.SIGSTOP)
        try:
            await asyncio.sleep(hold)
        finally:
            os.kill(pid_of(leader), signal.SIGCONT)
        return f"SIGSTOP of {service_name}'s relay leader on :{leader.port} for {hold:.0f} s, then SIGCONT"

    async def _relay_leader(self, service: str) -> processes.ServiceProcess | None:
        db = await asyncpg.connect(self.fleet.env["ZS_DATABASE_URL"])
        try:
            holder = await db.fetchval(f"SELECT holder FROM {service}.relay_lease WHERE expires_at > now()")
        except asyncpg.PostgresError:
            holder = None
        finally:
            await db.close()
        if holder is None:
            return None
        pid = int(str(holder).split(":")[1])
        return next((p for p in self.fleet.per_service[service] if p.running() and pid_of(p) == pid), None)

    async def kill_broker(self) -> str:
        node = int(str(self.pick(list(range(1, self.infra.nodes + 1)))))
        await asyncio.to_thread(self.infra.deploy, "kafka.sh", "kill", str(node))
        await asyncio.sleep(5)
        await asyncio.to_thread(self.infra.deploy, "kafka.sh", "start")
        return f"kill -9 of Kafka node {node}, restarted after 5 s"

    async def crash_postgres(self) -> str:
        await asyncio.to_thread(self.infra.deploy, "postgres.sh", "stop", ZS_PG_STOP_MODE="immediate")
        await asyncio.sleep(3)
        await asyncio.to_thread(self.infra.deploy, "postgres.sh", "start")
        return "PostgreSQL stopped -m immediate (fsync on), restarted after 3 s"

    async def rebalance(self) -> str:
        """A third process of a service joins its consumer groups and leaves again: two rebalances."""
        name = str(self.pick(["placement", "housing", "reporting"]))
        joining = self.fleet.extra(name, 2)
        self.fleet.start(joining)
        try:
            await asyncio.to_thread(processes.wait_ready, joining, 180)
            await asyncio.sleep(8)
        finally:
            await asyncio.to_thread(processes.stop, joining)
        return f"a third {name} process joined and left (rebalances)"

    async def read_only_database(self, hold: float = 20.0) -> str:
        """The services' database refuses writes for `hold` seconds (as a full disk or a fail-over would)."""
        database = self.fleet.database
        admin = await asyncpg.connect(self.infra.admin_url)
        try:
            await self._set_read_only(admin, database, "on")
            await asyncio.sleep(hold)
        finally:
            with contextlib.suppress(asyncpg.PostgresError, OSError):
                await self._set_read_only(admin, database, "off")
            await admin.close()
        return f"database read-only for {hold:.0f} s"

    @staticmethod
    async def _set_read_only(admin: asyncpg.Connection, database: str, on: str) -> None:
        await admin.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = {on}')
        # Sessions take the setting when they connect: end those open now.
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )


KINDS: dict[str, Fault] = {
    "kill9": Faults.kill9,
    "sigterm": Faults.sigterm,
    "sigstop_relay_leader": Faults.stop_relay_leader,
    "kill_broker": Faults.kill_broker,
    "crash_postgres": Faults.crash_postgres,
    "rebalance": Faults.rebalance,
    "read_only_database": Faults.read_only_database,
}
