"""Exactly-once output: every record an event causes, committed with that event's offset.

Faults of faust-streaming 0.15's exactly_once mode, found in its source, and how this
module works around them (docs/exactly-once.md has the whole design).

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
of them. The local store is written directly (processors/engine/faust_store.py), without Faust's own
changelog send. On top of that, processors/engine/worker.py rebuilds local RocksDB state from the
changelogs after an unclean stop, because RocksDB writes are not transactional.

3. Rebalances left transactions open and recorded changelog offsets that never committed:
   DrainingConsumer and TransactionalProducer below.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping, Sequence, Set
from typing import Any, NamedTuple

import faust
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP

from processors.engine.delivery import DirectDelivery
from processors.engine.fetching import AdaptiveFetch

# The broker aborts a transaction left open this long and fences its producer (aiokafka's
# default is 60 s). Commits come every COMMIT_INTERVAL_S; this is only a margin.
TRANSACTION_TIMEOUT_MS = 300_000


class Outbound(NamedTuple):
    """A record placed on its partition, as the transaction sends it (a NamedTuple: the router makes two or more per complaint, and a
    frozen dataclass costs several times as much to build)."""

    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None = None
    # A table's store, for a changelog record: once its transaction commits, the store
    # records the record's offset as the changelog position it holds.
    store: Any = None


class TransactionalSender:
    def __init__(self, app: faust.App) -> None:
        self.app = app

    def transactional_id(self, source: TP) -> str | None:
        if not self.app.in_transaction:
            return None
        group = self.app.assignor.group_for_topic(source.topic)
        # The same format Faust's TransactionManager commits offsets with.
        return f"{self.app.conf.id}-{group}-{source.partition}"

    async def send_atomically(self, source: TP, records: Sequence[Outbound]) -> list[Any]:
        """Queue records in the source partition's open transaction, with no commit between
        them. Returns the delivery futures (resolved when the broker has the records)."""
        producer = self.app.producer
        tid = self.transactional_id(source)
        if tid is None:  # at-least-once mode: plain sends
            return [await producer.send(r.topic, r.key, r.value, partition=r.partition, timestamp=None,
                                        headers=None) for r in records]
        return await producer.send_in_transaction(tid, records)

    async def commit_now(self, source: TP) -> None:
        """Commit the source partition's transaction with the offsets of the events it has
        handled so far, and open the next one, so what a timer sent becomes visible now."""
        tid = self.transactional_id(source)
        if tid is None:
            return
        consumer = self.app.consumer
        mine = {tp for tp in consumer.assignment()
                if tp.partition == source.partition and not consumer._is_changelog_tp(tp)
                and self.transactional_id(tp) == tid}
        # Faust's own commit sends the offsets and ends the transaction (through
        # TransactionalProducer below); with nothing acked it commits nothing, or another
        # commit was under way: then end this transaction without offsets.
        if not await consumer.commit(mine):
            await self.app.producer.commit_one(tid, None, self.app.conf.id, start_new_transaction=True)


class CommitFailed(Exception):
    """A transaction could not be committed: what this worker wrote to its local tables for
    that partition is not what the changelog holds (fenced by a newer owner, or the broker
    refused). The app stops; processors/engine/worker.py rebuilds the tables and rejoins the
    group in the same process (app.commit_failed says why it stopped)."""


class TransactionalProducer(aiokafka_driver.Producer):
    """Faust's producer, with three changes to its transactions.

    - Commits overlap. Faust commits the source partitions' transactions one after the
      other, each in three round trips to the coordinator (offsets, AddOffsetsToTxn, EndTxn)
      under that partition's lock, which the handlers need to send the next event's outputs:
      under load one commit round took 0.7 s. The transactions are independent (one producer
      each), so their commits run at once, each still under its own lock.
    - A changelog offset is recorded only once its transaction has committed. The records
      sent in a transaction and their stores are kept per transactional id; after the commit
      each store records the highest offset it got. A transaction that is aborted or fenced
      records nothing, so a recorded offset never runs ahead of the read_committed end
      (faust-streaming recorded every delivered offset: after a rebalance aborted the
      transaction, recovery failed with "persisted offset ... is higher than ... highwater").
    - A longer transaction timeout (TRANSACTION_TIMEOUT_MS), as a margin: the broker aborts
      a transaction left open past it and fences its producer.
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        self._changelog_sends: dict[str, list[tuple[Any, Any]]] = defaultdict(list)

    def _settings_extra(self) -> Mapping[str, Any]:
        extra = dict(super()._settings_extra())
        if self.app.in_transaction:
            extra["transaction_timeout_ms"] = TRANSACTION_TIMEOUT_MS
        return extra

    def failed(self, reason: str) -> CommitFailed:
        """A transaction lost: the app stops with it as its reason (the worker rejoins)."""
        self.app.commit_failed = CommitFailed(reason)
        return self.app.commit_failed

    async def send_in_transaction(self, tid: str, records: Sequence[Outbound]) -> list[Any]:
        """Queue records in transaction `tid`. A send refused (the producer fenced since its
        last commit: aiokafka then answers "Can't send messages while not in transaction")
        fails like a commit: the chunk is not acknowledged and the worker rejoins."""
        async with self._trn_locks[tid]:
            transaction = self._transaction_producers[tid]
            try:
                futures = [await transaction.send(r.topic, r.value, key=r.key, partition=r.partition)
                           for r in records]
            except Exception as exc:
                raise self.failed(f"transaction {tid} refused a send: {exc!r}") from exc
            self._changelog_sends[tid].extend((r.store, f) for r, f in zip(records, futures) if r.store is not None)
        return futures

    async def commit_transactions(self, tid_to_offset_map: Any, group_id: str,
                                  start_new_transaction: bool = True) -> None:
        await asyncio.gather(*(self.commit_one(tid, offsets, group_id, start_new_transaction)
                               for tid, offsets in tid_to_offset_map.items()))

    async def commit_one(self, tid: str, offsets: Mapping[TP, int] | None, group_id: str,
                         start_new_transaction: bool) -> bool:
        """Commit one transaction (with consumer offsets, if any); False when there is none
        open for `tid` (its partition was revoked)."""
        lock = self._trn_locks.get(tid)
        if lock is None:
            return False
        async with lock:
            transaction = self._transaction_producers.get(tid)
            if transaction is None:
                return False
            sends, self._changelog_sends[tid] = self._changelog_sends[tid], []
            try:
                if not transaction._txn_manager.is_in_transaction():
                    if not offsets:
                        return False
                    await transaction.begin_transaction()
                if offsets:
                    await transaction.send_offsets_to_transaction(offsets, group_id)
                await transaction.commit_transaction()
            except Exception as exc:
                raise self.failed(f"transaction {tid} did not commit: {exc!r}") from exc
            record_changelog_positions(sends)
            if start_new_transaction:
                await transaction.begin_transaction()
            return True

    async def stop_transactions(self) -> None:
        """Stop every transactional producer (all committed by then); Faust starts one for
        each partition assigned next. Faust stops only the producers of partitions revoked
        outright; one whose partition became a standby here stayed, was fenced by the new
        owner, and failed the first send after the partition came back ("Can't send
        messages while not in transaction")."""
        for tid in list(self._transaction_producers):
            async with self._trn_locks[tid]:
                producer = self._transaction_producers.pop(tid, None)
                self._changelog_sends.pop(tid, None)
            if producer is not None:
                await producer.stop()

    async def commit_open_transactions(self) -> None:
        """End every transaction still open (what timers sent; empty ones commit locally)."""
        tids = [tid for tid, t in list(self._transaction_producers.items()) if t._txn_manager.is_in_transaction()]
        await asyncio.gather(*(self.commit_one(tid, None, self.app.conf.id, start_new_transaction=False)
                               for tid in tids))


def record_changelog_positions(sends: Sequence[tuple[Any, Any]]) -> None:
    """After a commit: each store records the highest changelog offset it was sent."""
    highest: dict[tuple[int, TP], tuple[Any, int]] = {}
    for store, future in sends:
        if not future.done() or future.cancelled() or future.exception() is not None:
            continue  # cannot happen after a commit (it flushes first); recording less is safe
        meta = future.result()
        tp = TP(meta.topic, meta.partition)
        known = highest.get((id(store), tp))
        if known is None or meta.offset > known[1]:
            highest[(id(store), tp)] = (store, meta.offset)
    for (_, tp), (store, offset) in highest.items():
        store.set_persisted_offset(tp, offset)


class DrainingConsumer(DirectDelivery, aiokafka_driver.Consumer):
    """Faust's consumer, finishing its transactions before partitions are revoked.

    aiokafka rebalances eagerly: every partition is revoked, even those the worker keeps.
    Faust drops its record of acknowledged events of revoked partitions first and only then
    commits, so nothing was committed: the transactions stayed open into the next
    assignment ("Invalid state transition IN_TRANSACTION -> IN_TRANSACTION"), were aborted
    by the partition's new owner or timed out, and the worker crashed. Here, before Faust's
    own handler runs: stop handing out events, let the timers finish (the gate they hold),
    wait for the events under way, commit their offsets and end every open transaction,
    then stop the transactional producers (Faust starts those of the next assignment).
    A transaction that cannot commit stops the worker (CommitFailed).

    Also: the position Faust's recovery compares with a changelog's end (below), the
    fetch loop delivering the worker's inputs in chunks (processors/engine/delivery.py), and the
    consumer thread's fetches adapting to the flow (TunedConsumerThread)."""

    def _new_consumer_thread(self) -> TunedConsumerThread:
        return TunedConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def on_partitions_revoked(self, revoked: Set[TP]) -> None:
        app = self.app
        if revoked and app.in_transaction and not self.should_stop:
            self.stop_flow()
            app.flow_control.suspend()
            app.flow_control.clear()
            async with app.timer_gate:
                await self.wait_empty()  # waits for the events under way, commits their offsets
                # That commit is skipped when another is under way: wait for it, commit again.
                await self.maybe_wait_for_commit_to_finish()
                await self.force_commit(start_new_transaction=False)
                await app.producer.commit_open_transactions()
                await app.producer.stop_transactions()
        await super().on_partitions_revoked(revoked)

    async def on_stop(self) -> None:
        """A clean stop waits for the chunks being handled (processors/engine/delivery.py) and ends
        every transaction too: Faust commits only those with consumed offsets, and left what
        a timer had sent open (then aborted by the next owner, while the local tables,
        trusted after a clean stop, kept it)."""
        if not self.app.in_transaction:
            await self.finish_chunks()
            return await super().on_stop()
        async with self.app.timer_gate:
            await self.finish_chunks()
            await super().on_stop()  # commits the offsets of what was handled
            await self.app.producer.commit_open_transactions()

    async def position(self, tp: TP) -> int | None:
        """The offset of the last record fetched from `tp` (one before the position).

        Faust asks the consumer's position only in table recovery, to decide that the rest of
        a changelog partition is aborted transactions (faust/tables/recovery.py,
        detect_aborted_tx: `position >= highwater` after two idle 5 s waits, a count never
        reset while recovery idles between rebalances). processors/engine/recovery.py makes the
        highwater the offset of the last committed *record*, so a position equal to it means
        that record is still to come: recovery declared the partition done, then dropped the
        record as already seen. A marks changelog holds one record per partition: the
        digest's day mark was lost, and that day's digest with it (chaos scenario "broker
        restart during a rebalance": 5 of 6 runs). With the offset of the last record
        fetched, the comparison means "the last record was read"."""
        position = await super().position(tp)
        return None if position is None else position - 1


class TunedConsumerThread(aiokafka_driver.AIOKafkaConsumerThread):
    """Faust's consumer thread, its worker consumer's fetches waiting to fill while records
    flow and long-polling while none do (processors/engine/fetching.py), where Faust's own
    settings (fetch_max_wait_ms 1500, no fetch_min_bytes) answered every fetch at once."""

    async def on_start(self) -> None:
        await super().on_start()
        if not self.app.client_only:
            min_bytes, busy_wait_ms = self.app.fetch_tuning  # processors/engine/worker_app.py
            AdaptiveFetch(min_bytes, busy_wait_ms).install(self._consumer._fetcher)


class Transport(aiokafka_driver.Transport):
    """The aiokafka transport with the producer and consumer above (installed by processors.engine.app)."""

    Producer = TransactionalProducer
    Consumer = DrainingConsumer
