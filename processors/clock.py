"""The 48-hour clock's rules, free of Faust: when to escalate, what a resolution does.

A complaint's state is a ComplaintState (processors/state.py) in the worker's
`complaints` table. The clock sets `resolved_at` (the earliest resolution) and
`escalated` (stages already emitted). Deadlines are indexed in memory by the second they
fall due (processors/deadlines.py), so a timer tick reads only what fell due.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from processors.state import ComplaintState
from schemas.models import SLA, ComplaintEscalated, ComplaintResolved, Handler


@dataclass(frozen=True)
class Stage:
    number: int
    after: dt.timedelta  # from recorded_at


DEFAULT_STAGES = (Stage(1, SLA),)


def parse_stages(text: str) -> tuple[Stage, ...]:
    """"1:48,2:72" -> stages 1 at 48 h and 2 at 72 h after recorded_at. Stage 1 is the SLA."""
    stages = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        number, _, hours = part.partition(":")
        try:
            stages.append(Stage(int(number), dt.timedelta(hours=float(hours))))
        except ValueError as exc:
            raise ValueError(f"escalation stage {part!r}: expected STAGE:HOURS, e.g. 1:48") from exc
    if any(s.number < 1 for s in stages):
        raise ValueError("escalation stage numbers start at 1")
    if not stages or stages[0].number != 1 or stages[0].after != SLA:
        raise ValueError("escalation stages must start with 1:48 (the Ministry's 48-hour rule)")
    if len({s.number for s in stages}) != len(stages):
        raise ValueError("escalation stage numbers must be unique")
    return tuple(sorted(stages, key=lambda s: s.after))


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def due_at(state: ComplaintState, stage: Stage) -> dt.datetime:
    return state.recorded + stage.after


def settled_by(state: ComplaintState, moment: dt.datetime) -> bool:
    """A resolution recorded at or before `moment` exists."""
    resolved = state.resolved
    return resolved is not None and resolved <= moment


def should_escalate(state: ComplaintState | None, stage: Stage) -> bool:
    if state is None or not state.routed:
        return False
    if stage.number in state.escalated:
        return False
    return not settled_by(state, due_at(state, stage))


def schedule(state: ComplaintState, stages: tuple[Stage, ...], now: dt.datetime) -> tuple[list[Stage], list[Stage]]:
    """Stages to escalate now (overdue on arrival), and stages to put in the deadline index."""
    immediate, later = [], []
    for stage in stages:
        if not should_escalate(state, stage):
            continue
        (immediate if due_at(state, stage) <= now else later).append(stage)
    return immediate, later


def due_second(moment: dt.datetime) -> int:
    """The whole second a deadline fires in, rounded up: never early."""
    second = int(moment.timestamp())
    return second + 1 if moment.timestamp() > second else second


def escalate(complaint_id: str, state: ComplaintState, stage: Stage, now: dt.datetime) -> ComplaintEscalated:
    """The event, and the state marked so that the stage is never emitted again."""
    deadline = state.due
    state.escalated.append(stage.number)
    assert state.route is not None and state.handler is not None
    return ComplaintEscalated(
        event_id=f"esc-{complaint_id}-{stage.number}",
        complaint_id=complaint_id,
        recorded_at=state.recorded,
        deadline=deadline,
        escalated_at=now,
        overdue_seconds=max(0.0, (now - deadline).total_seconds()),
        route=state.route,
        province_code=state.province_code,
        handler=Handler.model_validate(state.handler),
        stage=stage.number,
    )


@dataclass(frozen=True)
class ResolutionEffect:
    # "pending" (before its complaint), "in_time", "late", "repeat" (an earlier one counts),
    # "in_time_after_escalation": stamped by the deadline but read after the escalation left.
    kind: str
    first: bool  # the complaint's first resolution


def resolve(state: ComplaintState | None, resolution: ComplaintResolved,
            now: dt.datetime | None = None) -> tuple[ComplaintState, ResolutionEffect]:
    """Record a resolution. Only the earliest one counts; it may arrive before its complaint
    (then `now` marks since when it waits)."""
    state = replace(state, escalated=list(state.escalated)) if state is not None else ComplaintState()
    resolved_at = resolution.resolved_at
    previous = state.resolved
    first = previous is None
    if previous is not None and previous <= resolved_at:
        return state, ResolutionEffect("repeat", False)
    state.resolved_at = resolved_at.isoformat()
    state.resolved_by = resolution.resolved_by.model_dump()
    if not state.routed:
        if state.pending_since is None and now is not None:
            state.pending_since = now.isoformat()
        return state, ResolutionEffect("pending", first)
    # One meaning of late, as in the SLA report: resolved_at after the deadline. A result
    # recorded in time counts in time even when it reached us after the escalation was sent.
    if resolved_at > state.due:
        return state, ResolutionEffect("late", first)
    escalated = 1 in state.escalated
    return state, ResolutionEffect("in_time_after_escalation" if escalated else "in_time", first)
