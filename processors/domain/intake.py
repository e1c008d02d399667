"""One input event in, one decision out: the router's logic, free of Faust.

The worker (processors/domain/handlers.py) feeds it raw bytes and sends what it returns. Kept apart
so it is unit-tested without a broker and reused by the benchmark's baseline.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from processors.domain.deadletter import Source, Unreadable, dead_letter, dumps
from processors.domain.ports import Record
from processors.domain.routing import Decision, route
from processors.domain.state import ComplaintState
from schemas.admin_units import AdminUnits
from schemas.checks import (delegation_origin_problem, delegation_problem, grant_authority_problem,
                            resolution_problem)
from schemas.models import (MAX_EVENT_BYTES, ComplaintResolved, ComplaintSubmitted, Delegation,
                            FutureTimestampError, describe_errors, text_context)
from schemas.topics import Topics

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Result:
    kind: str  # "routed" | "retry" | "dead_letter"
    output: Record | None
    complaint: ComplaintSubmitted | None = None
    decision: Decision | None = None
    record: ComplaintState | None = None  # what the complaints table keeps
    error: str | None = None


def read_object(raw: bytes | None) -> dict[str, Any]:
    """The event's JSON object, or Unreadable saying why not."""
    if raw is None or raw == b"":
        raise Unreadable("empty_value", "the event has no value")
    if len(raw) > MAX_EVENT_BYTES:
        raise Unreadable("too_large", f"the event has {len(raw):,} bytes; at most {MAX_EVENT_BYTES:,} are read")
    try:
        # UTF-8 only: json.loads(bytes) would also read UTF-16 and UTF-32, whose escapes the
        # forbidden-character check does not see, and which nothing downstream reads.
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise Unreadable("not_json", f"not UTF-8: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise Unreadable("not_json", f"not JSON: {exc}") from exc
    except RecursionError as exc:
        raise Unreadable("not_json", "JSON nested too deeply") from exc
    if not isinstance(doc, dict):
        raise Unreadable("validation_error", f"expected a JSON object, got {type(doc).__name__}")
    return doc


def validated(model: type[M], doc: dict[str, Any], raw: bytes | None = None) -> M:
    """`raw`, the bytes `doc` was read from, lets the model skip its text walk when they
    cannot hold a forbidden character (schemas.models.text_context)."""
    try:
        return model.model_validate(doc, context=text_context(raw) if raw is not None else None)
    except RecursionError as exc:
        raise Unreadable("validation_error", "nested too deeply") from exc
    except ValidationError as exc:
        kinds = {err["type"] for err in exc.errors()}
        if kinds == {"timezone_aware"}:
            error = "naive_timestamp"
        elif "forbidden_character" in kinds:
            error = "forbidden_character"
        else:
            error = "validation_error"
        raise Unreadable(error, describe_errors(exc)) from exc


def parse(model: type[M], raw: bytes | None) -> M:
    """The event, validated straight from its bytes in one pass (pydantic's JSON parser, no
    dictionary built first: process() went from 94 to 73 µs a complaint). What that refuses
    is read again the long way, which names the problem (not_json, too_large, ...)."""
    if raw and len(raw) <= MAX_EVENT_BYTES:
        try:
            return model.model_validate_json(raw, context=text_context(raw))
        except (ValidationError, RecursionError):
            pass
    return validated(model, read_object(raw), raw)


def read_complaint(raw: bytes | None, received_at: dt.datetime) -> ComplaintSubmitted:
    """Parse and validate, or raise Unreadable naming what is wrong (rule 5). `received_at`
    is the Kafka record's timestamp: the same event gets the same verdict on a replay."""
    complaint = parse(ComplaintSubmitted, raw)
    try:
        complaint.check_not_future(received_at)
    except FutureTimestampError as exc:
        raise Unreadable("future_recorded_at", str(exc)) from exc
    return complaint


def read_resolution(raw: bytes | None, received_at: dt.datetime, units: AdminUnits) -> ComplaintResolved:
    """A resolution, or Unreadable: rule 5, and its resolved_by must be a real unit."""
    resolution = parse(ComplaintResolved, raw)
    try:
        resolution.check_not_future(received_at)
    except FutureTimestampError as exc:
        raise Unreadable("future_resolved_at", str(exc)) from exc
    problem = resolution_problem(resolution, units)
    if problem:
        raise Unreadable("unknown_unit", problem)
    return resolution


def read_delegation(key: bytes | None, raw: bytes, units: AdminUnits) -> Delegation:
    """A grant (raw is not None: a null value is a revocation), or Unreadable."""
    grant = parse(Delegation, raw)
    problem = delegation_problem(grant, units)
    if problem:
        raise Unreadable("unknown_unit", problem)
    if key is None or key.decode("utf-8", "replace") != grant.unit_code:
        raise Unreadable("wrong_key", f"a delegation is keyed by its unit_code ({grant.unit_code})")
    problem = grant_authority_problem(grant)
    if problem:
        raise Unreadable("not_own_province", problem)
    return grant


def check_delegation(topic: str, key: bytes | None, raw: bytes | None, topics: Topics,
                     units: AdminUnits) -> str | None:
    """One record of a delegations topic: raises Unreadable when a grant is invalid; returns why
    its topic's writer may not make it (wrong_origin), or None. The worker dead-letters what
    this refuses; delegation_effect says what it does to the registry."""
    grant = None if raw is None else read_delegation(key, raw, units)
    unit = (key or b"").decode("utf-8", "replace")
    return delegation_origin_problem(topics.origin(topic), unit, grant, units)


def delegation_effect(topic: str, key: bytes | None, raw: bytes | None, topics: Topics,
                      units: AdminUnits) -> tuple[str, str, Delegation | None] | None:
    """What one record of a delegations topic does, the same for every worker's registry and
    for the record: (layer, unit, grant in force or None), or None when it changes nothing.

    A record on office-<PP>'s topic about a unit that is not PP's changes nothing (an office
    cannot revoke another province's grants by writing a bogus one). A record its writer may
    make but that fails the check counts as a revocation: the latest record of a unit decides,
    as compaction will leave only it. The layer: "own" (the province's topic) decides over
    "shared" (admin's topic) for a unit, whatever order the topics are read in."""
    if key is None:
        return None
    unit = key.decode("utf-8", "replace")
    kind, province = topics.origin(topic)
    if kind == "office" and units.province_of("commune" if len(unit) == 5 else "district", unit) != province:
        return None
    if kind not in ("office", "admin"):
        return None
    try:
        problem = check_delegation(topic, key, raw, topics, units)
    except Unreadable:
        problem = "invalid"
    grant = None if problem or raw is None else Delegation.model_validate_json(raw)
    return ("shared" if kind == "admin" else "own"), unit, grant


def record_time(timestamp_s: float | None, fallback: dt.datetime) -> dt.datetime:
    """A Kafka record's timestamp (seconds, as Faust gives it) as an aware datetime."""
    if timestamp_s is None or timestamp_s <= 0:
        return fallback
    return dt.datetime.fromtimestamp(timestamp_s, dt.timezone.utc)


def content_digest(complaint: ComplaintSubmitted) -> str:
    """The complaint's content, event_id aside: a retry has the same, a conflicting
    resubmission another. (About 6 µs a complaint, a few % of routing it.)"""
    return hashlib.blake2b(complaint.model_dump_json(exclude={"event_id"}).encode(), digest_size=12).hexdigest()


DELEGATED_LEVELS = ("district", "commune")


def table_record(complaint: ComplaintSubmitted, routing: dict[str, Any], topic: str,
                 earlier: ComplaintState | None = None, raw: bytes | None = None) -> ComplaintState:
    """The complaints table's value: what the SLA clock and the digest need, from the
    routing block sent. `earlier` holds the resolutions that arrived first (judged, then
    dropped, by the topology). A complaint handled by a delegated unit keeps its submission
    (`raw`), to be routed again to its province if the delegation is revoked while it is open."""
    delegated = routing["handler"]["level"] in DELEGATED_LEVELS
    return ComplaintState(
        route=routing["route"],
        topic=topic,
        province_code=routing["province_code"],
        handler=routing["handler"],
        recorded_at=complaint.recorded_at.isoformat(),
        deadline=routing["deadline"],
        routed_at=routing["routed_at"],
        escalated=[],
        waiting=earlier.waiting if earlier else None,
        admin_map=routing.get("admin_map"),
        submission=[complaint.event_id, content_digest(complaint)],
        body=raw.decode("utf-8") if delegated and raw is not None else None,
    )


def process(raw: bytes | None, key: bytes | None, source: Source, *, now: dt.datetime,
            lookup: Callable[[str], ComplaintState | None], delegations: Mapping[str, Delegation],
            units: AdminUnits, topics: Topics, received_at: dt.datetime | None = None) -> Result:
    """`now` stamps routed_at; `received_at` (the record's timestamp, else `now`) judges rule 5."""
    try:
        complaint = read_complaint(raw, received_at or now)
    except Unreadable as problem:
        letter = dead_letter(problem, source, key, raw, now)
        return Result("dead_letter", Record(topics.dead_letter, key, dumps(letter)), error=problem.error)
    earlier = lookup(complaint.complaint_id)
    if earlier is not None and earlier.routed:
        first = earlier.submission
        if first and first[1] != content_digest(complaint):
            problem = Unreadable("conflicting_resubmission",
                                 f"complaint {complaint.complaint_id} was routed from event {first[0]}; event "
                                 f"{complaint.event_id} gives it other content (a retry must repeat the complaint)")
            letter = dead_letter(problem, source, key, raw, now)
            return Result("dead_letter", Record(topics.dead_letter, key, dumps(letter)), complaint,
                          error=problem.error)
        return Result("retry", None, complaint)
    decision = route(complaint, delegations, units)
    topic = decision.topic(topics)
    routing = decision.routing_json(complaint, now)
    value = routed_value(raw, routing)
    # Keyed by complaint_id like the submission: it stays on the submission's partition.
    return Result("routed", Record(topic, complaint.complaint_id.encode("utf-8"), value, copartitioned=True),
                  complaint, decision,
                  table_record(complaint, routing, topic, earlier, raw))


def routed_value(raw: bytes, routing: dict[str, Any]) -> bytes:
    """The submitted complaint unchanged (its own bytes), plus the routing block. A
    submission that already carries a "routing" field is re-encoded with ours instead."""
    body = raw.rstrip()
    if body.endswith(b"}") and b'"routing"' not in body:
        return body[:-1] + b',"routing":' + orjson.dumps(routing) + b"}"
    return json.dumps({**json.loads(raw), "routing": routing}, ensure_ascii=False).encode("utf-8")


def internal_error(exc: Exception, source: Source, key: bytes | None, raw: bytes | None, topics: Topics) -> Result:
    """An unexpected failure while routing: the event goes to the dead letters, whole."""
    problem = Unreadable("internal_error", f"{type(exc).__name__}: {exc}")
    letter = dead_letter(problem, source, key, raw, dt.datetime.now(dt.timezone.utc))
    return Result("dead_letter", Record(topics.dead_letter, key, dumps(letter)), error=problem.error)
