"""Kafka client properties files (schemas/kafka_client.py), without a broker."""

from pathlib import Path

import pytest
import yaml

from processors.engine.app import faust_credentials
from schemas.kafka_client import ClientPropertiesError, client_security, parse_properties, security_from

SCRAM = """# office-79, written by make up
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\
    username="office-79" password="p@ss=w\\"rd";
"""


def test_the_java_properties_format_with_comments_and_continuations():
    props = parse_properties(SCRAM + "\n! another comment\nclient.id : console\n")
    assert props["security.protocol"] == "SASL_PLAINTEXT" and props["client.id"] == "console"
    assert props["sasl.jaas.config"].startswith("org.apache.kafka.common.security.scram.ScramLoginModule required")
    assert 'username="office-79"' in props["sasl.jaas.config"]


def test_scram_settings_become_client_arguments():
    security = security_from(parse_properties(SCRAM), "office-79.properties")
    assert (security.protocol, security.mechanism, security.username) == ("SASL_PLAINTEXT", "SCRAM-SHA-512",
                                                                          "office-79")
    assert security.password == 'p@ss=w"rd'  # JAAS unescaped
    assert security.kafka_python() == {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
                                       "sasl_plain_username": "office-79", "sasl_plain_password": 'p@ss=w"rd'}
    assert security.aiokafka()["sasl_plain_username"] == "office-79"
    credentials = faust_credentials(security)
    assert credentials.username == "office-79" and credentials.mechanism.value == "SCRAM-SHA-512"


@pytest.mark.parametrize("text, fragment", [
    ("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=GSSAPI\n", "sasl.mechanism"),
    ("security.protocol=TLS\n", "security.protocol"),
    ("security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config=x required;\n", "username"),
    ("security.protocol=SSL\nssl.truststore.password=secret\n", "ssl.truststore.password"),
])
def test_what_cannot_be_honoured_is_refused_by_name_and_never_quotes_a_password(text, fragment):
    with pytest.raises(ClientPropertiesError) as refused:
        security_from(parse_properties(text), "x.properties")
    assert fragment in str(refused.value) and "secret" not in str(refused.value)


def test_the_role_file_is_used_unless_a_file_is_named(tmp_path):
    (tmp_path / "sink.properties").write_text(SCRAM.replace("office-79", "sink"))
    assert client_security("sink", "", str(tmp_path)).username == "sink"
    assert client_security("portal", "", str(tmp_path)).protocol == "PLAINTEXT"  # no file: no security
    named = tmp_path / "mine.properties"
    named.write_text(SCRAM)
    assert client_security("sink", str(named), str(tmp_path)).username == "office-79"
    with pytest.raises(ClientPropertiesError, match="not a file"):
        client_security("sink", str(tmp_path / "missing.properties"), str(tmp_path))


def test_the_kubernetes_client_file_reads_the_kafkausers_secret_through_a_config_provider(tmp_path):
    """deploy/k8s/config.yaml's file, with the Secret Strimzi makes for a KafkaUser mounted."""
    config = Path(__file__).resolve().parents[1] / "deploy" / "k8s" / "config.yaml"
    [client] = [d for d in yaml.safe_load_all(config.read_text()) if d["metadata"]["name"] == "kafka-client"]
    (tmp_path / "sasl.jaas.config").write_text('org.apache.kafka.common.security.scram.ScramLoginModule required '
                                               'username="router" password="s3cr\\"et";\n')
    text = client["data"]["client.properties"].replace("/etc/kafka/user", str(tmp_path))
    security = security_from(parse_properties(text), "client.properties")
    assert (security.protocol, security.mechanism, security.username, security.password, security.cafile) == \
        ("SASL_SSL", "SCRAM-SHA-512", "router", 's3cr"et', "/etc/kafka/ca/ca.crt")
    (tmp_path / "user.properties").write_text("password=from-a-file\n")
    filed = security_from(parse_properties(
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nconfig.providers=f\n"
        "config.providers.f.class=org.apache.kafka.common.config.provider.FileConfigProvider\n"
        f'sasl.jaas.config=x required username="u" password="${{f:{tmp_path}/user.properties:password}}";\n'))
    assert filed.password == "from-a-file"


@pytest.mark.parametrize("text, fragment", [
    ("config.providers=v\nconfig.providers.v.class=com.example.Vault\n", "only DirectoryConfigProvider"),
    ("sasl.jaas.config=${nowhere:/x:y}\n", "no config provider 'nowhere'"),
    ("config.providers=s\nconfig.providers.s.class=org.apache.kafka.common.config.provider.DirectoryConfigProvider\n"
     "sasl.jaas.config=${s:/nonexistent-dir:sasl.jaas.config}\n", "cannot be read"),
])
def test_a_provided_value_that_cannot_be_read_is_refused(text, fragment):
    with pytest.raises(ClientPropertiesError, match=fragment):
        security_from(parse_properties(text), "client.properties")
