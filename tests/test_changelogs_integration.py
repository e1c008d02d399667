"""Reading changelogs for recovery, against the real broker: the bulk rebuild after an unclean
stop keeps what was committed, drops what was aborted, applies deletions and records the
offset Faust resumes its own recovery after; the end of a changelog is its last committed
record, not the marker after it."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from aiokafka import TopicPartition
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from processors.engine.app import build_app
from processors.engine.changelogs import NO_RECORD, last_committed_offsets, local_partitions, rebuild_tables
from schemas.settings import Settings

pytestmark = pytest.mark.integration


def aio(settings: Settings) -> dict:
    return {"bootstrap_servers": settings.kafka_bootstrap, **settings.kafka("admin").aiokafka()}


def encode(obj: object) -> bytes:
    return json.dumps(obj).encode()


def transaction(settings: Settings, topic: str, records: list[tuple[int, str, object]], commit: bool) -> None:
    producer = KafkaProducer(**settings.kafka_python("admin"),
                             transactional_id=f"test-rebuild-{uuid.uuid4().hex[:8]}")
    try:
        producer.init_transactions()
        producer.begin_transaction()
        for partition, key, value in records:
            producer.send(topic, key=encode(key), value=None if value is None else encode(value), partition=partition)
        producer.flush()
        if commit:
            producer.commit_transaction()
        else:
            producer.abort_transaction()
    finally:
        producer.close()


def test_rebuild_keeps_committed_state_only(kafka: Settings, scratch_topics, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:8]
    settings = scratch_topics(replace(kafka, topic_prefix=f"test-rebuild-{run}.", faust_app_id=f"test-rebuild-{run}.router",
                                      faust_data_dir=str(tmp_path / "faust"), partitions=2))
    app = build_app(settings)
    table = app.tables["complaints"]
    changelog = table.changelog_topic.get_topic_name()
    admin = KafkaAdminClient(**settings.kafka_python("admin"))
    try:
        admin.create_topics([NewTopic(changelog, 2, 1, topic_configs={"cleanup.policy": "compact"})])
    finally:
        admin.close()

    transaction(settings, changelog, [(0, "a", {"v": 1}), (0, "b", {"v": 1}), (1, "c", {"v": 1})], commit=True)
    transaction(settings, changelog, [(0, "a", {"v": 2}), (0, "b", None)], commit=True)
    transaction(settings, changelog, [(0, "a", {"v": "aborted"}), (0, "d", {"v": "aborted"})], commit=False)

    # Local state as a crashed worker leaves it: partition 0 held a write whose transaction
    # aborted; partition 1 was never held here.
    store = table.data
    Path(store.path).mkdir(parents=True, exist_ok=True)
    stale = store.rocksdb_options.open(Path(store.partition_path(0)))
    stale.put(encode("d"), encode({"v": "aborted"}))
    stale.close()
    assert local_partitions(store, 2) == [0]

    rebuilt = rebuild_tables(app, aio(settings), settings.partitions)

    assert rebuilt.partitions == 1  # only what this worker held
    assert rebuilt.records == 4  # committed records of partition 0; aborted ones and markers skipped
    db = store.rocksdb_options.open(Path(store.partition_path(0)))
    try:
        content = {json.loads(k): json.loads(v) for k, v in db.items() if not k.startswith(b"__faust")}
        assert content == {"a": {"v": 2}}
        # Offsets 0-1 and 3-4 are the committed records, 2 and 5 their commit markers, 6-7 the
        # aborted records and 8 their abort marker: the last record applied is 4.
        assert db.get(store.offset_key) == b"4"
    finally:
        db.close()
    assert not Path(store.partition_path(1)).exists()

    last = asyncio.run(last_committed_offsets(aio(settings), [TopicPartition(changelog, 0),
                                                                          TopicPartition(changelog, 1)], window=2))
    # Partition 0 ends with an aborted transaction and its marker: the last record a
    # read_committed consumer receives is 4, found by looking back past the first window.
    assert last == {TopicPartition(changelog, 0): 4, TopicPartition(changelog, 1): 0}


def test_a_changelog_without_committed_records_has_none(kafka: Settings, scratch_topics) -> None:
    run = uuid.uuid4().hex[:8]
    settings = scratch_topics(replace(kafka, topic_prefix=f"test-empty-{run}.", faust_app_id=f"test-empty-{run}.router"))
    topic = f"{settings.faust_app_id}-empty-changelog"
    admin = KafkaAdminClient(**settings.kafka_python("admin"))
    try:
        admin.create_topics([NewTopic(topic, 2, 1)])
    finally:
        admin.close()
    transaction(settings, topic, [(0, "a", {"v": "aborted"})], commit=False)
    last = asyncio.run(last_committed_offsets(aio(settings), [TopicPartition(topic, 0),
                                                                         TopicPartition(topic, 1)]))
    assert last == {TopicPartition(topic, 0): NO_RECORD, TopicPartition(topic, 1): NO_RECORD}
