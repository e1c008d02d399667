"""The commit of the source partitions' transactions: one Faust commit per transaction, all
at the same time (processors.eos.ConcurrentCommitProducer). Faust's own per-transaction
commit is replaced by a recorder here; the real one runs in every integration test."""

from __future__ import annotations

import asyncio

import pytest
from faust.transport.drivers import aiokafka as aiokafka_driver

from processors.eos import ConcurrentCommitProducer


def test_each_transaction_is_committed_once_and_the_commits_overlap(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[dict, str, bool]] = []
    running = 0
    most_at_once = 0

    async def faust_commit(self, tid_to_offset_map, group_id, start_new_transaction=True):
        nonlocal running, most_at_once
        calls.append((dict(tid_to_offset_map), group_id, start_new_transaction))
        running += 1
        most_at_once = max(most_at_once, running)
        await asyncio.sleep(0.05)  # the round trips to the transaction coordinator
        running -= 1

    monkeypatch.setattr(aiokafka_driver.Producer, "commit_transactions", faust_commit)
    producer = object.__new__(ConcurrentCommitProducer)  # no broker: only the method is used
    offsets = {f"app-group-{p}": {("submitted", p): 100 + p} for p in range(6)}

    asyncio.run(producer.commit_transactions(offsets, "group", start_new_transaction=False))

    assert sorted(tid for call in calls for tid in call[0]) == sorted(offsets)
    assert all(len(call[0]) == 1 and call[1] == "group" and call[2] is False for call in calls)
    assert {tid: o for call in calls for tid, o in call[0].items()} == offsets
    assert most_at_once == 6


def test_a_failed_commit_fails_the_round(monkeypatch: pytest.MonkeyPatch) -> None:
    async def faust_commit(self, tid_to_offset_map, group_id, start_new_transaction=True):
        if "app-group-1" in tid_to_offset_map:
            raise RuntimeError("fenced")

    monkeypatch.setattr(aiokafka_driver.Producer, "commit_transactions", faust_commit)
    producer = object.__new__(ConcurrentCommitProducer)
    with pytest.raises(RuntimeError, match="fenced"):
        asyncio.run(producer.commit_transactions({"app-group-0": {}, "app-group-1": {}}, "group"))
