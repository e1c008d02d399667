"""`python -m processors summary`: where complaints went, read back from the topics."""

from __future__ import annotations

import json
import time
from collections import Counter

from processors.ops.readback import read_committed
from schemas.reach import BOOTSTRAP_TIMEOUT_MS
from schemas.settings import Settings


def router_lag(settings: Settings, topic: str | None = None) -> int | None:
    """Events of `topic` (complaints.submitted) the router's consumer group has not committed
    yet (None: no group yet)."""
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

    topic = topic or settings.topics.submitted
    admin = KafkaAdminClient(**settings.kafka_python("admin"), bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS)
    consumer = KafkaConsumer(**settings.kafka_python("admin"), isolation_level="read_committed",
                             bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS)
    try:
        offsets = admin.list_group_offsets({settings.faust_app_id: None}).get(settings.faust_app_id) or {}
        committed = {tp: meta.offset for tp, meta in offsets.items()
                     if tp.topic == topic}
        if not committed:
            return None
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = consumer.end_offsets(tps)
        return sum(max(0, ends[tp] - committed.get(tp, 0)) for tp in tps)
    finally:
        admin.close()
        consumer.close()


def wait_for_router(settings: Settings, timeout_s: float, topic: str | None = None) -> int | None:
    """Wait until the router has caught up with `topic` (complaints.submitted); return the lag left."""
    deadline = time.monotonic() + timeout_s
    lag = router_lag(settings, topic)
    while (lag is None or lag > 0) and time.monotonic() < deadline:
        time.sleep(1)
        lag = router_lag(settings, topic)
    return lag


def summarize(settings: Settings | None = None) -> str:
    settings = settings or Settings.from_env()
    topics = settings.topics
    routed = read_committed(topics.routed_outputs(), settings)
    by_route: Counter[str] = Counter()
    by_province: Counter[str] = Counter()
    by_handler: Counter[str] = Counter()
    warned = 0
    for record in routed:
        routing = json.loads(record.value)["routing"]
        by_route[routing["route"] + (f"/{routing['level']}" if routing["level"] else "")] += 1
        if routing["route"] == "jurisdiction":
            by_province[routing["province_code"]] += 1
        by_handler[routing["handler"]["level"]] += 1
        warned += bool(routing["warnings"])
    dead = read_committed([topics.dead_letter], settings)
    dead_by_error = Counter(json.loads(r.value)["error"] for r in dead)
    escalations = read_committed([topics.escalations], settings)

    lines = [f"Routed complaints (read_committed, all time): {len(routed)}"]
    lines += [f"  {route:<24} {n:>8}" for route, n in sorted(by_route.items())]
    lines.append(f"  with warnings            {warned:>8}")
    lines.append("By handler level: " + ", ".join(f"{k} {v}" for k, v in sorted(by_handler.items())))
    top = ", ".join(f"{p}: {n}" for p, n in by_province.most_common(10))
    lines.append(f"Administrative map in force: {settings.admin_map} "
                 f"({len(topics.all_jurisdictions())} provinces{', two tiers' if settings.admin_map == '2025' else ''})")
    lines.append(f"Jurisdiction topics used: {len(by_province)} of {len(topics.all_jurisdictions())}; busiest: {top}")
    lines.append(f"Dead letters: {len(dead)}" + (" (" + ", ".join(f"{k} {v}" for k, v in
                                                               sorted(dead_by_error.items())) + ")" if dead else ""))
    lines.append(f"Escalations: {len(escalations)}")
    lines += told(settings)
    lines.append(stored(settings))
    lines.append(f"Metrics: stream worker http://{settings.metrics_host}:{settings.worker_metrics_port}/metrics, "
                 f"Postgres sink http://{settings.metrics_host}:{settings.sink_metrics_port}/metrics")
    return "\n".join(lines)


def told(settings: Settings) -> list[str]:
    """What the portal and the registry received, read as each of them (their ACLs): counts,
    and one complaint's story as the citizen hears it. No national ID is printed."""
    topics = settings.topics
    changes = [json.loads(r.value) for r in read_committed([topics.status], settings, role="portal")]
    corrections = [json.loads(r.value) for r in read_committed([topics.record_corrections], settings,
                                                               role="registry")]
    by_status = Counter(c["status"] for c in changes)
    lines = [f"The portal received (complaints.status, as portal): {len(changes)} status changes"
             + (" (" + ", ".join(f"{k} {v}" for k, v in sorted(by_status.items())) + ")" if changes else "")]
    corrected = {c["complaint_id"] for c in corrections}
    story = [c for c in changes if c["complaint_id"] in corrected] or [c for c in changes if c.get("response")]
    if story:
        cid = story[-1]["complaint_id"]
        lines.append(f"  e.g. {cid}: " + " -> ".join(
            c["status"] + (f" ({c['office']['name'] or c['office']['unit_code']})" if c["status"] == "assigned" else "")
            for c in changes if c["complaint_id"] == cid))
        reply = next((c.get("response") for c in changes if c["complaint_id"] == cid and c.get("response")), None)
        if reply:
            lines.append(f"  the citizen reads: {reply}")
    doses = Counter(d["action"] for c in corrections for d in c["corrections"])
    lines.append(f"The registry received (complaints.record-corrections, as registry): {len(corrections)} record "
                 f"corrections for {len({c['complaint_id'] for c in corrections})} complaints"
                 + (" (doses: " + ", ".join(f"{k} {v}" for k, v in sorted(doses.items())) + ")" if doses else ""))
    if corrections:
        last = corrections[-1]
        lines.append(f"  e.g. {last['complaint_id']} by {last['corrected_by']['level']} "
                     f"{last['corrected_by']['unit_code']}: " + "; ".join(
                         f"{d['action']} dose {d.get('dose_number', '?')} {d.get('vaccine', '')} "
                         f"{d.get('vaccinated_on', '')}".rstrip() for d in last["corrections"]))
    return lines


def stored(settings: Settings) -> str:
    """Row counts of the sink's tables, or why they cannot be read."""
    import psycopg2

    tables = ["complaints", "routes", "resolutions", "escalations", "delegations", "dead_letters"]
    try:
        with psycopg2.connect(settings.database_url_as("reports"), connect_timeout=3) as conn, conn.cursor() as cur:
            counts = []
            for table in tables:
                cur.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed names
                counts.append(f"{table} {cur.fetchone()[0]}")
        return "PostgreSQL rows (all time, this database): " + ", ".join(counts)
    except psycopg2.Error as exc:
        return f"PostgreSQL: not readable ({str(exc).strip().splitlines()[0]})"
