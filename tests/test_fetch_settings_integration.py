"""The worker's fetches on the real broker (processors/engine/fetching.py): a fetch waits at the
broker for its first record while none flow, and for WORKER_FETCH_MIN_BYTES or
WORKER_FETCH_MAX_WAIT_MS once they do; the fetcher is the one Faust's consumer thread starts."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest
from aiokafka import TopicPartition
from kafka import KafkaProducer

from processors.engine.app import faust_app
from processors.engine.fetching import IDLE_WAIT_MS
from schemas.settings import Settings

pytestmark = pytest.mark.integration


def fetch_waits(settings: Settings, publish_after_s: float, watch_s: float) -> list[tuple[float, int, int]]:
    """Start the worker's consumer thread on complaints.submitted, publish a few records after
    `publish_after_s`, and note (seconds since start, min_bytes, max_wait_ms) of each fetch sent."""
    sent: list[tuple[float, int, int]] = []

    async def run() -> None:
        app = faust_app(settings)
        thread = app.consumer._new_consumer_thread()
        await thread.start()
        try:
            consumer = thread._consumer
            fetcher = consumer._fetcher
            built = fetcher._get_actions_per_node
            start = time.monotonic()

            def noting(assignment):
                actions = built(assignment)
                sent.extend((time.monotonic() - start, r._min_bytes, r._max_wait_ms) for _, r in actions[0])
                return actions
            fetcher._get_actions_per_node = noting  # around the adaptive wrapper installed at start

            partitions = [TopicPartition(settings.topics.submitted, p) for p in range(settings.partitions)]
            await thread.call_thread(consumer.assign, partitions)
            await thread.call_thread(consumer.seek_to_end, *partitions)
            done = asyncio.Event()

            async def drain() -> None:  # the fetcher fetches a partition again once it was read
                while not done.is_set():
                    await thread.call_thread(consumer.getmany, timeout_ms=100)
            draining = asyncio.ensure_future(drain())
            await asyncio.sleep(publish_after_s)
            producer = KafkaProducer(**settings.kafka_python("admin"))
            for i in range(50):
                producer.send(settings.topics.submitted, key=f"k{i}".encode(), value=b"{}")
                producer.flush()
                await asyncio.sleep(0.02)
            producer.close()
            await asyncio.sleep(watch_s)
            done.set()
            await draining
        finally:
            await thread.stop()

    asyncio.run(run())
    return sent


def test_fetches_wait_to_fill_only_while_records_flow(kafka, tmp_path):
    s = replace(kafka, faust_data_dir=str(tmp_path), worker_fetch_min_bytes=65536, worker_fetch_max_wait_ms=30)
    sent = fetch_waits(s, publish_after_s=3.0, watch_s=4.0)
    quiet = [f for f in sent if f[0] < 2.5]
    flowing = [f for f in sent if f[1:] == (65536, 30)]
    assert quiet and all(f[1:] == (1, IDLE_WAIT_MS) for f in quiet), quiet  # long-polls, a few a second at most
    assert len(quiet) <= 2 * 3 * 2, len(quiet)
    assert flowing and min(f[0] for f in flowing) >= 3.0, flowing  # waits to fill once records came
    assert sent[-1][1:] == (1, IDLE_WAIT_MS), sent[-3:]  # quiet again after the last record
