"""Settings refuse what would be unsafe in production."""

import pytest
from pydantic import ValidationError

from zorgstroom_runtime.settings import ServiceSettings


def test_production_refuses_a_placeholder_or_short_secret(tmp_path) -> None:  # type: ignore[no-untyped-def]
    credentials = tmp_path / "c.json"
    for secret in ("development-only-secret", "changeme", "short-but-not-a-placeholder"):
        with pytest.raises(ValidationError, match="ZS_CLIENT_REF_SECRET"):
            ServiceSettings(environment="production", client_ref_secret=secret, credentials_file=credentials)


def test_production_refuses_to_run_without_credentials() -> None:
    with pytest.raises(ValidationError, match="ZS_CREDENTIALS_FILE"):
        ServiceSettings(environment="production", client_ref_secret="s" * 40, kafka_security_protocol="SASL_SSL")


def test_production_refuses_kafka_without_authentication(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match="SASL"):
        ServiceSettings(environment="production", client_ref_secret="s" * 40, credentials_file=tmp_path / "c")


def test_settings_come_from_the_environment(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ZS_TOPIC_PREFIX", "fl.")
    monkeypatch.setenv("ZS_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    settings = ServiceSettings(service_name="intake")
    assert settings.topic_prefix == "fl." and settings.kafka_bootstrap == "127.0.0.1:1"
    assert settings.schema_name == "intake"
