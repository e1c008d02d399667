"""The Faust stream worker: routes complaints and keeps their 48-hour clock.

Agents are thin: decoding and rules live in processors/router.py, routing.py, clock.py
and digest.py. State lives in Faust tables (RocksDB, with changelogs) co-partitioned with
complaints.submitted and complaints.resolved, both keyed by complaint_id. Every event's
outputs and table writes go out in its source partition's transaction (processors/eos.py).

Tables (keys starting with "#" are per-partition bookkeeping, never a complaint_id):
  complaints  complaint_id -> routing, deadline, resolution, escalated stages
  deadlines   "<partition>/<second, 11 digits>/<stage>/<complaint_id>" -> [complaint_id, stage]
  digests     "<province>/<date>" -> parts of that day's digest received so far
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import logging
import time
from collections import Counter
from typing import Any

import faust
from faust.types import TP
from croniter import croniter
from kafka.partitioner.default import murmur2

from processors import clock, metrics
from processors.deadletter import Source, Unreadable, dead_letter, dumps
from processors.digest import PartBuilder, add_part
from processors.eos import (Record, TableWriter, TransactionalSender, Transport, in_partition, iter_partition,
                            iter_range, partition_keys, timer_gate)
from processors.recovery import Tables
from processors.registry import DelegationRegistry, RegistryFollower
from processors.router import internal_error, process, read_delegation, read_resolution, record_time
from schemas.admin_units import load as load_units
from schemas.models import MAX_DEAD_LETTER_BYTES
from schemas.settings import Settings
from schemas.times import ICT, utcnow
from schemas.topics import Topics

log = logging.getLogger(__name__)

DEAD_LETTER_MARK = "#dead-letter-offset/{topic}/{partition}"
CURSOR = "#clock-cursor/{partition}"
DIGEST_MARK = "#digest-date/{partition}"
MAX_SECONDS_PER_TICK = 3600  # after a long outage, catch up an hour of deadlines per tick
EXPIRY = 0  # deadline index entries of this "stage" expire a resolution still waiting for its complaint


def broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip()]


def key_partition(key: str, partitions: int) -> int:
    """Kafka's default partitioner (murmur2), as every client uses it for a keyed record."""
    return (murmur2(key.encode("utf-8")) & 0x7FFFFFFF) % partitions


class OpenComplaints:
    """Open complaints by province and deadline hour, counted per partition: rebuilt from the
    table when a partition is assigned, kept up to date by the agents. Feeds the gauges of
    open, due-soon and overdue complaints without scanning the table on every scrape."""

    DUE_SOON = dt.timedelta(hours=6)

    def __init__(self) -> None:
        self.by_partition: dict[int, Counter[tuple[str, int]]] = {}
        self.exported: set[str] = set()

    @staticmethod
    def key(record: dict[str, Any]) -> tuple[str, int]:
        hour = int(clock.ts(record["deadline"]).timestamp()) // 3600
        return record.get("province_code") or "national", hour

    def change(self, partition: int, record: dict[str, Any], delta: int) -> None:
        if partition in self.by_partition:
            self.by_partition[partition][self.key(record)] += delta

    def export(self, now: dt.datetime) -> None:
        this_hour = int(now.timestamp()) // 3600
        soon_hours = int(self.DUE_SOON.total_seconds()) // 3600
        open_, soon, overdue = Counter(), Counter(), Counter()
        for counts in self.by_partition.values():
            for (province, hour), n in counts.items():
                open_[province] += n
                if hour < this_hour:
                    overdue[province] += n
                elif hour < this_hour + soon_hours:
                    soon[province] += n
        self.exported |= set(open_)  # a province that drops to zero must read 0, not its last value
        for province in self.exported:
            metrics.OPEN.labels(province=province).set(open_[province])
            metrics.DUE_SOON.labels(province=province).set(soon[province])
            metrics.OVERDUE.labels(province=province).set(overdue[province])


def faust_app(settings: Settings, app_id: str | None = None) -> faust.App:
    """The Faust app with this project's settings, no agents yet (also the benchmark's
    ceiling app, which must run with the same settings)."""
    app = faust.App(
        app_id or settings.faust_app_id,
        broker=broker_urls(settings.kafka_bootstrap),
        processing_guarantee="exactly_once",
        store=settings.faust_store,
        datadir=settings.faust_data_dir,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        # Commit (end each partition's transaction) often: read_committed consumers see
        # routed complaints only then.
        broker_commit_interval=settings.commit_interval_s,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        table_cleanup_interval=3600.0,
        producer_max_request_size=MAX_DEAD_LETTER_BYTES + 64 * 1024,  # a dead letter of a 1 MiB input
        TableManager=Tables,  # recovery seeks before it resumes (processors/recovery.py)
    )
    app.conf.topic_allow_declare = True  # Faust declares its own changelog topics
    app.transport = Transport(app.conf.broker_consumer, app)  # commits overlap (processors/eos.py)
    return app


def build_app(settings: Settings | None = None) -> faust.App:
    settings = settings or Settings.from_env()
    topics = Topics(settings.topic_prefix)
    units = load_units()
    stages = clock.parse_stages(settings.escalation_stages)
    stage_by_number = {s.number: s for s in stages}
    pending_ttl = dt.timedelta(seconds=settings.pending_resolution_ttl_s)
    app = faust_app(settings)
    sender = TransactionalSender(app)
    gate = timer_gate(app)
    registry = DelegationRegistry(units)
    follower = RegistryFollower(settings.kafka_bootstrap, topics.delegations, registry)
    app.service(follower)
    open_complaints = OpenComplaints()
    processed: dict[int, int] = {}  # partition -> last offset of complaints.submitted read

    raw = {"key_serializer": "raw", "value_serializer": "raw"}
    submitted = app.topic(topics.submitted, **raw)
    resolved = app.topic(topics.resolved, **raw)
    digest_parts = app.topic(topics.digest_parts, **raw)
    delegation_events = app.topic(topics.delegations, **raw)
    # Untyped tables: Faust uses JSON for keys and values, when writing and recovering alike.
    complaints = app.Table("complaints", default=None, partitions=settings.partitions)
    deadlines = app.Table("deadlines", default=None, partitions=settings.partitions)
    digests = app.Table("digests", default=None, partitions=settings.partitions)
    state = TableWriter(complaints)
    index = TableWriter(deadlines)
    digest_state = TableWriter(digests)

    # -- shared steps ----------------------------------------------------------------------
    def escalation(cid: str, record: dict[str, Any], stage: clock.Stage, now: dt.datetime) -> Record:
        event = clock.escalate(cid, record, stage, now)  # also marks the stage in the record
        metrics.ESCALATIONS.labels(stage=str(stage.number), province=event.province_code or "national").inc()
        metrics.ESCALATION_DELAY.labels(stage=str(stage.number)).observe(
            max(0.0, (now - clock.due_at(record, stage)).total_seconds()))
        return Record(topics.escalations, cid.encode(), event.model_dump_json().encode())

    def start_clock(cid: str, record: dict[str, Any], partition: int, now: dt.datetime) -> list[Record]:
        """Escalate what is overdue on arrival; index the later stages by deadline."""
        immediate, later = clock.schedule(record, stages, now)
        out = [escalation(cid, record, stage, now) for stage in immediate]
        for stage in later:
            key = clock.due_key(partition, clock.due_at(record, stage), cid, stage.number)
            out.append(index.set(key, [cid, stage.number], partition))
        return out

    async def send_dead_letter(message: Any, letter: bytes, error: str, source_label: str) -> None:
        """Exactly once: the partition's last dead-lettered offset is committed with the letter.
        (The delegations topic is not co-partitioned with the tables: its letters rely on the
        transaction's offset commit alone.)"""
        out = [Record(topics.dead_letter, message.key, letter)]
        if source_label != "delegations":
            mark = DEAD_LETTER_MARK.format(topic=source_label, partition=message.partition)
            last = complaints.get(mark)
            if last is not None and last >= message.offset:  # offset 0 is an offset
                return
            out.append(state.set(mark, message.offset, message.partition))
        await sender.send_atomically(message.tp, out)
        metrics.DEAD_LETTERS.labels(source=source_label, error=error).inc()

    async def refuse(message: Any, problem: Unreadable, source_label: str) -> None:
        letter = dead_letter(problem, Source(message.topic, message.partition, message.offset), message.key,
                             message.value, utcnow())
        await send_dead_letter(message, dumps(letter), problem.error, source_label)

    async def rekey(message: Any, topic: str, complaint_id: str) -> bool:
        """A record keyed otherwise than by its complaint_id sits on the wrong partition for
        the tables; put it back keyed right (in this transaction) and skip it here."""
        if key_partition(complaint_id, settings.partitions) == message.partition:
            return False
        await sender.send_atomically(message.tp, [Record(topic, complaint_id.encode(), message.value)])
        metrics.REKEYED.labels(topic=topics.source_of(topic)).inc()
        return True

    # -- routing ---------------------------------------------------------------------------
    @app.agent(submitted)
    async def route_complaints(stream: faust.StreamT) -> None:
        await follower.ready.wait()
        async for event in stream.events():
            message = event.message
            processed[message.partition] = message.offset
            metrics.RECEIVED.inc()
            now = utcnow()
            source = Source(message.topic, message.partition, message.offset)
            try:
                result = process(message.value, message.key, source, now=now, lookup=complaints.get,
                                 delegations=registry, units=units, topics=topics,
                                 received_at=record_time(message.timestamp, now))
            except Exception as exc:  # a bug of ours must not lose the event: keep it for replay
                log.exception("cannot route offset %s of %s", message.offset, message.tp)
                result = internal_error(exc, source, message.key, message.value, topics)
            if result.kind == "dead_letter":
                assert result.output is not None and result.error is not None
                await send_dead_letter(message, result.output.value, result.error, "submitted")
                continue
            assert result.complaint is not None
            cid = result.complaint.complaint_id
            if await rekey(message, topics.submitted, cid):
                continue
            if result.kind == "retry":
                metrics.RETRIES_SKIPPED.inc()
                continue
            assert result.output is not None and result.decision is not None and result.record is not None
            record = result.record
            timers = start_clock(cid, record, message.partition, now)
            routed = Record(result.output.topic, result.output.key, result.output.value)
            await sender.send_atomically(message.tp, [state.set(cid, record, message.partition), routed, *timers])
            d = result.decision
            metrics.ROUTED.labels(route=d.route, province=d.province_code or "", level=d.level or "",
                                  handler_level=d.handler.level).inc()
            for kind in d.warnings:
                metrics.WARNINGS.labels(kind=kind).inc()
            metrics.ROUTING_LATENCY.observe(max(0.0, time.time() - message.timestamp))
            if record.get("resolved_at") is None:
                open_complaints.change(message.partition, record, +1)

    # -- resolutions -----------------------------------------------------------------------
    @app.agent(resolved)
    async def record_resolutions(stream: faust.StreamT) -> None:
        async for event in stream.events():
            message = event.message
            now = utcnow()
            try:
                resolution = read_resolution(message.value, record_time(message.timestamp, now), units)
            except Unreadable as problem:
                await refuse(message, problem, "resolved")
                continue
            cid = resolution.complaint_id
            if await rekey(message, topics.resolved, cid):
                continue
            before = complaints.get(cid)
            record, effect = clock.resolve(before, resolution)
            metrics.RESOLUTIONS.labels(effect=effect.kind).inc()
            if effect.kind == "repeat":
                continue
            out = [state.set(cid, record, message.partition)]
            if effect.kind == "pending" and effect.first:  # its complaint may never come
                expiry = clock.due_key(message.partition, now + pending_ttl, cid, EXPIRY)
                out.append(index.set(expiry, [cid, EXPIRY], message.partition))
            await sender.send_atomically(message.tp, out)
            if effect.kind == "late" and effect.first:
                metrics.LATE_RESOLUTIONS.inc()
            if effect.first and effect.kind != "pending":
                hours = (resolution.resolved_at - clock.ts(record["recorded_at"])).total_seconds() / 3600
                metrics.TIME_TO_RESOLUTION.observe(max(0.0, hours))
                open_complaints.change(message.partition, record, -1)

    # -- delegations ---------------------------------------------------------------------
    @app.agent(delegation_events)
    async def check_delegations(stream: faust.StreamT) -> None:
        """Every worker's registry ignores an invalid grant; the one worker that owns the
        topic's partition dead-letters it, so its author can see why and correct it."""
        async for event in stream.events():
            message = event.message
            if message.value is None:  # a revocation
                continue
            try:
                read_delegation(message.key, message.value, units)
            except Unreadable as problem:
                await refuse(message, problem, "delegations")

    # -- the clock -------------------------------------------------------------------------
    def ready() -> bool:
        recovery = app.tables.recovery
        return recovery.completed.is_set() and not recovery.in_recovery and not app.rebalancing

    def active_partitions() -> list[int]:
        return sorted(tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topics.submitted)

    async def fire_due(partition: int, now: dt.datetime) -> None:
        """Escalate what fell due in this partition since the last tick: only that key range."""
        target = int(now.timestamp())
        with in_partition(partition):
            cursor_key = CURSOR.format(partition=partition)
            cursor = complaints.get(cursor_key)
            if cursor is None:
                # No cursor saved for this partition (a new one, or a worker killed before its
                # first save): start at the earliest deadline indexed (keys are in time order),
                # or a deadline that passed while no worker ran would never fire.
                earliest = clock.earliest_second(itertools.islice(partition_keys(deadlines, partition), 1))
                cursor = target - 1 if earliest is None else min(target - 1, earliest - 1)
            if cursor >= target:
                return
            last = min(target, cursor + MAX_SECONDS_PER_TICK)
            out: list[Record] = []
            due = iter_range(deadlines, partition, clock.second_prefix(partition, cursor + 1),
                             clock.second_prefix(partition, last + 1))
            for key, (cid, number) in due:
                record = complaints.get(cid)
                if number == EXPIRY:
                    if isinstance(record, dict) and "route" not in record:  # its complaint never came
                        out.append(state.delete(cid, partition))
                        metrics.RESOLUTIONS_EXPIRED.inc()
                    out.append(index.delete(key, partition))
                    continue
                stage = stage_by_number.get(number)
                if stage is not None and clock.should_escalate(record, stage):
                    out.append(escalation(cid, record, stage, now))
                    out.append(state.set(cid, record, partition))
                out.append(index.delete(key, partition))
            # The cursor is saved with any escalation, and at least once a minute otherwise:
            # a restart then rescans at most that much (rescanning is harmless, only slower).
            if out or last - cursor >= 60 or last % 60 == 0:
                out.append(state.set(cursor_key, last, partition))
            else:
                complaints.data[cursor_key] = last  # local only: no changelog write each tick
        if out:
            tp = TP(topics.submitted, partition)
            await sender.send_atomically(tp, out)
            await sender.commit_now(tp)

    @app.timer(interval=settings.clock_tick_s)
    async def sla_clock() -> None:
        if not ready():
            return
        now = utcnow()
        partitions = active_partitions()
        for partition in partitions:
            # A rebalance waits for the gate, then commits; a partition is fired only while
            # no rebalance is under way and this worker still owns it.
            async with gate:
                if not ready() or partition not in active_partitions():
                    return
                await fire_due(partition, now)
        try:
            await track_open(partitions)
            if now.timestamp() - exported[0] >= 5:
                exported[0] = now.timestamp()
                open_complaints.export(now)
                export_lag(partitions)
        except Exception:  # a timer that raises would stop the worker: the gauges are not worth it
            log.exception("gauges not updated")

    exported = [0.0]

    def export_lag(partitions: list[int]) -> None:
        lag = 0
        for partition in partitions:
            highwater = app.consumer.highwater(TP(topics.submitted, partition))
            if highwater is not None:
                lag += max(0, highwater - processed.get(partition, -1) - 1)
        metrics.ROUTER_LAG.set(lag)

    async def track_open(partitions: list[int]) -> None:
        for gone in set(open_complaints.by_partition) - set(partitions):
            del open_complaints.by_partition[gone]
        for partition in partitions:
            if partition in open_complaints.by_partition:
                continue
            counts: Counter[tuple[str, int]] = Counter()
            for n, (cid, record) in enumerate(iter_partition(complaints, partition)):
                if isinstance(record, dict) and "route" in record and record.get("resolved_at") is None:
                    counts[OpenComplaints.key(record)] += 1
                if n % 5000 == 4999:
                    await asyncio.sleep(0)
            open_complaints.by_partition[partition] = counts

    # -- the daily digest --------------------------------------------------------------------
    def digest_due(now: dt.datetime) -> dt.date:
        """The date of the latest scheduled run at or before the (possibly shifted) clock."""
        shifted = (now + dt.timedelta(seconds=settings.digest_clock_offset_s)).astimezone(ICT)
        return croniter(settings.digest_schedule, shifted).get_prev(dt.datetime).date()

    async def send_digest_parts(partition: int, digest_date: dt.date, now: dt.datetime) -> None:
        builder = PartBuilder(now, settings.digest_max_items)
        for n, (cid, record) in enumerate(iter_partition(complaints, partition)):
            if not cid.startswith("#"):
                builder.add(cid, record)
            if n % 5000 == 4999:
                await asyncio.sleep(0)  # a large partition must not stall the clock
        out = []
        for province, part in builder.build().items():
            body = {"digest_date": digest_date.isoformat(), "partition": partition,
                    "partitions": settings.partitions, "generated_at": now.isoformat(), "part": part}
            out.append(Record(topics.digest_parts, province.encode(), json.dumps(body).encode()))
        with in_partition(partition):
            out.append(state.set(DIGEST_MARK.format(partition=partition), digest_date.isoformat(), partition))
        tp = TP(topics.submitted, partition)
        await sender.send_atomically(tp, out)
        await sender.commit_now(tp)

    @app.timer(interval=1.0)
    async def digest_schedule() -> None:
        if not ready():
            return
        now = utcnow()
        due = digest_due(now)
        for partition in active_partitions():
            async with gate:  # as in sla_clock
                if not ready() or partition not in active_partitions():
                    return
                with in_partition(partition):
                    mark = DIGEST_MARK.format(partition=partition)
                    last = complaints.get(mark)
                if last is None:  # a new partition starts with the next scheduled run
                    with in_partition(partition):
                        record = state.set(mark, due.isoformat(), partition)
                    tp = TP(topics.submitted, partition)
                    await sender.send_atomically(tp, [record])
                    await sender.commit_now(tp)
                elif last < due.isoformat():
                    await send_digest_parts(partition, due, now)

    @app.agent(digest_parts)
    async def assemble_digests(stream: faust.StreamT) -> None:
        async for event in stream.events():
            message = event.message
            body = json.loads(message.value)
            province = message.key.decode()
            key = f"{province}/{body['digest_date']}"
            entry, digest = add_part(digests.get(key), province, body, utcnow(), settings.digest_max_items)
            if entry is None:
                continue
            out = []
            if digest is not None:
                out.append(Record(topics.digest, province.encode(), digest.model_dump_json().encode()))
                metrics.DIGESTS.inc()
            await sender.send_atomically(message.tp, [digest_state.set(key, entry, message.partition), *out])

    return app
