"""A settings refusal in production names the setting at fault and shows no secret it was given."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.support.stack import write_credentials
from zorgstroom_runtime.settings import ServiceSettings

CLIENT_REF_SECRET = "hmac-key-" + "4b" * 28
WEAK_CLIENT_REF_SECRET = "hmac-key-too-short-77"
KAFKA_PASSWORD = "kafka-password-" + "c3" * 12
DB_PASSWORD = "db-password-" + "d5" * 12
OWNER_PASSWORD = "owner-password-" + "e7" * 12
SECRETS = (CLIENT_REF_SECRET, WEAK_CLIENT_REF_SECRET, KAFKA_PASSWORD, DB_PASSWORD, OWNER_PASSWORD)


@pytest.fixture(autouse=True)
def no_settings_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in [n for n in os.environ if n.startswith("ZS_")]:
        monkeypatch.delenv(name)
    yield


def refusals(credentials_file: Path) -> dict[str, dict[str, object]]:
    """Every production refusal, each given every secret a deployment holds."""
    safe: dict[str, object] = dict(
        service_name="intake",
        client_ref_secret=CLIENT_REF_SECRET,
        database_url=f"postgresql://intake_app:{DB_PASSWORD}@db.example:5432/zorgstroom",
        kafka_security_protocol="SASL_SSL",
        kafka_username="intake",
        kafka_password=KAFKA_PASSWORD,
        kafka_replication_factor=3,
        kafka_min_insync_replicas=2,
        credentials_file=credentials_file,
    )
    owner_url = f"postgresql://intake_migrator:{OWNER_PASSWORD}@db.example:5432/zorgstroom"
    return {
        "weak HMAC key": safe | {"client_ref_secret": WEAK_CLIENT_REF_SECRET},
        "Kafka without SASL": safe | {"kafka_security_protocol": "PLAINTEXT"},
        "SASL unencrypted": safe | {"kafka_security_protocol": "SASL_PLAINTEXT"},
        "no credentials file": safe | {"credentials_file": None},
        "the owner's URL": safe | {"migration_database_url": owner_url},
        "a malformed setting": safe | {"kafka_security_protocol": "SASL_SSL", "db_pool_max": "many"},
    }


@pytest.mark.parametrize("refusal", ["weak HMAC key", "Kafka without SASL", "SASL unencrypted",
                                     "no credentials file", "the owner's URL", "a malformed setting"])  # fmt: skip
def test_a_refusal_in_production_shows_no_secret(tmp_path: Path, refusal: str) -> None:
    credentials_file, _ = write_credentials(tmp_path)
    with pytest.raises(ValidationError) as refused:
        ServiceSettings(_env_file=None, **refusals(credentials_file)[refusal])  # type: ignore[arg-type]
    shown = [str(refused.value), repr(refused.value), refused.value.json(), repr(refused.value.errors())]
    for secret in SECRETS:
        for text in shown:
            assert secret not in text and secret[:12] not in text and secret[-12:] not in text


def test_a_running_service_in_production_refuses_the_schema_owners_url(tmp_path: Path) -> None:
    credentials_file, _ = write_credentials(tmp_path)
    values = refusals(credentials_file)["the owner's URL"]
    with pytest.raises(ValidationError, match=r"ZS_MIGRATION_DATABASE_URL.*zorgstroom migrate"):
        ServiceSettings(_env_file=None, **values)  # type: ignore[arg-type]
