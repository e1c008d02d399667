"""Each broker's next fetch follows its last answer (processors/engine/fetching.py), without a
broker: a stand-in fetcher with aiokafka's two methods."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from processors.engine.fetching import IDLE_WAIT_MS, AdaptiveFetch


class StandInFetcher:
    """Builds one request per broker of `nodes`; answers with records for brokers in `full`."""

    def __init__(self, nodes: list[int]) -> None:
        self.nodes = nodes
        self.full: set[int] = set()

    def _get_actions_per_node(self, assignment: object) -> tuple:
        requests = [(node, SimpleNamespace(_min_bytes=1, _max_wait_ms=1500)) for node in self.nodes]
        return requests, {}, 0.5, False, []

    async def _proc_fetch_request(self, assignment: object, node_id: int, request: object) -> bool:
        return node_id in self.full


def round_trip(fetcher: StandInFetcher) -> dict[int, tuple[int, int]]:
    """One round of the fetch routine: the requests it would send, then their answers."""
    requests = fetcher._get_actions_per_node(None)[0]
    for node, request in requests:
        asyncio.run(fetcher._proc_fetch_request(None, node, request))
    return {node: (r._min_bytes, r._max_wait_ms) for node, r in requests}


def test_a_broker_with_records_waits_to_fill_and_one_without_long_polls():
    fetcher = StandInFetcher([1, 2, 3])
    AdaptiveFetch(65536, 20).install(fetcher)
    idle = (1, IDLE_WAIT_MS)
    assert round_trip(fetcher) == {1: idle, 2: idle, 3: idle}  # nothing seen yet: answer at the first record
    fetcher.full = {1, 3}
    assert round_trip(fetcher) == {1: idle, 2: idle, 3: idle}  # these answers had records...
    assert round_trip(fetcher) == {1: (65536, 20), 2: idle, 3: (65536, 20)}  # ...so the next fetches wait to fill
    fetcher.full = {3}
    assert round_trip(fetcher) == {1: (65536, 20), 2: idle, 3: (65536, 20)}
    assert round_trip(fetcher) == {1: idle, 2: idle, 3: (65536, 20)}  # broker 1 went quiet: long-poll again


def test_a_failed_fetch_counts_as_quiet():
    fetcher = StandInFetcher([1])
    fetcher.full = {1}
    adaptive = AdaptiveFetch(65536, 20)
    adaptive.install(fetcher)
    round_trip(fetcher)
    assert adaptive.settings_for(1) == (65536, 20)
    fetcher.full = set()  # aiokafka answers False after a KafkaError too
    round_trip(fetcher)
    assert adaptive.settings_for(1) == (1, IDLE_WAIT_MS)
