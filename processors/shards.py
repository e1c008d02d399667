"""Binding the domain's Context (processors/domain/ports.py) to a partition: for the engine,
over the Faust tables' RocksDB databases, and for the in-memory driver, over dictionaries.

Kafka's partitioner is here too (`key_partition`): the handlers ask the context whether a
key belongs to their shard, never which partition it is.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol, TypeVar

from processors.domain.ports import Record, Shard

T = TypeVar("T")


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), as kafka-python's
    murmur2 computes it, reading the input a 32-bit word at a time: three times as fast,
    and the router hashes every complaint_id (a test holds the two equal)."""
    m = 0x5BD1E995
    length = len(data)
    words = length // 4
    h = 0x9747B28C ^ length
    for k in struct.unpack_from(f"<{words}I", data):
        k = (k * m) & 0xFFFFFFFF
        k = ((k ^ (k >> 24)) * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail = words * 4
    extra = length - tail
    if extra == 3:
        h ^= data[tail + 2] << 16
    if extra >= 2:
        h ^= data[tail + 1] << 8
    if extra >= 1:
        h = ((h ^ data[tail]) * m) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * m) & 0xFFFFFFFF
    return h ^ (h >> 15)


def key_partition(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (Java, kafka-python, aiokafka: murmur2)
    gives a keyed record. librdkafka's default (crc32) differs: its clients' records may sit
    elsewhere, which the handlers mend (they put a record back keyed right)."""
    return (murmur2(key.encode("utf-8")) & 0x7FFFFFFF) % partitions


class PartitionedStore(Protocol):
    """A table's storage across partitions; a write returns what the engine must send with the
    transaction to record it (a changelog record), opaque here."""

    def get(self, key: str, partition: int) -> Any: ...

    def set(self, key: str, value: Any, partition: int) -> Any: ...

    def delete(self, key: str, partition: int) -> Any: ...

    def items(self, partition: int) -> Iterator[tuple[str, Any]]: ...


class BoundTable:
    def __init__(self, store: PartitionedStore, partition: int, writes: list[Any]) -> None:
        self.store, self.partition, self.writes = store, partition, writes

    def get(self, key: str) -> Any:
        return self.store.get(key, self.partition)

    def set(self, key: str, value: Any) -> None:
        self.writes.append(self.store.set(key, value, self.partition))

    def delete(self, key: str) -> None:
        self.writes.append(self.store.delete(key, self.partition))

    def items(self) -> Iterator[tuple[str, Any]]:
        return self.store.items(self.partition)


class ShardContext:
    """The Context of one partition: its tables, its in-memory state (`locals`, kept by the
    caller per partition), and what the handlers send (`records`) and write (`writes`)."""

    def __init__(self, partition: int, partitions: int, now: dt.datetime, stores: Mapping[str, PartitionedStore],
                 locals_: dict[str, Any]) -> None:
        self.partition = partition
        self.now = now
        self.shard = Shard(partition, partitions)
        self.records: list[Record] = []
        self.writes: list[Any] = []
        self._tables = {name: BoundTable(store, partition, self.writes) for name, store in stores.items()}
        self._locals = locals_

    def table(self, name: str) -> BoundTable:
        return self._tables[name]

    def send(self, record: Record) -> None:
        self.records.append(record)

    def owns(self, key: str) -> bool:
        return key_partition(key, self.shard.count) == self.partition

    def local(self, name: str, factory: Callable[[], T]) -> T:
        found = self._locals.get(name)
        if found is None:
            found = factory()  # a factory returning None asks without making it
            if found is not None:
                self._locals[name] = found
        return found

    def take(self) -> tuple[list[Any], list[Record]]:
        """What was written and sent so far, and start afresh (a context serves a chunk)."""
        writes, records = list(self.writes), self.records
        self.writes.clear()
        self.records = []
        return writes, records


P = TypeVar("P")


class Shards:
    """Each partition's Context: its tables (the stores) and its in-memory state, kept here
    until a rebalance may have changed the partition elsewhere (the owner drops `locals`)."""

    def __init__(self, stores: Mapping[str, PartitionedStore], partitions: int) -> None:
        self.stores, self.partitions = stores, partitions
        self.locals: dict[int, dict[str, Any]] = {}

    def context(self, partition: int, now: dt.datetime) -> ShardContext:
        return ShardContext(partition, self.partitions, now, self.stores, self.locals.setdefault(partition, {}))

    @staticmethod
    def outgoing(ctx: ShardContext, placed: Callable[[str, bytes | None, bytes | None, int | None], P]) -> list[Any]:
        """What the context's handlers wrote (the stores' changelog records, as they are) and
        sent, each sent record `placed` on a partition: the context's when it is keyed like
        its input, else None (the producer's partitioner places it)."""
        writes, records = ctx.take()
        return [*writes, *(placed(r.topic, r.key, r.value, ctx.partition if r.copartitioned else None)
                           for r in records)]
