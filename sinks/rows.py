"""Kafka records to table rows: one function per topic kind, no I/O."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import NamedTuple

from pydantic import ValidationError

from processors.domain.intake import delegation_effect
from schemas.admin_units import AdminUnits, load as load_units
from schemas.models import (
    ComplaintEscalated,
    ComplaintSubmitted,
    DailyDigest,
    DeadLetter,
    ResolutionVerdict,
    RoutedComplaint,
    describe_errors,
    text_context,
)
from schemas.topics import Topics


def topic_kind(topic: str, topics: Topics) -> str:
    name = topics.source_of(topic)
    if name.startswith("complaints.jurisdiction.") or name in ("complaints.site-system", "complaints.triage"):
        return "routed"
    for kind in ("resolved", "delegations"):  # the shared topic and each writer's own
        if name == f"complaints.{kind}" or name.startswith(f"complaints.{kind}."):
            return kind
    return name.removeprefix("complaints.")


@dataclass(frozen=True)
class Origin:
    """The Kafka record a row came from: what is set aside if the database refuses the row."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


# Topic kinds the router dead-letters when they are not valid: the sink skips them (their
# dead letter is recorded). Anything else it cannot read is set aside in quarantine. The record
# holds the worker's verdicts, not its inputs: complaints come from their routed copies,
# resolutions from their verdicts (complaints.verdicts); delegations are read with the very
# check the worker's registry applies.
ROUTER_CHECKED = {"submitted", "resolved", "delegations"}


@dataclass
class Batch:
    """Rows for each table, deduplicated by their identity within the batch, and for each
    row the record it came from (`origins`, keyed by table and identity)."""

    complaints: dict[str, ComplaintRow] = field(default_factory=dict)
    routes: dict[str, tuple] = field(default_factory=dict)
    reassignments: dict[tuple, tuple] = field(default_factory=dict)
    resolutions: dict[str, tuple] = field(default_factory=dict)
    escalations: dict[str, tuple] = field(default_factory=dict)
    delegations: dict[str, tuple] = field(default_factory=dict)  # last event per unit wins
    revocations: dict[str, int] = field(default_factory=dict)
    dead_letters: dict[tuple, tuple] = field(default_factory=dict)
    digests: dict[str, tuple] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    origins: dict[tuple[str, object], Origin] = field(default_factory=dict)
    quarantine: dict[tuple, tuple] = field(default_factory=dict)

    def skip(self, kind: str) -> None:
        self.skipped[kind] = self.skipped.get(kind, 0) + 1

    def set_aside(self, origin: Origin, kind: str, error: str) -> None:
        self.quarantine[(origin.topic, origin.partition, origin.offset, kind)] = quarantine_row(origin, kind, error)

    def keep(self, table: str, identity: object, row: tuple, origin: Origin, replace: bool = False) -> None:
        """Add a row unless the batch has one with this identity already (or `replace`)."""
        rows = getattr(self, table)
        if replace or identity not in rows:
            rows[identity] = row
            self.origins[(table, identity)] = origin


def quarantine_row(origin: Origin, kind: str, error: str) -> tuple:
    return (origin.topic, origin.partition, origin.offset, kind, pg_text(error)[:2000], origin.key, origin.value)


def pg_text(text: str) -> str:
    """Text PostgreSQL accepts: NUL and lone surrogates replaced (for messages and labels;
    the exact bytes are kept in bytea columns)."""
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


class ComplaintRow(NamedTuple):
    """A row of the complaints table, in its INSERT's column order (sinks/store.py)."""

    complaint_id: str
    event_id: str
    recorded_at: dt.datetime
    deadline: dt.datetime
    category: str
    province_code: str | None
    district_code: str | None
    commune_code: str | None
    site_code: str | None
    payload: str
    kafka_partition: int | None  # None: taken from a routed event, not the submission itself
    kafka_offset: int | None


def _complaint_row(c: ComplaintSubmitted, payload: str, partition: int | None, offset: int | None) -> ComplaintRow:
    loc = c.location
    return ComplaintRow(c.complaint_id, c.event_id, c.recorded_at, c.deadline, c.category,
                        loc.province_code if loc else None, loc.district_code if loc else None,
                        loc.commune_code if loc else None, c.site.site_code if c.site else None,
                        payload, partition, offset)


def add(batch: Batch, kind: str, topic: str, partition: int, offset: int, key: bytes | None,
        value: bytes | None, units: AdminUnits | None = None, topics: Topics | None = None) -> None:
    origin = Origin(topic, partition, offset, key, value)
    units = units or load_units()
    try:
        _add(batch, kind, origin, units, topics or Topics(admin_map=units.map))
    except (ValidationError, ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        if kind in ROUTER_CHECKED:
            batch.skip(kind)
        else:  # an output the router wrote, or an unknown topic: nothing else records it
            batch.set_aside(origin, kind, f"unreadable: {describe_errors(exc)}")


def _add(batch: Batch, kind: str, origin: Origin, units: AdminUnits, topics: Topics) -> None:
    key, value, topic = origin.key, origin.value, origin.topic
    if kind == "delegations":  # what the worker's registry makes of it, by the very same function
        effect = delegation_effect(topic, key, value, topics, units)
        if effect is None:
            batch.skip(kind)
            return
        layer, unit, d = effect
        identity = (unit, layer)
        if d is None:
            batch.delegations.pop(identity, None)
            batch.revocations[identity] = origin.offset
            batch.origins[("revocations", identity)] = origin
            return
        batch.revocations.pop(identity, None)
        batch.keep("delegations", identity, (d.unit_code, d.level, d.province_code, d.district_code,
                                             d.commune_code, d.granted_at, d.granted_by, origin.offset, layer),
                   origin, replace=True)  # the last event per unit and layer wins
        return
    if value is None or kind in ("submitted", "resolved"):  # the worker's verdicts are recorded instead
        batch.skip(kind)
        return
    payload = json.loads(value.decode("utf-8"))  # UTF-8 only, as the router reads it
    if kind == "routed":
        r = RoutedComplaint.model_validate(payload, context=text_context(value))
        routing = r.routing
        if r.complaint_id not in batch.complaints:  # else the submission itself is in this batch
            submitted = {k: v for k, v in payload.items() if k != "routing"}
            batch.keep("complaints", r.complaint_id,
                       _complaint_row(r, json.dumps(submitted, ensure_ascii=False), None, None), origin)
        row = (r.complaint_id, routing.route, topic, routing.province_code, routing.level,
               routing.handler.level, routing.handler.unit_code, list(routing.warnings), r.recorded_at,
               routing.deadline, routing.routed_at, json.dumps(payload["routing"], ensure_ascii=False),
               routing.admin_map,
               None if routing.location_in_force is None else routing.location_in_force.model_dump_json(
                   exclude_unset=True),
               routing.province_code if routing.reassigned_from is None else routing.reassigned_from.province_code,
               routing.routed_at)  # first_routed_at: kept from the first route (the upsert leaves it)
        known = batch.routes.get(r.complaint_id)
        batch.keep("routes", r.complaint_id, row, origin,
                   replace=known is not None and known[10] < routing.routed_at)  # a move: the latest route wins
        moved = routing.reassigned_from
        if moved is not None:
            batch.keep("reassignments", (r.complaint_id, routing.routed_at), (
                r.complaint_id, routing.routed_at, moved.reason or "cutover", moved.topic, moved.province_code,
                moved.handler.level, moved.handler.unit_code, topic, routing.province_code,
                routing.handler.level, routing.handler.unit_code), origin)
    elif kind == "verdicts":
        v = ResolutionVerdict.model_validate(payload, context=text_context(value))
        r = v.resolution
        known = batch.resolutions.get(r.event_id)
        batch.keep("resolutions", r.event_id, (
            r.event_id, v.complaint_id, r.resolved_at, r.resolved_by.level, r.resolved_by.unit_code,
            r.outcome, r.note, json.dumps(payload["resolution"], ensure_ascii=False), v.verdict, v.reason, v.late,
            v.after_escalation, v.judged_at, v.read_at.topic, v.read_at.partition, v.read_at.offset, origin.offset),
            origin, replace=known is not None and known[16] < origin.offset)  # the later verdict (a replay) stands
    elif kind == "escalations":
        e = ComplaintEscalated.model_validate(payload)
        batch.keep("escalations", e.event_id, (
            e.event_id, e.complaint_id, e.stage, e.recorded_at, e.deadline, e.escalated_at,
            e.overdue_seconds, e.route, e.province_code, e.handler.level, e.handler.unit_code,
            json.dumps(payload, ensure_ascii=False)), origin)
    elif kind == "dead-letter":
        d = DeadLetter.model_validate(payload)
        original = d.original_bytes()
        try:  # readable text beside the exact bytes, where the bytes are UTF-8 without NUL
            readable: str | None = original.decode("utf-8")
        except UnicodeDecodeError:
            readable = None
        if readable is not None and "\x00" in readable:
            readable = None
        batch.keep("dead_letters", (d.source_topic, d.partition, d.offset), (
            pg_text(d.source_topic), d.partition, d.offset, pg_text(d.error), pg_text(d.detail),
            None if d.key is None else pg_text(d.key), readable, d.raw_encoding, d.failed_at, original), origin)
    elif kind == "digest":
        g = DailyDigest.model_validate(payload)
        batch.keep("digests", g.event_id, (g.event_id, g.province_code, g.digest_date, g.generated_at,
                                           g.open_total, json.dumps(payload, ensure_ascii=False)), origin)
    else:
        raise ValueError(f"no table for topic kind {kind!r}")
