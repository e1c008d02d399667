"""The worker's handlers: one input record and its shard's Context in, what it causes out.

Each handler reads and writes the shard's tables and sends records through the Context
(processors/domain/ports.py); the engine puts them, and the table writes' changelog, in the
shard's transaction (processors/engine/), the in-memory driver keeps them in lists
(processors/testing/). Nothing here knows Faust, Kafka's partitions or changelogs.

Tables (of each shard):
  complaints  complaint_id -> ComplaintState (processors/domain/state.py)
  marks       the shard's bookkeeping: the digest's last date, the last dead-lettered offset
              of each input
  digests     "<province>/<date>" -> parts of that day's digest received so far
In memory, per shard (Context.local), rebuilt from the complaints table whenever the shard may
have changed elsewhere (`index`): the SLA clock's deadlines, the open complaints by province
and deadline hour (the gauges), the open complaints by delegated unit.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping

from croniter import croniter
from pydantic import ValidationError

from processors import metrics
from processors.domain import clock
from processors.domain.deadletter import Source, Unreadable, dead_letter, dumps
from processors.domain.deadlines import Deadlines
from processors.domain.digest import PartBuilder, add_part
from processors.domain.intake import (DELEGATED_LEVELS, check_delegation, internal_error, process, read_resolution,
                                      record_time)
from processors.domain.notices import Notices, keep_for_notices
from processors.domain.ports import Context, Incoming, Record
from processors.domain.routing import Decision, route, successor_decision
from processors.domain.state import ComplaintState
from schemas.admin_units import AdminUnits
from schemas.checks import resolution_origin_problem, resolver_problem
from schemas.models import (DUE_SOON, ComplaintResolved, ComplaintSubmitted, Delegation, Handler, ResolutionVerdict,
                            RoutedComplaint, describe_errors)
from schemas.settings import Settings
from schemas.times import ICT

log = logging.getLogger(__name__)

DEAD_LETTER_MARK = "dead-letter-offset/{source}"
DIGEST_MARK = "digest-date"
MAX_DUE_PER_TICK = 5000  # after a long outage, catch up this many deadlines per tick and shard
EXPIRY = 0  # deadline index entries of this "stage" expire a resolution still waiting for its complaint
SCAN_YIELD_EVERY = 5000  # a scan of a large shard lets the engine run other work this often
OPEN, DEADLINES, DELEGATED = "open", "deadlines", "delegated"  # the shard's in-memory state


class OpenComplaints:
    """Open complaints by province and deadline hour, counted per shard (a Counter in its
    Context.local): rebuilt with the shard's index, kept up to date by the handlers. Feeds the
    gauges of open, due-soon and overdue complaints without scanning the table on every scrape."""

    def __init__(self, units: AdminUnits) -> None:
        self.exported: set[str] = set()
        self.units = units

    def key(self, state: ComplaintState) -> tuple[str, int]:
        """(the province in force, or "national"; the deadline's hour)."""
        province = self.units.province_in_force(state.province_code) or state.province_code
        return province or "national", int(state.due.timestamp()) // 3600

    def change(self, ctx: Context, state: ComplaintState, delta: int) -> None:
        counts = ctx.local(OPEN, lambda: None)
        if counts is not None:  # else the shard's rebuild counts it
            counts[self.key(state)] += delta

    def export(self, shards: Iterable[Counter], now: dt.datetime) -> None:
        this_hour = int(now.timestamp()) // 3600
        soon_hours = int(DUE_SOON.total_seconds()) // 3600
        open_, soon, overdue = Counter(), Counter(), Counter()
        for counts in shards:
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


def replace_decision(decision: Decision, province_code: str | None) -> Decision:
    """The province's own handling of a complaint placed in `province_code` before."""
    assert province_code is not None
    return Decision("jurisdiction", province_code, decision.level if decision.province_code == province_code
                    else "province", Handler(level="province", unit_code=province_code), decision.warnings,
                    decision.place, decision.admin_map)


def not_handler(state: ComplaintState, level: str, unit_code: str, units: AdminUnits) -> str | None:
    """Why a resolution by `level unit_code` does not count for this routed complaint, or None."""
    assert state.handler is not None
    return resolver_problem(level, unit_code, state.province_code, state.handler, units)


class Handlers:
    """The worker's rules, input by input and timer by timer, for one shard at a time."""

    def __init__(self, settings: Settings, units: AdminUnits, registry: Mapping[str, Delegation]) -> None:
        self.settings = settings
        self.topics = settings.topics
        self.units = units
        self.registry = registry
        self.stages = clock.parse_stages(settings.escalation_stages)
        self.stage_by_number = {s.number: s for s in self.stages}
        self.pending_ttl = dt.timedelta(seconds=settings.pending_resolution_ttl_s)
        self.open = OpenComplaints(units)
        self.notices = Notices(self.topics, units)
        # input topic -> (its source name in dead-letter marks and metrics, its handler); the
        # names are the contract names without "complaints." as they always were (a mark's key
        # holds it: a new name would forget which offsets were dead-lettered already).
        inputs = [(self.topics.submitted, self.on_submitted),
                  *((topic, self.on_resolved) for topic in self.topics.resolution_inputs()),
                  *((topic, self.on_delegation) for topic in self.topics.delegation_inputs()),
                  (self.topics.digest_parts, self.on_digest_part),
                  (self.topics.reassignments, self.on_reassignment)]
        self.inputs = {topic: (self.topics.source_of(topic).removeprefix("complaints."), handler)
                       for topic, handler in inputs}

    # -- state ---------------------------------------------------------------------------------
    @staticmethod
    def state(ctx: Context, cid: str) -> ComplaintState | None:
        return ComplaintState.from_value(ctx.table("complaints").get(cid))

    @staticmethod
    def save(ctx: Context, cid: str, state: ComplaintState) -> None:
        ctx.table("complaints").set(cid, state.to_value())

    @staticmethod
    def deadlines(ctx: Context) -> Deadlines:
        return ctx.local(DEADLINES, Deadlines)

    # -- shared steps ----------------------------------------------------------------------------
    def escalate(self, ctx: Context, cid: str, state: ComplaintState, stage: clock.Stage) -> None:
        event = clock.escalate(cid, state, stage, ctx.now)  # also marks the stage in the state
        province = self.units.province_in_force(event.province_code) or event.province_code or "national"
        metrics.ESCALATIONS.labels(stage=str(stage.number), province=province).inc()
        metrics.ESCALATION_DELAY.labels(stage=str(stage.number)).observe(
            max(0.0, (ctx.now - clock.due_at(state, stage)).total_seconds()))
        ctx.send(Record(self.topics.escalations, cid.encode(), event.model_dump_json().encode(), True))
        self.notices.status(ctx, cid, state, "escalated", event.escalated_at)

    def start_clock(self, ctx: Context, cid: str, state: ComplaintState) -> None:
        """Escalate what is overdue on arrival; index the later stages by deadline."""
        immediate, later = clock.schedule(state, self.stages, ctx.now)
        for stage in later:
            self.deadlines(ctx).add(clock.due_second(clock.due_at(state, stage)), cid, stage.number)
        for stage in immediate:
            self.escalate(ctx, cid, state, stage)

    def due_entries(self, state: ComplaintState) -> list[tuple[int, int]]:
        """(second due, stage) of what the index must hold for a stored state: its stages
        not sent yet, or the expiry of a resolution waiting for its complaint."""
        if state.routed:
            return [(clock.due_second(clock.due_at(state, stage)), stage.number)
                    for stage in self.stages if clock.should_escalate(state, stage)]
        if state.pending_since is not None:
            return [(clock.due_second(dt.datetime.fromisoformat(state.pending_since) + self.pending_ttl), EXPIRY)]
        return []

    def dead_letter(self, ctx: Context, m: Incoming, letter: bytes, error: str, source: str) -> bool:
        """Exactly once: the shard's last dead-lettered offset of each input is committed with
        the letter (False: this offset was dead-lettered already). (The delegations topics are
        not co-partitioned with the tables: their letters rely on the transaction's offset
        commit alone.)"""
        if not source.startswith("delegations"):
            mark = DEAD_LETTER_MARK.format(source=source)
            last = ctx.table("marks").get(mark)
            if last is not None and last >= m.offset:  # offset 0 is an offset
                return False
            ctx.table("marks").set(mark, m.offset)
        ctx.send(Record(self.topics.dead_letter, m.key, letter))
        metrics.DEAD_LETTERS.labels(source=source, error=error).inc()
        return True

    def refuse(self, ctx: Context, m: Incoming, problem: Unreadable, source: str) -> None:
        letter = dead_letter(problem, Source(m.topic, m.partition, m.offset), m.key, m.value, ctx.now)
        self.dead_letter(ctx, m, dumps(letter), problem.error, source)

    def rekeyed(self, ctx: Context, m: Incoming, cid: str) -> bool:
        """A record keyed otherwise than by its complaint_id sits in the wrong shard for the
        tables: it is put back keyed right, and skipped here."""
        if ctx.owns(cid):
            return False
        metrics.REKEYED.labels(topic=self.topics.source_of(m.topic)).inc()
        ctx.send(Record(m.topic, cid.encode(), m.value))
        return True

    # -- every input -----------------------------------------------------------------------------
    def handle(self, m: Incoming, ctx: Context) -> None:
        """What input `m` causes. A bug of ours must not lose the event: it goes to the dead
        letter whole (internal_error), from where it can be replayed once mended."""
        source, handler = self.inputs[m.topic]
        try:
            handler(m, ctx)
        except Exception as exc:
            log.exception("cannot handle offset %s of %s[%s]", m.offset, m.topic, m.partition)
            self.refuse(ctx, m, Unreadable("internal_error", f"{type(exc).__name__}: {exc}"), source)

    # -- routing -------------------------------------------------------------------------------
    def on_submitted(self, m: Incoming, ctx: Context) -> None:
        metrics.RECEIVED.inc()
        source = Source(m.topic, m.partition, m.offset)
        try:
            result = process(m.value, m.key, source, now=ctx.now, lookup=lambda cid: self.state(ctx, cid),
                             delegations=self.registry, units=self.units, topics=self.topics,
                             received_at=record_time(m.timestamp, ctx.now))
        except Exception as exc:  # a bug of ours must not lose the event: keep it for replay
            log.exception("cannot route offset %s of %s[%s]", m.offset, m.topic, m.partition)
            result = internal_error(exc, source, m.key, m.value, self.topics)
        if result.kind == "dead_letter":
            assert result.output is not None and result.error is not None
            self.dead_letter(ctx, m, result.output.value or b"", result.error, "submitted")
            return
        assert result.complaint is not None
        cid = result.complaint.complaint_id
        if self.rekeyed(ctx, m, cid):
            return
        if result.kind == "retry":
            metrics.RETRIES_SKIPPED.inc()
            return
        assert result.output is not None and result.decision is not None and result.record is not None
        state = result.record
        keep_for_notices(state, result.complaint)
        self.notices.received(ctx, cid, state)
        self.judge_waiting(ctx, cid, state)
        self.start_clock(ctx, cid, state)
        self.save(ctx, cid, state)
        ctx.send(result.output)  # keyed by complaint_id, as escalations: copartitioned
        d = result.decision
        metrics.routed(d.route, d.province_code or "", d.level or "", d.handler.level).inc()
        for kind in d.warnings:
            metrics.WARNINGS.labels(kind=kind).inc()
        if m.timestamp:
            metrics.ROUTING_LATENCY.observe(max(0.0, time.time() - m.timestamp))
        if state.resolved_at is None:
            self.open.change(ctx, state, +1)
            self.track_delegated(ctx, cid, state)

    def judge_waiting(self, ctx: Context, cid: str, state: ComplaintState) -> None:
        """The resolutions that came before their complaint, judged now that it has come, in
        resolved_at order: the first acceptable one counts; the others are repeats, or go to the
        dead letter from where they were read when their author does not handle it."""
        for entry, resolution in clock.waiting_in_order(state, self.topics.resolved):
            judgement = clock.judge(state, resolution, self.refusal(state, entry.topic))
            self.verdict(ctx, cid, state, resolution, judgement, Source(entry.topic, entry.partition, entry.offset),
                         None if entry.key is None else entry.key.encode("utf-8"), entry.text.encode("utf-8"))
        state.waiting = state.pending_since = state.pending_from = None  # a routed state keeps no such note

    def refusal(self, state: ComplaintState, topic: str):
        """Why a resolution read from `topic` may not count for this complaint: its topic's writer
        does not cover it (wrong_origin), or its author does not handle it (not_handler)."""
        writer = self.topics.origin(topic)

        def check(resolution: ComplaintResolved) -> tuple[str, str] | None:
            level, unit = resolution.resolved_by.level, resolution.resolved_by.unit_code
            problem = resolution_origin_problem(writer, state.route, state.province_code, level, unit, self.units)
            if problem:
                return "wrong_origin", problem
            problem = not_handler(state, level, unit, self.units)
            return ("not_handler", problem) if problem else None

        return check

    def verdict(self, ctx: Context, cid: str, state: ComplaintState, resolution: ComplaintResolved,
                judgement: clock.Judgement, read_at: Source, key: bytes | None, raw: bytes,
                incoming: Incoming | None = None) -> None:
        """What a judgement causes: its verdict, the dead letter of a refusal; and its metrics.
        `incoming`: the resolution is being read now (its letter is marked exactly once like
        any other); else it waited for its complaint."""
        if judgement.kind in ("waiting", "retry"):
            metrics.RESOLUTIONS.labels(effect=judgement.effect).inc()
            return
        if judgement.kind == "refused":
            error = judgement.error or "not_handler"
            source = self.topics.source_of(read_at.topic).removeprefix("complaints.")
            letter = dumps(dead_letter(Unreadable(error, judgement.reason or ""), read_at, key, raw, ctx.now))
            if incoming is not None:
                if not self.dead_letter(ctx, incoming, letter, error, source):
                    return  # this offset was judged already
            else:
                metrics.DEAD_LETTERS.labels(source=source, error=error).inc()
                ctx.send(Record(self.topics.dead_letter, key, letter))
        metrics.RESOLUTIONS.labels(effect=judgement.effect).inc()
        event = ResolutionVerdict(
            event_id=f"verdict-{self.topics.source_of(read_at.topic)}-{read_at.partition}-{read_at.offset}",
            complaint_id=cid, verdict=judgement.kind, reason=judgement.reason,
            late=judgement.late if judgement.kind == "counted" else None,
            after_escalation=judgement.after_escalation if judgement.kind == "counted" else None,
            deadline=state.due if state.deadline else None, judged_at=ctx.now,
            read_at={"topic": self.topics.source_of(read_at.topic), "partition": read_at.partition,
                     "offset": read_at.offset},
            resolution=resolution)
        ctx.send(Record(self.topics.verdicts, cid.encode(), event.model_dump_json().encode(), True))
        if judgement.kind == "counted":
            self.notices.resolved(ctx, cid, state, resolution)
            if judgement.late:
                metrics.LATE_RESOLUTIONS.inc()
            hours = (resolution.resolved_at - state.recorded).total_seconds() / 3600
            metrics.TIME_TO_RESOLUTION.observe(max(0.0, hours))

    # -- resolutions and delegations -------------------------------------------------------------
    def on_resolved(self, m: Incoming, ctx: Context) -> None:
        try:
            resolution = read_resolution(m.value, record_time(m.timestamp, ctx.now), self.units)
        except Unreadable as problem:
            self.refuse(ctx, m, problem, self.inputs[m.topic][0])
            return
        cid = resolution.complaint_id
        if self.rekeyed(ctx, m, cid):
            return
        state = self.state(ctx, cid)
        read_at = Source(m.topic, m.partition, m.offset)
        if state is None or not state.routed:  # judged when its complaint comes; it may never come
            state, judgement = clock.wait(state, m.key, m.value or b"", resolution.event_id, m.partition, m.offset,
                                          ctx.now, m.topic)
            if judgement.kind != "retry":
                if len(state.waiting or ()) == 1:
                    self.deadlines(ctx).add(clock.due_second(ctx.now + self.pending_ttl), cid, EXPIRY)
                self.save(ctx, cid, state)
            self.verdict(ctx, cid, state, resolution, judgement, read_at, m.key, m.value or b"")
            return
        judgement = clock.judge(state, resolution, self.refusal(state, m.topic))
        self.verdict(ctx, cid, state, resolution, judgement, read_at, m.key, m.value or b"", m)
        if judgement.kind == "counted":
            state.body = None  # closed: nothing will route it again
            self.save(ctx, cid, state)  # after the verdict: its notices are counted in the state
            self.open.change(ctx, state, -1)
            self.track_delegated(ctx, cid, state)

    def on_delegation(self, m: Incoming, ctx: Context) -> None:
        """Every worker's registry ignores an invalid grant, or one its topic's writer may not
        make; the worker that owns the topic's partition dead-letters it, so its author can see
        why and correct it."""
        source = self.inputs[m.topic][0]
        try:
            problem = check_delegation(m.topic, m.key, m.value, self.topics, self.units)
        except Unreadable as unreadable:
            self.refuse(ctx, m, unreadable, source)
            return
        if problem:
            self.refuse(ctx, m, Unreadable("wrong_origin", problem), source)

    # -- the cut-over to the map in force --------------------------------------------------------
    def on_reassignment(self, m: Incoming, ctx: Context) -> None:
        """A complaint routed under an older map (fed back by `python -m processors cutover`):
        if it is still open there, it moves once to the unit in force that succeeds its handler,
        a RoutedComplaint on the successor's topic with `routing.reassigned_from`; its deadline
        and the stages already escalated stay. Anything else (resolved, moved already, not a
        jurisdiction route) changes nothing, so the command can run again."""
        try:
            routed = RoutedComplaint.model_validate_json(m.value or b"")
        except ValidationError as exc:
            self.refuse(ctx, m, Unreadable("validation_error", describe_errors(exc)), "reassignments")
            return
        cid = routed.complaint_id
        if self.rekeyed(ctx, m, cid):
            return
        state = self.state(ctx, cid)
        if (state is None or not state.is_open or state.route != "jurisdiction"
                or (state.admin_map or "2021") == self.units.map or state.handler is None):
            metrics.REASSIGNED.labels(reason="cutover", effect="unchanged").inc()
            return
        decision = successor_decision(routed, state.province_code, state.handler, self.registry, self.units)
        block = {**decision.routing_json(routed, ctx.now), "deadline": state.deadline,
                 "reassigned_from": {"topic": self.topics.source_of(state.topic or ""),
                                     "province_code": state.province_code, "handler": state.handler,
                                     "reason": "cutover"}}
        topic = decision.topic(self.topics)
        value = json.dumps({**json.loads(m.value or b"{}"), "routing": block}, ensure_ascii=False).encode("utf-8")
        self.open.change(ctx, state, -1)
        state.topic, state.province_code, state.admin_map = topic, decision.province_code, self.units.map
        state.handler = block["handler"]
        state.body = m.value.decode("utf-8") if state.handler["level"] in DELEGATED_LEVELS and m.value else None
        self.open.change(ctx, state, +1)
        self.track_delegated(ctx, cid, state)
        metrics.REASSIGNED.labels(reason="cutover", effect="moved").inc()
        self.notices.status(ctx, cid, state, "reassigned", ctx.now)
        self.save(ctx, cid, state)
        ctx.send(Record(topic, cid.encode(), value, True))

    # -- the clock -----------------------------------------------------------------------------
    def fire_due(self, ctx: Context) -> None:
        """Escalate what fell due in this shard (nothing before its index is built)."""
        deadlines = self.deadlines(ctx)
        if not deadlines.built:
            return
        for cid, number in deadlines.pop_due(int(ctx.now.timestamp()), MAX_DUE_PER_TICK):
            state = self.state(ctx, cid)
            if number == EXPIRY:
                if state is not None and not state.routed:  # its complaint never came
                    ctx.table("complaints").delete(cid)
                    for entry, resolution in clock.waiting_in_order(state, self.topics.resolved):
                        metrics.RESOLUTIONS_EXPIRED.inc()
                        self.verdict(ctx, cid, state, resolution,
                                     clock.Judgement("expired", f"its complaint did not come within "
                                                                f"{self.pending_ttl}"),
                                     Source(entry.topic, entry.partition, entry.offset), None, b"")
            else:
                stage = self.stage_by_number.get(number)
                if stage is not None and state is not None and clock.should_escalate(state, stage):
                    self.escalate(ctx, cid, state, stage)
                    self.save(ctx, cid, state)

    def states(self, ctx: Context) -> Iterator[tuple[str, ComplaintState] | None]:
        """Every complaint state of the shard (bookkeeping of older tables skipped), and now and
        then None: the engine lets other work run then (a large shard must not stall the timers)."""
        for n, (cid, value) in enumerate(ctx.table("complaints").items()):
            state = ComplaintState.from_value(value)
            if state is not None:
                yield cid, state
            if n % SCAN_YIELD_EVERY == SCAN_YIELD_EVERY - 1:
                yield None

    def index(self, ctx: Context) -> Iterator[None]:
        """Rebuild the shard's in-memory state from its table, in one scan: the deadlines, the
        open-complaint counts, the open complaints by delegated unit. (A generator: the engine
        runs it a slice at a time.)"""
        started = time.monotonic()
        deadlines = self.deadlines(ctx)
        deadlines.start()
        counts: Counter[tuple[str, int]] = Counter()
        delegated: dict[str, set[str]] = {}
        states = 0
        for item in self.states(ctx):
            if item is None:
                yield None
                continue
            cid, state = item
            states += 1
            if state.is_open:
                counts[self.open.key(state)] += 1
                if state.handler and state.handler["level"] in DELEGATED_LEVELS:
                    delegated.setdefault(state.handler["unit_code"], set()).add(cid)
            for second, stage in self.due_entries(state):
                deadlines.add(second, cid, stage)
        for name, built in ((OPEN, counts), (DELEGATED, delegated)):
            held = ctx.local(name, type(built))
            held.clear()
            held.update(built)
        deadlines.built = True
        log.info("shard %s: deadline index rebuilt from %s states in %.1f s", ctx.shard.index, states,
                 time.monotonic() - started)

    # -- revoked delegations -----------------------------------------------------------------
    def track_delegated(self, ctx: Context, cid: str, state: ComplaintState) -> None:
        """Keep the index of open complaints by delegated handler up to date."""
        units = ctx.local(DELEGATED, lambda: None)
        if units is None:
            return  # not indexed yet: its rebuild finds it
        for unit, cids in list(units.items()):
            cids.discard(cid)
            if not cids:
                del units[unit]
        if state.is_open and state.handler and state.handler["level"] in DELEGATED_LEVELS:
            units.setdefault(state.handler["unit_code"], set()).add(cid)

    def return_revoked(self, ctx: Context) -> None:
        """A unit whose delegation was revoked hands its open complaints back to the province,
        once: each is routed again (a RoutedComplaint on the province's topic with
        `routing.reassigned_from`, reason revocation), its deadline and stages unchanged; the
        unit's later resolutions of it are not_handler. Only what was routed to the unit
        before the revocation moves (a registry that has not read a newer grant yet moves
        nothing it should not)."""
        revoked_at = getattr(self.registry, "revoked_at", {})
        for unit, cids in list((ctx.local(DELEGATED, lambda: None) or {}).items()):
            if unit not in revoked_at or self.registry.get(unit) is not None:
                continue  # still delegated (checked per unit: a tick reads no state otherwise)
            for cid in sorted(cids):
                state = self.state(ctx, cid)
                if state is None or not state.is_open or not state.handler or state.handler["unit_code"] != unit:
                    self.track_delegated(ctx, cid, state or ComplaintState())
                    continue
                routed = dt.datetime.fromisoformat(state.routed_at or state.recorded_at or "").timestamp()
                if routed < revoked_at[unit]:
                    self.reassign(ctx, cid, state, "revocation")

    def reassign(self, ctx: Context, cid: str, state: ComplaintState, reason: str) -> None:
        """Route an open complaint again, from the submission it kept, to its province's unit in
        force; its deadline and escalated stages stay."""
        if not state.body:
            log.warning("complaint %s: no submission kept to route it again (%s)", cid, reason)
            return
        complaint = ComplaintSubmitted.model_validate_json(state.body)
        decision = route(complaint, self.registry, self.units)
        if decision.route != "jurisdiction" or decision.province_code != state.province_code:  # as placed before
            decision = replace_decision(decision, state.province_code)
        block = {**decision.routing_json(complaint, ctx.now), "deadline": state.deadline,
                 "reassigned_from": {"topic": self.topics.source_of(state.topic or ""),
                                     "province_code": state.province_code, "handler": state.handler,
                                     "reason": reason}}
        topic = decision.topic(self.topics)
        value = json.dumps({**json.loads(state.body), "routing": block}, ensure_ascii=False).encode("utf-8")
        state.topic, state.handler = topic, block["handler"]
        if state.handler["level"] not in DELEGATED_LEVELS:
            state.body = None
        self.track_delegated(ctx, cid, state)
        metrics.REASSIGNED.labels(reason=reason, effect="moved").inc()
        self.notices.status(ctx, cid, state, "reassigned", ctx.now)
        self.save(ctx, cid, state)
        ctx.send(Record(topic, cid.encode(), value, True))

    # -- the daily digest ------------------------------------------------------------------------
    def digest_due(self, now: dt.datetime) -> dt.date:
        """The date of the latest scheduled run at or before the (possibly shifted) clock."""
        shifted = (now + dt.timedelta(seconds=self.settings.digest_clock_offset_s)).astimezone(ICT)
        return croniter(self.settings.digest_schedule, shifted).get_prev(dt.datetime).date()

    def digest_tick(self, ctx: Context) -> Iterator[None]:
        """This shard's parts of today's digests, once the scheduled time has passed. (A
        generator, as `index`.)"""
        due = self.digest_due(ctx.now)
        marks = ctx.table("marks")
        last = marks.get(DIGEST_MARK)
        if last is None:  # a new shard starts with the next scheduled run
            # (Known gap: a new deployment whose shards first tick on either side of 07:00
            # leaves that one day without digests. Sending the latest run's part at the first
            # tick instead mends it, but made the integration suite flaky: a record published
            # as a worker started was then not read; see docs/architecture.md.)
            marks.set(DIGEST_MARK, due.isoformat())
            return
        if last >= due.isoformat():
            return
        builder = PartBuilder(ctx.now, self.settings.digest_max_items, self.units)
        for item in self.states(ctx):
            if item is None:
                yield None
            else:
                builder.add(*item)
        for province, part in builder.build().items():
            body = {"digest_date": due.isoformat(), "partition": ctx.shard.index, "partitions": ctx.shard.count,
                    "generated_at": ctx.now.isoformat(), "part": part}
            ctx.send(Record(self.topics.digest_parts, province.encode(), json.dumps(body).encode()))
        marks.set(DIGEST_MARK, due.isoformat())

    def on_digest_part(self, m: Incoming, ctx: Context) -> None:
        assert m.key is not None and m.value is not None
        body = json.loads(m.value)
        province = m.key.decode()
        key = f"{province}/{body['digest_date']}"
        digests = ctx.table("digests")
        entry, digest = add_part(digests.get(key), province, body, ctx.now, self.settings.digest_max_items)
        if entry is None:
            return
        digests.set(key, entry)
        if digest is not None:
            ctx.send(Record(self.topics.digest, province.encode(), digest.model_dump_json().encode()))
            metrics.DIGESTS.inc()

    # -- the gauges ------------------------------------------------------------------------------
    def export_gauges(self, shards_locals: Iterable[Mapping], now: dt.datetime) -> None:
        """The open, due-soon and overdue gauges, from every shard's counts this worker holds."""
        self.open.export((local[OPEN] for local in shards_locals if OPEN in local), now)
