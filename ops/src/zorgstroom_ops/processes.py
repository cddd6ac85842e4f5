"""Each service as its own operating-system process, with a pid file, a log and a readiness wait."""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

SERVICES = ("intake", "placement", "housing", "reporting")


@dataclass(frozen=True)
class ServiceProcess:
    name: str
    port: int
    pid_file: Path
    log_file: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def running(self) -> bool:
        try:
            return _alive(int(self.pid_file.read_text()))
        except (FileNotFoundError, ValueError):
            return False


def _alive(pid: int) -> bool:
    """True while the process runs; reaps it when it is our own child, so no zombie looks alive."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass  # started by another process (an earlier `zorgstroom up`): ask the kernel instead
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def plan(run_dir: Path, base_port: int) -> list[ServiceProcess]:
    return [
        ServiceProcess(name, base_port + i, run_dir / f"{name}.pid", run_dir / f"{name}.log")
        for i, name in enumerate(SERVICES)
    ]


def start(service: ServiceProcess, env: dict[str, str]) -> None:
    """Start one service in the background unless it already runs (safe to call twice)."""
    if service.running():
        return
    service.pid_file.parent.mkdir(parents=True, exist_ok=True)
    full_env = {
        **os.environ,
        **env,
        "ZS_SERVICE_NAME": service.name,
        "ZS_HTTP_PORT": str(service.port),
        "OTEL_SERVICE_NAME": f"zorgstroom-{service.name}",
    }
    if service.name != "intake":  # the pseudonym key is intake's alone, even if the operator's shell holds it
        full_env.pop("ZS_CLIENT_REF_SECRET", None)
    # The schema owner's URL is `zorgstroom migrate`'s: a running service never holds it, nor a password
    # from the operator's shell (its own login role's is in the pgpass file `env` names).
    for owners in ("ZS_MIGRATION_DATABASE_URL", "PGPASSWORD"):
        full_env.pop(owners, None)
    with service.log_file.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", f"zorgstroom_{service.name}"],
            env=full_env,
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    service.pid_file.write_text(str(process.pid))


def wait_ready(service: ServiceProcess, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not service.running():
            raise RuntimeError(f"{service.name} exited; see {service.log_file}")
        try:
            if httpx.get(f"{service.url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{service.name} not ready within {timeout}s; see {service.log_file}")


def stop(service: ServiceProcess, timeout: float = 20.0) -> None:
    if not service.running():
        service.pid_file.unlink(missing_ok=True)
        return
    pid = int(service.pid_file.read_text())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and service.running():
        time.sleep(0.2)
    if service.running():
        os.kill(pid, signal.SIGKILL)
    service.pid_file.unlink(missing_ok=True)
