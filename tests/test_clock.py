"""The SLA clock's rules, without Kafka."""

import datetime as dt

import pytest

from processors.domain import clock
from processors.domain.state import ComplaintState
from schemas.models import ComplaintResolved

UTC = dt.timezone.utc
RECORDED = dt.datetime(2021, 11, 8, 2, 0, tzinfo=UTC)  # 09:00 ICT
STAGE1 = clock.DEFAULT_STAGES[0]


def record(**extra) -> ComplaintState:
    return ComplaintState(route="jurisdiction", topic="complaints.jurisdiction.79", province_code="79",
                          handler={"level": "province", "unit_code": "79"}, recorded_at=RECORDED.isoformat(),
                          deadline=(RECORDED + dt.timedelta(hours=48)).isoformat(), routed_at=RECORDED.isoformat(),
                          **extra)


def resolution(at: dt.datetime, cid: str = "C1", by: tuple[str, str] = ("province", "79"),
               event_id: str | None = None) -> ComplaintResolved:
    return ComplaintResolved(event_id=event_id or f"r-{at.timestamp()}", complaint_id=cid, resolved_at=at,
                             resolved_by={"level": by[0], "unit_code": by[1]}, outcome="updated")


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


def handles(resolution: ComplaintResolved) -> tuple[str, str] | None:
    by = resolution.resolved_by
    return None if (by.level, by.unit_code) == ("province", "79") else ("not_handler", f"{by.level} {by.unit_code}")


def waited(*resolutions: ComplaintResolved, state: ComplaintState | None = None) -> ComplaintState:
    for n, r in enumerate(resolutions):
        state, judgement = clock.wait(state, b"C1", r.model_dump_json().encode(), r.event_id, 0, n,
                                      RECORDED + dt.timedelta(hours=1), "complaints.resolved")
        assert judgement.kind in ("waiting", "retry")
    return state


def test_a_resolution_in_time_prevents_escalation_even_when_it_arrived_first():
    pending = waited(resolution(RECORDED + dt.timedelta(hours=3)))
    routed = record(waiting=pending.waiting)
    [(_, r)] = clock.waiting_in_order(routed, "complaints.resolved")
    assert clock.judge(routed, r, handles).kind == "counted"
    assert clock.schedule(routed, clock.DEFAULT_STAGES, RECORDED + dt.timedelta(hours=60)) == ([], [])


def test_every_waiting_resolution_is_kept_and_judged_in_resolved_at_order():
    """A commune's (not the handler) at 09:00, then the province's at 10:00, then the complaint:
    the commune's is refused, the province's counts (it was lost when only one was kept)."""
    commune = resolution(RECORDED + dt.timedelta(hours=1), by=("commune", "26737"), event_id="r-commune")
    province = resolution(RECORDED + dt.timedelta(hours=2))
    state = waited(province, commune)  # read in the other order: the order of resolved_at decides
    routed = record(waiting=state.waiting)
    verdicts = [(r.event_id, clock.judge(routed, r, handles).kind) for _, r in clock.waiting_in_order(routed, "complaints.resolved")]
    assert verdicts == [("r-commune", "refused"), (province.event_id, "counted")]
    assert routed.resolved_at == province.resolved_at.isoformat()


def test_the_same_waiting_resolution_read_twice_is_kept_once():
    r = resolution(RECORDED + dt.timedelta(hours=1))
    state = waited(r)
    state, judgement = clock.wait(state, b"C1", r.model_dump_json().encode(), r.event_id, 0, 9, RECORDED,
                                  "complaints.resolved")
    assert judgement.kind == "retry" and len(state.waiting) == 1


def test_resolution_exactly_at_the_deadline_is_in_time():
    r = record()
    judgement = clock.judge(r, resolution(RECORDED + dt.timedelta(hours=48)), handles)
    assert (judgement.kind, judgement.late, judgement.effect) == ("counted", False, "in_time")
    assert not clock.should_escalate(r, STAGE1)


def test_a_resolution_after_the_deadline_is_late_and_does_not_prevent_the_escalation():
    r = record()
    judgement = clock.judge(r, resolution(RECORDED + dt.timedelta(hours=49)), handles)
    assert (judgement.kind, judgement.late) == ("counted", True) and clock.should_escalate(r, STAGE1)


def test_a_resolution_stamped_in_time_but_read_after_the_escalation_is_in_time_and_nothing_new_is_due():
    r = record()
    event = clock.escalate("C1", r, STAGE1, RECORDED + dt.timedelta(hours=48, seconds=1))
    assert (event.stage, event.overdue_seconds, event.event_id) == (1, 1.0, "esc-C1-1")
    assert not clock.should_escalate(r, STAGE1)
    judgement = clock.judge(r, resolution(RECORDED + dt.timedelta(hours=47)), handles)
    assert judgement.effect == "in_time_after_escalation" and not judgement.late  # stamped in time: not late
    assert not clock.should_escalate(r, STAGE1)


def test_the_first_acceptable_resolution_read_counts_and_its_verdict_stays():
    r = record()
    first = resolution(RECORDED + dt.timedelta(hours=10))
    assert clock.judge(r, first, handles).kind == "counted"
    assert clock.judge(r, resolution(RECORDED + dt.timedelta(hours=20)), handles).kind == "repeat"
    assert clock.judge(r, resolution(RECORDED + dt.timedelta(hours=5)), handles).kind == "repeat"  # earlier stamp
    assert clock.judge(r, first, handles).kind == "retry"  # the counted event read again
    assert clock.judge(r, resolution(RECORDED + dt.timedelta(hours=6), by=("province", "01")), handles).kind == \
        "refused"
    assert r.resolved_at == first.resolved_at.isoformat() and r.resolution_id == first.event_id


def test_stage_two_fires_only_when_still_unresolved_at_its_time():
    stage2 = clock.Stage(2, dt.timedelta(hours=72))
    r = record(escalated=[1])
    clock.judge(r, resolution(RECORDED + dt.timedelta(hours=60)), handles)
    assert not clock.should_escalate(r, stage2)
    assert clock.should_escalate(record(escalated=[1]), stage2)


def test_deadlines_round_up_to_the_second_so_they_never_fire_early():
    at = dt.datetime(2021, 11, 10, 2, 0, 0, 300000, tzinfo=UTC)
    assert clock.due_second(at) == int(at.timestamp()) + 1
    whole = at.replace(microsecond=0)
    assert clock.due_second(whole) == int(whole.timestamp())
