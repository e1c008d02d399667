"""The transactional producer's commits (processors.engine.eos.TransactionalProducer), against
stand-ins of aiokafka's transactional producers: commits of the partitions' transactions
overlap, and a table's changelog offset is recorded only once its transaction committed.
The real producers run in every integration test."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace

import pytest

from processors.engine.eos import CommitFailed, Outbound, TransactionalProducer, record_changelog_positions


class FakeTransaction:
    """What TransactionalProducer uses of an aiokafka transactional producer."""

    def __init__(self, log: list, fail_commit: bool = False, fenced: bool = False) -> None:
        self.log = log
        self.fail_commit = fail_commit
        self.fenced = fenced
        self.open = True
        self.next_offset: dict[tuple[str, int], int] = defaultdict(int)
        self.pending: list[asyncio.Future] = []
        self._txn_manager = SimpleNamespace(is_in_transaction=lambda: self.open)

    async def send(self, topic, value, key=None, partition=None):
        if self.fenced:  # aiokafka's answer once the transaction manager is in its fatal state
            raise RuntimeError("IllegalOperation: Can't send messages while not in transaction")
        future = asyncio.get_running_loop().create_future()
        offset = self.next_offset[(topic, partition)]
        self.next_offset[(topic, partition)] += 1
        self.pending.append((future, SimpleNamespace(topic=topic, partition=partition, offset=offset)))
        return future

    async def send_offsets_to_transaction(self, offsets, group_id):
        self.log.append(("offsets", dict(offsets), group_id))

    async def commit_transaction(self):
        self.log.append(("commit-start",))
        await asyncio.sleep(0.05)  # the round trips to the transaction coordinator
        for future, meta in self.pending:  # aiokafka flushes before it ends the transaction
            future.set_result(meta)
        self.pending = []
        if self.fail_commit:
            raise RuntimeError("ProducerFenced")
        self.open = False
        self.log.append(("commit-end",))

    async def begin_transaction(self):
        self.open = True


class FakeStore:
    def __init__(self) -> None:
        self.persisted: dict = {}

    def set_persisted_offset(self, tp, offset: int) -> None:
        self.persisted[(tp.topic, tp.partition)] = offset


def producer_with(transactions: dict[str, FakeTransaction]) -> TransactionalProducer:
    producer = object.__new__(TransactionalProducer)  # no broker: only the transaction methods run
    producer._transaction_producers = transactions
    producer._trn_locks = {tid: asyncio.Lock() for tid in transactions}
    producer._changelog_sends = defaultdict(list)
    producer.app = SimpleNamespace(conf=SimpleNamespace(id="app"), commit_failed=None)
    return producer


def test_each_transaction_is_committed_once_with_its_offsets_and_the_commits_overlap() -> None:
    async def scenario():
        log: list = []
        transactions = {f"app-group-{p}": FakeTransaction(log) for p in range(6)}
        producer = producer_with(transactions)
        offsets = {tid: {("submitted", p): 100 + p} for p, tid in enumerate(transactions)}
        await producer.commit_transactions(offsets, "app", start_new_transaction=False)
        return log, offsets, transactions

    log, offsets, transactions = asyncio.run(scenario())
    sent = [entry for entry in log if entry[0] == "offsets"]
    assert sorted(map(str, (e[1] for e in sent))) == sorted(map(str, offsets.values()))
    # All six commits started before the first one ended: they overlap.
    assert [e[0] for e in log[:12]].count("commit-start") == 6 and log[-1] == ("commit-end",)
    assert not any(t.open for t in transactions.values())  # start_new_transaction=False


def test_changelog_offsets_are_recorded_only_after_their_transaction_commits() -> None:
    async def scenario():
        transactions = {"app-group-0": FakeTransaction([])}
        producer = producer_with(transactions)
        store = FakeStore()
        records = [Outbound("changelog", b"k", b"v", 0, store=store) for _ in range(3)]
        records.append(Outbound("output", b"k", b"v", 0))  # not a changelog record: nothing to record
        await producer.send_in_transaction("app-group-0", records)
        before = dict(store.persisted)
        assert await producer.commit_one("app-group-0", None, "app", start_new_transaction=True)
        return before, store.persisted, transactions["app-group-0"].open

    before, after, reopened = asyncio.run(scenario())
    assert before == {}
    assert after == {("changelog", 0): 2}  # the highest offset of the three
    assert reopened


def test_a_transaction_that_fails_to_commit_records_nothing_and_stops_the_worker() -> None:
    async def scenario():
        transactions = {"app-group-0": FakeTransaction([], fail_commit=True)}
        producer = producer_with(transactions)
        store = FakeStore()
        await producer.send_in_transaction("app-group-0", [Outbound("changelog", b"k", b"v", 0, store=store)])
        with pytest.raises(CommitFailed, match="app-group-0"):
            await producer.commit_one("app-group-0", {("submitted", 0): 5}, "app", start_new_transaction=True)
        # A later commit of the same id (after a restart of the producer) records nothing of it.
        transactions["app-group-0"] = FakeTransaction([])
        await producer.commit_one("app-group-0", None, "app", start_new_transaction=False)
        return store.persisted

    assert asyncio.run(scenario()) == {}


def test_a_send_refused_fails_like_a_commit_so_the_worker_rejoins() -> None:
    async def scenario():
        producer = producer_with({"app-group-0": FakeTransaction([], fenced=True)})
        store = FakeStore()
        with pytest.raises(CommitFailed, match="app-group-0 refused a send"):
            await producer.send_in_transaction("app-group-0", [Outbound("changelog", b"k", b"v", 0, store=store)])
        return producer

    producer = asyncio.run(scenario())
    assert isinstance(producer.app.commit_failed, CommitFailed)  # processors/engine/worker.py rejoins on it
    assert producer._changelog_sends["app-group-0"] == []  # nothing of the chunk to record


def test_no_commit_for_a_partition_whose_producer_is_gone() -> None:
    async def scenario():
        producer = producer_with({})
        return await producer.commit_one("app-group-3", {("submitted", 3): 1}, "app", start_new_transaction=True)

    assert asyncio.run(scenario()) is False


def test_positions_keep_the_highest_offset_per_store_and_partition() -> None:
    async def scenario():
        loop = asyncio.get_running_loop()
        a, b = FakeStore(), FakeStore()
        sends = []
        for store, partition, offset in [(a, 0, 5), (a, 0, 9), (a, 1, 3), (b, 0, 4)]:
            f = loop.create_future()
            f.set_result(SimpleNamespace(topic="t", partition=partition, offset=offset))
            sends.append((store, f))
        failed = loop.create_future()
        failed.set_exception(RuntimeError("not delivered"))
        sends.append((b, failed))
        record_changelog_positions(sends)
        return a.persisted, b.persisted

    a, b = asyncio.run(scenario())
    assert a == {("t", 0): 9, ("t", 1): 3} and b == {("t", 0): 4}
