"""The compose project's secured Kafka, run on this machine without Docker: the same
`secrets` step (deploy/kafka/principals.py compose), the same node script and template
(deploy/compose/kafka-node.sh) with the real broker jars, the same `principals` step (users
and ACLs as admin, then the topics). One node here, SASL_SSL for clients, mutual TLS on the
controller listener; each refusal proven."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError, TopicAuthorizationFailedError

from harness.processes import REPO, free_port
from producers.client import ComplaintPublisher
from schemas.admin_units import province_codes
from schemas import k8s_console
from schemas.kafka_client import client_security, parse_properties
from schemas.settings import Settings
from schemas.topics import Topics

pytestmark = pytest.mark.integration
LIBS = REPO / ".cache" / "kafka" / "libs"
TOPICS = Topics()


def shim(path: Path, main_class: str, logs: Path) -> str:
    path.write_text(f'#!/usr/bin/env bash\nexec java -Xmx512m -Dkafka.logs.dir={logs} '
                    f'-Dlog4j2.configurationFile={REPO}/deploy/kafka/log4j2.xml -cp "{LIBS}/*" {main_class} "$@"\n')
    path.chmod(0o755)
    return str(path)


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """A secured compose-style node on free ports: (secrets dir, bootstrap, controller port)."""
    home = tmp_path_factory.mktemp("compose-kafka")
    secrets, logs = home / "secrets", home / "logs"
    logs.mkdir()
    client_port, controller_port = free_port(), free_port()
    bootstrap = f"localhost:{client_port}"
    env = {**os.environ, "KAFKA_SECRETS_DIR": str(secrets), "KAFKA_CLIENT_CA": str(secrets / "tls" / "ca.pem"),
           "PYTHONPATH": str(REPO)}
    principals = [sys.executable, str(REPO / "deploy" / "kafka" / "principals.py")]
    done = subprocess.run([*principals, "compose", "kafka-1=localhost"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    node_env = {**env, "NODE_ID": "1", "VOTERS": f"1@localhost:{controller_port}", "CLUSTER_ID": "vn-complaints-kraft-01",
                "ADVERTISED_HOST": "localhost", "BIND": "127.0.0.1", "CLIENT_PORT": str(client_port),
                "CONTROLLER_PORT": str(controller_port), "REPLICATION": "1", "MIN_ISR": "1",
                "SECRETS": str(secrets / "mounts" / "kafka-1"), "DATA_DIR": str(home / "data"),
                "CONFIG": str(home / "server.properties"),
                "KAFKA_STORAGE": shim(home / "kafka-storage.sh", "kafka.tools.StorageTool", logs),
                "KAFKA_START": shim(home / "kafka-server-start.sh", "kafka.Kafka", logs)}
    with open(logs / "node.log", "w") as log:
        proc = subprocess.Popen([str(REPO / "deploy" / "compose" / "kafka-node.sh")], env=node_env,
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        admin = client_security("admin", str(secrets / "clients" / "admin.properties"))
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (logs / "node.log").read_text()[-3000:]
            try:
                KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000, **admin.kafka_python()).close()
                break
            except KafkaError:
                assert time.monotonic() < deadline, "the node did not come up in 90 s"
                time.sleep(1)
        # The compose `principals` service: users and ACLs as admin, then the topics.
        step = {**env, "LOCAL_KAFKA": bootstrap, "KAFKA_BOOTSTRAP": bootstrap, "TOPIC_PARTITIONS": "1",
                "TOPIC_REPLICATION_FACTOR": "1", "KAFKA_CLIENT_PROPERTIES": str(secrets / "mounts" / "admin" / "client.properties")}
        for args in ([*principals, "acls"], [sys.executable, "-m", "processors", "topics"]):
            done = subprocess.run(args, env=step, cwd=REPO, capture_output=True, text=True, timeout=180)
            assert done.returncode == 0, done.stderr[-2000:]
        yield secrets, bootstrap, controller_port
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def as_role(node, role: str, **overrides) -> dict:
    secrets, bootstrap, _ = node
    mounted = secrets / "mounts" / role / "client.properties"
    security = client_security(role, str(mounted if mounted.exists() else secrets / "clients" / f"{role}.properties"))
    assert security.protocol == "SASL_SSL" and security.cafile
    return {"bootstrap_servers": bootstrap, **security.kafka_python(), **overrides}


def test_services_mount_their_own_principal_only(node):
    secrets, _, _ = node
    mounts = secrets / "mounts"
    assert {p.name for p in (mounts / "router").iterdir()} == {"client.properties", "ca.pem"}
    assert 'username="router"' in (mounts / "router" / "client.properties").read_text()
    assert {p.name for p in (mounts / "kafka-1").iterdir()} == {"node.pem", "ca.pem", "broker.jaas", "scram.args"}
    # the console sends each office's results as that office: the offices' files, no other
    assert {p.name for p in (mounts / "console").iterdir()} == {"ca.pem", *(f"office-{p}.properties" for p in
                                                                            province_codes())}
    assert "ca.key" not in {p.name for m in mounts.iterdir() for p in m.iterdir()}
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for m in mounts.iterdir() for p in m.iterdir())


def test_clients_reach_the_node_over_tls_with_their_own_rights(node):
    topic = TOPICS.jurisdiction("79")
    producer = KafkaProducer(**as_role(node, "router"), acks="all", max_block_ms=10000)
    try:
        producer.send(topic, key=b"C-compose", value=b'{"compose": true}').get(timeout=20)
    finally:
        producer.close()
    assert read(node, "office-79", topic) == [b"C-compose"]
    assert read(node, "office-79", TOPICS.jurisdiction("01")) is None
    assert read(node, "portal", topic) is None


def test_the_consoles_mount_sends_a_result_as_the_office_over_tls(node):
    """What the compose console does: KAFKA_CLIENTS_DIR at its mount, no KAFKA_CLIENT_PROPERTIES,
    a result sent by the producer library as office-79."""
    secrets, _, _ = node
    assert sent_as_office_79(node, secrets / "mounts" / "console", "C-compose-console")


def sent_as_office_79(node, clients: Path, complaint_id: str) -> bool:
    """A result sent by the producer library as office-79 with the client files in `clients`
    (KAFKA_CLIENTS_DIR, no KAFKA_CLIENT_PROPERTIES), then read back by the router."""
    _, bootstrap, _ = node
    settings = replace(Settings(), kafka_bootstrap=bootstrap, kafka_clients_dir=str(clients))
    assert settings.kafka("office-79").username == "office-79"
    with ComplaintPublisher(settings, role="office-79", timeout_s=20) as office:
        office.publish_resolution({"event_id": f"r-{complaint_id}", "complaint_id": complaint_id,
                                   "resolved_at": "2026-11-27T09:00:00+07:00",
                                   "resolved_by": {"level": "province", "unit_code": "79"}, "outcome": "updated"})
    return complaint_id.encode() in read(node, "router", TOPICS.resolved_by_office("79"))  # its own topic


def test_the_kubernetes_consoles_client_files_send_a_result_as_the_office(node, tmp_path):
    """deploy/k8s/console.yaml's client files as the pod sees them: each office's
    sasl.jaas.config from its KafkaUser Secret (here: the same line the node's secrets step
    wrote), read through DirectoryConfigProvider; the cluster CA (here: the node's)."""
    secrets, _, _ = node
    users, clients = tmp_path / "users", tmp_path / "clients"
    clients.mkdir()
    for code in ("79", "01"):
        who = f"office-{code}"
        jaas = parse_properties((secrets / "clients" / f"{who}.properties").read_text())["sasl.jaas.config"]
        (users / who).mkdir(parents=True)
        (users / who / "sasl.jaas.config").write_text(jaas)
        (clients / f"{who}.properties").write_text(k8s_console.client_properties(who).replace(
            k8s_console.USERS_DIR, str(users)).replace(k8s_console.CA_FILE, str(secrets / "tls" / "ca.pem")))
    assert client_security("office-01", "", str(clients)).username == "office-01"
    assert sent_as_office_79(node, clients, "C-k8s-console")


def read(node, role: str, topic: str) -> list[bytes] | None:
    """The keys `role` reads from `topic`, or None when it may not (the topic is invisible
    to it, or the fetch is refused)."""
    consumer = KafkaConsumer(**as_role(node, role), group_id=None, request_timeout_ms=10000)
    try:
        if not consumer.partitions_for_topic(topic):
            return None
        consumer.assign([TopicPartition(topic, 0)])
        consumer.seek_to_beginning()
        keys = []
        for _ in range(3):  # a fetch without READ raises here
            keys += [r.key for records in consumer.poll(timeout_ms=1500).values() for r in records]
        return keys
    except TopicAuthorizationFailedError:
        return None
    finally:
        consumer.close()


def test_without_the_password_or_the_ca_a_client_gets_nothing(node, tmp_path):
    secrets, bootstrap, _ = node
    quick = {"request_timeout_ms": 3000, "bootstrap_timeout_ms": 5000}
    with pytest.raises(KafkaError):  # wrong password
        KafkaAdminClient(**as_role(node, "office-79", sasl_plain_password="not-it"), **quick).list_topics()
    with pytest.raises(KafkaError):  # TLS without SASL: no anonymous access on the client listener
        KafkaAdminClient(bootstrap_servers=bootstrap, security_protocol="SSL",
                         ssl_cafile=str(secrets / "tls" / "ca.pem"), **quick).list_topics()
    other = tmp_path / "other-ca"
    subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); from tls import authority;"
                    " from pathlib import Path; authority(Path(sys.argv[2]))",
                    str(REPO / "deploy" / "kafka"), str(other)], check=True)
    with pytest.raises(KafkaError):  # a broker this client cannot verify is not talked to
        KafkaAdminClient(**as_role(node, "admin", ssl_cafile=str(other / "ca.pem")), **quick).list_topics()


def test_the_controller_listener_wants_a_node_certificate(node):
    secrets, _, controller_port = node
    context = ssl.create_default_context(cafile=str(secrets / "tls" / "ca.pem"))
    with socket.create_connection(("localhost", controller_port), timeout=10) as raw:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"\x00\x00\x00\x01\x00")  # TLS 1.3: the refusal comes with the first read
                if not tls.recv(1):
                    raise ConnectionError("closed without a certificate")


def test_rotation_changes_the_password_on_the_node_and_in_the_service_mount(node):
    secrets, bootstrap, _ = node
    mounted = secrets / "mounts" / "router" / "client.properties"
    before = as_role(node, "router")
    env = {**os.environ, "KAFKA_SECRETS_DIR": str(secrets), "KAFKA_CLIENT_CA": str(secrets / "tls" / "ca.pem"),
           "LOCAL_KAFKA": bootstrap}
    done = subprocess.run([sys.executable, str(REPO / "deploy" / "kafka" / "principals.py"), "rotate", "router"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    after = as_role(node, "router")
    assert after["sasl_plain_password"] != before["sasl_plain_password"]
    assert mounted.read_text() == (secrets / "clients" / "router.properties").read_text()
    KafkaAdminClient(**after).close()  # the new password works
    with pytest.raises(KafkaError):
        KafkaAdminClient(**before, bootstrap_timeout_ms=5000).list_topics()
