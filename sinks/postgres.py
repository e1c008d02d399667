"""`python -m sinks postgres`: Kafka to PostgreSQL, every event exactly once in the tables.

Each poll becomes one batch, written in one PostgreSQL transaction of idempotent upserts;
the Kafka offsets are committed only after that transaction commits. A crash between the
two replays the batch, and the upserts make the replay a no-op. When PostgreSQL is down
the sink keeps the batch, pauses consumption, and retries with backoff.
"""

from __future__ import annotations

import logging
import signal
import time

import psycopg2
from kafka import KafkaConsumer
from kafka.errors import CommitFailedError, KafkaError

from sinks import metrics
from sinks.migrate import migrate
from sinks.rows import Batch, add, topic_kind
from sinks.store import write
from schemas.settings import Settings
from schemas.topics import Topics

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 10.0


class Sink:
    def __init__(self, settings: Settings, max_batch: int = 5000) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self.max_batch = max_batch
        self.stopping = False
        self.conn: psycopg2.extensions.connection | None = None
        self.consumer = KafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=f"{settings.topic_prefix}{settings.sink_group_id}",
            client_id="complaints-sink",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=max_batch,
        )
        self.subscribed = [*self.topics.inputs(), *self.topics.outputs()]
        self._last_lag = 0.0

    # -- PostgreSQL ----------------------------------------------------------------------------
    def connection(self) -> psycopg2.extensions.connection:
        if self.conn is None or self.conn.closed:
            self.conn = psycopg2.connect(self.settings.database_url, connect_timeout=5,
                                         application_name="complaints-sink")
        return self.conn

    def write_until_stored(self, batch: Batch) -> dict[str, int]:
        """Write the batch; while PostgreSQL fails, keep the group membership and retry."""
        backoff = 0.5
        paused = False
        while True:
            try:
                written = write(self.connection(), batch)
                metrics.DB_UP.set(1)
                if paused:
                    self.consumer.resume(*self.consumer.assignment())
                return written
            except psycopg2.Error as exc:
                metrics.DB_UP.set(0)
                metrics.RETRIES.inc()
                log.warning("PostgreSQL write failed (%s); retrying in %.1f s", str(exc).strip(), backoff)
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if self.stopping:
                    raise
                if not paused:
                    self.consumer.pause(*self.consumer.assignment())
                    paused = True
                # Polling paused partitions returns nothing but keeps the consumer in its group.
                end = time.monotonic() + backoff
                while time.monotonic() < end:
                    self.consumer.poll(timeout_ms=int(min(500, max(1, (end - time.monotonic()) * 1000))))
                backoff = min(MAX_BACKOFF_S, backoff * 2)

    # -- Kafka ---------------------------------------------------------------------------------
    def run(self) -> None:
        applied = migrate(self.settings.database_url)
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
        self.consumer.subscribe(self.subscribed)
        log.info("sink consuming %d topics into PostgreSQL", len(self.subscribed))
        print("sink ready", flush=True)
        while not self.stopping:
            polled = self.consumer.poll(timeout_ms=500, max_records=self.max_batch)
            self.update_lag()
            if not polled:
                continue
            batch = Batch()
            events = 0
            for tp, records in polled.items():
                kind = topic_kind(tp.topic, self.topics)
                metrics.EVENTS_CONSUMED.labels(kind=kind).inc(len(records))
                for r in records:
                    add(batch, kind, r.topic, r.partition, r.offset, r.key, r.value, r.timestamp)
                events += len(records)
            started = time.perf_counter()
            written = self.write_until_stored(batch)
            try:
                self.consumer.commit()
            except (CommitFailedError, KafkaError) as exc:
                # A rebalance took the partitions: the next owner rewrites the batch, harmlessly.
                log.warning("offset commit failed after a stored batch (%s); it will be replayed", exc)
            metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
            metrics.BATCH_SIZE.observe(events)
            for table, n in written.items():
                metrics.ROWS_WRITTEN.labels(table=table).inc(max(n, 0))
            for kind, n in batch.skipped.items():
                metrics.EVENTS_SKIPPED.labels(kind=kind).inc(n)
        self.close()

    def update_lag(self, every_s: float = 5.0) -> None:
        now = time.monotonic()
        if now - self._last_lag < every_s:
            return
        self._last_lag = now
        assigned = list(self.consumer.assignment())
        if not assigned:
            return
        try:
            ends = self.consumer.end_offsets(assigned)
        except KafkaError:
            return
        lag: dict[str, int] = {}
        for tp in assigned:
            position = self.consumer.position(tp)
            kind = topic_kind(tp.topic, self.topics)
            lag[kind] = lag.get(kind, 0) + max(0, (ends.get(tp) or 0) - (position or 0))
        for kind, n in lag.items():
            metrics.CONSUMER_LAG.labels(kind=kind).set(n)

    def stop(self, *_: object) -> None:
        self.stopping = True

    def close(self) -> None:
        self.consumer.close()
        if self.conn is not None:
            self.conn.close()


def run(settings: Settings | None = None) -> int:
    settings = settings or Settings.from_env()
    metrics.serve(settings.sink_metrics_port, settings.metrics_host)
    sink = Sink(settings)
    signal.signal(signal.SIGTERM, sink.stop)
    signal.signal(signal.SIGINT, sink.stop)
    sink.run()
    return 0
