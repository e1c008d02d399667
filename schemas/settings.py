"""Runtime settings shared by every component, read from the environment.

The defaults are those of the public contract ("Defaults that clients rely on"), so a
portal backend, a worker and a test all agree without configuration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from schemas.admin_units import configured_map
from schemas.kafka_client import ClientSecurity, client_security
from schemas.topics import Topics

DEFAULT_KAFKA_BOOTSTRAP = "localhost:9092"
# The local server's database; its roles' URLs, with their generated passwords, are in
# .run/postgres/<client>.url (deploy/postgres/postgres.sh). No password in the repository.
DEFAULT_DATABASE_URL = "postgresql://complaints@127.0.0.1:5432/complaints"
DATABASE_CLIENTS = ("sink", "reports", "console")
DEFAULT_DATABASE_URLS_DIR = ".run/postgres"  # <client>.url (DATABASE_URLS_DIR)


def _number(name: str, default: float, kind: type = int):
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be {'an integer' if kind is int else 'a number'}, got {raw!r}") from exc


def _int(name: str, default: int) -> int:
    return _number(name, default, int)


def _float(name: str, default: float) -> float:
    return _number(name, default, float)


def _local_url(client: str, urls_dir: str) -> str | None:
    path = Path(urls_dir) / f"{client}.url"
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


# Three copies, two of them in sync before a write is acknowledged (min.insync.replicas): a
# broker may die without losing an acknowledged write or stopping writes.
MAX_REPLICAS = 3


class ReplicationError(ValueError):
    """A replication factor the cluster cannot hold."""


@dataclass(frozen=True)
class Settings:
    kafka_bootstrap: str = DEFAULT_KAFKA_BOOTSTRAP
    database_url: str = DEFAULT_DATABASE_URL
    # Prefix for every topic name (e.g. "staging."): lets several environments, or the
    # integration tests, share one cluster. Empty in production: names are the contract's.
    topic_prefix: str = ""
    # The administrative map routed to (schemas/admin_units.py): "2025", the map in force since
    # 1 July 2025 (34 provinces, communes), or "2021", the seed's (63 provinces, districts).
    admin_map: str = field(default_factory=configured_map)
    partitions: int = 6
    # Replicas of every topic; 0: as many as the cluster holds, up to MAX_REPLICAS (replicas()).
    replication_factor: int = 0
    worker_metrics_port: int = 9101
    sink_metrics_port: int = 9102
    metrics_host: str = "127.0.0.1"
    # The Faust app id: the stream workers' consumer group, the prefix of their changelog
    # topics and transactional ids. Under a TOPIC_PREFIX it is "<prefix>complaints-router".
    faust_app_id: str = "complaints-router"
    sink_group_id: str = "complaints-sink"
    # SLA clock: stage:hours after recorded_at; stage 1 at 48 h is the Ministry's rule.
    escalation_stages: str = "1:48"
    clock_tick_s: float = 0.25
    # Daily digest: a cron line in Asia/Ho_Chi_Minh time. The offset shifts only the
    # digest's schedule clock (tests use it to reach 07:00 without waiting for it).
    digest_schedule: str = "0 7 * * *"
    digest_clock_offset_s: float = 0.0
    digest_max_items: int = 500
    # A resolution whose complaint has not arrived waits this long, then is dropped
    # (complaints_resolutions_expired_total): a typo'd complaint_id must not stay forever.
    pending_resolution_ttl_s: float = 14 * 24 * 3600.0
    faust_data_dir: str = ".run/faust"
    faust_store: str = "rocksdb://"
    # How often the worker commits its transactions: read_committed consumers see routed
    # complaints only then, so this bounds their end-to-end latency.
    commit_interval_s: float = 0.5
    # How long the worker's producer waits to fill a batch: longer than the commit interval,
    # so a transaction's records leave at its commit (which flushes them), a few requests per
    # producer, instead of a request whenever one of its ~70 partitions' batches ripens.
    # Nothing is visible to read_committed consumers before the commit anyway. Same machine,
    # three runs each on a 40,000 backlog: 1,850/s at 50 ms, 2,036/s at 1,000 ms (medians).
    producer_linger_ms: int = 1000  # (Faust reads the same variable for its own setting: an integer)
    # The worker hands each partition's fetched records to its handlers in chunks of at most
    # this many and sends each chunk's records together (processors/engine/delivery.py).
    worker_batch_size: int = 200
    # While records flow, what the broker gathers before it answers a fetch of the worker's
    # inputs (Kafka's fetch.min.bytes / fetch.max.wait.ms): fewer, fuller fetches. A fetch
    # after one that came back empty waits for its first record (processors/engine/fetching.py).
    worker_fetch_min_bytes: int = 65536
    worker_fetch_max_wait_ms: int = 20
    # A worker killed without leaving its group holds its partitions until this expires:
    # it bounds how long a crash stalls routing (Kafka's default is 45-60 s).
    session_timeout_s: float = 10.0
    # The worker's asyncio event loop (mode.loop): "uvloop", or "aio" for the standard one.
    faust_loop: str = "uvloop"
    # Kafka client security (schemas/kafka_client.py): this file if given, else each
    # client's role file in this directory, else none.
    kafka_client_properties: str = ""
    kafka_clients_dir: str = ".run/kafka/clients"
    # The office console (offices/): where it listens, its metrics, and where it keeps the
    # session-signing key it generates on first start (CONSOLE_SECRET_KEY overrides it).
    console_host: str = "127.0.0.1"
    console_port: int = 8080
    console_metrics_port: int = 9103
    console_secret_key: str = ""
    console_dir: str = ".run/console"
    # How many proxies in front of the console add X-Forwarded-For / -Proto (the TLS proxy,
    # an Ingress): 0 trusts no such header (a client could forge it).
    console_proxies: int = 0
    # Where the per-client URLs are (<client>.url: the local PostgreSQL's, or a container's
    # mounted one); empty when DATABASE_URL is set (every client then uses that URL).
    database_urls_dir: str = ""

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix, self.admin_map)

    def database_url_as(self, client: str) -> str:
        """The URL of a database client: `sink` (the tables' owner), `reports` (reads the
        record) or `console` (reads the record, keeps the office accounts)."""
        assert client in DATABASE_CLIENTS, client
        # Only for the database the URLs directory names: settings pointed at another one (a
        # test's, a benchmark's) keep their single URL. A container mounts its own client's
        # URL alone (the console has no sink.url).
        own_dir = self.database_urls_dir and self.database_url == (
            _local_url("sink", self.database_urls_dir) or DEFAULT_DATABASE_URL)
        if own_dir:
            return _local_url(client, self.database_urls_dir) or self.database_url
        return self.database_url

    def kafka(self, role: str) -> ClientSecurity:
        """The Kafka client security of a client acting as `role` (router, sink, portal...)."""
        return client_security(role, self.kafka_client_properties, self.kafka_clients_dir)

    def kafka_python(self, role: str) -> dict:
        """kafka-python keyword arguments: the bootstrap servers and the role's security."""
        return {"bootstrap_servers": self.kafka_bootstrap, **self.kafka(role).kafka_python()}

    def replicas(self, brokers: int) -> int:
        """The replication factor of every topic (the worker's changelogs too) on a cluster of
        `brokers`: TOPIC_REPLICATION_FACTOR, or as many as it holds up to MAX_REPLICAS. One the
        cluster cannot hold is refused here, in one line, rather than by Kafka topic by topic."""
        if self.replication_factor <= 0:
            return max(1, min(MAX_REPLICAS, brokers))
        if self.replication_factor > brokers:
            raise ReplicationError(f"TOPIC_REPLICATION_FACTOR is {self.replication_factor} but the cluster at "
                                   f"{self.kafka_bootstrap} has {brokers} broker{'s' if brokers != 1 else ''}: "
                                   f"start more brokers (make up BROKERS=3) or leave it unset to size it to the "
                                   f"cluster")
        return self.replication_factor

    @classmethod
    def from_env(cls) -> "Settings":
        env = os.environ
        urls_dir = env.get("DATABASE_URLS_DIR") or DEFAULT_DATABASE_URLS_DIR
        return cls(
            kafka_bootstrap=env.get("KAFKA_BOOTSTRAP") or DEFAULT_KAFKA_BOOTSTRAP,
            database_url=env.get("DATABASE_URL") or _local_url("sink", urls_dir) or DEFAULT_DATABASE_URL,
            database_urls_dir="" if env.get("DATABASE_URL") else urls_dir,
            topic_prefix=env.get("TOPIC_PREFIX", ""),
            admin_map=configured_map(),
            partitions=_int("TOPIC_PARTITIONS", 6),
            replication_factor=_int("TOPIC_REPLICATION_FACTOR", 0),
            worker_metrics_port=_int("WORKER_METRICS_PORT", 9101),
            sink_metrics_port=_int("SINK_METRICS_PORT", 9102),
            metrics_host=env.get("METRICS_HOST", "127.0.0.1"),
            faust_app_id=env.get("FAUST_APP_ID") or f"{env.get('TOPIC_PREFIX', '')}complaints-router",
            sink_group_id=env.get("SINK_GROUP_ID", "complaints-sink"),
            escalation_stages=env.get("ESCALATION_STAGES") or "1:48",
            clock_tick_s=_float("CLOCK_TICK_S", 0.25),
            digest_schedule=env.get("DIGEST_SCHEDULE") or "0 7 * * *",
            digest_clock_offset_s=_float("DIGEST_CLOCK_OFFSET_S", 0.0),
            digest_max_items=_int("DIGEST_MAX_ITEMS", 500),
            pending_resolution_ttl_s=_float("PENDING_RESOLUTION_TTL_S", 14 * 24 * 3600.0),
            faust_data_dir=env.get("FAUST_DATA_DIR", ".run/faust"),
            faust_store=env.get("FAUST_STORE", "rocksdb://"),
            commit_interval_s=_float("COMMIT_INTERVAL_S", 0.5),
            producer_linger_ms=_int("PRODUCER_LINGER_MS", 1000),
            worker_batch_size=_int("WORKER_BATCH_SIZE", 200),
            worker_fetch_min_bytes=_int("WORKER_FETCH_MIN_BYTES", 65536),
            worker_fetch_max_wait_ms=_int("WORKER_FETCH_MAX_WAIT_MS", 20),
            session_timeout_s=_float("SESSION_TIMEOUT_S", 10.0),
            faust_loop=env.get("FAUST_LOOP") or "uvloop",
            kafka_client_properties=env.get("KAFKA_CLIENT_PROPERTIES", ""),
            kafka_clients_dir=env.get("KAFKA_CLIENTS_DIR") or ".run/kafka/clients",
            console_host=env.get("CONSOLE_HOST") or "127.0.0.1",
            console_port=_int("CONSOLE_PORT", 8080),
            console_metrics_port=_int("CONSOLE_METRICS_PORT", 9103),
            console_secret_key=env.get("CONSOLE_SECRET_KEY", ""),
            console_dir=env.get("CONSOLE_DIR") or ".run/console",
            console_proxies=_int("CONSOLE_PROXIES", 0),
        )
