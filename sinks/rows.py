"""Kafka records to table rows: one function per topic kind, no I/O."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from pydantic import ValidationError

from schemas.models import (
    ComplaintEscalated,
    ComplaintResolved,
    ComplaintSubmitted,
    DailyDigest,
    DeadLetter,
    Delegation,
    RoutedComplaint,
)
from schemas.topics import Topics


def topic_kind(topic: str, topics: Topics) -> str:
    name = topics.source_of(topic)
    if name.startswith("complaints.jurisdiction.") or name in ("complaints.site-system", "complaints.triage"):
        return "routed"
    return name.removeprefix("complaints.")


@dataclass
class Batch:
    """Rows for each table, deduplicated by their identity within the batch."""

    complaints: dict[str, tuple] = field(default_factory=dict)
    routes: dict[str, tuple] = field(default_factory=dict)
    resolutions: dict[str, tuple] = field(default_factory=dict)
    escalations: dict[str, tuple] = field(default_factory=dict)
    delegations: dict[str, tuple] = field(default_factory=dict)  # last event per unit wins
    revocations: dict[str, int] = field(default_factory=dict)
    dead_letters: dict[tuple, tuple] = field(default_factory=dict)
    digests: dict[str, tuple] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, kind: str) -> None:
        self.skipped[kind] = self.skipped.get(kind, 0) + 1


def _complaint_row(c: ComplaintSubmitted, payload: str, partition: int | None, offset: int | None) -> tuple:
    loc = c.location
    return (c.complaint_id, c.event_id, c.recorded_at, c.deadline, c.category,
            loc.province_code if loc else None, loc.district_code if loc else None,
            loc.commune_code if loc else None, c.site.site_code if c.site else None,
            payload, partition, offset)


def add(batch: Batch, kind: str, topic: str, partition: int, offset: int, key: bytes | None,
        value: bytes | None, timestamp_ms: int | None = None) -> None:
    try:
        if kind == "delegations":
            unit = (key or b"").decode("utf-8", "replace")
            if value is None:
                batch.delegations.pop(unit, None)
                batch.revocations[unit] = offset
                return
            d = Delegation.model_validate_json(value)
            batch.revocations.pop(d.unit_code, None)
            batch.delegations[d.unit_code] = (d.unit_code, d.level, d.province_code, d.district_code,
                                              d.commune_code, d.granted_at, d.granted_by, offset)
            return
        if value is None:
            batch.skip(kind)
            return
        if kind == "submitted":  # the hot path: parsed once, stored as it came
            c = ComplaintSubmitted.model_validate_json(value)
            if timestamp_ms is not None:  # rule 5, judged by the time Kafka received the event
                c.check_not_future(dt.datetime.fromtimestamp(timestamp_ms / 1000, dt.timezone.utc))
            known = batch.complaints.get(c.complaint_id)
            if known is None or known[-2] is None:  # the submission's own coordinates win
                batch.complaints[c.complaint_id] = _complaint_row(c, value.decode("utf-8"), partition, offset)
            return
        payload = json.loads(value)
        if kind == "routed":
            r = RoutedComplaint.model_validate(payload)
            routing = r.routing
            if r.complaint_id not in batch.complaints:  # else the submission itself is in this batch
                submitted = {k: v for k, v in payload.items() if k != "routing"}
                batch.complaints[r.complaint_id] = _complaint_row(r, json.dumps(submitted, ensure_ascii=False),
                                                                  None, None)
            batch.routes.setdefault(r.complaint_id, (
                r.complaint_id, routing.route, topic, routing.province_code, routing.level,
                routing.handler.level, routing.handler.unit_code, list(routing.warnings), r.recorded_at,
                routing.deadline, routing.routed_at, json.dumps(payload["routing"], ensure_ascii=False)))
        elif kind == "resolved":
            r = ComplaintResolved.model_validate(payload)
            batch.resolutions.setdefault(r.event_id, (
                r.event_id, r.complaint_id, r.resolved_at, r.resolved_by.level, r.resolved_by.unit_code,
                r.outcome, r.note, json.dumps(payload, ensure_ascii=False)))
        elif kind == "escalations":
            e = ComplaintEscalated.model_validate(payload)
            batch.escalations.setdefault(e.event_id, (
                e.event_id, e.complaint_id, e.stage, e.recorded_at, e.deadline, e.escalated_at,
                e.overdue_seconds, e.route, e.province_code, e.handler.level, e.handler.unit_code,
                json.dumps(payload, ensure_ascii=False)))
        elif kind == "dead-letter":
            d = DeadLetter.model_validate(payload)
            batch.dead_letters.setdefault((d.source_topic, d.partition, d.offset), (
                d.source_topic, d.partition, d.offset, d.error, d.detail, d.key, d.raw, d.raw_encoding,
                d.failed_at))
        elif kind == "digest":
            g = DailyDigest.model_validate(payload)
            batch.digests.setdefault(g.event_id, (g.event_id, g.province_code, g.digest_date, g.generated_at,
                                                  g.open_total, json.dumps(payload, ensure_ascii=False)))
        else:
            batch.skip(kind)
    except (ValidationError, ValueError, UnicodeDecodeError):
        batch.skip(kind)
