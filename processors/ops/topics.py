"""Creates every topic of the contract, so nothing relies on broker auto-creation."""

from __future__ import annotations

import logging

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from schemas.models import MAX_DEAD_LETTER_BYTES
from schemas.reach import BOOTSTRAP_TIMEOUT_MS
from schemas.settings import Settings

log = logging.getLogger(__name__)

COMPACTED = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}
# A dead letter carries the original bytes, base64 at worst: room for a 1 MiB input.
DEAD_LETTER_CONFIG = {"max.message.bytes": str(MAX_DEAD_LETTER_BYTES)}


def replicated(rf: int) -> dict[str, str]:
    """With three replicas or more, a write is acknowledged once two hold it (producers use
    acks=all): one broker lost loses no acknowledged write and stops no writes."""
    return {"min.insync.replicas": "2"} if rf >= 3 else {}


def desired_topics(settings: Settings, brokers: int = 1) -> list[NewTopic]:
    """Every topic of the contract, replicated as a cluster of `brokers` holds
    (Settings.replicas: ReplicationError when it cannot)."""
    topics = settings.topics
    rf = settings.replicas(brokers)
    # The registry is small and read whole by every worker: one partition each keeps its order.
    wanted = [NewTopic(name, 1, rf, topic_configs={**COMPACTED, **replicated(rf)})
              for name in topics.delegation_inputs()]
    # Submissions and resolutions share a partition count, so a complaint and its
    # resolution land on the same partition number (both keyed by complaint_id).
    for name in [topics.submitted, *topics.resolution_inputs(), *topics.outputs(), *topics.internal()]:
        configs = {**(DEAD_LETTER_CONFIG if name == topics.dead_letter else {}), **replicated(rf)}
        wanted.append(NewTopic(name, settings.partitions, rf, topic_configs=configs))
    return wanted


def ensure_topics(settings: Settings | None = None) -> list[str]:
    """Create the missing topics; return the names created."""
    settings = settings or Settings.from_env()
    admin = KafkaAdminClient(**settings.kafka_python("admin"), client_id="complaints-admin",
                             bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS)
    try:
        existing = set(admin.list_topics())
        wanted = desired_topics(settings, len(admin.describe_cluster()["brokers"]))
        missing = [t for t in wanted if t.name not in existing]
        for topic in wanted:  # topics made before a config was added to desired_topics get it
            if topic.name in existing and topic.topic_configs and topic.topic_configs != COMPACTED:
                admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic.name,
                                                    configs=topic.topic_configs)])
        created = []
        for topic in missing:
            try:
                admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:  # another process won the race
                pass
        return created
    finally:
        admin.close()


def owned_by(name: str, settings: Settings) -> bool:
    """A topic of this deployment: under its prefix. Its Faust app's own topics
    (changelogs, assignor, "<app id>-...") are too, as the app id starts with the prefix.
    An empty prefix owns none, so a deployment without a prefix is never torn down."""
    return bool(settings.topic_prefix) and name.startswith(settings.topic_prefix)


class NotIsolated(ValueError):
    """The deployment's Faust app id is not under its topic prefix."""


def delete_topics(settings: Settings) -> list[str]:
    """Delete every topic of a prefixed deployment (tests, benchmarks): each partition
    costs the broker open files, and a long-lived development broker runs out of them.
    Refused when the Faust app id is not under the prefix: its changelogs would be left
    behind, or belong to another deployment."""
    if not settings.topic_prefix or not settings.faust_app_id.startswith(settings.topic_prefix):
        raise NotIsolated(f"FAUST_APP_ID {settings.faust_app_id!r} is not under TOPIC_PREFIX "
                          f"{settings.topic_prefix!r}: nothing deleted (unset FAUST_APP_ID to derive it)")
    admin = KafkaAdminClient(**settings.kafka_python("admin"), client_id="complaints-admin")
    try:
        doomed = sorted(t for t in admin.list_topics() if owned_by(t, settings))
        if doomed:
            admin.delete_topics(doomed)
        return doomed
    finally:
        admin.close()
