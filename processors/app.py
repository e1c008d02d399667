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
from processors.eos import TransactionalSender
from processors.registry import DelegationRegistry, RegistryFollower
from processors.router import process
from schemas.admin_units import load as load_units
from schemas.settings import Settings
from schemas.topics import Topics

log = logging.getLogger(__name__)


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
    routed = app.Table("routed", default=None, partitions=settings.partitions,
                       schema=faust.Schema(key_type=bytes, value_type=dict, key_serializer="raw",
                                           value_serializer="json"))

    @app.agent(submitted)
    async def route_complaints(stream: faust.StreamT) -> None:
        await follower.ready.wait()
        async for event in stream.events():
            message = event.message
            metrics.RECEIVED.inc()
            result = process(
                message.value, message.key, Source(message.topic, message.partition, message.offset),
                now=utcnow(), already_routed=lambda cid: routed.get(cid.encode()) is not None,
                delegations=registry, units=units, topics=topics,
            )
            if result.kind == "retry":
                metrics.RETRIES_SKIPPED.inc()
                continue
            assert result.output is not None
            await sender.send(message.tp, result.output.topic, result.output.key, result.output.value)
            if result.kind == "dead_letter":
                metrics.DEAD_LETTERS.labels(source="submitted", error=result.error).inc()
                continue
            assert result.complaint is not None and result.decision is not None
            routed[result.complaint.complaint_id.encode()] = result.record
            d = result.decision
            metrics.ROUTED.labels(route=d.route, province=d.province_code or "", level=d.level or "",
                                  handler_level=d.handler.level).inc()
            for kind in d.warnings:
                metrics.WARNINGS.labels(kind=kind).inc()
            metrics.ROUTING_LATENCY.observe(max(0.0, time.time() - message.timestamp))

    return app

