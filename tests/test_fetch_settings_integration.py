"""The worker's fetch settings (WORKER_FETCH_MIN_BYTES, WORKER_FETCH_MAX_WAIT_MS) reach the
fetcher of the consumer Faust starts on the real broker (processors/engine/eos.py sets them on the
consumer it creates; aiokafka reads them when it starts)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from processors.engine.app import faust_app
from schemas.settings import Settings

pytestmark = pytest.mark.integration


def started_fetcher(settings: Settings) -> tuple[int, int]:
    async def start() -> tuple[int, int]:
        app = faust_app(settings)
        consumer = app.consumer._new_consumer_thread()._create_worker_consumer(app.transport)
        await consumer.start()
        try:
            return consumer._fetcher._fetch_min_bytes, consumer._fetcher._fetch_max_wait_ms
        finally:
            await consumer.stop()

    return asyncio.run(start())


def test_the_fetcher_uses_the_configured_settings_and_faust_s_otherwise(kafka, tmp_path):
    base = replace(kafka, faust_data_dir=str(tmp_path))
    assert started_fetcher(base) == (1, 1500)  # Faust's: the broker answers as soon as a record is there
    tuned = replace(base, worker_fetch_min_bytes=65536, worker_fetch_max_wait_ms=100)
    assert started_fetcher(tuned) == (65536, 100)
