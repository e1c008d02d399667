"""Reading the tables' changelogs fast, for the two slow parts of Faust's table recovery.

1. Rebuilding after an unclean stop. Faust can rebuild a table itself, but it handles every
   changelog record as an event (a task, a wait and its recovery bookkeeping each): ~7,000
   records/s here, about 5 minutes for 1,000,000 open complaints (two changelog records
   each). rebuild_tables reads the same changelogs read_committed with a plain aiokafka
   consumer and writes RocksDB write batches, then records the offset of the last record
   applied where Faust keeps it; Faust's own recovery reads only what comes after. The
   result is Faust's: the store's key and value bytes are the record's, a null value deletes
   the key (Store.apply_changelog_batch in faust/stores/rocksdb.py).

2. Knowing where a changelog ends. A changelog written in transactions ends with a commit
   marker, an offset no consumer ever receives. Faust takes the offset before the end as the
   last one to recover, never sees it arrive, and ends recovery only after two idle 5 s
   timeouts ("Aborted tx until highwater"): 10 s of every start. last_committed_offsets
   finds the last record a read_committed consumer does receive (processors/engine/recovery.py).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rocksdict
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

log = logging.getLogger(__name__)

NO_RECORD = -1
# Table recovery waits this long for a restarting broker (within Faust's 90 s request timeout).
RECOVERY_RETRY_S = 75.0
STALL_S = 60.0


@dataclass
class Rebuilt:
    partitions: int = 0
    records: int = 0
    seconds: float = 0.0


Connection = str | Mapping[str, Any]
"""aiokafka's connection arguments (bootstrap_servers and security), or a bare bootstrap."""


def committed_reader(connection: Connection) -> AIOKafkaConsumer:
    kwargs = {"bootstrap_servers": connection} if isinstance(connection, str) else dict(connection)
    return AIOKafkaConsumer(**kwargs, group_id=None, enable_auto_commit=False,
                            isolation_level="read_committed", fetch_max_bytes=64 << 20,
                            max_partition_fetch_bytes=16 << 20)


async def _read_until(consumer: AIOKafkaConsumer, end: Mapping[TopicPartition, int], on_records: Any) -> None:
    """Fetch the assigned partitions until each position reaches its end offset, handing
    each fetched batch of records below the end to on_records(tp, records)."""
    pending = {tp for tp, offset in end.items() if await consumer.position(tp) < offset}
    progress_at, last_positions = time.monotonic(), {}
    while pending:
        fetched = await consumer.getmany(*pending, timeout_ms=1000, max_records=20_000)
        for tp, records in fetched.items():
            on_records(tp, [r for r in records if r.offset < end[tp]])
        positions = {tp: await consumer.position(tp) for tp in pending}
        if positions != last_positions:  # aborted records and markers move it too
            progress_at, last_positions = time.monotonic(), positions
        pending = {tp for tp, position in positions.items() if position < end[tp]}
        if pending and time.monotonic() - progress_at > STALL_S:  # a start must not hang silently
            stuck = {f"{tp.topic}/{tp.partition}": (positions[tp], end[tp]) for tp in pending}
            raise TimeoutError(f"no progress for {STALL_S:.0f} s towards the end of {stuck} (position, end)")


async def last_committed_offsets(bootstrap: Connection, tps: Iterable[TopicPartition], window: int = 1024,
                                 retry_for_s: float = 0.0) -> dict[TopicPartition, int]:
    """The offset of the last record a read_committed consumer receives from each partition
    (NO_RECORD when none): read back from the end, a window at a time. While the broker
    cannot be reached (a restart), tried again for up to retry_for_s."""
    tps = list(tps)
    if not tps:
        return {}
    give_up = time.monotonic() + retry_for_s
    while True:
        try:
            return await _last_committed_offsets(bootstrap, tps, window)
        except KafkaError as exc:
            if time.monotonic() > give_up:
                raise
            log.warning("changelog ends not read (%r); trying again", exc)
            await asyncio.sleep(1.0)


async def _last_committed_offsets(bootstrap: Connection, tps: list[TopicPartition],
                                  window: int) -> dict[TopicPartition, int]:
    consumer = committed_reader(bootstrap)
    try:
        await consumer.start()
        end = await consumer.end_offsets(tps)  # read_committed: the last stable offset
        last = dict.fromkeys(tps, NO_RECORD)
        todo = [tp for tp in tps if end[tp] > 0]
        while todo:
            consumer.assign(todo)
            for tp in todo:
                consumer.seek(tp, max(0, end[tp] - window))

            def seen(tp: TopicPartition, records: list) -> None:
                if records:
                    last[tp] = max(last[tp], records[-1].offset)

            await _read_until(consumer, {tp: end[tp] for tp in todo}, seen)
            # Only markers and aborted records in the window: look further back.
            todo = [tp for tp in todo if last[tp] == NO_RECORD and end[tp] - window > 0]
            window *= 8
        return last
    finally:
        await consumer.stop()


async def _rebuild(bootstrap: Connection, dbs: Mapping[TopicPartition, Any], offset_key: bytes) -> int:
    consumer = committed_reader(bootstrap)
    applied = 0
    last = dict.fromkeys(dbs, NO_RECORD)

    def write(tp: TopicPartition, records: list) -> None:
        nonlocal applied
        if not records:
            return
        batch = rocksdict.WriteBatch(raw_mode=True)
        for record in records:
            if record.value is None:
                batch.delete(record.key)
            else:
                batch.put(record.key, record.value)
        dbs[tp].write(batch)
        applied += len(records)
        last[tp] = records[-1].offset

    try:
        await consumer.start()
        tps = list(dbs)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        # Up to the last stable offset: beyond it lies the dead worker's open transaction,
        # which Faust's recovery reads past once it is aborted.
        await _read_until(consumer, await consumer.end_offsets(tps), write)
    finally:
        await consumer.stop()
    for tp, offset in last.items():
        if offset != NO_RECORD:
            dbs[tp].put(offset_key, str(offset).encode())
    return applied


def discard_partition(store: Any, partition: int) -> None:
    """Closes and deletes one partition's database of a Faust RocksDB store; the store opens
    an empty one when the partition is next read or recovered."""
    db = store._dbs.pop(partition, None)
    if db is not None:
        db.close()
    store._key_index.clear()  # a cache of key -> partition; some keys are gone
    shutil.rmtree(store.partition_path(partition), ignore_errors=True)


def local_partitions(store: Any, partitions: int) -> list[int]:
    """The partitions of a table that this worker held (a database directory exists)."""
    return [p for p in range(partitions) if Path(store.partition_path(p)).exists()]


def held_partitions(app: Any, partitions: int) -> Iterator[tuple[Any, int, Path]]:
    """(table, partition, path) of every local table partition, its directory deleted before
    it is handed over (before the worker starts)."""
    for table in app.tables.values():
        for partition in local_partitions(table.data, partitions):
            path = Path(table.data.partition_path(partition))
            shutil.rmtree(path)
            yield table, partition, path


def discard_tables(app: Any, partitions: int) -> int:
    """Deletes every local table partition; returns how many."""
    return sum(1 for _ in held_partitions(app, partitions))


def rebuild_tables(app: Any, bootstrap: Connection, partitions: int) -> Rebuilt:
    """Replaces the local databases of every table partition this worker held with the
    committed content of its changelog. Runs before the worker starts."""
    started = time.monotonic()
    dbs: dict[TopicPartition, Any] = {}
    offset_key = b""
    for table, partition, path in held_partitions(app, partitions):
        offset_key = table.data.offset_key
        dbs[TopicPartition(table.changelog_topic.get_topic_name(), partition)] = table.data.rocksdb_options.open(path)
    result = Rebuilt(partitions=len(dbs))
    if dbs:
        # In a thread with its own event loop: the worker's loop must not be started yet.
        outcome: dict[str, Any] = {}

        def read() -> None:
            try:
                outcome["records"] = asyncio.run(_rebuild(bootstrap, dbs, offset_key))
            except BaseException as exc:  # re-raised in the caller's thread
                outcome["error"] = exc

        thread = threading.Thread(target=read, name="rebuild-tables")
        thread.start()
        thread.join()
        for db in dbs.values():
            db.close()
        if "error" in outcome:
            raise outcome["error"]
        result.records = outcome["records"]
    result.seconds = time.monotonic() - started
    return result
