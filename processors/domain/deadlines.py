"""The SLA clock's index of one shard: when each open complaint's next stage falls due.

Kept in memory (a heap; the shard's Context.local) and rebuilt from the complaints table
whenever the shard may have changed elsewhere (at start, after each rebalance): the table and
its changelog are the only record. The index was a table of its own with a changelog, which
cost a record per complaint to send and another to delete it when it fired; a rebuild (a scan
of the shard's states before its clock runs again) is paid once per rebalance instead. An
index that is not built yet fires nothing: no deadline is skipped, only delayed (the states
say which stages were already sent).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field


@dataclass
class Deadlines:
    heap: list[tuple[int, str, int]] = field(default_factory=list)  # (second due, complaint_id, stage)
    built: bool = False  # a rebuild scan has finished: the clock may fire

    def add(self, second: int, complaint_id: str, stage: int) -> None:
        """Index one stage (stage 0 expires a resolution still waiting for its complaint). One
        added twice (a write during a rebuild's scan) fires once: the state records what was sent."""
        heapq.heappush(self.heap, (second, complaint_id, stage))

    def start(self) -> None:
        """A rebuild begins: from here on, writes are indexed; the scan adds the rest."""
        self.heap.clear()
        self.built = False

    def pop_due(self, second: int, limit: int) -> list[tuple[str, int]]:
        """(complaint_id, stage) of at most `limit` entries due at or before `second`, the
        earliest first; they leave the index."""
        due: list[tuple[str, int]] = []
        while self.heap and self.heap[0][0] <= second and len(due) < limit:
            _, complaint_id, stage = heapq.heappop(self.heap)
            due.append((complaint_id, stage))
        return due

    def earliest(self) -> int | None:
        return self.heap[0][0] if self.heap else None

    def __len__(self) -> int:
        return len(self.heap)
