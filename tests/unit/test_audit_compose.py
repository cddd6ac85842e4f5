"""The compose file's PostgreSQL asks for passwords (scram-sha-256) and holds none of its own."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_postgres_uses_scram_and_a_password_from_a_secret() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    postgres = compose["services"]["postgres"]["environment"]
    assert "POSTGRES_PASSWORD" not in postgres and postgres["POSTGRES_PASSWORD_FILE"].startswith("/run/secrets/")
    assert postgres["POSTGRES_HOST_AUTH_METHOD"] == "scram-sha-256"
    assert "--auth-local=scram-sha-256" in postgres["POSTGRES_INITDB_ARGS"]
    assert compose["secrets"]["postgres_password"] == {"environment": "ZS_PG_PASSWORD"}


def test_compose_services_have_no_default_database_password() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert "zorgstroom:zorgstroom@" not in text
    assert "${ZS_PG_PASSWORD:?" in text  # compose refuses to start without it
