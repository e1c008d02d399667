"""The SLA clock's index: when each open complaint's next stage falls due, per partition.

Kept in memory (a heap per partition) and rebuilt from the complaints table whenever the
worker's partitions change: the table and its changelog are the only record. The index
was a table of its own with a changelog, which cost a record per complaint to send and
another to delete it when it fired (issue #17: its entry alone was 6.5 % of the worker's
samples, before the records' sending). What a
rebuild costs instead, a scan of the partition's states before its clock runs again, is
paid once per rebalance. An index that is not built yet fires nothing: no deadline is
skipped, only delayed (the states say which stages were already sent).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field


@dataclass
class DeadlineIndex:
    # partition -> heap of (second due, complaint_id, stage); stage 0 expires a resolution
    # still waiting for its complaint.
    heaps: dict[int, list[tuple[int, str, int]]] = field(default_factory=dict)
    built: set[int] = field(default_factory=set)

    def add(self, partition: int, second: int, complaint_id: str, stage: int) -> None:
        """Index one stage; a partition not being indexed ignores it (its rebuild finds it)."""
        heap = self.heaps.get(partition)
        if heap is not None:
            heapq.heappush(heap, (second, complaint_id, stage))

    def start(self, partition: int) -> None:
        """A rebuild begins: from here on, writes are indexed; the scan adds the rest (a
        stage found twice fires once: the state records what was sent)."""
        self.heaps[partition] = []
        self.built.discard(partition)

    def finish(self, partition: int) -> None:
        self.built.add(partition)

    def is_built(self, partition: int) -> bool:
        return partition in self.built

    def forget(self, partition: int) -> None:
        self.heaps.pop(partition, None)
        self.built.discard(partition)

    def partitions(self) -> set[int]:
        return set(self.heaps)

    def pop_due(self, partition: int, second: int, limit: int) -> list[tuple[str, int]]:
        """(complaint_id, stage) of at most `limit` entries due at or before `second`, the
        earliest first; they leave the index."""
        heap = self.heaps.get(partition)
        due: list[tuple[str, int]] = []
        while heap and heap[0][0] <= second and len(due) < limit:
            _, complaint_id, stage = heapq.heappop(heap)
            due.append((complaint_id, stage))
        return due

    def earliest(self, partition: int) -> int | None:
        heap = self.heaps.get(partition)
        return heap[0][0] if heap else None

    def __len__(self) -> int:
        return sum(len(heap) for heap in self.heaps.values())
