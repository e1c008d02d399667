"""The 48-hour clock's rules, free of Faust: when to escalate, what a resolution is.

A complaint's state is a ComplaintState (processors/domain/state.py) in the worker's
`complaints` table. The clock sets `resolved_at` (the counted resolution's), `waiting`
(resolutions read before the complaint) and `escalated` (stages already emitted). Deadlines
are indexed in memory by the second they fall due (processors/domain/deadlines.py), so a timer tick
reads only what fell due.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NamedTuple

from processors.domain.state import ComplaintState
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
class Judgement:
    """What a resolution is, judged once (the record stores it: schemas.models.ResolutionVerdict).

    kind: "waiting" (its complaint has not come; judged when it does), "retry" (the counted
    resolution's own event again, or one already waiting: nothing new), "refused" (its author
    does not handle the complaint), "repeat" (another resolution counted first), "counted".
    """

    kind: str
    reason: str | None = None
    late: bool = False              # counted, resolved_at after the deadline
    after_escalation: bool = False  # counted, read after stage 1 was escalated
    error: str | None = None        # refused: not_handler | wrong_origin (its dead letter's error)

    @property
    def effect(self) -> str:
        """The metric's label (complaints_resolutions_total)."""
        if self.kind == "counted":
            return "late" if self.late else ("in_time_after_escalation" if self.after_escalation else "in_time")
        if self.kind == "refused":
            return self.error or "not_handler"
        return {"waiting": "pending"}.get(self.kind, self.kind)


def judge(state: ComplaintState, resolution: ComplaintResolved,
          refusal: Callable[[ComplaintResolved], tuple[str, str] | None]) -> Judgement:
    """A resolution of a routed complaint, judged once; `state` takes the counted one. The first
    acceptable resolution read counts and is never replaced (a later one, even stamped earlier,
    is a repeat): every verdict stays what it was when made. `refusal` says why a resolution may
    not count at all: (error, reason), its origin or its author. Late means one thing, as in the
    SLA report: resolved_at after the deadline; one stamped in time counts in time even when it
    was read after the escalation went out."""
    assert state.routed
    if resolution.event_id == state.resolution_id:
        return Judgement("retry")
    refused = refusal(resolution)
    if refused:
        return Judgement("refused", refused[1], error=refused[0])
    if state.resolved_at is not None:
        return Judgement("repeat", f"resolution {state.resolution_id} counted first" if state.resolution_id
                         else "another resolution counted first")
    state.resolved_at = resolution.resolved_at.isoformat()
    state.resolved_by = resolution.resolved_by.model_dump()
    state.resolution_id = resolution.event_id
    return Judgement("counted", late=resolution.resolved_at > state.due, after_escalation=1 in state.escalated)


def wait(state: ComplaintState | None, key: bytes | None, raw: bytes, event_id: str, partition: int, offset: int,
         now: dt.datetime, topic: str) -> tuple[ComplaintState, Judgement]:
    """A resolution read before its complaint: kept, with where it was read (its topic says who
    wrote it), until the complaint comes (or PENDING_RESOLUTION_TTL_S passes)."""
    state = replace(state, escalated=list(state.escalated)) if state is not None else ComplaintState()
    waiting = list(state.waiting or [])
    if any(waiting_event_id(entry) == event_id for entry in waiting):
        return state, Judgement("retry")
    waiting.append([partition, offset, None if key is None else key.decode("utf-8", "replace"), raw.decode("utf-8"),
                    topic])
    state.waiting = waiting
    if state.pending_since is None:
        state.pending_since = now.isoformat()
    return state, Judgement("waiting")


def waiting_event_id(entry: list) -> str:
    return ComplaintResolved.model_validate_json(entry[3]).event_id


def waiting_in_order(state: ComplaintState, shared_topic: str) -> list[tuple[Waiting, ComplaintResolved]]:
    """The resolutions that waited for the complaint, earliest resolved_at first (read order
    breaks ties). Entries kept before they named their topic were read from `shared_topic`."""
    read = [(Waiting(*entry[:4], entry[4] if len(entry) > 4 else shared_topic),
             ComplaintResolved.model_validate_json(entry[3])) for entry in state.waiting or ()]
    return sorted(read, key=lambda pair: (pair[1].resolved_at, pair[0].partition, pair[0].offset))


class Waiting(NamedTuple):
    """Where a waiting resolution was read."""

    partition: int
    offset: int
    key: str | None
    text: str
    topic: str
