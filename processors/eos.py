"""Exactly-once output: every record an event causes, committed with that event's offset.

Two faults of faust-streaming 0.15's exactly_once mode, found in its source, and how this
module works around them.

1. Outputs go to the wrong transaction. Faust commits a source partition's offsets in the
   transaction "{app_id}-{group}-{partition}" of that *source* partition
   (faust/transport/consumer.py, TransactionManager.commit). But TransactionManager.send
   picks the transactional id from the *destination* topic and the partition the key
   hashes to there; for a topic the app does not consume, assignor.group_for_topic() has
   no entry at all (faust-streaming issues #177, #517).

2. Table writes are not atomic with the outputs. A table assignment queues its changelog
   record in Faust's ProducerBuffer, which a background task hands to the producer later,
   and the periodic commit does not wait for that buffer. A commit can fall between an
   output and its changelog record: after a kill -9 the output is visible and the table
   does not know it (a duplicate on replay), or the reverse (a loss).

The fix: an event's outputs *and* its changelog records are handed to the transactional
producer of the event's source partition in one step, under the same lock Faust's commit
takes for that transaction (Producer._trn_locks), so a commit falls before or after all
of them. The local store is written directly (Table.data), without Faust's own changelog
send. On top of that, processors/worker.py rebuilds local RocksDB state from the
changelogs after an unclean stop, because RocksDB writes are not transactional.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import faust
from faust.streams import _current_event
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP


@dataclass(frozen=True)
class Record:
    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None = None
    on_delivered: Callable[[Any], None] | None = None  # called with the delivery future


class TransactionalSender:
    def __init__(self, app: faust.App) -> None:
        self.app = app

    def transactional_id(self, source: TP) -> str | None:
        if not self.app.in_transaction:
            return None
        group = self.app.assignor.group_for_topic(source.topic)
        # The same format Faust's TransactionManager commits offsets with.
        return f"{self.app.conf.id}-{group}-{source.partition}"

    async def send_atomically(self, source: TP, records: Sequence[Record]) -> list[Any]:
        """Queue records in the source partition's open transaction, with no commit between
        them. Returns the delivery futures (resolved when the broker has the records)."""
        producer = self.app.producer
        tid = self.transactional_id(source)
        if tid is None:  # at-least-once mode: plain sends
            futures = [await producer.send(r.topic, r.key, r.value, partition=r.partition, timestamp=None,
                                           headers=None) for r in records]
        else:
            async with producer._trn_locks[tid]:
                transaction = producer._transaction_producers[tid]
                futures = [await transaction.send(r.topic, r.value, key=r.key, partition=r.partition)
                           for r in records]
        for record, future in zip(records, futures):
            if record.on_delivered is not None:
                future.add_done_callback(record.on_delivered)
        return futures


    async def commit_now(self, source: TP) -> None:
        """Commit the source partition's open transaction and open the next one, so what a
        timer sent becomes visible without waiting for a consumed offset to commit."""
        tid = self.transactional_id(source)
        if tid is None:
            return
        producer = self.app.producer
        async with producer._trn_locks[tid]:
            transaction = producer._transaction_producers[tid]
            await transaction.commit_transaction()
            await transaction.begin_transaction()


class ConcurrentCommitProducer(aiokafka_driver.Producer):
    """Faust's producer, committing the source partitions' transactions at the same time.

    Faust commits them one after the other, each in three round trips to the coordinator
    (offsets, AddOffsetsToTxn, EndTxn) under that partition's lock, which the agent needs to
    send the next event's outputs: under load one commit round took 0.7 s ("Timer commit is
    overlapping") and the agent waited on it. The transactions are independent (one
    producer each), so their commits overlap here, each still under its own lock."""

    async def commit_transactions(self, tid_to_offset_map: Any, group_id: str,
                                  start_new_transaction: bool = True) -> None:
        commit_one = super().commit_transactions
        await asyncio.gather(*(commit_one({tid: offsets}, group_id, start_new_transaction)
                               for tid, offsets in tid_to_offset_map.items()))


class Transport(aiokafka_driver.Transport):
    """The aiokafka transport with the producer above (installed by processors.app)."""

    Producer = ConcurrentCommitProducer


class _StandInEvent:
    """Just what Faust's RocksDB store reads of the current event."""

    __slots__ = ("message", "__weakref__")

    def __init__(self, partition: int) -> None:
        self.message = SimpleNamespace(partition=partition)


@contextmanager
def in_partition(partition: int) -> Iterator[None]:
    """Table access as if processing an event of `partition`: Faust's RocksDB store picks
    the partition's database from the current event, and a timer has none."""
    event = _StandInEvent(partition)  # held here: the context variable keeps only a weakref
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


def _partition_db(table: Any, partition: int) -> Any:
    """The RocksDB database of one partition of a table (Faust keeps one per partition)."""
    return table.data._dbs.get(partition)


def partition_keys(table: Any, partition: int) -> Iterator[str]:
    """Every key of one partition of a RocksDB-backed table, decoded; values are not read."""
    db = _partition_db(table, partition)
    for key in db.keys() if db is not None else ():
        if not key.startswith(b"__faust"):  # Faust's own bookkeeping (the persisted offset)
            yield json.loads(key)


def iter_partition(table: Any, partition: int) -> Iterator[tuple[str, Any]]:
    """Every (key, value) of one partition of a RocksDB-backed table, decoded."""
    db = _partition_db(table, partition)
    for key, value in db.items() if db is not None else ():
        if not key.startswith(b"__faust"):
            yield json.loads(key), json.loads(value)


def iter_range(table: Any, partition: int, start: str, end: str) -> list[tuple[str, Any]]:
    """The (key, value) pairs of one partition of a RocksDB-backed table with start <= key <
    end, decoded. Keys are compared as Faust stores them (JSON), so start and end must
    need no JSON escaping (digits, letters, "/")."""
    db = _partition_db(table, partition)
    if db is None:
        return []
    first, stop = json.dumps(start).encode()[:-1], json.dumps(end).encode()[:-1]  # no closing quote
    found = []
    for key, value in db.items(from_key=first):
        if key >= stop:
            break
        found.append((json.loads(key), json.loads(value)))
    return found


class TableWriter:
    """Writes a Faust table's local store and returns the matching changelog record, for
    TransactionalSender to send with the outputs it belongs to."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def set(self, key: str, value: Any, partition: int) -> Record:
        self.table.data[key] = value
        return self.changelog(key, value, partition)

    def delete(self, key: str, partition: int) -> Record:
        self.table.data.pop(key, None)
        return self.changelog(key, None, partition)

    def changelog(self, key: str, value: Any, partition: int) -> Record:
        # Untyped Faust tables use the JSON codec for both keys and values.
        encoded = None if value is None else json.dumps(value, separators=(",", ":")).encode()
        return Record(self.table.changelog_topic.get_topic_name(), json.dumps(key).encode(), encoded, partition,
                      on_delivered=self.persisted)

    def persisted(self, future: Any) -> None:
        """Delivery callback: marks the changelog offset the local store now holds, which
        processors.recovery.Tables writes to RocksDB at the next commit, so a clean restart
        reads only what is newer.

        Faust marks it the same way for its own changelog sends, but flushes only marks keyed
        by the committed *source* partitions while they are keyed by *changelog* partition:
        none was ever written, and every restart re-read the whole changelog (measured: 4 1/2
        minutes with 1,000,000 complaints after a clean stop). A mark may run ahead of the
        commit; that is safe here: the local tables are trusted only after a clean stop,
        when every transaction has committed, and are rebuilt after any other
        (processors/worker.py)."""
        if future.cancelled() or future.exception() is not None:
            return
        meta = future.result()
        self.table.app.tables.persist_offset_on_commit(self.table.data, TP(meta.topic, meta.partition), meta.offset)
