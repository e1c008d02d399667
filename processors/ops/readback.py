"""Read topics back from the beginning as a read_committed consumer sees them.

Used by `python -m processors summary` (the end of `make run`) and by the tests.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.consumer.fetcher import ConsumerRecord

from schemas.reach import BOOTSTRAP_TIMEOUT_MS
from schemas.settings import Settings


def read_committed(topics: Iterable[str], settings: Settings | None = None,
                   timeout_s: float = 30.0, start: dict[TopicPartition, int] | None = None,
                   role: str = "admin") -> list[ConsumerRecord]:
    """Every committed record of `topics` (from the offsets in `start`, else the beginning),
    up to their ends as of the call, read as `role`."""
    settings = settings or Settings.from_env()
    consumer = KafkaConsumer(**settings.kafka_python(role), group_id=None,
                             bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
                             enable_auto_commit=False, isolation_level="read_committed",
                             auto_offset_reset="earliest", consumer_timeout_ms=1000)
    try:
        tps = _partitions(consumer, topics, timeout_s)
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        for tp, offset in (start or {}).items():
            if tp in tps:
                consumer.seek(tp, offset)
        end = _end_offsets(consumer, tps, timeout_s)
        pending = {tp for tp in tps if end[tp] > (start or {}).get(tp, 0)}
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            for tp, batch in consumer.poll(timeout_ms=500, max_records=5000).items():
                records.extend(batch)
            pending = {tp for tp in pending if consumer.position(tp) < end[tp]}
        return records
    finally:
        consumer.close()


def _retried(call, timeout_s: float):
    """call(), again every 0.5 s while it raises a KafkaError (or a KeyError: a partition's
    leader not known yet), until `timeout_s` has passed. kafka-python 3.0 sends a metadata
    request to one node and fails when that node is the broker just lost, where the next
    attempt asks another; just after a broker restart, leaders are unknown a moment."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return call()
        except (KeyError, KafkaError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _partitions(consumer: KafkaConsumer, topics: Iterable[str], timeout_s: float) -> list[TopicPartition]:
    topics = list(topics)
    return _retried(lambda: [TopicPartition(t, p) for t in topics
                             for p in sorted(consumer.partitions_for_topic(t) or ())], timeout_s)


def _end_offsets(consumer: KafkaConsumer, tps: list[TopicPartition], timeout_s: float) -> dict:
    return _retried(lambda: consumer.end_offsets(tps), timeout_s)


def end_offsets(topics: Iterable[str], settings: Settings, timeout_s: float = 30.0) -> dict[TopicPartition, int]:
    """Where each partition of `topics` (those that exist) ends now, as read_committed sees it."""
    consumer = KafkaConsumer(**settings.kafka_python("admin"), group_id=None, bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
                             enable_auto_commit=False, isolation_level="read_committed")
    try:
        tps = _partitions(consumer, topics, timeout_s)
        return _end_offsets(consumer, tps, timeout_s) if tps else {}
    finally:
        consumer.close()
