"""What the worker tells the portal and the registry (contract, "Closing the loop"), through
the in-memory driver: no broker, no Faust."""

import datetime as dt
import json

from processors.testing.driver import MemoryDriver
from schemas.models import ComplaintStatusChanged, RecordCorrection
from schemas.settings import Settings
from tests.fixtures import BASE_COMPLAINT, complaint

UTC = dt.timezone.utc
RECORDED = dt.datetime(2025, 11, 8, 2, 0, tzinfo=UTC)  # 09:00 ICT
DEADLINE = RECORDED + dt.timedelta(hours=48)
CITIZEN = BASE_COMPLAINT["citizen"]
TWO_CORRECTIONS = [{"action": "add", "dose_number": 2, "vaccine": "Pfizer", "vaccinated_on": "2021-09-01",
                    "lot_number": "FK1234"},
                   {"action": "replace", "dose_number": 1, "vaccine": "AstraZeneca", "vaccinated_on": "2021-07-05"}]


def driver() -> MemoryDriver:
    return MemoryDriver(Settings(admin_map="2025"), now=RECORDED + dt.timedelta(hours=1))


def resolution(cid: str, hours: float, by=("province", "79"), outcome="updated", **more) -> dict:
    return {"schema_version": 1, "event_id": f"r-{cid}-{hours}-{by[1]}", "complaint_id": cid,
            "resolved_at": (RECORDED + dt.timedelta(hours=hours)).isoformat(),
            "resolved_by": {"level": by[0], "unit_code": by[1]}, "outcome": outcome,
            "note": "nội bộ: đã gọi điện cho cơ sở", **more}


def resolve(d: MemoryDriver, body: dict, topic: str | None = None) -> None:
    """Read when it was made (a resolution from the future is refused)."""
    d.now = max(d.now, dt.datetime.fromisoformat(body["resolved_at"]) + dt.timedelta(minutes=1))
    d.resolve(body, topic=topic or d.topics.resolved_by_office(body["resolved_by"]["unit_code"][:2]))


def statuses(d: MemoryDriver, cid: str) -> list[ComplaintStatusChanged]:
    return [ComplaintStatusChanged.model_validate(v) for v in d.values(d.topics.status) if v["complaint_id"] == cid]


def test_a_province_resolves_with_a_response_and_two_corrections():
    d = driver()
    d.submit(complaint("N-1", province="79", recorded_at=RECORDED.isoformat()))
    resolve(d, resolution("N-1", 5, response="Đã bổ sung mũi 2 và sửa mũi 1.", corrections=TWO_CORRECTIONS),
              topic=d.topics.resolved_by_office("79"))
    changes = statuses(d, "N-1")
    assert [c.status for c in changes] == ["received", "assigned", "resolved"]
    assert len({c.event_id for c in changes}) == 3
    assert changes[0].at == RECORDED and all(c.expected_by == DEADLINE for c in changes)
    assert {(c.office.level, c.office.unit_code) for c in changes} == {("province", "79")}
    assert changes[0].office.name and "Hồ Chí Minh" in changes[0].office.name
    assert (changes[-1].outcome, changes[-1].response) == ("updated", "Đã bổ sung mũi 2 và sửa mũi 1.")
    # all keyed by the complaint, on its partition: in order for the portal
    sent = d.sent(d.topics.status)
    assert {s.key for s in sent} == {b"N-1"} and len({s.partition for s in sent}) == 1
    [sent_correction] = d.sent(d.topics.record_corrections)
    assert sent_correction.key == CITIZEN["national_id"].encode()
    correction = RecordCorrection.model_validate_json(sent_correction.value)
    assert (correction.national_id, correction.birth_date.isoformat()) == (CITIZEN["national_id"], CITIZEN["birth_date"])
    assert [c.model_dump(mode="json", exclude_none=True) for c in correction.corrections] == TWO_CORRECTIONS
    assert (correction.corrected_by.level, correction.corrected_by.unit_code) == ("province", "79")
    assert correction.corrected_at == RECORDED + dt.timedelta(hours=5)
    assert d.state("N-1").citizen is None  # closed: the citizen's ID is no longer kept


def test_the_status_feed_carries_no_personal_data_and_never_the_internal_note():
    d = driver()
    d.submit(complaint("N-2", province="79", recorded_at=RECORDED.isoformat()))
    resolve(d, resolution("N-2", 2, response="Đã cập nhật."), topic=d.topics.resolved_by_office("79"))
    text = "\n".join(s.value.decode() for s in d.sent(d.topics.status))
    for private in (*CITIZEN.values(), "nội bộ"):
        assert private not in text


def test_a_refused_resolution_with_corrections_changes_nothing_the_portal_or_the_registry_sees():
    d = driver()
    d.submit(complaint("N-3", province="79", recorded_at=RECORDED.isoformat()))
    resolve(d, resolution("N-3", 2, by=("province", "01"), corrections=TWO_CORRECTIONS),
              topic=d.topics.resolved_by_office("01"))
    assert d.values(d.topics.dead_letter)[-1]["error"] in ("wrong_origin", "not_handler")
    assert [c.status for c in statuses(d, "N-3")] == ["received", "assigned"]
    assert d.values(d.topics.record_corrections) == []
    assert d.state("N-3").citizen is not None  # still open: the handler's result will need it


def test_only_the_counted_resolution_tells_the_citizen_and_the_registry():
    d = driver()
    d.submit(complaint("N-4", province="79", recorded_at=RECORDED.isoformat()))
    resolve(d, resolution("N-4", 2, outcome="rejected", response="Hồ sơ đã đúng."),
              topic=d.topics.resolved_by_office("79"))
    resolve(d, resolution("N-4", 3, corrections=TWO_CORRECTIONS), topic=d.topics.resolved_by_office("79"))  # repeat
    assert [c.status for c in statuses(d, "N-4")] == ["received", "assigned", "resolved"]
    assert statuses(d, "N-4")[-1].outcome == "rejected"
    assert d.values(d.topics.record_corrections) == []


def test_a_resolution_that_came_first_is_told_after_the_complaint_was_received():
    d = driver()
    d.now = RECORDED + dt.timedelta(hours=4)
    resolve(d, resolution("N-5", 3, corrections=TWO_CORRECTIONS[:1]), topic=d.topics.resolved_by_office("79"))
    assert statuses(d, "N-5") == []
    d.submit(complaint("N-5", province="79", recorded_at=RECORDED.isoformat()))
    assert [c.status for c in statuses(d, "N-5")] == ["received", "assigned", "resolved"]
    assert len(d.values(d.topics.record_corrections)) == 1


def test_escalation_and_a_revoked_delegation_are_status_changes_named_by_the_unit_in_force():
    d = driver()
    d.grant({"unit_code": "26737", "level": "commune", "province_code": "79", "commune_code": "26737",
             "granted_at": d.now.isoformat(), "granted_by": "79"})
    d.submit(complaint("N-6", province="79", commune="26737", recorded_at=RECORDED.isoformat()))
    d.advance(DEADLINE + dt.timedelta(seconds=5))
    d.now += dt.timedelta(minutes=5)
    d.revoke("26737", "79")
    d.advance(d.now + dt.timedelta(seconds=1))
    d.advance(d.now + dt.timedelta(seconds=1))
    changes = statuses(d, "N-6")
    assert [c.status for c in changes] == ["received", "assigned", "escalated", "reassigned"]
    assert [c.office.level for c in changes] == ["commune", "commune", "commune", "province"]
    assert changes[2].at == DEADLINE + dt.timedelta(seconds=5)
    d.restart()  # a worker that takes over from the tables goes on numbering the same complaint's changes
    resolve(d, resolution("N-6", 60), topic=d.topics.resolved_by_office("79"))
    ids = [c.event_id for c in statuses(d, "N-6")]
    assert len(ids) == len(set(ids)) == 5


def test_a_site_route_names_the_site_to_the_citizen():
    d = driver()
    site = {"site_code": "SITE-79-001", "name": "Trạm Y tế Phường Bến Nghé", "province_code": "79"}
    d.submit(complaint("N-7", site=site, doses=[{"dose_number": 1, "vaccine": "Pfizer",
                                                  "vaccinated_on": "2021-08-01"}],
                       recorded_at=RECORDED.isoformat()))
    [received, assigned] = statuses(d, "N-7")
    assert (assigned.office.level, assigned.office.unit_code, assigned.office.name) == (
        "site", "SITE-79-001", "Trạm Y tế Phường Bến Nghé")
    assert json.loads(d.sent(d.topics.status)[0].value)["office"]["name"] == "Trạm Y tế Phường Bến Nghé"


def test_the_load_generator_replies_and_corrects_as_the_contract_says():
    from producers.generator import ComplaintFactory, GeneratorConfig
    from schemas.admin_units import load
    from schemas.models import ComplaintResolved

    factory = ComplaintFactory(GeneratorConfig(seed=3), load("2025"))
    resolutions = [ComplaintResolved.model_validate(factory.resolution(factory.complaint(RECORDED), RECORDED))
                   for _ in range(400)]
    assert all(r.response for r in resolutions)
    corrected = [r for r in resolutions if r.corrections]
    assert 40 < len(corrected) < 300 and all(r.outcome == "updated" for r in corrected)
    assert {c.action for r in corrected for c in r.corrections} == {"add", "replace"}
