"""Kafka client settings from a Java client properties file, for every client of the project.

Each client reads the file named by KAFKA_CLIENT_PROPERTIES, else its own role's file,
`.run/kafka/clients/<role>.properties` (KAFKA_CLIENTS_DIR), else connects without
security (a local broker with a PLAINTEXT listener). The format is Kafka's own, so the
same file works with the console tools' --consumer.config / --producer.config:

    security.protocol=SASL_SSL
    sasl.mechanism=SCRAM-SHA-512
    sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\
        username="office-79" password="...";
    ssl.truststore.location=/etc/kafka/ca.pem      # PEM: ssl.truststore.type=PEM

Values may come from files through Kafka's config providers, as Strimzi's KafkaUser Secrets
are mounted in Kubernetes (deploy/k8s/config.yaml):

    config.providers=secrets
    config.providers.secrets.class=org.apache.kafka.common.config.provider.DirectoryConfigProvider
    sasl.jaas.config=${secrets:/etc/kafka/user:sasl.jaas.config}

This module turns it into keyword arguments for kafka-python and aiokafka, and Faust
credentials. What it does not understand it refuses by name, rather than connecting with
less security than the file asks for.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROTOCOLS = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}
MECHANISMS = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}
# Settings that change nothing the clients here need to know (or that they apply anyway).
IGNORED = {"bootstrap.servers", "client.id", "group.id", "ssl.truststore.type", "ssl.keystore.type",
           "ssl.endpoint.identification.algorithm", "isolation.level", "enable.auto.commit",
           "auto.offset.reset", "key.deserializer", "value.deserializer", "key.serializer", "value.serializer"}
_JAAS_OPTION = re.compile(r'(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"')
# ${provider:path:key}, Kafka's reference to a value a config provider reads.
_PROVIDED = re.compile(r"\$\{([A-Za-z0-9_.-]+):([^:}]*):([^}]*)\}")
PROVIDERS = {"org.apache.kafka.common.config.provider.DirectoryConfigProvider": "directory",
             "org.apache.kafka.common.config.provider.FileConfigProvider": "file"}


class ClientPropertiesError(ValueError):
    """The client properties file cannot be used as it is; the message says what to fix."""


def parse_properties(text: str) -> dict[str, str]:
    """Java .properties: key=value or key: value, # and ! comments, \\ line continuations."""
    props: dict[str, str] = {}
    logical = ""
    for raw in text.splitlines():
        line = raw.strip() if not logical else raw.lstrip()
        if not logical and (not line or line[0] in "#!"):
            continue
        if line.endswith("\\") and not line.endswith("\\\\"):
            logical += line[:-1]
            continue
        logical += line
        match = re.match(r"([^=:\s]+)\s*[=:\s]\s*(.*)$", logical)
        if match:
            props[match.group(1)] = match.group(2).strip()
        logical = ""
    return props


@dataclass(frozen=True)
class ClientSecurity:
    protocol: str = "PLAINTEXT"
    mechanism: str | None = None
    username: str | None = None
    password: str | None = None
    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    source: str | None = None  # the file it came from, for messages (never the password)

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.protocol.endswith("SSL")

    @property
    def principal(self) -> str:
        return self.username or "ANONYMOUS"

    def _common(self) -> dict[str, Any]:
        """The arguments kafka-python and aiokafka name alike."""
        kwargs: dict[str, Any] = {"security_protocol": self.protocol}
        if self.sasl:
            kwargs.update(sasl_mechanism=self.mechanism, sasl_plain_username=self.username,
                          sasl_plain_password=self.password)
        return kwargs

    def kafka_python(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python's producer, consumer and admin client."""
        kwargs = self._common()
        if self.tls:
            kwargs.update(ssl_cafile=self.cafile, ssl_certfile=self.certfile, ssl_keyfile=self.keyfile)
        return kwargs

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's consumer and producer."""
        kwargs = self._common()
        if self.tls:
            kwargs["ssl_context"] = self.ssl_context()
        return kwargs

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.cafile)
        if self.certfile:
            context.load_cert_chain(self.certfile, self.keyfile)
        return context


def resolve_providers(props: dict[str, str], source: str | None = None) -> dict[str, str]:
    """The settings with ${provider:path:key} references replaced by what the provider reads:
    DirectoryConfigProvider, the file `key` in the directory `path` (a mounted Secret);
    FileConfigProvider, the key `key` of the properties file `path`."""
    where = f" in {source}" if source else ""
    kinds: dict[str, str] = {}
    for name in (n.strip() for n in props.get("config.providers", "").split(",")):
        if not name:
            continue
        kind = PROVIDERS.get(props.get(f"config.providers.{name}.class", ""))
        if kind is None:
            raise ClientPropertiesError(f"config.providers.{name}.class{where}: only DirectoryConfigProvider and "
                                        "FileConfigProvider are supported")
        kinds[name] = kind

    def provided(match: re.Match) -> str:
        name, path, key = match.groups()
        if name not in kinds:
            raise ClientPropertiesError(f"no config provider {name!r}{where} (config.providers)")
        try:
            if kinds[name] == "directory":
                return (Path(path) / key).read_text(encoding="utf-8").strip()
            value = parse_properties(Path(path).read_text(encoding="utf-8")).get(key)
        except OSError as exc:
            raise ClientPropertiesError(f"{name}:{path}:{key}{where} cannot be read ({exc.strerror})") from None
        if value is None:
            raise ClientPropertiesError(f"{path} has no key {key!r} ({name}{where})")
        return value

    return {k: _PROVIDED.sub(provided, v) for k, v in props.items() if not k.startswith("config.providers")}


def security_from(props: dict[str, str], source: str | None = None) -> ClientSecurity:
    where = f" in {source}" if source else ""
    props = resolve_providers(props, source)
    unknown = sorted(k for k in props if k not in IGNORED and k not in {
        "security.protocol", "sasl.mechanism", "sasl.jaas.config", "ssl.truststore.location",
        "ssl.keystore.location", "ssl.key.location", "ssl.certificate.location"})
    if unknown:
        raise ClientPropertiesError(f"unsupported client setting(s){where}: {', '.join(unknown)}")
    protocol = props.get("security.protocol", "PLAINTEXT").upper()
    if protocol not in PROTOCOLS:
        raise ClientPropertiesError(f"security.protocol{where} must be one of {', '.join(sorted(PROTOCOLS))}")
    mechanism = username = password = None
    if protocol.startswith("SASL_"):
        mechanism = props.get("sasl.mechanism", "GSSAPI").upper()
        if mechanism not in MECHANISMS:
            raise ClientPropertiesError(f"sasl.mechanism{where} must be one of {', '.join(sorted(MECHANISMS))}")
        # JAAS quoted strings: a backslash escapes the next character (Java's StreamTokenizer).
        options = {k: re.sub(r"\\(.)", r"\1", v) for k, v in _JAAS_OPTION.findall(props.get("sasl.jaas.config", ""))}
        username, password = options.get("username"), options.get("password")
        if not username or password is None:
            raise ClientPropertiesError(f"sasl.jaas.config{where} needs username=\"...\" and password=\"...\"")
    return ClientSecurity(protocol, mechanism, username, password, props.get("ssl.truststore.location"),
                          props.get("ssl.certificate.location") or props.get("ssl.keystore.location"),
                          props.get("ssl.key.location"), source)


def client_security(role: str, explicit: str = "", clients_dir: str = ".run/kafka/clients") -> ClientSecurity:
    """The file named by KAFKA_CLIENT_PROPERTIES (`explicit`), else the role's own file,
    else no security."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ClientPropertiesError(f"KAFKA_CLIENT_PROPERTIES names {explicit}, which is not a file")
    else:
        path = Path(clients_dir) / f"{role}.properties"
        if not path.is_file():
            return ClientSecurity()
    return security_from(parse_properties(path.read_text(encoding="utf-8")), str(path))
