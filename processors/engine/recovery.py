"""Fixes for faust-streaming 0.15's table recovery; the first one lost a partition's events.

When recovery ends, Faust's Recovery.on_recovery_completed resumes the stream partitions
and only then seeks them to their committed offsets, while the fetcher is already running
(it ran for the changelogs). The fetcher can hand out records fetched from before the seek
in that gap; the consumer's read offset is then moved past the committed offset, and the
records re-fetched after the seek are dropped as "already read" ("DROPPED MESSAGE ROFF")
although the agent never saw them. Their offsets are never acked, the partition's commit
offset stops for good, its transaction is never committed again, and read_committed
consumers see nothing more from it. faust-streaming fixed the same ordering in
_resume_streams (PR #217), not here.

Seen after kill -9 and restart with a backlog (about half of the runs): the rebuild of the
tables from their changelogs waits ~10 s on the dead worker's open transaction, long
enough for the fetcher to prefetch a whole partition. The fix seeks first, then resumes.

Two more on the same path, about where a changelog ends (its "highwater"), which
_build_highwaters below replaces:
- In exactly_once mode Faust takes the consumer's cached last stable offset, which aiokafka
  knows only after a fetch of that partition; before one it is unknown (-1). Recovery then
  (by its code) takes a fresh table as up to date and skips its rebuild, or, after a clean
  stop with a persisted offset, stops the worker with ConsistencyError ("persisted offset
  ... is higher than ... highwater (N > -1)"; seen in the benchmark's clean restart).
- It takes the offset before the end as the last to recover. In a changelog written in
  transactions that is a commit marker, which no consumer receives, so recovery ended only
  after two idle 5 s timeouts: 10 s of every start.
The highwater is now the offset of the last record a read_committed consumer receives,
asked of the broker (processors/engine/changelogs.py).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Set
from typing import Any

from aiokafka import TopicPartition
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.types import TP

from processors.engine.changelogs import NO_RECORD, RECOVERY_RETRY_S, discard_partition, last_committed_offsets


class SeekThenResumeRecovery(Recovery):
    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        """Faust's own, with the seek moved before resume_partitions."""
        consumer = self.app.consumer
        self.log.info("Restore complete!")
        await self.app.on_rebalance_complete.send()
        self._set_recovery_ended()
        callbacks = [asyncio.ensure_future(table.on_recovery_completed(self.actives_for_table[table],
                                                                        self.standbys_for_table[table]))
                     for table in self.tables.values()]
        if callbacks:
            await asyncio.wait(callbacks)
        assignment = consumer.assignment()
        if self.app.consumer_generation_id != generation_id:
            self.log.warning(f"Recovery rebalancing again app id {self.app.consumer_generation_id} "
                             f"param {generation_id}")
            return
        if assignment:
            self.log.info("Seek stream partitions to committed offsets.")
            await self._wait(seek_to_committed(consumer), timeout=self.app.conf.broker_request_timeout)
        consumer.resume_partitions({tp for tp in assignment if not self._is_changelog_tp(tp)})
        self.completed.set()
        self.app.flow_control.resume()
        consumer.resume_flow()
        await self.app._fetcher.maybe_start()
        self.tables.on_actives_ready()
        if not self.app.assignor.assigned_standbys():
            self.tables.on_standbys_ready()
        self.app.on_rebalance_end()
        self.log.info("Worker ready")

    async def _committed_ends(self, tps: Set[TP]) -> dict[TP, int]:
        """The offset of each changelog partition's last committed record, asked of the broker."""
        last = await last_committed_offsets(self.app.aiokafka_connection(), [TopicPartition(tp.topic, tp.partition) for tp in tps],
                                            retry_for_s=RECOVERY_RETRY_S)
        return {TP(tp.topic, tp.partition): offset for tp, offset in last.items()}

    async def _build_offsets(self, consumer: Any, tps: Set[TP], destination: Counter[TP], title: str) -> None:
        """Faust's own, after discarding any local table partition that records a changelog
        position past the changelog's committed end: it holds writes that never committed
        (or the topic was recreated). Faust would stop the worker with ConsistencyError; the
        partition is rebuilt from the changelog instead."""
        # The actives' ends were read a moment ago, by _build_highwaters of this same pass.
        ends = dict(self.active_highwaters) if title == "active" else await self._committed_ends(tps)
        for tp in tps:
            recorded, end = destination.get(tp), ends.get(tp, NO_RECORD)
            if recorded is not None and recorded > end:
                table = self.tp_to_table[tp]
                self.log.warning("Discarding local table %s partition %s: it records changelog offset %s, past the "
                                 "committed end %s; rebuilding it from the changelog", table.name, tp.partition,
                                 recorded, end)
                discard_partition(table.data, tp.partition)
                destination[tp] = -1
        await super()._build_offsets(consumer, tps, destination, title)

    async def _build_highwaters(self, consumer: Any, tps: Set[TP], destination: Counter[TP], title: str) -> None:
        """Faust's own, with the last offset a read_committed consumer receives."""
        highwaters = await self._committed_ends(tps)
        self.log.info("Highwater for %s changelog partitions:\n%s", title,
                      self._highwater_logtable(highwaters, title=title))
        destination.clear()
        destination.update(highwaters)


async def seek_to_committed(consumer: Any) -> None:
    """Faust's Consumer.perform_seek, also for stream partitions with no committed offset
    (or 0), which it left where the fetcher was: aiokafka's seek_to_committed seeks only to
    an offset above 0. Records fetched before a rebalance and dropped from the agents'
    buffers by it were then never read again, and the first commit after them skipped
    them (seen: a digest part, on an internal topic with no commit yet). Those partitions
    start from the beginning, as the consumer's auto_offset_reset says for a new group."""
    committed = await consumer.seek_to_committed()
    for tp, offset in committed.items():
        if not offset and not consumer._is_changelog_tp(tp):
            await consumer.seek(tp, 0)  # below the log start: auto_offset_reset (earliest)
    consumer._read_offset.update({tp: offset if offset is not None and offset >= 0 else None
                                  for tp, offset in committed.items()})
    consumer._committed_offset.update({tp: offset or None for tp, offset in committed.items()
                                       if offset is not None})


class Tables(TableManager):
    """Faust's table manager, with the recovery above (app setting TableManager).

    Changelog offsets are recorded by processors.engine.eos.TransactionalProducer once their
    transaction commits; Faust's own marks (never made: the tables are written around its
    changelog sends) are not flushed here."""

    def on_commit(self, offsets: Any) -> None:
        pass

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = SeekThenResumeRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery
