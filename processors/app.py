"""The Faust stream worker: routes complaints (and, with issue 5, keeps the SLA clock).

Agents are thin: decoding, rules and state shapes live in processors/router.py and
processors/routing.py. State lives in Faust tables with changelogs, written in the same
Kafka transaction as the outputs (see processors/eos.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import time

import faust

from processors import metrics
from processors.deadletter import Source
from processors.eos import Record, TableWriter, TransactionalSender
from processors.registry import DelegationRegistry, RegistryFollower
from processors.router import internal_error, process
from schemas.admin_units import load as load_units
from schemas.settings import Settings
from schemas.topics import Topics

log = logging.getLogger(__name__)

# A key no complaint_id can take (they match [A-Za-z0-9._:-]).
DEAD_LETTER_MARK = "#dead-letter-offset/{partition}"


def broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip()]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def build_app(settings: Settings | None = None) -> faust.App:
    settings = settings or Settings.from_env()
    topics = Topics(settings.topic_prefix)
    units = load_units()
    app = faust.App(
        settings.faust_app_id,
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
    )
    app.conf.topic_allow_declare = True  # Faust declares its own changelog topics
    sender = TransactionalSender(app)
    registry = DelegationRegistry()
    follower = RegistryFollower(settings.kafka_bootstrap, topics.delegations, registry)
    app.service(follower)

    submitted = app.topic(topics.submitted, key_serializer="raw", value_serializer="raw")
    # complaint_id -> routing record. Its changelog is co-partitioned with submissions.
    # Untyped: Faust then uses JSON for keys and values, the same when writing and when
    # recovering from the changelog. Keys are complaint_id strings.
    routed = app.Table("routed", default=None, partitions=settings.partitions)
    routed_writer = TableWriter(app, routed)

    @app.agent(submitted)
    async def route_complaints(stream: faust.StreamT) -> None:
        await follower.ready.wait()
        async for event in stream.events():
            message = event.message
            metrics.RECEIVED.inc()
            source = Source(message.topic, message.partition, message.offset)
            try:
                result = process(message.value, message.key, source, now=utcnow(),
                                 already_routed=lambda cid: routed.get(cid) is not None,
                                 delegations=registry, units=units, topics=topics)
            except Exception as exc:  # a bug of ours must not lose the event: keep it for replay
                log.exception("cannot route offset %s of %s", message.offset, message.tp)
                result = internal_error(exc, source, message.key, message.value, topics)
            if result.kind == "retry":
                metrics.RETRIES_SKIPPED.inc()
                continue
            assert result.output is not None
            out = Record(result.output.topic, result.output.key, result.output.value)
            if result.kind == "dead_letter":
                # Dead letters have no complaint_id to deduplicate on; the partition's last
                # dead-lettered offset, committed with the letter, keeps replays from
                # writing one twice.
                mark = DEAD_LETTER_MARK.format(partition=message.partition)
                if (routed.get(mark) or -1) >= message.offset:
                    continue
                state = routed_writer.set(mark, message.offset, message.partition)
                await sender.send_atomically(message.tp, [state, out])
                metrics.DEAD_LETTERS.labels(source="submitted", error=result.error).inc()
                continue
            assert result.complaint is not None and result.decision is not None
            state = routed_writer.set(result.complaint.complaint_id, result.record, message.partition)
            futures = await sender.send_atomically(message.tp, [state, out])
            futures[0].add_done_callback(routed_writer.persisted)
            d = result.decision
            metrics.ROUTED.labels(route=d.route, province=d.province_code or "", level=d.level or "",
                                  handler_level=d.handler.level).inc()
            for kind in d.warnings:
                metrics.WARNINGS.labels(kind=kind).inc()
            metrics.ROUTING_LATENCY.observe(max(0.0, time.time() - message.timestamp))

    return app

