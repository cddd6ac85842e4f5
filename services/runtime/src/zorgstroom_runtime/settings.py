"""Typed settings from ZS_* environment variables (or a .env file), one class for every service."""

from pathlib import Path
from typing import Literal

from limits import parse as parse_rate_limit
from pydantic import Field, FilePath, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

from zorgstroom_runtime.jwt_auth import load_issuers

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "development-only-secret", "secret"}
MIN_SECRET_LENGTH = 32


def weak_secret(secret: str) -> bool:
    """Empty, a known placeholder, or too short to resist a brute force over the ~91 M valid BSNs."""
    return secret.strip().lower() in PLACEHOLDER_SECRETS or len(secret) < MIN_SECRET_LENGTH


def _refused(refusal: str) -> ValidationError:
    """A settings refusal that carries only its own sentence: a ValueError from a model validator would
    carry every setting given (the HMAC key, passwords in URLs) in its text and in `errors()`."""
    error = PydanticCustomError("unsafe_in_production", "{refusal}", {"refusal": refusal})
    return ValidationError.from_exception_data(
        "ServiceSettings", [{"type": error, "loc": (), "input": None}], hide_input=True
    )


class ServiceSettings(BaseSettings):
    # A field's own error (a malformed password, say) shows no input either.
    model_config = SettingsConfigDict(env_prefix="ZS_", env_file=".env", extra="ignore", hide_input_in_errors=True)

    service_name: str = "zorgstroom"
    # Production unless told otherwise: a deployment that forgets ZS_ENVIRONMENT gets every guard below.
    environment: Literal["development", "test", "production"] = "production"
    database_url: str = Field(
        default="postgresql://zorgstroom@127.0.0.1:15432/zorgstroom",
        description="The service's own login role: DML on its schema, only INSERT and SELECT on audit_log.",
    )
    migration_database_url: str | None = Field(
        default=None,
        description="Development and test: the role that owns the schema; the service migrates over it, then"
        " grants the login role of ZS_DATABASE_URL what it may do. Unset there: it migrates over"
        " ZS_DATABASE_URL. Refused in production, where `zorgstroom migrate` migrates before the services start.",
    )
    db_schema: str | None = Field(default=None, description="Defaults to the service name.")
    db_pool_max: int = 10
    kafka_bootstrap: str = "127.0.0.1:19092"
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] = "SCRAM-SHA-512"
    kafka_username: str | None = Field(default=None, description="This service's Kafka principal.")
    kafka_password: SecretStr | None = None
    kafka_ca_file: FilePath | None = Field(
        default=None, description="PEM file of the CA that signed the brokers' certificates (SASL_SSL)."
    )
    kafka_allow_plaintext: bool = Field(
        default=False,
        description="Production: accept SASL_PLAINTEXT, events and SCRAM exchanges unencrypted on the wire"
        " (only where the network itself encrypts them).",
    )
    kafka_replication_factor: int = Field(
        default=1, ge=1, le=7, description="Replicas of every topic the project creates; 3 or more in production."
    )
    kafka_min_insync_replicas: int = Field(
        default=1, ge=1, le=7, description="Replicas that must have a write before it counts (acks=all); 2 or more."
    )
    kafka_allow_fewer_replicas: bool = Field(
        default=False,
        description="Production: accept fewer than 3 replicas or 2 in sync (a cluster of one or two brokers, whose"
        " loss loses accepted events).",
    )
    topic_prefix: str = Field(default="", description="Region prefix put before every topic name.")
    region_file: Path = Path("data/regions/flevoland.toml")
    municipalities_file: Path = Path("data/municipalities-nl.csv")
    credentials_file: Path | None = None
    auth_issuers_file: FilePath | None = Field(
        default=None,
        description="TOML of the identity providers whose JWT access tokens are accepted, and the organisations"
        " each may speak for (see jwt_auth.py). Unset: static tokens of ZS_CREDENTIALS_FILE only.",
    )
    credentials_database_url: str | None = Field(
        default=None,
        description="The credentials store (schema `credentials`, API keys), read only; unset: ZS_DATABASE_URL's"
        " database. A region with a database per service points every service at the one store.",
    )
    api_keys_poll_seconds: float = Field(
        default=5.0,
        gt=0,
        description="API keys are reloaded at once on a change (LISTEN/NOTIFY), and every this many seconds besides.",
    )
    client_ref_secret: SecretStr | None = Field(
        default=None,
        description="The HMAC key that turns a BSN into client_ref: intake's alone, no other service is given it.",
    )
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    http_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Processes serving HTTP on the one port (uvicorn workers; a service that names its app factory):"
        " each has its own pool (ZS_DB_POOL_MAX connections) and relay, one of which publishes at a time.",
    )
    max_body_bytes: int = 64 * 1024
    rate_limit: str = Field(
        default="6000/minute",
        description="Requests one credential (and the person it acts for) may make to one process of a service, in"
        " a moving window ('6000/minute', '100/second'); more get 429. Per process: two processes, twice.",
    )
    rate_limit_refused: str = Field(
        default="600/minute",
        description="Requests with a failed authentication one client address may make to one process before"
        " further ones get 429 in place of 401 (and are counted, not audited).",
    )
    relay_batch_size: int = 500
    relay_poll_seconds: float = 1.0
    outbox_retention_hours: float = Field(
        default=168, description="Published outbox rows are deleted after this long (they hold client data)."
    )
    consumer_max_attempts: int = Field(
        default=5, description="Attempts of a failing handler (not a transient error) before dead-lettering."
    )
    offer_lapse_after_seconds: float | None = Field(
        default=None,
        description="Housing: lapse unanswered offers after this long instead of the region's offer_answer_days"
        " (for demos and tests that run a year in minutes).",
    )
    log_level: str = "INFO"
    relay_lease_seconds: float = Field(
        default=10.0,
        gt=0,
        description="A relay that has not read a batch for this long (stopped, hung, cut off) is replaced by"
        " another process of the service.",
    )
    relay_send_attempts: int = Field(
        default=5,
        ge=1,
        description="Refusals by Kafka of one outbox row (larger than the broker takes) before it is parked;"
        " later rows of its key wait behind it.",
    )
    bench_bare_endpoint: bool = Field(
        default=False,
        description="Benchmarks only (bench/intake_load.py), and only with ZS_ENVIRONMENT=test: intake also serves"
        " POST /bench/bare-intake, which parses an intake body and answers 202 without I/O (the ceiling to compare"
        " POST /v1/intakes with). Ignored in any other environment.",
    )

    @property
    def schema_name(self) -> str:
        return self.db_schema or self.service_name

    def _plain_http_issuers(self) -> list[str]:
        issuers = load_issuers(self.auth_issuers_file) if self.auth_issuers_file else []
        return [url for issuer in issuers for url in issuer.plain_http_urls()]

    @field_validator("rate_limit", "rate_limit_refused")
    @classmethod
    def _a_rate_limit_parses(cls, value: str) -> str:
        parse_rate_limit(value)  # its ValueError says what does not parse: the service refuses to start
        return value

    @model_validator(mode="after")
    def _refuse_more_in_sync_replicas_than_replicas(self) -> "ServiceSettings":
        # With more in sync than there are replicas, every acks=all write fails and the relay waits for ever.
        if self.kafka_min_insync_replicas > self.kafka_replication_factor:
            raise _refused("ZS_KAFKA_MIN_INSYNC_REPLICAS may not exceed ZS_KAFKA_REPLICATION_FACTOR")
        return self

    @model_validator(mode="after")
    def _refuse_placeholder_secrets_outside_development(self) -> "ServiceSettings":
        if self.environment != "production":
            return self
        refusal = None
        if self.client_ref_secret is not None and weak_secret(self.client_ref_secret.get_secret_value()):
            refusal = f"ZS_CLIENT_REF_SECRET must be a real secret of at least {MIN_SECRET_LENGTH} characters"
        elif self.kafka_security_protocol == "PLAINTEXT":
            refusal = "ZS_KAFKA_SECURITY_PROTOCOL must use SASL (SCRAM) over TLS: SASL_SSL"
        elif self.kafka_security_protocol == "SASL_PLAINTEXT" and not self.kafka_allow_plaintext:
            refusal = (
                "ZS_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT sends events unencrypted: use SASL_SSL (and"
                " ZS_KAFKA_CA_FILE for a private CA) or set ZS_KAFKA_ALLOW_PLAINTEXT=true"
            )
        elif self.credentials_file is None and self.auth_issuers_file is None:
            refusal = "ZS_CREDENTIALS_FILE or ZS_AUTH_ISSUERS_FILE must be set"
        elif plain := self._plain_http_issuers():
            # Keys fetched over plain HTTP can be swapped on the way, and with them every token accepted.
            refusal = f"ZS_AUTH_ISSUERS_FILE names an issuer or JWKS over plain http ({plain[0]}): use https"
        elif (self.kafka_replication_factor < 3 or self.kafka_min_insync_replicas < 2) and not (
            self.kafka_allow_fewer_replicas
        ):
            refusal = (
                "ZS_KAFKA_REPLICATION_FACTOR must be 3 or more and ZS_KAFKA_MIN_INSYNC_REPLICAS 2 or more, so that one"
                " broker's loss loses no accepted event (or set ZS_KAFKA_ALLOW_FEWER_REPLICAS=true)"
            )
        elif self.migration_database_url is not None:
            # Whoever controls a running service would hold the owner of its audit log.
            refusal = "ZS_MIGRATION_DATABASE_URL must not reach a running service: run `zorgstroom migrate` before it"
        if refusal:
            # Production is the default, so say how a local run chooses otherwise.
            raise _refused(f"{refusal} in production (ZS_ENVIRONMENT=development or test for a local run)")
        return self
