"""The cut-over from the 2021 map to the map in force, through the in-memory driver: every open
complaint moves once to the unit in force that succeeds its handler, its deadline unchanged."""

import datetime as dt
import json

from processors.testing.driver import MemoryDriver
from schemas.models import DailyDigest, RoutedComplaint
from schemas.settings import Settings
from schemas.topics import Topics
from tests.fixtures import complaint

UTC = dt.timezone.utc
RECORDED = dt.datetime(2025, 6, 30, 2, 0, tzinfo=UTC)  # 09:00 ICT, the day before the reform
DEADLINE = RECORDED + dt.timedelta(hours=48)
OLD_TOPICS = Topics(admin_map="2021")


def district_grant(district: str, province: str) -> dict:
    return {"unit_code": district, "level": "district", "province_code": province, "district_code": district,
            "granted_at": "2025-06-01T08:00:00+07:00", "granted_by": province}


def feed_back(d: MemoryDriver) -> list:
    """What `python -m processors cutover` does: every complaint on an old jurisdiction topic,
    routed under 2021, onto complaints.internal.reassignments."""
    out = []
    for topic in OLD_TOPICS.all_jurisdictions():
        for record in d.sent(topic):
            if json.loads(record.value)["routing"].get("admin_map") != "2025":
                out += d.pipe(d.topics.reassignments, record.value, record.key.decode())
    return out


def moved(records: list) -> list[RoutedComplaint]:
    return [RoutedComplaint.model_validate_json(r.value) for r in records
            if r.topic.startswith("complaints.jurisdiction.")]


def test_open_complaints_move_once_to_the_successor_and_escalate_at_their_deadline():
    d = MemoryDriver(Settings(admin_map="2021"), now=RECORDED + dt.timedelta(minutes=1))
    d.grant(district_grant("748", "77"))  # a delegated district of Bà Rịa-Vũng Tàu
    d.submit(complaint("M-1", province="77", recorded_at=RECORDED.isoformat()))
    d.submit(complaint("M-2", province="77", district="748", recorded_at=RECORDED.isoformat()))
    d.submit(complaint("M-3", province="79", district="760", recorded_at=RECORDED.isoformat()))
    d.submit(complaint("M-4", province="77", recorded_at=(RECORDED - dt.timedelta(hours=47)).isoformat()))
    d.submit(complaint("M-5", province="77", recorded_at=RECORDED.isoformat()))
    d.submit(complaint("M-6", province="01", recorded_at=RECORDED.isoformat()))
    assert {r.topic for r in d.records if r.topic.startswith("complaints.j")} == {
        "complaints.jurisdiction.77", "complaints.jurisdiction.79", "complaints.jurisdiction.01"}
    d.now = RECORDED + dt.timedelta(hours=1, minutes=1)
    d.resolve({"schema_version": 1, "event_id": "r-5", "complaint_id": "M-5", "resolved_at":
               (RECORDED + dt.timedelta(hours=1)).isoformat(), "resolved_by": {"level": "province", "unit_code": "77"},
               "outcome": "updated"})
    d.advance(RECORDED + dt.timedelta(hours=2))  # M-4 falls due (47 h + 1 h): escalated under 2021
    assert [e["complaint_id"] for e in d.values(d.topics.escalations)] == ["M-4"]

    d.restart(admin_map="2025")  # the workers now run under the map in force; the 2021 grants lapse
    first = moved(feed_back(d))
    by_id = {m.complaint_id: m for m in first}
    assert sorted(by_id) == ["M-1", "M-2", "M-3", "M-4", "M-6"]  # M-5 was resolved: it stays
    for cid, old_topic, old_handler in (("M-1", "complaints.jurisdiction.77", ("province", "77")),
                                        ("M-2", "complaints.jurisdiction.77", ("district", "748")),
                                        ("M-3", "complaints.jurisdiction.79", ("province", "79"))):
        routing = by_id[cid].routing
        assert routing.province_code == "79" and routing.handler.model_dump() == {"level": "province",
                                                                                  "unit_code": "79"}
        assert routing.deadline == DEADLINE and routing.admin_map == "2025"
        came_from = routing.reassigned_from
        assert (came_from.topic, came_from.reason) == (old_topic, "cutover")
        assert (came_from.handler.level, came_from.handler.unit_code) == old_handler
    assert by_id["M-6"].routing.reassigned_from.province_code == "01" and by_id["M-6"].routing.province_code == "01"
    assert moved(feed_back(d)) == [], "a second run moves nothing"

    d.advance(DEADLINE - dt.timedelta(seconds=1))
    assert [e["complaint_id"] for e in d.values(d.topics.escalations)] == ["M-4"], "nothing early, M-4 not again"
    d.advance(DEADLINE + dt.timedelta(seconds=1))
    escalated = {e["complaint_id"]: e for e in d.values(d.topics.escalations)}
    assert sorted(escalated) == ["M-1", "M-2", "M-3", "M-4", "M-6"]
    assert len(d.values(d.topics.escalations)) == 5, "each once"
    assert escalated["M-2"]["handler"] == {"level": "province", "unit_code": "79"}
    assert escalated["M-2"]["deadline"].startswith("2025-07-02T02:00:00")

    d.advance(dt.datetime(2025, 7, 2, 0, 0, 1, tzinfo=UTC))  # 07:00 ICT: the digests
    digests = {v["province_code"]: DailyDigest.model_validate(v) for v in d.values(d.topics.digest)
               if v["digest_date"] == "2025-07-02"}
    assert "77" not in digests and len(digests) == 34
    assert digests["79"].open_total == 4  # M-1, M-2, M-3, M-4


def test_a_resolution_by_the_old_handler_no_longer_counts_after_the_move():
    d = MemoryDriver(Settings(admin_map="2021"), now=RECORDED + dt.timedelta(minutes=1))
    d.grant(district_grant("748", "77"))
    d.submit(complaint("N-1", province="77", district="748", recorded_at=RECORDED.isoformat()))
    d.restart(admin_map="2025")
    feed_back(d)
    d.now = RECORDED + dt.timedelta(hours=5)
    d.resolve({"schema_version": 1, "event_id": "r-n1", "complaint_id": "N-1",
               "resolved_at": (RECORDED + dt.timedelta(hours=3)).isoformat(),
               "resolved_by": {"level": "district", "unit_code": "748"}, "outcome": "updated"})
    [letter] = d.values(d.topics.dead_letter)
    assert letter["error"] == "not_handler"
    d.resolve({"schema_version": 1, "event_id": "r-n1b", "complaint_id": "N-1",
               "resolved_at": (RECORDED + dt.timedelta(hours=4)).isoformat(),
               "resolved_by": {"level": "province", "unit_code": "79"}, "outcome": "updated"})
    d.advance(DEADLINE + dt.timedelta(seconds=1))
    assert d.values(d.topics.escalations) == []


def test_before_the_cut_over_the_province_in_force_may_resolve_what_an_old_province_holds():
    d = MemoryDriver(Settings(admin_map="2021"), now=RECORDED + dt.timedelta(minutes=1))
    d.submit(complaint("P-1", province="77", recorded_at=RECORDED.isoformat()))
    d.restart(admin_map="2025")
    d.now = RECORDED + dt.timedelta(hours=5)
    d.resolve({"schema_version": 1, "event_id": "r-p1", "complaint_id": "P-1",
               "resolved_at": (RECORDED + dt.timedelta(hours=3)).isoformat(),
               "resolved_by": {"level": "province", "unit_code": "77"}, "outcome": "updated"})
    assert d.values(d.topics.dead_letter)[0]["error"] == "not_handler"  # 77's department no longer exists
    d.resolve({"schema_version": 1, "event_id": "r-p1b", "complaint_id": "P-1",
               "resolved_at": (RECORDED + dt.timedelta(hours=4)).isoformat(),
               "resolved_by": {"level": "province", "unit_code": "79"}, "outcome": "updated"})
    d.advance(DEADLINE + dt.timedelta(seconds=1))
    assert d.values(d.topics.escalations) == [] and moved(feed_back(d)) == []
