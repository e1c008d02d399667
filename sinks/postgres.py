"""`python -m sinks postgres`: Kafka to PostgreSQL, every event exactly once in the tables.

Each poll becomes one batch, written in one PostgreSQL transaction of idempotent upserts
by a writer thread while the next poll is parsed; the Kafka offsets of a batch are
committed only after its transaction commits. A crash between the
two replays the batch, and the upserts make the replay a no-op. When PostgreSQL is down
the sink keeps the batch, pauses consumption, and retries with backoff.
"""

from __future__ import annotations

import logging
import queue
import signal
import sys
import threading
import time
from dataclasses import dataclass

import psycopg2
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata

from sinks import metrics
from sinks.migrate import migrate
from sinks.rows import Batch, add, topic_kind
from sinks.store import refusal, write
from sinks.units import refresh_provinces
from schemas.admin_units import load as load_units
from schemas.kafka_client import ClientPropertiesError
from schemas.models import MAX_DEAD_LETTER_BYTES
from schemas.settings import Settings

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 10.0


@dataclass
class Pending:
    """A parsed batch on its way to PostgreSQL, with the offsets to commit once it is stored."""

    batch: Batch
    offsets: dict[TopicPartition, OffsetAndMetadata]
    events: int
    written: dict[str, int] | None = None
    seconds: float = 0.0


class Writer(threading.Thread):
    """Stores batches in order, one PostgreSQL transaction each, while the consumer thread
    polls and parses the next one (psycopg2 releases the GIL while the server works).
    When PostgreSQL fails it keeps the batch and retries with backoff; kafka-python is
    left to the consumer thread, which pauses its partitions meanwhile."""

    def __init__(self, database_url: str) -> None:
        super().__init__(name="sink-writer", daemon=True)
        self.database_url = database_url
        self.todo: queue.Queue[Pending | None] = queue.Queue(maxsize=1)
        self.done: queue.Queue[Pending] = queue.Queue()
        self.failing = threading.Event()
        self.stopping = threading.Event()
        self.conn: psycopg2.extensions.connection | None = None
        self.died: str | None = None  # why the thread ended before it was told to stop

    def check_alive(self) -> None:
        """The process must not stay up while nothing is stored: exit non-zero with the
        reason, so that the supervisor restarts it and the SinkDown alert sees it."""
        if self.died is not None or (self.ident is not None and not self.is_alive() and not self.stopping.is_set()):
            raise WriterDied(self.died or "the writer thread ended")

    def connection(self) -> psycopg2.extensions.connection:
        if self.conn is None or self.conn.closed:
            self.conn = psycopg2.connect(self.database_url, connect_timeout=5, application_name="complaints-sink")
        return self.conn

    def run(self) -> None:
        try:
            self.write_batches()
        except BaseException as exc:
            # The first line only: a database error's detail can quote the row's values.
            self.died = f"{exc.__class__.__name__}: {(str(exc).strip().splitlines() or [''])[0]}"
            raise

    def write_batches(self) -> None:
        gave_up = False
        while (pending := self.todo.get()) is not None:
            started = time.perf_counter()
            # After one batch is given up no later one is stored: its offsets would skip it.
            pending.written = None if gave_up else self.store(pending.batch)
            gave_up = pending.written is None
            pending.seconds = time.perf_counter() - started
            self.done.put(pending)
        if self.conn is not None:
            self.conn.close()

    def store(self, batch: Batch) -> dict[str, int] | None:
        backoff = 0.5
        while True:
            try:
                written = write(self.connection(), batch)
                metrics.DB_UP.set(1)
                self.failing.clear()
                return written
            except psycopg2.Error as exc:  # unavailable (a row's own error is quarantined in write)
                metrics.DB_UP.set(0)
                metrics.RETRIES.inc()
                self.failing.set()
                log.warning("PostgreSQL write failed (%s); retrying in %.1f s", refusal(exc), backoff)
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if self.stopping.wait(backoff):
                    return None  # stopping: the batch stays uncommitted and is read again
                backoff = min(MAX_BACKOFF_S, backoff * 2)


class WriterDied(RuntimeError):
    """The writer thread stopped on an error it does not handle."""


class Sink:
    def __init__(self, settings: Settings, max_batch: int = 5000) -> None:
        self.settings = settings
        self.topics = settings.topics
        self.max_batch = max_batch
        self.stopping = False
        self.consumer = KafkaConsumer(
            **settings.kafka_python("sink"),
            group_id=f"{settings.topic_prefix}{settings.sink_group_id}",
            client_id="complaints-sink",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=max_batch,
            max_partition_fetch_bytes=MAX_DEAD_LETTER_BYTES + 64 * 1024,
        )
        # The map in force's topics, and those of the other map that exist (routed before a switch).
        existing = self.consumer.topics()
        in_force = set(self.topics.recorded()) - set(self.topics.any_jurisdictions()) | set(
            self.topics.all_jurisdictions())
        self.subscribed = [t for t in self.topics.recorded() if t in in_force or t in existing]
        self.writer = Writer(settings.database_url)
        self.units = load_units(settings.admin_map)  # delegations are read with the worker's own check
        self.paused = False
        self._last_lag = 0.0

    def parse(self, polled: dict) -> Pending:
        batch = Batch()
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        events = 0
        for tp, records in polled.items():
            kind = topic_kind(tp.topic, self.topics)
            metrics.EVENTS_CONSUMED.labels(kind=kind).inc(len(records))
            for r in records:
                add(batch, kind, r.topic, r.partition, r.offset, r.key, r.value, self.units, self.topics)
            events += len(records)
            offsets[tp] = OffsetAndMetadata(records[-1].offset + 1, "", -1)
        return Pending(batch, offsets, events)

    def hand_over(self, pending: Pending) -> None:
        """Queue the batch for the writer; while the writer is stuck on a failing database,
        keep polling paused partitions so the group keeps this member."""
        while True:
            try:
                self.writer.todo.put(pending, timeout=0.5)
                return
            except queue.Full:
                self.writer.check_alive()
                self.settle()
                if self.writer.failing.is_set() and not self.paused:
                    self.consumer.pause(*self.consumer.assignment())
                    self.paused = True
                if self.paused:
                    self.consumer.poll(timeout_ms=0)

    def settle(self) -> None:
        """Commit the offsets of every batch the writer has stored, in order."""
        while True:
            try:
                pending = self.writer.done.get_nowait()
            except queue.Empty:
                break
            if pending.written is None:
                continue  # not stored (stopping): its events are read again
            try:
                self.consumer.commit(pending.offsets)
            except (CommitFailedError, KafkaError) as exc:
                # A rebalance took the partitions: the next owner rewrites the batch, harmlessly.
                log.warning("offset commit failed after a stored batch (%s); it will be replayed", exc)
            metrics.BATCH_SECONDS.observe(pending.seconds)
            metrics.BATCH_SIZE.observe(pending.events)
            for table, n in pending.written.items():
                if table.startswith("quarantine/"):
                    kind = table.removeprefix("quarantine/")
                    metrics.QUARANTINED.labels(kind=kind).inc(n)
                    log.warning("%d %s event(s) set aside in the quarantine table", n, kind)
                else:
                    metrics.ROWS_WRITTEN.labels(table=table).inc(max(n, 0))
            for kind, n in pending.batch.skipped.items():
                metrics.EVENTS_SKIPPED.labels(kind=kind).inc(n)
        if self.paused and not self.writer.failing.is_set():
            self.consumer.resume(*self.consumer.assignment())
            self.paused = False

    def run(self) -> None:
        metrics.READINESS.set(False, "migrating the database schema")
        applied = migrate(self.settings.database_url)
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
        refresh_provinces(self.settings.database_url, self.settings.admin_map)
        self.writer.start()
        self.consumer.subscribe(self.subscribed)
        log.info("sink consuming %d topics into PostgreSQL", len(self.subscribed))
        print("sink ready", flush=True)
        metrics.READINESS.set(False, "joining the consumer group")
        while not self.stopping:
            polled = self.consumer.poll(timeout_ms=500, max_records=self.max_batch)
            if self.consumer.assignment():
                metrics.READINESS.set(True)
            self.writer.check_alive()
            self.settle()
            self.update_lag()
            if polled:
                self.hand_over(self.parse(polled))
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
        self.writer.stopping.set()  # a write failing now is given up: its batch is read again next start

    def close(self) -> None:
        """Let the writer finish what it has, commit it, then leave the group."""
        self.writer.todo.put(None)
        self.writer.join()
        self.settle()
        self.consumer.close()


def run(settings: Settings | None = None) -> int:
    settings = settings or Settings.from_env()
    metrics.serve(settings.sink_metrics_port, settings.metrics_host)
    try:
        sink = Sink(settings)
    except ClientPropertiesError as exc:
        print(f"sink: cannot start: {exc}", file=sys.stderr, flush=True)
        return 1
    signal.signal(signal.SIGTERM, sink.stop)
    signal.signal(signal.SIGINT, sink.stop)
    try:
        sink.run()
    except WriterDied as exc:
        log.error("sink: stopping, the PostgreSQL writer died (%s); nothing after it is stored", exc)
        print(f"sink: the PostgreSQL writer died ({exc}); exiting so that it is restarted", file=sys.stderr,
              flush=True)
        return 1
    return 0
