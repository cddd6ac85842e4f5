"""Settings refuse what is unsafe in production, the default; the client_ref key is intake's alone."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from tests.support.stack import write_credentials
from zorgstroom_intake.bootstrap import build as build_intake
from zorgstroom_intake.entrypoints.http import MissingClientRefSecret
from zorgstroom_runtime.settings import ServiceSettings

REAL_SECRET = "9f" * 32  # 64 characters, as `openssl rand -hex 32` gives


@pytest.fixture(autouse=True)
def no_settings_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in [n for n in os.environ if n.startswith("ZS_")]:
        monkeypatch.delenv(name)
    yield


def production(tmp_path: Path, service: str, **values: object) -> ServiceSettings:
    """Settings a production deployment would give: SCRAM over TLS and a credentials file."""
    credentials_file, _ = write_credentials(tmp_path)
    return ServiceSettings(
        service_name=service,
        credentials_file=credentials_file,
        _env_file=None,
        **{"kafka_security_protocol": "SASL_SSL", "kafka_replication_factor": 3, "kafka_min_insync_replicas": 2}
        | values,  # type: ignore[arg-type]
    )


def test_the_default_environment_is_production() -> None:
    assert ServiceSettings.model_fields["environment"].default == "production"
    # So a bare service gets every production guard: here, Kafka without authentication.
    with pytest.raises(ValidationError, match=r"SASL.*in production.*ZS_ENVIRONMENT=development"):
        ServiceSettings(service_name="placement", _env_file=None)


def test_production_refuses_a_placeholder_or_short_secret(tmp_path: Path) -> None:
    for secret in ("development-only-secret", "changeme", "", "short-but-not-a-placeholder", "secret" + " " * 30):
        with pytest.raises(ValidationError, match="ZS_CLIENT_REF_SECRET"):
            production(tmp_path, "intake", client_ref_secret=secret)


def test_production_refuses_to_run_without_credentials() -> None:
    with pytest.raises(ValidationError, match="ZS_CREDENTIALS_FILE"):
        ServiceSettings(kafka_security_protocol="SASL_SSL", _env_file=None)


def test_production_refuses_kafka_without_authentication(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="SASL"):
        ServiceSettings(credentials_file=tmp_path / "c", _env_file=None)


@pytest.mark.parametrize("service", ["placement", "housing", "reporting"])
def test_a_service_other_than_intake_starts_without_the_key(tmp_path: Path, service: str) -> None:
    settings = production(tmp_path, service)
    assert settings.client_ref_secret is None
    bootstrap = __import__(f"zorgstroom_{service}.bootstrap", fromlist=["build"])
    app = bootstrap.build(settings)
    assert TestClient(app).get("/healthz").json() == {"status": "ok"}


def test_intake_refuses_to_start_without_the_key(tmp_path: Path) -> None:
    with pytest.raises(MissingClientRefSecret, match="ZS_CLIENT_REF_SECRET"):
        build_intake(production(tmp_path, "intake"))
    with pytest.raises(MissingClientRefSecret, match="ZS_CLIENT_REF_SECRET"):  # not even in development
        build_intake(production(tmp_path, "intake", environment="development", client_ref_secret=""))


def test_intake_starts_with_a_real_key_in_production(tmp_path: Path) -> None:
    app = build_intake(production(tmp_path, "intake", client_ref_secret=REAL_SECRET))
    assert "/v1/intakes" in app.openapi()["paths"]
    assert TestClient(app).get("/healthz").json() == {"status": "ok"}


def test_intake_refuses_a_placeholder_key_outside_development(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="ZS_CLIENT_REF_SECRET"):
        production(tmp_path, "intake", client_ref_secret="development-only-secret")
    # The explicit choice of development (make demo, docker compose) accepts it.
    assert build_intake(production(tmp_path, "intake", environment="development", client_ref_secret="changeme"))


def start_intake_process(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m zorgstroom_intake` as an operator starts it; it must stop before serving anything."""
    credentials_file, _ = write_credentials(tmp_path)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ZS_")}
    env = {"ZS_CREDENTIALS_FILE": str(credentials_file), "ZS_HTTP_PORT": "1", **env}
    return subprocess.run(
        [sys.executable, "-m", "zorgstroom_intake"],
        env=clean | env,
        cwd=tmp_path,  # no .env file
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_intake_process_refuses_to_start_without_the_key_or_with_a_placeholder(tmp_path: Path) -> None:
    missing = start_intake_process(tmp_path, ZS_ENVIRONMENT="test")
    assert missing.returncode == 1
    assert "intake refuses to start: ZS_CLIENT_REF_SECRET is not set" in missing.stderr
    placeholder = start_intake_process(
        tmp_path,
        ZS_ENVIRONMENT="production",
        ZS_KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        ZS_CLIENT_REF_SECRET="development-only-secret",
    )
    assert placeholder.returncode == 1
    assert "intake refuses to start" in placeholder.stderr and "ZS_CLIENT_REF_SECRET" in placeholder.stderr
    assert "Traceback" not in missing.stderr + placeholder.stderr


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZS_ENVIRONMENT", "development")
    monkeypatch.setenv("ZS_TOPIC_PREFIX", "fl.")
    monkeypatch.setenv("ZS_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    settings = ServiceSettings(service_name="intake", _env_file=None)
    assert settings.topic_prefix == "fl." and settings.kafka_bootstrap == "127.0.0.1:1"
    assert settings.schema_name == "intake" and settings.environment == "development"
