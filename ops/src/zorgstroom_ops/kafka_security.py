"""SASL users and ACLs on a natively started broker: the plan comes from the runtime, Kafka's own
AclCommand applies it (through deploy/kafka.sh)."""

import hashlib
import json
import subprocess
from pathlib import Path

from zorgstroom_housing.bootstrap import DEFINITION as HOUSING
from zorgstroom_intake.bootstrap import DEFINITION as INTAKE
from zorgstroom_placement.bootstrap import DEFINITION as PLACEMENT
from zorgstroom_reporting.bootstrap import DEFINITION as REPORTING
from zorgstroom_runtime.acl import AclGrant, redrive_grants, service_grants
from zorgstroom_runtime.app import ServiceDefinition

DEFINITIONS: dict[str, ServiceDefinition] = {d.name: d for d in (INTAKE, PLACEMENT, HOUSING, REPORTING)}


def stack_grants(prefix: str = "", services: list[str] | None = None) -> list[AclGrant]:
    """The services' grants (all, or those named) and the dead-letter redrive's."""
    chosen = services or list(DEFINITIONS)
    grants = [g for name in chosen for g in service_grants(name, DEFINITIONS[name].consumed_event_types(), prefix)]
    return grants + redrive_grants(prefix)


def read_users(kafka_dir: Path) -> dict[str, str]:
    """The SCRAM passwords deploy/kafka.sh generated for this broker instance (users.txt)."""
    lines = (kafka_dir / "users.txt").read_text().splitlines()
    return dict(line.split(" ", 1) for line in lines if line.strip())


def add_user(name: str, root: Path, env: dict[str, str]) -> bool:
    """A SCRAM user on the running broker (deploy/kafka.sh user add), its password kept in users.txt;
    False when it was a user already."""
    done = subprocess.run(
        [str(root / "deploy" / "kafka.sh"), "user", "add", name], env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.strip().endswith(": added")


def apply_grants(grants: list[AclGrant], root: Path, env: dict[str, str], marker: Path | None = None) -> int:
    """Add the ACLs (adding one twice is harmless); skipped when `marker` shows this plan was applied."""
    digest = hashlib.sha256(json.dumps([g.command_args() for g in grants]).encode()).hexdigest()
    if marker is not None and marker.exists() and marker.read_text() == digest:
        return 0
    for grant in grants:
        subprocess.run(
            [str(root / "deploy" / "kafka.sh"), "acl", *grant.command_args()],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    if marker is not None:
        marker.write_text(digest)
    return len(grants)


def service_kafka_env(service: str, users: dict[str, str]) -> dict[str, str]:
    return {
        "ZS_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "ZS_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "ZS_KAFKA_USERNAME": service,
        "ZS_KAFKA_PASSWORD": users[service],
    }
