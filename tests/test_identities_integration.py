"""Who may read and write what on the local broker (schemas/identities.py), each refusal
proven on the real broker: the listener authenticates, the ACLs hold least privilege."""

from __future__ import annotations

import json
import subprocess

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, ScramMechanism, UserScramCredentialDeletion
from kafka.errors import KafkaError, TopicAuthorizationFailedError

from schemas.kafka_client import client_security
from schemas.topics import Topics
from harness.processes import ADMIN_PROPERTIES, REPO
from tests.fixtures import complaint

pytestmark = pytest.mark.integration
TOPICS = Topics()  # the deployment's own names: ACLs are written for them


def as_role(base_settings, role: str) -> dict:
    security = client_security(role, "", str(ADMIN_PROPERTIES.parent))
    assert security.username == role, f"no client file for {role}: make up writes them"
    return {"bootstrap_servers": base_settings.kafka_bootstrap, **security.kafka_python()}


def readable(base_settings, role: str, topic: str) -> bool:
    """True when `role` can fetch from `topic` (an empty topic reads as nothing, not a refusal)."""
    consumer = KafkaConsumer(**as_role(base_settings, role), group_id=None, consumer_timeout_ms=3000,
                             request_timeout_ms=10000)
    try:
        if not consumer.partitions_for_topic(topic):
            return False  # no DESCRIBE: the topic is invisible
        consumer.assign([TopicPartition(topic, 0)])
        consumer.seek_to_beginning()
        for _ in range(3):
            consumer.poll(timeout_ms=1000)  # a fetch without READ raises here
        return True
    except TopicAuthorizationFailedError:
        return False
    finally:
        consumer.close()


def writable(base_settings, role: str, topic: str, key: bytes = b"acl-test", value: bytes | None = b"{}") -> bool:
    producer = KafkaProducer(**as_role(base_settings, role), acks="all", max_block_ms=5000, retries=0)
    try:
        producer.send(topic, key=key, value=value).get(timeout=15)
        return True
    except TopicAuthorizationFailedError:
        return False
    finally:
        producer.close()


def test_an_anonymous_client_is_refused(base_settings):
    with pytest.raises(KafkaError):
        KafkaAdminClient(bootstrap_servers=base_settings.kafka_bootstrap, request_timeout_ms=3000,
                         bootstrap_timeout_ms=5000).list_topics()


def test_a_wrong_password_is_refused(base_settings):
    settings = as_role(base_settings, "office-79")
    with pytest.raises(KafkaError):
        KafkaAdminClient(**{**settings, "sasl_plain_password": "not-the-password"}, request_timeout_ms=3000,
                         bootstrap_timeout_ms=5000).list_topics()


def test_an_office_reads_its_own_province_and_nothing_else(base_settings):
    assert readable(base_settings, "office-79", TOPICS.jurisdiction("79"))
    assert not readable(base_settings, "office-79", TOPICS.jurisdiction("01"))
    assert not readable(base_settings, "office-79", TOPICS.submitted)
    assert not readable(base_settings, "office-79", TOPICS.dead_letter)
    assert not writable(base_settings, "office-79", TOPICS.submitted, value=json.dumps(complaint()).encode())


def test_the_portal_submits_but_reads_no_jurisdiction_and_grants_nothing(base_settings):
    assert not readable(base_settings, "portal", TOPICS.jurisdiction("79"))
    assert not writable(base_settings, "portal", TOPICS.delegations, key=b"760", value=None)


def test_the_dead_letters_are_the_admins_and_the_sinks(base_settings):
    assert readable(base_settings, "sink", TOPICS.dead_letter)
    for role in ("portal", "router", "triage", "site-system", "delegations", "office-01"):
        assert not readable(base_settings, role, TOPICS.dead_letter), role


def signs_in(base_settings, settings: dict) -> bool:
    try:
        KafkaAdminClient(**settings, request_timeout_ms=5000, bootstrap_timeout_ms=8000).close()
        return True
    except KafkaError:
        return False


def test_rotating_a_password_refuses_the_old_one_and_rewrites_the_client_file(base_settings):
    before = as_role(base_settings, "triage")
    done = subprocess.run(["bash", "deploy/kafka/kafka.sh", "rotate", "triage"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    after = as_role(base_settings, "triage")
    assert after["sasl_plain_password"] != before["sasl_plain_password"]
    assert before["sasl_plain_password"] not in done.stdout + done.stderr
    assert not signs_in(base_settings, before) and signs_in(base_settings, after)


def test_a_principal_the_broker_lacks_is_created_at_the_next_start(base_settings):
    admin = KafkaAdminClient(**as_role(base_settings, "admin"))
    try:
        admin.alter_user_scram_credentials([UserScramCredentialDeletion("delegations", ScramMechanism.SCRAM_SHA_512)])
    finally:
        admin.close()
    assert not signs_in(base_settings, as_role(base_settings, "delegations"))
    done = subprocess.run(["bash", "deploy/kafka/kafka.sh", "start"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)  # the broker runs: start applies the users and ACLs again
    assert done.returncode == 0 and "SCRAM users created: delegations" in done.stderr, done.stderr
    assert signs_in(base_settings, as_role(base_settings, "delegations"))
