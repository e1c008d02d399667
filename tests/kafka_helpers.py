"""Helpers for integration tests: publish, then wait for what a read_committed consumer sees."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from processors.ops.readback import read_committed
from schemas.settings import Settings


def wait_for_records(settings: Settings, topics: Iterable[str], predicate: Callable[[list], bool],
                     timeout_s: float = 60.0) -> list:
    """Read the topics (read_committed) until predicate(records) holds; fail on timeout."""
    topics = list(topics)
    deadline = time.monotonic() + timeout_s
    records: list = []
    while time.monotonic() < deadline:
        records = read_committed(topics, settings, timeout_s=10)
        if predicate(records):
            return records
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s} s; last read {len(records)} records from {topics[:3]}...; "
                         f"{open_transactions(settings, topics)}")


def open_transactions(settings: Settings, topics: list[str]) -> str:
    """Partitions whose last stable offset (what read_committed consumers may read up to)
    is behind their high watermark: a transaction still open there hides what follows it."""
    from kafka import KafkaConsumer, TopicPartition

    ends = {}
    for isolation in ("read_committed", "read_uncommitted"):
        consumer = KafkaConsumer(**settings.kafka_python("admin"), group_id=None, enable_auto_commit=False,
                                 isolation_level=isolation)
        try:
            tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
            ends[isolation] = consumer.end_offsets(tps)
        finally:
            consumer.close()
    behind = {f"{tp.topic}[{tp.partition}]": (lso, ends["read_uncommitted"][tp])
              for tp, lso in ends["read_committed"].items() if lso != ends["read_uncommitted"][tp]}
    return f"stable / high watermark where they differ: {behind}" if behind else "no transaction open on them"


def values(records: list) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in records]


def by_complaint(records: list) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        v = json.loads(r.value)
        v["_topic"] = r.topic
        out.setdefault(v["complaint_id"], []).append(v)
    return out
