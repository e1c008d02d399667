"""The delegation registry: every worker holds all of complaints.delegations.

A Faust GlobalTable would need the registry under a Faust-named changelog topic; the
contract's topic is itself compacted and keyed by unit_code, so each worker follows it
directly with a group-less consumer (all partitions, from the beginning). Routing waits
until the registry has caught up with the end of the topic as it was at start-up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from mode import Service
from processors import metrics
from processors.deadletter import Unreadable
from processors.router import read_delegation
from schemas.admin_units import AdminUnits
from schemas.models import Delegation

log = logging.getLogger(__name__)


class DelegationRegistry(Mapping[str, Delegation]):
    """unit_code -> Delegation; a null value (tombstone) revokes."""

    def __init__(self, units: AdminUnits) -> None:
        self._grants: dict[str, Delegation] = {}
        self.units = units

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Apply one record of the topic. An invalid grant counts as none; the worker that
        owns the topic's partition puts it on the dead letters (app.check_delegations)."""
        if key is None:
            return
        unit_code = key.decode("utf-8", "replace")
        if value is None:
            self._grants.pop(unit_code, None)
        else:
            try:
                self._grants[unit_code] = read_delegation(key, value, self.units)
            except Unreadable:
                # The latest record of a unit decides, as compaction will leave only it: an
                # invalid grant revokes, or workers started before and after compaction disagree.
                self._grants.pop(unit_code, None)
        self._export()

    def _export(self) -> None:
        levels = {"district": 0, "commune": 0}
        for grant in self._grants.values():
            levels[grant.level] += 1
        for level, n in levels.items():
            metrics.DELEGATIONS_ACTIVE.labels(level=level).set(n)

    def __getitem__(self, unit_code: str) -> Delegation:
        return self._grants[unit_code]

    def __iter__(self) -> Iterator[str]:
        return iter(self._grants)

    def __len__(self) -> int:
        return len(self._grants)


class RegistryFollower(Service):
    """Keeps a DelegationRegistry in step with the compacted topic."""

    def __init__(self, connection: Mapping[str, Any], topic: str, registry: DelegationRegistry, **kwargs) -> None:
        self.connection = connection  # bootstrap_servers and the router's security
        self.topic = topic
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
        partitions = cluster.partitions_for_topic(self.topic) or set()
        if not partitions:
            await consumer.stop()
            raise RuntimeError(f"topic {self.topic} does not exist; run: python -m processors topics")
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
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
                    self.registry.apply(record.key, record.value)
                if records:
                    metrics.REGISTRY_OFFSET.set(records[-1].offset + 1)
            if not self.ready.is_set() and await self._caught_up(consumer):
                log.info("delegation registry loaded: %d grants", len(self.registry))
                self.ready.set()

    async def _caught_up(self, consumer: AIOKafkaConsumer) -> bool:
        for tp, end in self._end.items():
            if await consumer.position(tp) < end:
                return False
        return True
