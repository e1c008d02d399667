"""The local Kafka cluster's nodes, as the chaos scenarios handle them: who leads what, who
coordinates the workers' transactions, and killing, freezing and restarting a node."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from kafka import TopicPartition
from kafka.admin import KafkaAdminClient

from harness.processes import REPO
from schemas.settings import Settings

KAFKA_SH = ["bash", str(REPO / "deploy" / "kafka" / "kafka.sh")]


class Cluster:
    """The local cluster (deploy/kafka/kafka.sh), through the admin API as `admin`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def admin(self) -> KafkaAdminClient:
        return KafkaAdminClient(**self.settings.kafka_python("admin"), client_id="complaints-chaos",
                                request_timeout_ms=10_000)

    @contextmanager
    def admin_session(self) -> Iterator[KafkaAdminClient]:
        admin = self.admin()
        try:
            yield admin
        finally:
            admin.close()

    def brokers(self) -> list[int]:
        with self.admin_session() as admin:
            return sorted(b["broker_id"] for b in admin.describe_cluster()["brokers"] if not b.get("is_fenced"))

    def wait_brokers(self, n: int, timeout_s: float = 60) -> bool:
        """Wait until `n` brokers are registered and unfenced (a node just started is fenced
        until it has caught up with the metadata)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if len(self.brokers()) >= n:
                    return True
            except Exception:  # noqa: BLE001 - the node answering may be the one restarting
                pass
            if time.monotonic() > deadline:
                return False
            time.sleep(1)

    def leaders(self, topics: Iterable[str]) -> Counter[int]:
        """Partitions led per broker, over `topics`."""
        with self.admin_session() as admin:
            return Counter(p["leader_id"] for t in admin.describe_topics(list(topics)) for p in t["partitions"])

    def coordinators(self, transactional_prefix: str) -> Counter[int]:
        """Transactional ids starting with the prefix, per coordinating broker."""
        with self.admin_session() as admin:
            listed = admin.list_transactions()
        return Counter({broker: n for broker, txns in listed.items()
                        if (n := sum(t.transactional_id.startswith(transactional_prefix) for t in txns))})

    def lead(self, broker: int, topics: Iterable[str]) -> None:
        """Make `broker` the preferred and actual leader of every partition of `topics` it
        holds a replica of (the replica set stays; only its order changes)."""
        with self.admin_session() as admin:
            moves = {TopicPartition(t["name"], p["partition_index"]): [broker, *(r for r in p["replica_nodes"] if r != broker)]
                     for t in admin.describe_topics(list(topics)) for p in t["partitions"]
                     if broker in p["replica_nodes"] and p["replica_nodes"][0] != broker}
            if not moves:
                return
            admin.alter_partition_reassignments(moves)
            deadline = time.monotonic() + 60
            while admin.list_partition_reassignments(list(moves)) and time.monotonic() < deadline:
                time.sleep(0.5)
            by_topic: dict[str, list[int]] = {}
            for tp in moves:
                by_topic.setdefault(tp.topic, []).append(tp.partition)
            admin.elect_leaders(0, by_topic, raise_errors=False)

    def in_sync(self, topics: Iterable[str], timeout_s: float = 120) -> bool:
        """Wait until every partition of `topics` has its whole replica set in sync."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with self.admin_session() as admin:
                    lagging = [p for t in admin.describe_topics(list(topics)) for p in t["partitions"]
                               if set(p["isr_nodes"]) != set(p["replica_nodes"])]
            except Exception:  # noqa: BLE001 - a node still starting: ask again
                lagging = [None]
            if not lagging:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(1)

    # -- a node's process ---------------------------------------------------------------------
    @staticmethod
    def pid(node: int) -> int:
        return int(subprocess.run([*KAFKA_SH, "pid", str(node)], check=True, capture_output=True,
                                  text=True).stdout)

    def kill(self, node: int) -> None:
        os.kill(self.pid(node), signal.SIGKILL)

    def freeze(self, node: int) -> None:
        os.kill(self.pid(node), signal.SIGSTOP)

    def thaw(self, node: int) -> None:
        os.kill(self.pid(node), signal.SIGCONT)

    @staticmethod
    def start(node: int) -> None:
        subprocess.run([*KAFKA_SH, "start", str(node)], check=True)

    @staticmethod
    def stop(node: int) -> None:
        subprocess.run([*KAFKA_SH, "stop", str(node)], check=True)
