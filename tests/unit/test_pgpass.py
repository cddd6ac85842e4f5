"""The shared pgpass file keeps every line while deploy/postgres.sh rewrites it and db-roles adds to it."""

import os
import subprocess
import threading
import time
from pathlib import Path

from tests.support.infra import ROOT
from zorgstroom_ops.db_roles import PgPass, ServiceRoles, service_pgpass


def rewrite_by_postgres_sh(cache: Path, pgpass: Path, port: int) -> subprocess.Popen[bytes]:
    """deploy/postgres.sh's rewrite of its superuser's line (what its `start` does before the server starts)."""
    run = cache / "run" / f"lock{port}" / "postgres"
    run.mkdir(parents=True, exist_ok=True)
    (run / "superuser-password").write_text("ab" * 24)
    env = {**os.environ, "ZS_CACHE": str(cache), "ZS_INSTANCE": f"lock{port}", "ZS_PG_PORT": str(port)}
    env["PGPASSFILE"] = str(pgpass)
    return subprocess.Popen([str(ROOT / "deploy/postgres.sh"), "remember_password"], env=env)


def test_no_line_is_lost_when_postgres_sh_and_db_roles_write_at_once(tmp_path: Path) -> None:
    pgpass = PgPass(tmp_path / "run" / "pgpass")
    users = [f"svc{i}_app" for i in range(60)]

    def add_users() -> None:  # spread over the rewrites, as `zorgstroom up` runs db-roles after postgres.sh
        for user in users:
            pgpass.ensure("127.0.0.1", 15432, "zorgstroom", user)
            time.sleep(0.005)

    adding = threading.Thread(target=add_users)
    adding.start()
    rewrites = []
    for i in range(12):
        rewrites.append(rewrite_by_postgres_sh(tmp_path, pgpass.path, 16000 + i))
        time.sleep(0.02)
    adding.join(60)
    assert all(rewrite.wait(60) == 0 for rewrite in rewrites)
    lost = [u for u in users if pgpass.password("127.0.0.1", 15432, "zorgstroom", u) is None]
    assert lost == []
    assert all(pgpass.password("127.0.0.1", 16000 + i, "*", "zorgstroom") == "ab" * 24 for i in range(12))
    assert oct(pgpass.path.stat().st_mode & 0o777) == "0o600"


def test_a_service_is_given_a_pgpass_file_with_its_login_roles_password_alone(tmp_path: Path) -> None:
    shared = PgPass(tmp_path / "pgpass")
    roles = ServiceRoles("intake", "127.0.0.1", 15432, "zorgstroom")
    for role in ("zorgstroom", roles.migrator, roles.app, "placement_app"):
        shared.ensure(roles.host, roles.port, roles.database, role)
    own = service_pgpass(roles, shared, tmp_path / "demo" / "intake.pgpass")
    app_password = shared.password(roles.host, roles.port, roles.database, roles.app)
    assert own.read_text() == f"127.0.0.1:15432:zorgstroom:intake_app:{app_password}\n"
    assert oct(own.stat().st_mode & 0o777) == "0o600"
    assert roles.service_env(own) == {
        "ZS_DATABASE_URL": "postgresql://intake_app@127.0.0.1:15432/zorgstroom",
        "PGPASSFILE": str(own),
    }  # no ZS_MIGRATION_DATABASE_URL: the migrator's password is `zorgstroom migrate`'s
