"""The Faust stream worker: routes complaints and keeps their 48-hour clock.

This module is the wiring only: topics, tables, the inputs and the timers. What each input and
each tick does is in processors/domain/handlers.py, called with a Context of the partition
(processors/shards.py) over the Faust tables' RocksDB databases (processors/engine/faust_store.py);
the same handlers run without a broker in processors/testing/driver.py. Tables are RocksDB with
changelogs, co-partitioned with complaints.submitted and the resolution topics (all keyed by
complaint_id); what a chunk of input causes, records and changelog writes, goes out in its
source partition's transaction (processors/engine/eos.py). The inputs reach the handlers
straight from the fetch, a chunk at a time, not through Faust agents
(processors/engine/delivery.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import faust
from faust.types import TP

from processors import metrics
from processors.domain.delegations import DelegationRegistry
from processors.domain.handlers import Handlers
from processors.domain.ports import Context, Incoming
from processors.engine.delivery import ChunkHandler, handle_directly
from processors.engine.eos import Outbound, TransactionalSender, Transport
from processors.engine.recovery import Tables
from processors.engine.registry import RegistryFollower
from processors.engine.faust_store import FaustStore
from processors.engine.worker_app import WorkerApp
from processors.shards import Shards
from schemas.admin_units import load as load_units
from schemas.kafka_client import ClientSecurity
from schemas.models import MAX_DEAD_LETTER_BYTES
from schemas.settings import Settings
from schemas.times import utcnow

log = logging.getLogger(__name__)


def broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip()]


def faust_app(settings: Settings, app_id: str | None = None) -> WorkerApp:
    """The Faust app with this project's settings, no inputs yet (also the benchmark's
    ceiling app, which must run with the same settings)."""
    security = settings.kafka("router")
    app = WorkerApp(
        app_id or settings.faust_app_id,
        security=security,
        fetch_tuning=(settings.worker_fetch_min_bytes, settings.worker_fetch_max_wait_ms),
        broker=broker_urls(settings.kafka_bootstrap),
        processing_guarantee="exactly_once",
        store=settings.faust_store,
        datadir=settings.faust_data_dir,
        topic_partitions=settings.partitions,
        # The worker sizes it to the cluster before it builds the app (worker.sized); an app
        # built otherwise (the benchmark's ceiling) makes its changelogs with one replica.
        topic_replication_factor=max(1, settings.replication_factor),
        # Commit (end each partition's transaction) often: read_committed consumers see
        # routed complaints only then.
        broker_commit_interval=settings.commit_interval_s,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        table_cleanup_interval=3600.0,
        producer_max_request_size=MAX_DEAD_LETTER_BYTES + 64 * 1024,  # a dead letter of a 1 MiB input
        producer_linger=settings.producer_linger_ms / 1000,
        producer_max_batch_size=256 * 1024,
        TableManager=Tables,  # recovery seeks before it resumes (processors/engine/recovery.py)
        broker_credentials=faust_credentials(security),
    )
    app.conf.topic_allow_declare = True  # Faust declares its own changelog topics
    app.transport = Transport(app.conf.broker_consumer, app)  # commits overlap (processors/engine/eos.py)
    return app


def faust_credentials(security: ClientSecurity) -> Any:
    """Faust's broker_credentials for a client file's security, or None without security."""
    if security.sasl:
        return faust.SASLCredentials(username=security.username, password=security.password,
                                     mechanism=security.mechanism,
                                     ssl_context=security.ssl_context() if security.tls else None)
    if security.tls:
        return faust.SSLCredentials(security.ssl_context())
    return None


def incoming(record: Any) -> Incoming:
    """A fetched record (aiokafka's ConsumerRecord) as the handlers see it."""
    timestamp = record.timestamp
    return Incoming(record.topic, record.partition, record.offset, record.key, record.value,
                    None if timestamp is None else timestamp / 1000)


def chunk_handler(sender: TransactionalSender, shards: Shards,
                  handle: Callable[[Incoming, Context], None]) -> ChunkHandler:
    """Handle a chunk of one source partition's records, then send every record they cause
    in one step of that partition's transaction (processors/engine/delivery.py acknowledges the
    chunk after). Sending a chunk at once wakes aiokafka's sender once, not per record: with
    the router's fan-out (a record to one of dozens of partitions per transaction) its per-wake
    scan of every pending batch was the largest cost (a forwarding agent: 1,450/s one event
    at a time, 2,850/s in batches)."""
    async def deliver(tp: TP, records: Sequence[Any]) -> None:
        ctx = shards.context(tp.partition, utcnow())
        for record in records:
            handle(incoming(record), ctx)
        out = shards.outgoing(ctx, Outbound)
        if out:
            await sender.send_atomically(tp, out)

    return deliver


async def run_slices(steps: Iterator[None]) -> None:
    """Run a handler's generator, letting other work run at each slice it yields."""
    for _ in steps:
        await asyncio.sleep(0)


def build_app(settings: Settings | None = None) -> WorkerApp:
    settings = settings or Settings.from_env()
    topics = settings.topics
    app = faust_app(settings)
    sender = TransactionalSender(app)
    gate = app.timer_gate
    units = load_units(settings.admin_map)
    registry = DelegationRegistry(units, topics)
    follower = RegistryFollower(app.aiokafka_connection(),
                                topics.delegation_inputs(), registry)
    app.service(follower)
    processed: dict[int, int] = {}  # partition -> last offset of complaints.submitted read

    raw = {"key_serializer": "raw", "value_serializer": "raw"}
    submitted = app.topic(topics.submitted, **raw)
    # Resolutions and delegations: the shared topics (admin) and each writer's own.
    resolved = app.topic(*topics.resolution_inputs(), **raw)
    digest_parts = app.topic(topics.digest_parts, **raw)
    delegation_events = app.topic(*topics.delegation_inputs(), **raw)
    reassignments = app.topic(topics.reassignments, **raw)
    # Untyped tables: Faust uses JSON for keys and values, when writing and recovering alike.
    tables = {name: app.Table(name, default=None, partitions=settings.partitions)
              for name in ("complaints", "marks", "digests")}
    shards = Shards({name: FaustStore(t) for name, t in tables.items()}, settings.partitions)
    handlers = Handlers(settings, units, registry)
    deliver = chunk_handler(sender, shards, handlers.handle)

    async def route(tp: TP, records: Sequence[Any]) -> None:
        processed[tp.partition] = records[-1].offset
        await deliver(tp, records)

    # -- inputs: straight from the fetch to the handlers, a chunk at a time -----------------------
    # Routing needs the delegations granted so far: it starts once the registry has read them.
    handle_directly(app, submitted, route, settings.worker_batch_size, ready=follower.ready)
    handle_directly(app, reassignments, deliver, settings.worker_batch_size, ready=follower.ready)
    for topic in (resolved, delegation_events, digest_parts):
        handle_directly(app, topic, deliver, settings.worker_batch_size)

    # -- timers: per owned partition, between rebalances ---------------------------------------
    def ready() -> bool:
        recovery = app.tables.recovery
        return recovery.completed.is_set() and not recovery.in_recovery and not app.rebalancing

    def active_partitions() -> list[int]:
        return sorted(tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topics.submitted)

    async def each_partition(step: Callable[[Context], Any], now: dt.datetime) -> None:
        """Run `step` with the Context of every partition this worker owns, each under the gate:
        a rebalance waits for the gate, then commits; a partition is visited only while no
        rebalance is under way and this worker still owns it. What a step causes is sent and
        committed at once, so that it becomes visible now. A step that is a generator runs a
        slice at a time (a scan of a large partition must not stall the inputs)."""
        for partition in active_partitions():
            async with gate:
                if not ready() or partition not in active_partitions():
                    return
                ctx = shards.context(partition, now)
                steps = step(ctx)
                if steps is not None:
                    await run_slices(steps)
                records = shards.outgoing(ctx, Outbound)
                if records:
                    tp = TP(topics.submitted, partition)
                    await sender.send_atomically(tp, records)
                    await sender.commit_now(tp)

    indexed: dict[str, Any] = {"generation": None}  # the consumer generation the in-memory state belongs to

    def drop_stale_state() -> None:
        """After a rebalance a partition may come back changed by another worker (recovered
        from its changelog): every partition's in-memory state is rebuilt. Partitions gone are
        dropped."""
        generation = app.consumer_generation_id
        mine = set(active_partitions())
        for partition in list(shards.locals):
            if generation != indexed["generation"] or partition not in mine:
                del shards.locals[partition]
        indexed["generation"] = generation

    def readiness() -> None:
        """Ready for `make up` and Kubernetes: in the group with partitions assigned (none is
        fine: more workers than partitions), tables recovered, the registry loaded."""
        recovery = app.tables.recovery
        if not follower.ready.is_set():
            metrics.READINESS.set(False, "loading the delegation registry")
        elif not app.consumer_generation_id:
            metrics.READINESS.set(False, "joining the consumer group")
        elif app.rebalancing or recovery.in_recovery or not recovery.completed.is_set():
            metrics.READINESS.set(False, "rebalancing: recovering the tables of its partitions")
        else:
            metrics.READINESS.set(True)

    @app.timer(interval=settings.clock_tick_s)
    async def sla_clock() -> None:
        readiness()
        if not ready():
            return
        now = utcnow()
        drop_stale_state()
        generation = indexed["generation"]

        def fire(ctx: Context) -> None:
            if app.consumer_generation_id != generation:  # a rebalance came between: next tick
                return
            handlers.fire_due(ctx)
            handlers.return_revoked(ctx)

        await each_partition(fire, now)
        for partition in active_partitions():  # in-memory state not built yet (assigned, or dropped above)
            ctx = shards.context(partition, now)
            if not handlers.deadlines(ctx).built and ready() and app.consumer_generation_id == generation:
                await run_slices(handlers.index(ctx))
        try:
            update_gauges(now)
        except Exception:  # a timer that raises would stop the worker: the gauges are not worth it
            log.exception("gauges not updated")

    @app.timer(interval=1.0)
    async def digest_schedule() -> None:
        if ready():
            await each_partition(handlers.digest_tick, utcnow())

    exported = [0.0]

    def update_gauges(now: dt.datetime) -> None:
        if now.timestamp() - exported[0] >= 5:
            exported[0] = now.timestamp()
            handlers.export_gauges(shards.locals.values(), now)
            lag = 0
            for partition in active_partitions():
                highwater = app.consumer.highwater(TP(topics.submitted, partition))
                if highwater is not None:
                    lag += max(0, highwater - processed.get(partition, -1) - 1)
            metrics.ROUTER_LAG.set(lag)

    return app
