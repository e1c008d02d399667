"""The delegation registry: every worker holds all of the delegations topics.

A Faust GlobalTable would need the registry under a Faust-named changelog topic; the
contract's topics are themselves compacted and keyed by unit_code, so each worker follows
them directly with a group-less consumer (all partitions, from the beginning). Routing waits
until the registry has caught up with the ends of the topics as they were at start-up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from mode import Service
from processors import metrics
from processors.domain.delegations import DelegationRegistry

log = logging.getLogger(__name__)


class RegistryFollower(Service):
    """Keeps a DelegationRegistry in step with the compacted delegations topics."""

    def __init__(self, connection: Mapping[str, Any], topics: list[str], registry: DelegationRegistry,
                 **kwargs) -> None:
        self.connection = connection  # bootstrap_servers and the router's security
        self.topics = topics
        self.registry = registry
        self.ready = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        consumer = AIOKafkaConsumer(**self.connection, group_id=None, enable_auto_commit=False,
                                    auto_offset_reset="earliest", client_id="complaints-registry")
        await consumer.start()
        # A group-less consumer caches no metadata for unsubscribed topics; ask the cluster.
        cluster = await consumer._client.fetch_all_metadata()
        missing = [t for t in self.topics if not cluster.partitions_for_topic(t)]
        if missing:
            await consumer.stop()
            raise RuntimeError(f"topic {missing[0]} does not exist; run: python -m processors topics")
        tps = [TopicPartition(t, p) for t in self.topics for p in sorted(cluster.partitions_for_topic(t))]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        self._consumer = consumer
        self._end = await consumer.end_offsets(tps)
        if all(v == 0 for v in self._end.values()):
            self.ready.set()

    async def on_stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    @Service.task
    async def _follow(self) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        while not self.should_stop:
            batches = await consumer.getmany(timeout_ms=500, max_records=1000)
            for tp, records in batches.items():
                for record in records:
                    self.registry.apply(tp.topic, record.key, record.value,
                                        None if record.timestamp is None else record.timestamp / 1000)
            if batches:
                metrics.REGISTRY_RECORDS.inc(sum(len(records) for records in batches.values()))
            if not self.ready.is_set() and await self._caught_up(consumer):
                log.info("delegation registry loaded: %d grants", len(self.registry))
                self.ready.set()

    async def _caught_up(self, consumer: AIOKafkaConsumer) -> bool:
        for tp, end in self._end.items():
            if await consumer.position(tp) < end:
                return False
        return True
