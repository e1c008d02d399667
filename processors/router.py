"""One submitted event in, one decision out: the router's logic, free of Faust.

The Faust agent (processors/app.py) feeds it raw bytes and sends what it returns. Kept
apart so it is unit-tested without a broker and reused by the benchmark's baseline.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from processors.deadletter import Source, Unreadable, dead_letter, dumps
from processors.routing import Decision, route
from schemas.admin_units import AdminUnits
from schemas.models import ComplaintSubmitted, Delegation, FutureTimestampError, describe_errors
from schemas.topics import Topics


@dataclass(frozen=True)
class Output:
    topic: str
    key: bytes | None
    value: bytes


@dataclass(frozen=True)
class Result:
    kind: str  # "routed" | "retry" | "dead_letter"
    output: Output | None
    complaint: ComplaintSubmitted | None = None
    decision: Decision | None = None
    record: dict[str, Any] | None = None  # what the routed-complaints table keeps
    error: str | None = None


def read_complaint(raw: bytes | None, now: dt.datetime) -> tuple[dict[str, Any], ComplaintSubmitted]:
    """Parse and validate, or raise Unreadable naming what is wrong (rule 5)."""
    if raw is None or raw == b"":
        raise Unreadable("empty_value", "the event has no value")
    try:
        doc = json.loads(raw)
    except UnicodeDecodeError as exc:
        raise Unreadable("not_json", f"not UTF-8: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise Unreadable("not_json", f"not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise Unreadable("validation_error", f"expected a JSON object, got {type(doc).__name__}")
    try:
        complaint = ComplaintSubmitted.model_validate(doc)
    except ValidationError as exc:
        kinds = {err["type"] for err in exc.errors()}
        error = "naive_timestamp" if kinds == {"timezone_aware"} else "validation_error"
        raise Unreadable(error, describe_errors(exc)) from exc
    try:
        complaint.check_not_future(now)
    except FutureTimestampError as exc:
        raise Unreadable("future_recorded_at", str(exc)) from exc
    return doc, complaint


def table_record(complaint: ComplaintSubmitted, decision: Decision, topic: str, routed_at: dt.datetime,
                 earlier: dict[str, Any] | None = None) -> dict:
    """The complaints table's value: what the SLA clock and the digest need. `earlier` is
    what a resolution that arrived before its complaint left there."""
    return {
        **(earlier or {}),
        "route": decision.route,
        "topic": topic,
        "province_code": decision.province_code,
        "handler": decision.handler.model_dump(),
        "recorded_at": complaint.recorded_at.isoformat(),
        "deadline": complaint.deadline.isoformat(),
        "routed_at": routed_at.isoformat(),
        "escalated": [],
    }


def process(raw: bytes | None, key: bytes | None, source: Source, *, now: dt.datetime,
            lookup: Callable[[str], dict[str, Any] | None], delegations: Mapping[str, Delegation],
            units: AdminUnits, topics: Topics) -> Result:
    try:
        doc, complaint = read_complaint(raw, now)
    except Unreadable as problem:
        letter = dead_letter(problem, source, key, raw, now)
        return Result("dead_letter", Output(topics.dead_letter, key, dumps(letter)), error=problem.error)
    earlier = lookup(complaint.complaint_id)
    if earlier and "route" in earlier:
        return Result("retry", None, complaint)
    decision = route(complaint, delegations, units)
    topic = decision.topic(topics)
    doc["routing"] = decision.routing_block(complaint, now).model_dump(mode="json")
    value = json.dumps(doc, ensure_ascii=False).encode("utf-8")
    return Result("routed", Output(topic, complaint.complaint_id.encode("utf-8"), value), complaint, decision,
                  table_record(complaint, decision, topic, now, earlier))


def internal_error(exc: Exception, source: Source, key: bytes | None, raw: bytes | None, topics: Topics) -> Result:
    """An unexpected failure while routing: the event goes to the dead letters, whole."""
    problem = Unreadable("internal_error", f"{type(exc).__name__}: {exc}")
    letter = dead_letter(problem, source, key, raw, dt.datetime.now(dt.timezone.utc))
    return Result("dead_letter", Output(topics.dead_letter, key, dumps(letter)), error=problem.error)
