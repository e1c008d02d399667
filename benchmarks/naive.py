"""The naive baseline: a plain kafka-python consume, classify and produce loop.

Same rules (processors.domain.intake.process) and the same backlog as the Faust worker, but no
transactions, no state table (retries are not deduplicated) and no exactly-once.
"""

from __future__ import annotations

import datetime as dt
import time

from kafka import KafkaConsumer, KafkaProducer

from processors.domain.deadletter import Source
from processors.domain.intake import process
from schemas.admin_units import load
from schemas.settings import Settings
from schemas.topics import Topics


def naive_router(source: Settings, target: Settings, count: int, timeout_s: float = 1800) -> tuple[float, float]:
    """Route `count` submissions of source's topics onto target's; (complaints/s, CPU seconds
    of this process, its client threads included)."""
    units = load()
    out_topics = Topics(target.topic_prefix)
    consumer = KafkaConsumer(Topics(source.topic_prefix).submitted, **source.kafka_python("admin"),
                             group_id=f"{target.topic_prefix}naive", auto_offset_reset="earliest",
                             enable_auto_commit=True, max_poll_records=2000)
    producer = KafkaProducer(**source.kafka_python("admin"), acks="all", linger_ms=5)
    done = 0
    start, cpu_start = None, 0.0
    deadline = time.monotonic() + timeout_s
    try:
        while done < count and time.monotonic() < deadline:
            for _, records in consumer.poll(timeout_ms=500).items():
                if start is None:
                    start, cpu_start = time.monotonic(), time.process_time()
                for r in records:
                    result = process(r.value, r.key, Source(r.topic, r.partition, r.offset),
                                     now=dt.datetime.now(dt.timezone.utc), lookup=lambda cid: None,
                                     delegations={}, units=units, topics=out_topics)
                    if result.output is not None:
                        producer.send(result.output.topic, key=result.output.key, value=result.output.value)
                    done += 1
        producer.flush()
        return done / (time.monotonic() - (start or time.monotonic())), time.process_time() - cpu_start
    finally:
        producer.close()
        consumer.close()
