"""How fetched records reach the worker's handlers: straight from the fetch, in chunks.

Faust hands every fetched record to its agents through its conductor and streams: a
ConsumerMessage, an Event, a queue put and get, sensors and a reference count per record,
each delivery wrapped in four tasks and an `asyncio.wait` (`wait_first`) so that a
rebalance can abandon it. The router's agents only took events in batches and handed them
to a handler, so for the router's inputs that machinery was a fifth of the worker's CPU
(profile in docs/benchmarks.md). Here the fetch loop gives each partition's fetched
records to the input's handler a chunk at a time and acknowledges their offsets after the
handler returns (it has sent the chunk's outputs into the partition's transaction), with
Faust's own bookkeeping: read offsets, gaps left by transaction markers, acked offsets and
the set of messages in flight that a rebalance waits for (`wait_empty`). A stop, which
cancels the fetch loop, lets the chunk under way finish and waits for it (`finish_chunks`).

Other topics (the tables' changelogs during recovery and on standbys) still go Faust's way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.types import TP
from faust.types.tuples import ack_lock
from mode.utils.futures import notify

# A handler gets a partition and a chunk of its records (aiokafka ConsumerRecords, in
# offset order); when it returns, the chunk's outputs are in the partition's transaction.
ChunkHandler = Callable[[TP, Sequence[Any]], Awaitable[None]]


class Direct:
    """The inputs whose records go straight to a handler, and the chunk size."""

    def __init__(self) -> None:
        self.chunk_size = 200
        self.handlers: dict[str, ChunkHandler] = {}
        self.ready: dict[str, asyncio.Event] = {}  # what a topic's handler needs first


def handle_directly(app: faust.App, topic: faust.TopicT, handler: ChunkHandler, chunk_size: int,
                    ready: asyncio.Event | None = None) -> None:
    """Subscribe the worker to `topic` (as an agent would) and hand its records to `handler`
    in chunks of at most `chunk_size`, once `ready` is set. (Waiting for it happens before a
    chunk counts as in flight: a rebalance meanwhile need not wait.)"""
    app.topics.add(topic)
    direct = app.direct_inputs
    direct.chunk_size = chunk_size
    for name in topic.topics:
        direct.handlers[name] = handler
        if ready is not None:
            direct.ready[name] = ready


class InFlight:
    """Stands in Faust's set of unacknowledged messages for a chunk being handled, so that
    a rebalance waits for it (`Consumer.wait_empty` reads these two attributes)."""

    refcount = 1

    def __init__(self, tp: TP, count: int) -> None:
        self.tp, self.count, self.acked = tp, count, False

    def __repr__(self) -> str:
        return f"<chunk of {self.count} from {self.tp.topic}[{self.tp.partition}]>"


class Fetched:
    """Records fetched and not handed out yet, per partition in offset order, all of one
    consumer generation. The fetch loop puts, the handing-out task takes everything at once;
    past `limit` records the fetch loop waits for room."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.records: dict[TP, list[Any]] = {}
        self.count = 0
        self.generation: int | None = None
        self._ready = asyncio.Event()  # something to take
        self._room = asyncio.Event()
        self._room.set()
        self._idle = asyncio.Event()  # no batch being handed out
        self._idle.set()

    def put(self, records: Mapping[TP, Sequence[Any]], active: set[TP] | None, buffered: set[TP],
            generation: int) -> None:
        if generation != self.generation:
            self.clear()  # fetched before a rebalance: never handed out
            self.generation = generation
        for tp, batch in records.items():
            if active is not None and tp not in active and tp not in buffered:
                continue  # paused since the fetch (Faust skips these alike)
            self.records.setdefault(tp, []).extend(batch)
            self.count += len(batch)
        if self.records:
            self._ready.set()
        if self.count >= self.limit:
            self._room.clear()

    def clear(self) -> None:
        self.records, self.count = {}, 0
        self._room.set()

    async def take(self) -> tuple[dict[TP, list[Any]], int]:
        while not self.records:
            self._ready.clear()
            await self._ready.wait()
        records, generation = self.records, self.generation
        assert generation is not None
        self.clear()
        self._idle.clear()
        return records, generation

    def done_with_batch(self) -> None:
        self._idle.set()

    def stopped(self) -> None:
        self._room.set()
        self._idle.set()

    async def room(self) -> None:
        await self._room.wait()

    async def idle(self) -> None:
        await self._idle.wait()


class DirectDelivery:
    """Mixin for Faust's consumer (faust.transport.consumer.Consumer): its fetch loop,
    `_drain_messages`, rewritten to deliver the direct inputs' records in chunks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._chunks: set[asyncio.Future[None]] = set()  # chunks being handled

    async def finish_chunks(self) -> None:
        """Wait for the chunks being handled. A stop must: Faust's `wait_empty` does not wait
        once the consumer is stopping, and the fetch loop it cancels leaves them running."""
        while self._chunks:
            await asyncio.wait(list(self._chunks))

    async def _drain_messages(self, fetcher: Any) -> None:
        """Fetch into a buffer while a second task hands out everything fetched so far.
        A fetch is a call into the consumer's thread (faust's ConsumerThread) that waits on
        GIL hand-offs; done one after the other with the handling, the router kept a
        standing queue under a steady load (p50 1.2 s at 1,500/s, against 77 ms with Faust's
        streams, which overlap the two). Taking all that was fetched meanwhile makes the
        chunks as large as the load allows: each costs a send, a wake of the producer's
        sender and a task."""
        consumer: Any = self
        direct = consumer.app.direct_inputs
        consumer_stopped = consumer._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set
        fetched = Fetched(limit=10 * direct.chunk_size)
        handing_out = asyncio.ensure_future(self._hand_out(fetched, direct.handlers))
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                consumer.diag.set_flag(CONSUMER_FETCHING)
                await fetched.room()
                if handing_out.done():
                    handing_out.result()  # raises what a handler raised: the worker stops
                records, active = await consumer._wait_next_records(1.0)
                generation = consumer.app.consumer_generation_id
                await consumer.sleep(0)
                if records is not None and not consumer.should_stop:
                    if consumer.flow_active:
                        fetched.put(records, active, consumer._buffered_partitions, generation)
                    else:  # stopped while fetching (a rebalance): read again from the committed offsets
                        fetched.clear()
                        await fetched.idle()
                        try:
                            await consumer.perform_seek()
                        except Exception as exc:
                            consumer.log.warning(f"exception performing seek when flow not active {exc}")
                consumer.diag.unset_flag(CONSUMER_FETCHING)
        except consumer.consumer_stopped_errors:
            if consumer.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if consumer.transport.app.should_stop:
                return
            raise
        except Exception as exc:
            consumer.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            handing_out.cancel()  # a chunk under way still finishes (shielded; finish_chunks)
            consumer.diag.unset_flag(CONSUMER_FETCHING)

    async def _hand_out(self, fetched: Fetched, direct: Mapping[str, ChunkHandler]) -> None:
        try:
            while True:
                records, generation = await fetched.take()
                try:
                    await self._deliver(records, direct, generation)
                finally:
                    fetched.done_with_batch()
        finally:
            fetched.stopped()  # a fetch loop waiting for room wakes, and finds this task done

    async def _deliver(self, records: Mapping[TP, Sequence[Any]], direct: Mapping[str, ChunkHandler],
                       generation: int) -> None:
        others: dict[TP, Sequence[Any]] = {}
        for tp, batch in records.items():
            handler = direct.get(tp.topic)
            if handler is None:
                others[tp] = batch
            elif not await self._deliver_directly(tp, batch, handler, generation):
                return
        if others:
            await self._deliver_each(others, generation)

    def _still_flowing(self, generation: int) -> bool:
        """False once a rebalance or a stop began: no chunk may begin then."""
        consumer: Any = self
        return (consumer.flow_active and not consumer.should_stop
                and consumer.app.consumer_generation_id == generation)

    async def _deliver_directly(self, tp: TP, batch: Sequence[Any], handler: ChunkHandler, generation: int) -> bool:
        """Hand one partition's fetched records to its handler a chunk at a time; False when a
        rebalance or a stop began (what is left is read again from the committed offset)."""
        consumer: Any = self
        read = consumer._read_offset[tp]
        fresh = []
        for record in batch:  # Faust's read-offset and gap bookkeeping, record by record
            offset = record.offset
            if read is not None and offset < read:
                continue  # read before
            if read and offset - read > 1:  # offsets in between hold transaction markers
                await consumer._add_gap(tp, read + 1, offset)
            fresh.append(record)
            read = offset
        direct = consumer.app.direct_inputs
        ready = direct.ready.get(tp.topic)
        if ready is not None and not ready.is_set():
            await ready.wait()
        size = direct.chunk_size
        for start in range(0, len(fresh), size):
            if not self._still_flowing(generation):
                return False
            await self._commit_if_many_acked()
            chunk = fresh[start:start + size]
            in_flight = InFlight(tp, len(chunk))
            consumer._unacked_messages.add(in_flight)
            # Shielded: a stop cancels this loop (Faust's Fetcher.on_stop), and a chunk cut
            # off mid-send would leave its table writes in RocksDB and part of its records in
            # the transaction the stop then commits. It finishes (the stop waits for it:
            # finish_chunks; a rebalance waits for it in flight until acknowledged).
            task = asyncio.ensure_future(self._handle_chunk(tp, chunk, handler, in_flight))
            self._chunks.add(task)
            task.add_done_callback(self._chunks.discard)
            await asyncio.shield(task)
            await asyncio.sleep(0)  # the producer's sender, heartbeats and timers between chunks
        return True

    async def _handle_chunk(self, tp: TP, chunk: Sequence[Any], handler: ChunkHandler, in_flight: InFlight) -> None:
        consumer: Any = self
        try:
            await handler(tp, chunk)
            self._acknowledge(tp, chunk)
            consumer._read_offset[tp] = chunk[-1].offset
        finally:
            in_flight.acked = True
            consumer._unacked_messages.discard(in_flight)
            notify(consumer._waiting_for_ack)

    async def _commit_if_many_acked(self) -> None:
        """Faust's commit after every `broker_commit_every` acknowledgements."""
        consumer: Any = self
        if consumer._commit_every is not None and consumer._n_acked >= consumer._commit_every:
            consumer._n_acked = 0
            await consumer.commit()

    def _acknowledge(self, tp: TP, chunk: Sequence[Any]) -> None:
        """Faust's Consumer.ack for each record of the chunk: its offset may be committed."""
        consumer: Any = self
        with ack_lock:
            committed = consumer._committed_offset[tp]
            index = consumer._acked_index[tp]
            acked = consumer._acked[tp]
            added = 0
            for record in chunk:
                offset = record.offset
                if (committed is None or offset >= committed) and offset not in index:
                    index.add(offset)
                    acked.append(offset)
                    added += 1
            consumer._n_acked += added

    async def _deliver_each(self, records: Mapping[TP, Sequence[Any]], generation: int) -> None:
        """Faust's delivery, record by record (faust/transport/consumer.py, getmany and
        _drain_messages), with one change: a message is handed to its streams by awaiting
        the callback directly when the delivery cannot wait (`delivers_without_waiting`),
        not through `wait_first`, which costs four tasks and an asyncio.wait."""
        consumer: Any = self
        callback = consumer.callback
        to_message = consumer._to_message
        acks_enabled_for = consumer.app.topics.acks_enabled_for
        read_offsets = consumer._read_offset
        since_yield = 0
        for tp, record in consumer.scheduler.iterate(records):
            if not self._still_flowing(generation):
                break
            consumer.app.monitor.track_tp_end_offset(tp, consumer.highwater(tp))
            message = to_message(tp, record)
            since_yield += 1
            if since_yield > 100:
                await asyncio.sleep(0)
                since_yield = 0
            offset = message.offset
            read = read_offsets[tp]
            if read is not None and offset < read:
                continue
            if read and offset - read > 1 and acks_enabled_for(message.topic):
                await consumer._add_gap(tp, read + 1, offset)
            await self._commit_if_many_acked()
            if self.delivers_without_waiting(tp):
                await callback(message)
            else:
                await consumer.wait_first(callback(message), consumer.suspend_flow.wait())
            read_offsets[tp] = offset

    def delivers_without_waiting(self, tp: TP) -> bool:
        """True when handing a message of `tp` to its streams cannot wait: flow not stopped
        or suspended, producer buffer below its limit, the conductor's subscription lock
        free and no subscribed stream's queue full (Faust's delivery, faust/transport/
        conductor.py, waits on exactly these)."""
        consumer: Any = self
        app = consumer.app
        conductor = app.topics
        buffer = app.producer.buffer
        return (not consumer.suspend_flow.is_set() and app.flow_control.is_active()
                and buffer.size <= buffer.max_messages and not conductor._tp_to_callback_lock.locked()
                and not any(channel.queue.full() for channel in conductor._tp_index.get(tp, ())))
