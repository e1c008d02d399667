"""The SLA clock's rules, without Kafka."""

import datetime as dt

import pytest

from processors import clock
from processors.state import ComplaintState
from schemas.models import ComplaintResolved

UTC = dt.timezone.utc
RECORDED = dt.datetime(2021, 11, 8, 2, 0, tzinfo=UTC)  # 09:00 ICT
STAGE1 = clock.DEFAULT_STAGES[0]


def record(**extra) -> ComplaintState:
    return ComplaintState(route="jurisdiction", topic="complaints.jurisdiction.79", province_code="79",
                          handler={"level": "province", "unit_code": "79"}, recorded_at=RECORDED.isoformat(),
                          deadline=(RECORDED + dt.timedelta(hours=48)).isoformat(), routed_at=RECORDED.isoformat(),
                          **extra)


def resolution(at: dt.datetime, cid: str = "C1") -> ComplaintResolved:
    return ComplaintResolved(event_id=f"r-{at.timestamp()}", complaint_id=cid, resolved_at=at,
                             resolved_by={"level": "province", "unit_code": "79"}, outcome="updated")


def test_stages_default_to_the_48_hour_rule_and_later_stages_are_configurable():
    assert clock.parse_stages("1:48") == clock.DEFAULT_STAGES
    stages = clock.parse_stages("1:48, 2:72")
    assert [(s.number, s.after) for s in stages] == [(1, dt.timedelta(hours=48)), (2, dt.timedelta(hours=72))]
    for bad in ("", "2:72", "1:24", "1:48,1:72", "x"):
        with pytest.raises(ValueError):
            clock.parse_stages(bad)


def test_due_in_the_future_is_indexed_overdue_on_arrival_is_escalated_at_once():
    stages = clock.parse_stages("1:48,2:72")
    soon = RECORDED + dt.timedelta(hours=47)
    assert clock.schedule(record(), stages, soon) == ([], list(stages))
    late = RECORDED + dt.timedelta(hours=50)
    assert clock.schedule(record(), stages, late) == ([stages[0]], [stages[1]])


def test_a_resolution_in_time_prevents_escalation_even_when_it_arrived_first():
    pending, effect = clock.resolve(None, resolution(RECORDED + dt.timedelta(hours=3)))
    assert effect == clock.ResolutionEffect("pending", True)
    routed = record(resolved_at=pending.resolved_at)
    assert clock.schedule(routed, clock.DEFAULT_STAGES, RECORDED + dt.timedelta(hours=60)) == ([], [])


def test_resolution_exactly_at_the_deadline_is_in_time():
    r, effect = clock.resolve(record(), resolution(RECORDED + dt.timedelta(hours=48)))
    assert effect.kind == "in_time" and not clock.should_escalate(r, STAGE1)


def test_a_resolution_after_the_deadline_is_late_and_does_not_prevent_the_escalation():
    r, effect = clock.resolve(record(), resolution(RECORDED + dt.timedelta(hours=49)))
    assert effect.kind == "late" and clock.should_escalate(r, STAGE1)


def test_a_resolution_stamped_in_time_but_read_after_the_escalation_is_in_time_and_nothing_new_is_due():
    r = record()
    event = clock.escalate("C1", r, STAGE1, RECORDED + dt.timedelta(hours=48, seconds=1))
    assert (event.stage, event.overdue_seconds, event.event_id) == (1, 1.0, "esc-C1-1")
    assert not clock.should_escalate(r, STAGE1)
    r, effect = clock.resolve(r, resolution(RECORDED + dt.timedelta(hours=47)))
    assert effect.kind == "in_time_after_escalation"  # stamped in time: not late
    assert not clock.should_escalate(r, STAGE1)


def test_only_the_earliest_resolution_counts():
    r, first = clock.resolve(record(), resolution(RECORDED + dt.timedelta(hours=10)))
    r, again = clock.resolve(r, resolution(RECORDED + dt.timedelta(hours=20)))
    assert first.first and again == clock.ResolutionEffect("repeat", False)
    assert r.resolved_at == (RECORDED + dt.timedelta(hours=10)).isoformat()


def test_stage_two_fires_only_when_still_unresolved_at_its_time():
    stage2 = clock.Stage(2, dt.timedelta(hours=72))
    r, _ = clock.resolve(record(escalated=[1]), resolution(RECORDED + dt.timedelta(hours=60)))
    assert not clock.should_escalate(r, stage2)
    assert clock.should_escalate(record(escalated=[1]), stage2)


def test_deadlines_round_up_to_the_second_so_they_never_fire_early():
    at = dt.datetime(2021, 11, 10, 2, 0, 0, 300000, tzinfo=UTC)
    assert clock.due_second(at) == int(at.timestamp()) + 1
    whole = at.replace(microsecond=0)
    assert clock.due_second(whole) == int(whole.timestamp())
