"""The handlers without Kafka, as Kafka Streams' TopologyTestDriver runs a topology: feed input
records, move the clock, read what was sent. Tables are dictionaries (MemoryStore), the
partitioner is Kafka's, every partition is a shard of this one worker, and a record sent back
to an input topic (re-keying) is read again from the partition its key gives, as the broker
would deliver it.

    driver = MemoryDriver()
    driver.submit(complaint)                      # a dict, or raw bytes with a key
    driver.advance(to=deadline + 1 s)             # timers fire what fell due
    driver.sent(topics.escalations)               # the records sent there
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import replace
from typing import Any

from processors.domain.delegations import DelegationRegistry
from processors.domain.handlers import Handlers
from processors.domain.ports import Incoming
from processors.domain.state import ComplaintState
from processors.shards import ShardContext, Shards, key_partition
from processors.testing.memory import MemoryStore, Sent
from schemas.admin_units import load as load_units
from schemas.settings import Settings


class MemoryDriver:
    def __init__(self, settings: Settings | None = None, now: dt.datetime | None = None) -> None:
        self.settings = settings or Settings()
        self.topics = self.settings.topics
        self.now = now or dt.datetime.now(dt.timezone.utc)
        self.registry = DelegationRegistry(load_units(self.settings.admin_map), self.topics)
        self.stores = {name: MemoryStore(name) for name in ("complaints", "marks", "digests")}
        self.shards = Shards(self.stores, self.settings.partitions)
        self.records: list[Sent] = []  # everything sent, changelog records included
        self._offsets: dict[tuple[str, int], int] = defaultdict(int)
        self.restart()

    # -- the shards ------------------------------------------------------------------------------
    def context(self, partition: int) -> ShardContext:
        return self.shards.context(partition, self.now)

    def collect(self, ctx: ShardContext) -> list[Sent]:
        """What a context's handlers wrote and sent, as the broker would get it."""
        out = self.shards.outgoing(ctx, Sent)
        self.records.extend(out)
        return out

    # -- inputs ----------------------------------------------------------------------------------
    def submit(self, complaint: dict[str, Any] | bytes, key: str | None = None,
               timestamp: dt.datetime | None = None) -> list[Sent]:
        return self.pipe(self.topics.submitted, complaint, key, timestamp)

    def resolve(self, resolution: dict[str, Any] | bytes, key: str | None = None,
                timestamp: dt.datetime | None = None, topic: str | None = None) -> list[Sent]:
        """Onto `topic` (a writer's own, e.g. topics.resolved_by_office("79")), else admin's."""
        return self.pipe(topic or self.topics.resolved, resolution, key, timestamp)

    def pipe(self, topic: str, value: dict[str, Any] | bytes | None, key: str | None = None,
             timestamp: dt.datetime | None = None) -> list[Sent]:
        """One record onto an input topic, at the partition its key gives; returns what it
        caused (and what re-keyed copies of it caused)."""
        if key is None:
            assert isinstance(value, dict), "raw bytes need a key"
            key = value["complaint_id"]
        raw = json.dumps(value).encode() if isinstance(value, dict) else value
        partition = 0 if topic in self.topics.delegation_inputs() else key_partition(key, self.settings.partitions)
        offset = self._offsets[(topic, partition)]
        self._offsets[(topic, partition)] += 1
        at = (timestamp or self.now).timestamp()
        ctx = self.context(partition)
        self.handlers.handle(Incoming(topic, partition, offset, key.encode(), raw, at), ctx)
        out = self.collect(ctx)
        caused = list(out)
        for r in out:  # sent back to an input topic: read again where its key belongs
            if r.topic in (self.topics.submitted, *self.topics.resolution_inputs(), self.topics.digest_parts,
                           self.topics.reassignments) and r.key:
                caused += self.pipe(r.topic, r.value, r.key.decode(), timestamp)
        return caused

    def grant(self, delegation: dict[str, Any], topic: str | None = None) -> list[Sent]:
        """A grant on its province's delegations topic (or `topic`): every worker's registry
        applies it; the partition's owner dead-letters what it refuses."""
        topic = topic or self.topics.delegations_of(delegation["province_code"])
        raw = json.dumps(delegation).encode()
        self.registry.apply(topic, delegation["unit_code"].encode(), raw, self.now.timestamp())
        return self.pipe(topic, raw, delegation["unit_code"])

    def revoke(self, unit_code: str, province_code: str, topic: str | None = None) -> list[Sent]:
        """A tombstone on the province's delegations topic."""
        topic = topic or self.topics.delegations_of(province_code)
        self.registry.apply(topic, unit_code.encode(), None, self.now.timestamp())
        return self.pipe(topic, None, unit_code)

    def restart(self, **changes: Any) -> None:
        """A new worker over the same tables (as recovered from their changelogs): each shard's
        in-memory state is rebuilt from the complaints table. `changes` alter its settings
        (admin_map="2025": the switch to the map in force)."""
        if changes:
            self.settings = replace(self.settings, **changes)
            self.topics = self.settings.topics
            if "admin_map" in changes:  # a new registry reads the topics again: the old map's grants lapse
                self.registry = DelegationRegistry(load_units(self.settings.admin_map), self.topics)
        self.handlers = Handlers(self.settings, load_units(self.settings.admin_map), self.registry)
        self.shards.partitions = self.settings.partitions
        self.shards.locals.clear()
        for partition in range(self.settings.partitions):  # as if every partition were assigned
            ctx = self.context(partition)
            for _ in self.handlers.index(ctx):
                pass
            self.collect(ctx)

    # -- time ------------------------------------------------------------------------------------
    def advance(self, to: dt.datetime) -> list[Sent]:
        """Move the clock to `to` and run the timers: due deadlines per shard (in ticks of at
        most MAX_DUE_PER_TICK, as the worker catches up), revoked delegations, then the digest
        schedule."""
        out: list[Sent] = []
        self.now = to
        target = int(to.timestamp())
        for partition in range(self.settings.partitions):
            ctx = self.context(partition)
            self.handlers.fire_due(ctx)
            self.handlers.return_revoked(ctx)
            deadlines = self.handlers.deadlines(ctx)
            while (earliest := deadlines.earliest()) is not None and earliest <= target:
                self.handlers.fire_due(ctx)
            out += self.collect(ctx)
        for partition in range(self.settings.partitions):
            ctx = self.context(partition)
            for _ in self.handlers.digest_tick(ctx):
                pass
            out += self.collect(ctx)
        for r in [r for r in out if r.topic == self.topics.digest_parts]:
            out += self.pipe(r.topic, r.value, r.key.decode() if r.key else None)
        return out

    # -- what the shards hold ----------------------------------------------------------------------
    def partition_of(self, key: str) -> int:
        return key_partition(key, self.settings.partitions)

    def state(self, complaint_id: str, partition: int | None = None) -> ComplaintState | None:
        """A complaint's state in its shard (or in `partition`)."""
        p = self.partition_of(complaint_id) if partition is None else partition
        return self.handlers.state(self.context(p), complaint_id)

    def pending_deadlines(self) -> int:
        """Entries of every shard's deadline index."""
        return sum(len(self.handlers.deadlines(self.context(p))) for p in range(self.settings.partitions))

    def export_gauges(self) -> None:
        self.handlers.export_gauges(self.shards.locals.values(), self.now)

    # -- outputs ---------------------------------------------------------------------------------
    def sent(self, topic: str) -> list[Sent]:
        return [r for r in self.records if r.topic == topic]

    def values(self, topic: str) -> list[dict[str, Any]]:
        return [json.loads(r.value) for r in self.sent(topic) if r.value is not None]
