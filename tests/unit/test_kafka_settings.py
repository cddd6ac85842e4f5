"""Kafka transport in production: SCRAM over TLS, SASL_PLAINTEXT only when chosen by name, a private CA."""

import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.support.stack import write_credentials
from zorgstroom_runtime.kafka import KafkaConnection
from zorgstroom_runtime.settings import ServiceSettings


@pytest.fixture(autouse=True)
def no_settings_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in [n for n in os.environ if n.startswith("ZS_")]:
        monkeypatch.delenv(name)
    yield


def settings(tmp_path: Path, **values: object) -> ServiceSettings:
    credentials_file, _ = write_credentials(tmp_path)
    values = {"kafka_replication_factor": 3, "kafka_min_insync_replicas": 2} | values
    return ServiceSettings(service_name="placement", credentials_file=credentials_file, _env_file=None, **values)  # type: ignore[arg-type]


def test_production_refuses_sasl_without_tls_and_says_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as refused:
        settings(tmp_path, kafka_security_protocol="SASL_PLAINTEXT")
    message = str(refused.value)
    assert "SASL_PLAINTEXT sends events unencrypted" in message
    assert "SASL_SSL" in message and "ZS_KAFKA_ALLOW_PLAINTEXT=true" in message


def test_production_accepts_sasl_without_tls_only_when_allowed_by_name(tmp_path: Path) -> None:
    allowed = settings(tmp_path, kafka_security_protocol="SASL_PLAINTEXT", kafka_allow_plaintext=True)
    assert allowed.kafka_security_protocol == "SASL_PLAINTEXT"


def test_the_allowance_reads_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZS_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    with pytest.raises(ValidationError, match="ZS_KAFKA_ALLOW_PLAINTEXT"):
        settings(tmp_path)
    monkeypatch.setenv("ZS_KAFKA_ALLOW_PLAINTEXT", "true")
    assert settings(tmp_path).kafka_allow_plaintext


def test_production_never_accepts_kafka_without_authentication(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="SASL_SSL"):
        settings(tmp_path, kafka_security_protocol="PLAINTEXT", kafka_allow_plaintext=True)


def test_development_and_test_keep_sasl_plaintext_and_plaintext(tmp_path: Path) -> None:
    for environment in ("development", "test"):
        for protocol in ("SASL_PLAINTEXT", "PLAINTEXT"):
            assert settings(tmp_path, environment=environment, kafka_security_protocol=protocol)


def test_sasl_ssl_passes_and_its_ca_file_reaches_the_clients(tmp_path: Path) -> None:
    ca = Path(__file__).parent / "data" / "kafka-test-ca.pem"
    chosen = settings(tmp_path, kafka_security_protocol="SASL_SSL", kafka_ca_file=ca)
    options = KafkaConnection.from_settings(chosen).options()
    context: ssl.SSLContext = options["ssl_context"]
    assert options["security_protocol"] == "SASL_SSL"
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "Zorgstroom test CA"),),)]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_a_ca_file_that_does_not_exist_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="kafka_ca_file"):
        settings(tmp_path, kafka_security_protocol="SASL_SSL", kafka_ca_file=tmp_path / "missing.pem")


def test_more_in_sync_replicas_than_replicas_is_refused_in_every_environment() -> None:
    import pytest
    from pydantic import ValidationError

    from zorgstroom_runtime.settings import ServiceSettings

    with pytest.raises(ValidationError, match="may not exceed ZS_KAFKA_REPLICATION_FACTOR"):
        ServiceSettings(environment="development", kafka_replication_factor=1, kafka_min_insync_replicas=2)
    assert ServiceSettings(environment="development", kafka_replication_factor=3, kafka_min_insync_replicas=2)


def test_production_refuses_fewer_than_three_replicas_or_two_in_sync_unless_allowed(tmp_path: Path) -> None:
    import pytest
    from pydantic import ValidationError

    for replicas, in_sync in ((1, 1), (3, 1), (2, 2)):
        with pytest.raises(ValidationError, match="ZS_KAFKA_REPLICATION_FACTOR must be 3 or more"):
            settings(tmp_path, kafka_security_protocol="SASL_SSL", kafka_replication_factor=replicas,
                     kafka_min_insync_replicas=in_sync)  # fmt: skip
    assert settings(
        tmp_path, kafka_security_protocol="SASL_SSL", kafka_replication_factor=1, kafka_min_insync_replicas=1,
        kafka_allow_fewer_replicas=True,
    )  # fmt: skip
