"""The consumers' broker is given the connection's security: SASL mechanism, credentials and TLS."""

from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from zorgstroom_runtime.broker import kafka_security
from zorgstroom_runtime.kafka import KafkaConnection


def test_a_plaintext_connection_has_no_security_settings() -> None:
    assert kafka_security(KafkaConnection("127.0.0.1:1")) is None


def test_each_sasl_mechanism_gets_its_credentials_and_tls_only_where_asked() -> None:
    for mechanism, kind in [("SCRAM-SHA-512", SASLScram512), ("SCRAM-SHA-256", SASLScram256), ("PLAIN", SASLPlaintext)]:
        plain = kafka_security(KafkaConnection("b:1", "SASL_PLAINTEXT", mechanism, "placement", "secret"))
        assert isinstance(plain, kind) and not plain.use_ssl
        assert (plain.username, plain.password) == ("placement", "secret")
    over_tls = kafka_security(KafkaConnection("b:1", "SASL_SSL", "SCRAM-SHA-512", "placement", "secret"))
    assert isinstance(over_tls, SASLScram512) and over_tls.use_ssl and over_tls.ssl_context is not None


def test_tls_without_sasl_is_tls_alone() -> None:
    security = kafka_security(KafkaConnection("b:1", "SSL"))
    assert type(security) is BaseSecurity and security.use_ssl and security.ssl_context is not None
