"""The worker's delivery straight from the fetch (processors/engine/delivery.py), without a broker:
chunks in order, offsets acknowledged only after the handler returns, Faust's gap and
read-offset bookkeeping, a chunk in flight visible to a rebalance, and nothing handed out
once the flow stops."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace
from typing import Any, NamedTuple
from weakref import WeakSet

import pytest
from faust.types import TP

from processors.engine.delivery import Direct, DirectDelivery, Fetched

TOPIC = "complaints.submitted"
TP0 = TP(TOPIC, 0)


class FetchedRecord(NamedTuple):
    topic: str
    partition: int
    offset: int
    key: bytes | None = None
    value: bytes | None = None
    timestamp: int | None = None


def fetched(*offsets: int) -> list[FetchedRecord]:
    return [FetchedRecord(TOPIC, 0, o) for o in offsets]


class FakeConsumer(DirectDelivery):
    """The attributes of Faust's Consumer that the delivery reads and writes, as Faust
    initialises them."""

    def __init__(self, chunk_size: int = 2) -> None:
        direct = Direct()
        direct.chunk_size = chunk_size
        self.app = SimpleNamespace(consumer_generation_id=1, direct_inputs=direct)
        self.flow_active = True
        self._read_offset: defaultdict[TP, int | None] = defaultdict(lambda: None)
        self._committed_offset: defaultdict[TP, int | None] = defaultdict(lambda: None)
        self._acked: defaultdict[TP, list[int]] = defaultdict(list)
        self._acked_index: defaultdict[TP, set[int]] = defaultdict(set)
        self._n_acked = 0
        self._commit_every = None
        self._unacked_messages: WeakSet[Any] = WeakSet()
        self._waiting_for_ack = None
        self.gaps: list[tuple[TP, int, int]] = []
        self._chunks: set[Any] = set()
        self.should_stop = False

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        self.gaps.append((tp, offset_from, offset_to))


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_chunks_go_in_order_and_are_acknowledged_only_after_their_handler_returns() -> None:
    consumer = FakeConsumer(chunk_size=2)
    seen: list[list[int]] = []

    async def handler(tp: TP, chunk: Any) -> None:
        # While a chunk is handled it is in flight (a rebalance's wait_empty waits for it)
        # and none of its offsets is acknowledged yet.
        assert [repr(m) for m in consumer._unacked_messages] == [f"<chunk of {len(chunk)} from {TOPIC}[0]>"]
        assert not set(r.offset for r in chunk) & consumer._acked_index[tp]
        seen.append([r.offset for r in chunk])

    assert run(consumer._deliver_directly(TP0, fetched(0, 1, 2, 3, 4), handler, generation=1)) is True
    assert seen == [[0, 1], [2, 3], [4]]
    assert consumer._acked[TP0] == [0, 1, 2, 3, 4] and consumer._n_acked == 5
    assert consumer._read_offset[TP0] == 4
    assert len(consumer._unacked_messages) == 0
    assert consumer.gaps == []


def test_offsets_taken_by_transaction_markers_become_gaps_and_records_read_before_are_skipped() -> None:
    consumer = FakeConsumer(chunk_size=10)
    consumer._read_offset[TP0] = 5  # after a seek to the committed offset 5
    seen: list[int] = []

    async def handler(tp: TP, chunk: Any) -> None:
        seen.extend(r.offset for r in chunk)

    run(consumer._deliver_directly(TP0, fetched(4, 5, 6, 8, 9, 12), handler, generation=1))
    assert seen == [5, 6, 8, 9, 12]  # 4 was read before
    assert consumer.gaps == [(TP0, 7, 8), (TP0, 10, 12)]  # as Faust's loop records them


def test_offsets_below_the_committed_one_are_not_acknowledged_again() -> None:
    consumer = FakeConsumer(chunk_size=10)
    consumer._committed_offset[TP0] = 2

    async def handler(tp: TP, chunk: Any) -> None:
        pass

    run(consumer._deliver_directly(TP0, fetched(0, 1, 2, 3), handler, generation=1))
    assert consumer._acked[TP0] == [2, 3]


def test_no_chunk_is_begun_once_a_rebalance_stopped_the_flow() -> None:
    consumer = FakeConsumer(chunk_size=2)
    seen: list[list[int]] = []

    async def handler(tp: TP, chunk: Any) -> None:
        seen.append([r.offset for r in chunk])
        consumer.flow_active = False  # a revocation began while this chunk was handled

    assert run(consumer._deliver_directly(TP0, fetched(0, 1, 2, 3), handler, generation=1)) is False
    assert seen == [[0, 1]]  # the chunk under way finishes; the rest is read again after the seek
    assert consumer._acked[TP0] == [0, 1] and consumer._read_offset[TP0] == 1


def test_a_stop_cancelling_the_fetch_loop_lets_the_chunk_under_way_finish_and_begins_no_other() -> None:
    consumer = FakeConsumer(chunk_size=2)
    sending = asyncio.Event()
    release = asyncio.Event()
    seen: list[list[int]] = []

    async def handler(tp: TP, chunk: Any) -> None:
        seen.append([r.offset for r in chunk])
        sending.set()
        await release.wait()  # the chunk's records are being sent into the transaction

    async def scenario() -> None:
        loop = asyncio.ensure_future(consumer._deliver_directly(TP0, fetched(0, 1, 2, 3), handler, generation=1))
        await sending.wait()
        consumer.should_stop = True
        loop.cancel()  # Faust's Fetcher.on_stop cancels the fetch loop
        with pytest.raises(asyncio.CancelledError):
            await loop
        assert len(consumer._unacked_messages) == 1 and consumer._acked[TP0] == []
        stop = asyncio.ensure_future(consumer.finish_chunks())  # what DrainingConsumer.on_stop awaits
        await asyncio.sleep(0.05)
        assert not stop.done()
        release.set()
        await stop

    run(scenario())
    assert seen == [[0, 1]]
    assert consumer._acked[TP0] == [0, 1] and len(consumer._unacked_messages) == 0


def test_nothing_is_handed_out_from_a_fetch_of_an_earlier_generation() -> None:
    consumer = FakeConsumer()
    consumer.app.consumer_generation_id = 2

    async def handler(tp: TP, chunk: Any) -> None:
        raise AssertionError("handled a record fetched before the rebalance")

    assert run(consumer._deliver_directly(TP0, fetched(0, 1), handler, generation=1)) is False
    assert consumer._acked[TP0] == []


def test_a_handler_that_raises_acknowledges_nothing_and_leaves_nothing_in_flight() -> None:
    consumer = FakeConsumer(chunk_size=10)

    async def handler(tp: TP, chunk: Any) -> None:
        raise RuntimeError("producer fenced")

    with pytest.raises(RuntimeError, match="fenced"):
        run(consumer._deliver_directly(TP0, fetched(0, 1), handler, generation=1))
    assert consumer._acked[TP0] == [] and consumer._n_acked == 0
    assert consumer._read_offset[TP0] is None
    assert len(consumer._unacked_messages) == 0  # a stop's wait_empty does not hang on it


def test_a_topic_waits_for_what_its_handler_needs_before_any_chunk_is_in_flight() -> None:
    consumer = FakeConsumer()
    ready = asyncio.Event()
    seen: list[int] = []

    async def handler(tp: TP, chunk: Any) -> None:
        seen.extend(r.offset for r in chunk)

    async def scenario() -> None:
        consumer.app.direct_inputs.ready[TOPIC] = ready
        delivery = asyncio.ensure_future(consumer._deliver_directly(TP0, fetched(0), handler, generation=1))
        await asyncio.sleep(0.05)
        assert seen == [] and len(consumer._unacked_messages) == 0  # a rebalance need not wait meanwhile
        ready.set()
        assert await delivery is True

    run(scenario())
    assert seen == [0]


def test_what_was_fetched_meanwhile_is_taken_at_once_and_a_new_generation_drops_the_old() -> None:
    async def scenario() -> None:
        box = Fetched(limit=4)
        other = TP(TOPIC, 1)
        box.put({TP0: fetched(0, 1)}, None, set(), generation=1)
        box.put({TP0: fetched(2), other: fetched(7)}, None, set(), generation=1)
        records, generation = await box.take()
        assert generation == 1
        assert {tp: [r.offset for r in rs] for tp, rs in records.items()} == {TP0: [0, 1, 2], other: [7]}
        box.done_with_batch()

        box.put({TP0: fetched(3, 4, 5, 6)}, None, set(), generation=1)
        room = asyncio.ensure_future(box.room())
        await asyncio.sleep(0.01)
        assert not room.done()  # past the limit the fetch loop waits
        box.put({TP0: fetched(0)}, None, set(), generation=2)  # a rebalance came between
        await asyncio.wait_for(room, 1)
        records, generation = await box.take()
        assert generation == 2 and [r.offset for r in records[TP0]] == [0]

        box.put({TP0: fetched(1), other: fetched(8)}, {TP0}, set(), generation=2)
        records, _ = await box.take()
        assert list(records) == [TP0]  # a partition paused since the fetch is left out

    run(scenario())
