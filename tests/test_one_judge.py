"""One judge, broker-free: each disagreement the worker and the record had, as the worker now
judges it and as the record's rows take it (tests/test_one_judge_integration.py compares the
two on generated stories)."""

import datetime as dt

from processors import metrics
from processors.testing.driver import MemoryDriver
from schemas.settings import Settings
from sinks.rows import Batch, add, topic_kind
from tests.fixtures import complaint

UTC = dt.timezone.utc
RECORDED = dt.datetime(2025, 11, 8, 2, 0, tzinfo=UTC)  # 09:00 ICT
DEADLINE = RECORDED + dt.timedelta(hours=48)


def driver() -> MemoryDriver:
    return MemoryDriver(Settings(admin_map="2025"), now=RECORDED + dt.timedelta(hours=3))


def resolution(cid: str, at: dt.datetime, by=("province", "79"), event_id: str | None = None) -> dict:
    return {"schema_version": 1, "event_id": event_id or f"r-{cid}-{by[1]}", "complaint_id": cid,
            "resolved_at": at.isoformat(), "resolved_by": {"level": by[0], "unit_code": by[1]}, "outcome": "updated"}


def recorded(d: MemoryDriver) -> Batch:
    """What the record makes of everything the worker sent."""
    batch = Batch()
    for n, r in enumerate(d.records):
        if not r.topic.endswith("-changelog") and r.topic != d.topics.digest_parts:
            add(batch, topic_kind(r.topic, d.topics), r.topic, r.partition or 0, n, r.key, r.value)
    return batch


def counter(metric, **labels) -> float:
    return metric.labels(**labels)._value.get() if labels else metric._value.get()


def test_every_resolution_that_came_first_is_kept_and_the_handlers_counts():
    """A commune's (not the handler) at 09:00, the province's at 10:00, then the complaint: the
    province's was dropped as a repeat, the commune's refused, the complaint escalated at 48 h,
    while the record counted the province's as in time."""
    d = driver()
    d.resolve(resolution("W-1", RECORDED + dt.timedelta(hours=1), by=("commune", "26737")))
    d.resolve(resolution("W-1", RECORDED + dt.timedelta(hours=2)))
    d.submit(complaint("W-1", province="79", recorded_at=RECORDED.isoformat()))
    verdicts = {v["resolution"]["resolved_by"]["unit_code"]: v for v in d.values(d.topics.verdicts)}
    assert (verdicts["79"]["verdict"], verdicts["79"]["late"]) == ("counted", False)
    assert verdicts["26737"]["verdict"] == "refused"
    assert [letter["error"] for letter in d.values(d.topics.dead_letter)] == ["not_handler"]
    d.advance(DEADLINE + dt.timedelta(seconds=2))
    assert d.values(d.topics.escalations) == []
    rows = recorded(d).resolutions
    assert {row[4]: row[8] for row in rows.values()} == {"79": "counted", "26737": "refused"}


def test_a_refused_resolution_corrected_and_replayed_under_its_event_id_counts_once_accepted():
    d = driver()
    d.submit(complaint("W-2", province="79", recorded_at=RECORDED.isoformat()))
    wrong = resolution("W-2", RECORDED + dt.timedelta(hours=1), by=("province", "01"), event_id="r-fix")
    d.resolve(wrong)
    d.resolve({**wrong, "resolved_by": {"level": "province", "unit_code": "79"}})  # corrected, replayed
    [(verdict, late)] = [(row[8], row[10]) for row in recorded(d).resolutions.values()]
    assert (verdict, late) == ("counted", False)  # the later verdict stands
    d.advance(DEADLINE + dt.timedelta(seconds=2))
    assert d.values(d.topics.escalations) == []


def test_a_resolution_stamped_a_day_after_its_record_counts_nowhere():
    """future_resolved_at: the worker refused it; the sink stored and counted it."""
    d = driver()
    d.submit(complaint("W-3", province="79", recorded_at=RECORDED.isoformat()))
    d.resolve(resolution("W-3", d.now + dt.timedelta(days=1)))
    assert [v["error"] for v in d.values(d.topics.dead_letter)] == ["future_resolved_at"]
    assert recorded(d).resolutions == {}


def test_the_late_counter_counts_the_counted_resolution_only_once_whenever_it_came():
    late_before = counter(metrics.LATE_RESOLUTIONS)
    d = driver()
    d.now = DEADLINE + dt.timedelta(hours=3)
    d.resolve(resolution("W-4", DEADLINE + dt.timedelta(hours=1)))  # late, before its complaint
    d.submit(complaint("W-4", province="79", recorded_at=RECORDED.isoformat()))
    assert counter(metrics.LATE_RESOLUTIONS) == late_before + 1
    d.resolve(resolution("W-4", RECORDED + dt.timedelta(hours=5), event_id="r-W-4-early"))  # in time, after
    assert counter(metrics.LATE_RESOLUTIONS) == late_before + 1
    assert [v["verdict"] for v in d.values(d.topics.verdicts)] == ["counted", "repeat"]


def test_due_soon_is_one_meaning_24_hours():
    d = driver()
    d.now = DEADLINE - dt.timedelta(hours=20)  # due in 20 h: due soon in the console and digest
    d.submit(complaint("W-5", province="79", recorded_at=RECORDED.isoformat()))
    d.export_gauges()  # the gauges, from this worker's counts alone
    assert metrics.DUE_SOON.labels(province="79")._value.get() == 1  # (it said 0: "due soon" was 6 h there)
    assert metrics.OPEN.labels(province="79")._value.get() == 1


def test_the_library_takes_utf8_only():
    import json

    import pytest

    from producers.client import InvalidEvent, validate
    from schemas.models import ComplaintSubmitted

    c = complaint("W-6", province="79")
    assert validate(ComplaintSubmitted, json.dumps(c).encode()).complaint_id == "W-6"
    for encoding in ("utf-16", "utf-32", "utf-8-sig"):
        with pytest.raises(InvalidEvent):
            validate(ComplaintSubmitted, json.dumps(c).encode(encoding))


def test_a_revoked_commune_hands_its_open_complaints_back_to_the_province_once():
    d = driver()
    grant = {"unit_code": "26737", "level": "commune", "province_code": "79", "commune_code": "26737",
             "granted_at": d.now.isoformat(), "granted_by": "79"}
    d.grant(grant)
    d.submit(complaint("V-1", province="79", commune="26737", recorded_at=RECORDED.isoformat()))
    d.submit(complaint("V-2", province="79", commune="26737", recorded_at=RECORDED.isoformat()))
    d.resolve(resolution("V-2", RECORDED + dt.timedelta(hours=2), by=("commune", "26737")),
              topic=d.topics.resolved_by_office("79"))
    [routed_v1] = [v for v in d.values(d.topics.jurisdiction("79")) if v["complaint_id"] == "V-1"]
    assert routed_v1["routing"]["handler"] == {"level": "commune", "unit_code": "26737"}
    d.now += dt.timedelta(minutes=5)
    d.revoke("26737", "79")
    d.advance(d.now + dt.timedelta(seconds=1))
    d.advance(d.now + dt.timedelta(seconds=1))  # the next tick moves nothing more
    moved = [v for v in d.values(d.topics.jurisdiction("79")) if v["routing"].get("reassigned_from")]
    assert [v["complaint_id"] for v in moved] == ["V-1"]  # V-2 was resolved: it stays
    routing = moved[0]["routing"]
    assert routing["handler"] == {"level": "province", "unit_code": "79"}
    assert routing["reassigned_from"] == {"topic": "complaints.jurisdiction.79", "province_code": "79",
                                          "handler": {"level": "commune", "unit_code": "26737"},
                                          "reason": "revocation"}
    assert routing["deadline"] == routed_v1["routing"]["deadline"]
    d.resolve(resolution("V-1", RECORDED + dt.timedelta(hours=3), by=("commune", "26737")),
              topic=d.topics.resolved_by_office("79"))
    assert d.values(d.topics.dead_letter)[-1]["error"] == "not_handler"  # the commune no longer handles it
    d.advance(DEADLINE + dt.timedelta(seconds=1))
    [escalated] = d.values(d.topics.escalations)
    assert escalated["complaint_id"] == "V-1" and escalated["handler"] == {"level": "province", "unit_code": "79"}


def test_each_writer_counts_only_within_its_own_topic():
    """office-01 writing resolved_by 79 on its own topic, about a complaint of 79: wrong_origin;
    office-79 on its topic counts; site-system cannot close a jurisdiction complaint."""
    d = driver()
    d.submit(complaint("O-1", province="79", recorded_at=RECORDED.isoformat()))
    d.resolve(resolution("O-1", RECORDED + dt.timedelta(hours=1), event_id="r-forged"),
              topic=d.topics.resolved_by_office("01"))
    d.resolve(resolution("O-1", RECORDED + dt.timedelta(hours=1), by=("site", "S-1"), event_id="r-site"),
              topic=d.topics.resolved_by_site_system)
    letters = d.values(d.topics.dead_letter)
    assert [letter["error"] for letter in letters] == ["wrong_origin", "wrong_origin"]
    assert letters[0]["source_topic"] == "complaints.resolved.01" and "province 79" in letters[0]["detail"]
    d.resolve(resolution("O-1", RECORDED + dt.timedelta(hours=2), event_id="r-own"),
              topic=d.topics.resolved_by_office("79"))
    verdicts = {v["resolution"]["event_id"]: v["verdict"] for v in d.values(d.topics.verdicts)}
    assert verdicts == {"r-forged": "refused", "r-site": "refused", "r-own": "counted"}
    d.advance(DEADLINE + dt.timedelta(seconds=1))
    assert d.values(d.topics.escalations) == []


def test_a_waiting_resolution_is_judged_by_the_topic_it_came_from():
    d = driver()
    d.resolve(resolution("O-2", RECORDED + dt.timedelta(hours=1), event_id="r-early"),
              topic=d.topics.resolved_by_office("01"))
    d.submit(complaint("O-2", province="79", recorded_at=RECORDED.isoformat()))
    [verdict] = d.values(d.topics.verdicts)
    assert (verdict["verdict"], verdict["read_at"]["topic"]) == ("refused", "complaints.resolved.01")


def test_an_office_grants_and_revokes_only_its_own_units():
    d = driver()
    foreign = {"unit_code": "26737", "level": "commune", "province_code": "79", "commune_code": "26737",
               "granted_at": d.now.isoformat(), "granted_by": "79"}
    d.grant(foreign, topic=d.topics.delegations_of("01"))  # office-01 grants for 79: refused, no effect
    assert d.registry.get("26737") is None
    assert d.values(d.topics.dead_letter)[-1]["error"] == "wrong_origin"
    d.grant(foreign)  # on 79's own topic
    d.revoke("26737", "01", topic=d.topics.delegations_of("01"))  # office-01 revoking 79's unit: no effect
    assert d.registry.get("26737") is not None
    assert d.values(d.topics.dead_letter)[-1]["error"] == "wrong_origin"
