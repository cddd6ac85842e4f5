"""The fault suite's region: its own PostgreSQL (fsync on) and Kafka (one node or a KRaft cluster), two
processes of every service, and the faults it survives, each applied, verified to have taken effect, and
then undone. A fault that did not take effect (no relay leader to stop, a lease nobody took over, a broker
or PostgreSQL already down) raises FaultMissed and does not count as survived."""

import asyncio
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

    def running(self, script: str) -> bool:
        status = [str(ROOT / "deploy" / script), "status"]
        return subprocess.run(status, env=self.env, capture_output=True, timeout=60).returncode == 0


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


class FaultMissed(Exception):
    """A fault that did not happen as intended: not a survived fault; `fails` when the run must fail."""

    def __init__(self, what: str, fails: bool = True) -> None:
        super().__init__(what)
        self.fails = fails


def pid_of(service: processes.ServiceProcess) -> int:
    return int(service.pid_file.read_text())


async def wait_gone(service: processes.ServiceProcess, timeout: float = 60) -> bool:
    """Wait for the process to end; False when it had to be killed (-9) after `timeout`."""
    deadline = time.monotonic() + timeout
    while service.running() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    if not service.running():
        return True
    os.kill(pid_of(service), signal.SIGKILL)
    while service.running():
        await asyncio.sleep(0.1)
    return False


async def restart(fleet: Fleet, service: processes.ServiceProcess) -> None:
    fleet.start(service)
    await asyncio.to_thread(processes.wait_ready, service, 180)


Fault = Callable[..., Awaitable[str]]  # a Faults method, some with the service to strike


@dataclass
class Faults:
    """Each fault is applied, held, and undone; it returns what it did, in words, for the log."""

    infra: ChaosInfra
    fleet: Fleet
    pick: Callable[[list[Any]], object]  # the seeded generator's choice

    def _victim(self, name: str | None) -> processes.ServiceProcess:
        service = self.pick(self.fleet.per_service[name] if name else self.fleet.all())
        assert isinstance(service, processes.ServiceProcess)
        if not service.running():
            raise FaultMissed(f"{service.name} on :{service.port} was not running")
        return service

    async def kill9(self, name: str | None = None) -> str:
        service = self._victim(name)
        os.kill(pid_of(service), signal.SIGKILL)
        await wait_gone(service)
        await restart(self.fleet, service)
        return f"kill -9 of {service.name} on :{service.port}, restarted"

    async def sigterm(self, name: str | None = None) -> str:
        service = self._victim(name)
        os.kill(pid_of(service), signal.SIGTERM)
        clean = await wait_gone(service)
        await restart(self.fleet, service)
        if not clean:
            raise FaultMissed(f"SIGTERM of {service.name} on :{service.port} needed SIGKILL after 60 s", fails=False)
        return f"SIGTERM of {service.name} on :{service.port}, restarted"

    async def stop_relay_leader(self, hold: float = 22.0) -> str:
        """SIGSTOP of the process whose relay holds its schema's lease: another must take it over."""
        service_name = str(self.pick(["intake", "placement", "housing"]))  # reporting publishes nothing
        leader, before = await self._relay_leader(service_name)
        if leader is None:
            raise FaultMissed(f"SIGSTOP: no running {service_name} process held the relay lease ({before})")
        os.kill(pid_of(leader), signal.SIGSTOP)
        try:
            started = time.monotonic()
            await asyncio.sleep(hold)
            after = await self._lease(service_name)
        finally:
            os.kill(pid_of(leader), signal.SIGCONT)
        if after is None or (after["holder"], after["epoch"]) == (before["holder"], before["epoch"]):
            raise FaultMissed(
                f"SIGSTOP of {service_name}'s relay leader: no other relay took the lease in {hold:.0f} s"
            )
        return (
            f"SIGSTOP of {service_name}'s relay leader on :{leader.port} for {time.monotonic() - started:.0f} s"
            f" (lease epoch {before['epoch']} -> {after['epoch']}), then SIGCONT"
        )

    async def _lease(self, service: str) -> dict[str, Any] | None:
        db = await asyncpg.connect(self.fleet.env["ZS_DATABASE_URL"])
        try:
            row = await db.fetchrow(f"SELECT holder, epoch, expires_at > now() AS live FROM {service}.relay_lease")
        finally:
            await db.close()
        return dict(row) if row is not None else None

    async def _relay_leader(self, service: str) -> tuple[processes.ServiceProcess | None, dict[str, Any]]:
        lease = await self._lease(service)
        if lease is None or not lease["live"]:
            return None, lease or {}
        pid = int(str(lease["holder"]).split(":")[1])
        leader = next((p for p in self.fleet.per_service[service] if p.running() and pid_of(p) == pid), None)
        return leader, lease

    async def kill_broker(self, hold: float = 12.0) -> str:
        """kill -9 of a node, held down longer than KRaft's broker session timeout (9 s): leaders move."""
        node = int(str(self.pick(list(range(1, self.infra.nodes + 1)))))
        try:
            await asyncio.to_thread(self.infra.deploy, "kafka.sh", "kill", str(node))
        except subprocess.CalledProcessError as error:
            raise FaultMissed(f"Kafka node {node} was not running (kafka.sh kill: {error.returncode})") from error
        await asyncio.sleep(hold)
        await asyncio.to_thread(self.infra.deploy, "kafka.sh", "start")
        return f"kill -9 of Kafka node {node}, restarted after {hold:.0f} s"

    async def crash_postgres(self) -> str:
        running = await asyncio.to_thread(self.infra.running, "postgres.sh")
        if not running:
            raise FaultMissed("PostgreSQL was not running before its immediate stop")
        await asyncio.to_thread(self.infra.deploy, "postgres.sh", "stop", ZS_PG_STOP_MODE="immediate")
        if await asyncio.to_thread(self.infra.running, "postgres.sh"):
            raise FaultMissed("PostgreSQL still ran after its immediate stop")
        await asyncio.sleep(3)
        await asyncio.to_thread(self.infra.deploy, "postgres.sh", "start")
        return "PostgreSQL stopped -m immediate (fsync on: WAL recovery on start), restarted after 3 s"

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
        try:
            await self._set_read_only(database, "on")
            await asyncio.sleep(hold)
        finally:
            try:  # not suppressed: a database left read-only would fail everything after it
                await self._set_read_only(database, "off")
            except (asyncpg.PostgresError, OSError) as error:
                raise FaultMissed(f"the database could not be switched back to read-write: {error!r}") from error
        return f"database read-only for {hold:.0f} s"

    async def _set_read_only(self, database: str, on: str) -> None:
        admin = await asyncpg.connect(self.infra.admin_url)
        try:
            await admin.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = {on}')
            # Sessions take the setting when they connect: end those open now.
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                database,
            )
        finally:
            await admin.close()


KINDS: dict[str, Fault] = {
    "kill9": Faults.kill9,
    "sigterm": Faults.sigterm,
    "sigstop_relay_leader": Faults.stop_relay_leader,
    "kill_broker": Faults.kill_broker,
    "crash_postgres": Faults.crash_postgres,
    "rebalance": Faults.rebalance,
    "read_only_database": Faults.read_only_database,
}
