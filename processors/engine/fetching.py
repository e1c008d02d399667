"""Fetches that wait to fill while records flow and long-poll while none do.

aiokafka sends a broker the next fetch as soon as the last one came back. With
fetch_min_bytes 1 each fetch returns with the first record the broker has, so under a steady
load the worker fetched hundreds of times a second, each response decoding every assigned
partition in Python: at 500 complaints/s on one broker that was half of the worker's CPU
(py-spy), for nothing a reader sees, since routed complaints become visible only at the next
commit (every COMMIT_INTERVAL_S). Waiting up to a few tens of milliseconds for a fetch to
fill halves that CPU with no change in visible latency (docs/benchmarks.md); but a fixed
wait would have an idle worker ask every broker for nothing that often, all night.

So each broker's next fetch follows its last answer: after one with records, wait to fill
(`min_bytes`, `busy_wait_ms`: WORKER_FETCH_MIN_BYTES, WORKER_FETCH_MAX_WAIT_MS); after one
without, long-poll (1 byte, IDLE_WAIT_MS), so the first record after a quiet spell comes
back at once. A backlog fills every fetch before the wait, so it is not slowed.
"""

from __future__ import annotations

from typing import Any

# Faust's fetch_max_wait_ms: how long an idle fetch waits at the broker for a first record.
IDLE_WAIT_MS = 1500


class AdaptiveFetch:
    """Installed on a started aiokafka Fetcher (the worker consumer's, in Faust's consumer
    thread): wraps how it builds each broker's fetch request and how it reads the answer."""

    def __init__(self, min_bytes: int, busy_wait_ms: int) -> None:
        self.busy_settings = (min_bytes, busy_wait_ms)
        self.flowing: set[int] = set()  # brokers whose last answer had records

    def settings_for(self, node_id: int) -> tuple[int, int]:
        """(min_bytes, max_wait_ms) of the next fetch from `node_id`."""
        return self.busy_settings if node_id in self.flowing else (1, IDLE_WAIT_MS)

    def answered(self, node_id: int, had_records: bool) -> None:
        if had_records:
            self.flowing.add(node_id)
        else:
            self.flowing.discard(node_id)

    def install(self, fetcher: Any) -> None:
        # Instance attributes: the fetch routine looks both up on the fetcher at each round,
        # so they apply from its next round on.
        build = fetcher._get_actions_per_node
        fetch = fetcher._proc_fetch_request

        def actions_per_node(assignment: Any) -> Any:
            actions = build(assignment)
            for node_id, request in actions[0]:  # (node id, FetchRequest) to send
                request._min_bytes, request._max_wait_ms = self.settings_for(node_id)
            return actions

        async def fetch_from(assignment: Any, node_id: int, request: Any) -> bool:
            had_records = await fetch(assignment, node_id, request)
            self.answered(node_id, had_records)
            return had_records

        fetcher._get_actions_per_node = actions_per_node
        fetcher._proc_fetch_request = fetch_from
