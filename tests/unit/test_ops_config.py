"""The operator CLI reads its environment when a command runs, not when it is imported."""

import subprocess
import sys
from pathlib import Path

from zorgstroom_ops.config import OpsConfig


def test_importing_the_cli_reads_no_environment() -> None:
    # A value that cannot be parsed would break an import that read it; importing must not care.
    code = "import zorgstroom_ops.cli, zorgstroom_ops.config as c; assert c.config.cache_info().currsize == 0"
    env = {"ZS_KAFKA_PORT": "not-a-port", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_environment_decides_where_the_stack_is() -> None:
    config = OpsConfig.from_environment(
        {"ZS_ROOT": "/srv/zs", "ZS_PG_PORT": "5433", "ZS_KAFKA_SASL": "0", "ZS_PROMETHEUS_PORT": "9191"}
    )
    assert config.run == Path("/srv/zs/.cache/run/demo")
    assert config.database_url == "postgresql://zorgstroom@127.0.0.1:5433/zorgstroom"
    assert (config.sasl, config.kafka_port, config.prometheus) == (False, 19092, "http://127.0.0.1:9191")
    assert config.default_region == Path("/srv/zs/data/regions/flevoland.toml")


def test_the_stacks_acls_let_intake_read_the_bw_endings_it_learns_from() -> None:
    from zorgstroom_intake.bootstrap import DEFINITION
    from zorgstroom_runtime.acl import service_grants

    # The stack's plan (kafka_security.stack_grants) is exactly this for each service's definition.
    grants = {g.role: g for g in service_grants("intake", DEFINITION.consumed_event_types(), "fl.")}
    assert grants["consumer"].topics == ("fl.wmo.placement-ended.v1",) and grants["consumer"].group == "fl.intake"
    assert grants["producer"].topics == ("fl.wmo.client-registered.v1", "fl.wmo.placement-ended.v1.dlq")
