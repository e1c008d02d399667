"""The worker's handlers through the in-memory driver: no broker, no Faust."""

import datetime as dt
import json
import random

from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from processors.testing.driver import MemoryDriver
from processors.shards import key_partition, murmur2
from schemas.models import ComplaintEscalated, DailyDigest, RoutedComplaint
from schemas.settings import Settings
from tests.fixtures import complaint

UTC = dt.timezone.utc
RECORDED = dt.datetime(2021, 11, 8, 2, 0, tzinfo=UTC)  # 09:00 ICT
DEADLINE = RECORDED + dt.timedelta(hours=48)


def test_murmur2_is_kafkas():
    """The router's murmur2 gives what kafka-python's (the Java client's) gives, for every
    tail length, non-ASCII bytes and the empty key."""
    rng = random.Random(7)
    inputs = [bytes(rng.getrandbits(8) for _ in range(n)) for n in range(64) for _ in range(20)]
    inputs += ["C-Hà Nội-0001".encode(), b"C-20261127-0123456789"]
    for data in inputs:
        assert murmur2(data) == kafka_python_murmur2(data), data
    assert key_partition("C-4", 6) == (kafka_python_murmur2(b"C-4") & 0x7FFFFFFF) % 6


def driver(**settings) -> MemoryDriver:
    return MemoryDriver(Settings(**settings), now=RECORDED + dt.timedelta(minutes=1))


def resolution(cid: str, at: dt.datetime, event_id: str | None = None) -> dict:
    return {"schema_version": 1, "event_id": event_id or f"r-{cid}-{at.timestamp()}", "complaint_id": cid,
            "resolved_at": at.isoformat(), "resolved_by": {"level": "province", "unit_code": "79"},
            "outcome": "updated"}


def test_a_due_deadline_fires_one_escalation_however_often_the_clock_ticks():
    d = driver()
    d.submit(complaint("C-1", province="79", recorded_at=RECORDED.isoformat()))
    [routed] = d.values(d.topics.jurisdiction("79"))
    assert RoutedComplaint.model_validate(routed).routing.deadline == DEADLINE
    d.advance(DEADLINE - dt.timedelta(seconds=1))
    assert d.values(d.topics.escalations) == []
    d.advance(DEADLINE + dt.timedelta(seconds=1))
    d.advance(DEADLINE + dt.timedelta(hours=5))
    [escalated] = d.values(d.topics.escalations)
    event = ComplaintEscalated.model_validate(escalated)
    assert (event.complaint_id, event.stage, event.overdue_seconds) == ("C-1", 1, 1.0)


def test_a_resolution_in_time_prevents_the_escalation_even_when_it_comes_first():
    d = driver()
    d.now = RECORDED + dt.timedelta(hours=4)
    d.resolve(resolution("C-2", RECORDED + dt.timedelta(hours=3)))
    d.submit(complaint("C-2", province="79", recorded_at=RECORDED.isoformat()))
    d.advance(DEADLINE + dt.timedelta(hours=1))
    assert d.values(d.topics.escalations) == [] and len(d.values(d.topics.jurisdiction("79"))) == 1


def test_a_complaint_overdue_on_arrival_is_escalated_at_once_and_once():
    d = driver()
    d.now = DEADLINE + dt.timedelta(hours=10)
    d.submit(complaint("C-3", province="01", recorded_at=RECORDED.isoformat()))
    d.submit(complaint("C-3", province="01", recorded_at=RECORDED.isoformat()))  # the portal's retry
    d.advance(DEADLINE + dt.timedelta(hours=20))
    assert [e["complaint_id"] for e in d.values(d.topics.escalations)] == ["C-3"]
    assert len(d.values(d.topics.jurisdiction("01"))) == 1


def test_a_record_keyed_wrong_is_put_back_on_its_partition_and_routed_once():
    d = driver(partitions=6)
    c = complaint("C-4", province="79", recorded_at=RECORDED.isoformat())
    wrong_key = next(k for k in (f"x{n}" for n in range(100)) if key_partition(k, 6) != key_partition("C-4", 6))
    caused = d.submit(json.dumps(c).encode(), key=wrong_key)
    rekeyed = [r for r in caused if r.topic == d.topics.submitted]
    assert [r.key for r in rekeyed] == [b"C-4"]
    [routed] = d.sent(d.topics.jurisdiction("79"))
    assert routed.key == b"C-4"
    assert d.state("C-4").routed
    assert d.state("C-4", key_partition(wrong_key, 6)) is None


def test_a_resolution_stamped_after_its_records_time_is_dead_lettered():
    d = driver()
    d.resolve(resolution("C-8", d.now + dt.timedelta(hours=3)))
    [letter] = d.values(d.topics.dead_letter)
    assert letter["error"] == "future_resolved_at" and d.state("C-8") is None


def test_what_cannot_be_read_is_dead_lettered_once_per_offset():
    d = driver()
    d.submit(b"{not json", key="k-1")
    assert [v["error"] for v in d.values(d.topics.dead_letter)] == ["not_json"]
    m = d.context(d.partition_of("k-1")).table("marks").get("dead-letter-offset/submitted")
    assert m == 0  # the offset is marked with the letter: a replay of offset 0 sends none again


def test_a_resolution_waiting_for_a_complaint_that_never_comes_expires():
    d = driver(pending_resolution_ttl_s=3600.0)
    d.resolve(resolution("C-5", RECORDED))
    assert d.state("C-5") is not None
    d.advance(d.now + dt.timedelta(minutes=59))
    assert d.state("C-5") is not None
    d.advance(d.now + dt.timedelta(minutes=2))
    assert d.state("C-5") is None


def test_a_late_resolution_does_not_stop_the_escalation_and_one_in_time_after_it_counts_in_time():
    d = driver()
    d.submit(complaint("C-6", province="79", recorded_at=RECORDED.isoformat()))
    d.submit(complaint("C-7", province="79", recorded_at=RECORDED.isoformat()))
    d.resolve(resolution("C-6", DEADLINE + dt.timedelta(hours=1)))  # late
    d.advance(DEADLINE + dt.timedelta(seconds=2))
    assert sorted(e["complaint_id"] for e in d.values(d.topics.escalations)) == ["C-6", "C-7"]
    d.resolve(resolution("C-7", DEADLINE - dt.timedelta(hours=1)))  # stamped in time, read after
    state = d.state("C-7")
    assert state.escalated == [1] and state.resolved < state.due


def test_the_daily_digest_is_assembled_from_every_partitions_part_once():
    d = driver(partitions=3)
    morning = dt.datetime(2021, 11, 9, 23, 0, tzinfo=UTC)  # 06:00 ICT on the 10th
    d.now = morning
    d.advance(morning)  # each partition notes the next run
    for n in range(9):
        d.submit(complaint(f"D-{n}", province="79" if n % 3 else "01", recorded_at=RECORDED.isoformat()))
    d.advance(morning + dt.timedelta(hours=1, seconds=1))  # 07:00 ICT passed
    d.advance(morning + dt.timedelta(hours=2))
    tenth = [DailyDigest.model_validate(v) for v in d.values(d.topics.digest) if v["digest_date"] == "2021-11-10"]
    digests = {g.province_code: g for g in tenth}
    assert len(tenth) == 34 == len(digests)  # a digest per province in force, once
    assert (digests["79"].open_total, digests["01"].open_total, digests["48"].open_total) == (6, 3, 0)


def by(level: str, unit: str, event: dict) -> dict:
    return {**event, "resolved_by": {"level": level, "unit_code": unit}}


def test_a_resolution_counts_only_from_the_complaints_handler_or_its_province():
    d = driver()
    d.now = RECORDED + dt.timedelta(hours=3)
    d.submit(complaint("C-10", province="79", district="760", recorded_at=RECORDED.isoformat()))
    d.submit(complaint("C-11", province="79", recorded_at=RECORDED.isoformat()))
    d.resolve(by("province", "01", resolution("C-10", RECORDED + dt.timedelta(hours=1))))  # another province
    d.resolve(by("district", "761", resolution("C-11", RECORDED + dt.timedelta(hours=1))))  # a district of 79
    d.resolve(by("province", "79", resolution("C-11", RECORDED + dt.timedelta(hours=2))))  # its province: counts
    letters = d.values(d.topics.dead_letter)
    assert [(l["key"], l["error"]) for l in letters] == [("C-10", "not_handler"), ("C-11", "not_handler")]
    assert "province 01 does not handle this complaint (only province 79)" in letters[0]["detail"]
    d.advance(DEADLINE + dt.timedelta(seconds=2))
    assert [e["complaint_id"] for e in d.values(d.topics.escalations)] == ["C-10"]  # the refused one did not count


def test_a_resolution_that_came_first_from_the_wrong_office_is_dead_lettered_when_its_complaint_comes():
    d = driver()
    d.now = RECORDED + dt.timedelta(hours=3)
    early = by("commune", "26734", resolution("C-12", RECORDED + dt.timedelta(hours=1)))
    d.resolve(early)
    assert d.values(d.topics.dead_letter) == []  # its handler is not known yet
    d.submit(complaint("C-12", province="79", district="769", recorded_at=RECORDED.isoformat()))
    [letter] = d.values(d.topics.dead_letter)
    assert letter["error"] == "not_handler" and letter["source_topic"] == d.topics.resolved
    assert json.loads(letter["raw"]) == early and letter["key"] == "C-12"
    state = d.state("C-12")
    assert state.resolved_at is None and state.pending_from is None
    d.submit(complaint("C-12", province="79", district="769", recorded_at=RECORDED.isoformat()))  # a retry
    assert len(d.values(d.topics.dead_letter)) == 1
    d.advance(DEADLINE + dt.timedelta(seconds=2))
    assert [e["complaint_id"] for e in d.values(d.topics.escalations)] == ["C-12"]


def test_a_restarted_worker_rebuilds_its_deadline_index_from_the_complaints_table():
    """The index lives in memory: a new worker (or one given its partitions back) rebuilds it
    from the states. What was escalated or resolved is not escalated again; what is due is,
    once; stage 2 and a waiting resolution's expiry are still kept."""
    d = driver(escalation_stages="1:48,2:72", pending_resolution_ttl_s=60 * 3600.0)
    for cid in ("C-10", "C-11", "C-12"):
        d.submit(complaint(cid, province="79", recorded_at=RECORDED.isoformat()))
    d.now = RECORDED + dt.timedelta(hours=6)
    d.resolve(resolution("C-11", RECORDED + dt.timedelta(hours=5)))
    d.resolve(resolution("C-99", RECORDED + dt.timedelta(hours=5)))  # its complaint never comes
    d.advance(DEADLINE + dt.timedelta(seconds=1))
    assert sorted(e["complaint_id"] for e in d.values(d.topics.escalations)) == ["C-10", "C-12"]
    d.submit(complaint("C-13", province="79", recorded_at=RECORDED.isoformat()))  # overdue on arrival
    assert len(d.values(d.topics.escalations)) == 3

    d.restart()
    assert d.pending_deadlines() == 4  # stage 2 of C-10, C-12 and C-13; C-99's expiry
    d.advance(DEADLINE + dt.timedelta(hours=1))
    assert len(d.values(d.topics.escalations)) == 3, "nothing escalated twice"
    waiting = d.stores["complaints"].partitions[key_partition("C-99", d.settings.partitions)]
    assert "C-99" in waiting
    d.advance(RECORDED + dt.timedelta(hours=72, seconds=1))
    assert "C-99" not in waiting, "the waiting resolution expired 60 h after it came"
    stage2 = [e["complaint_id"] for e in d.values(d.topics.escalations) if e["stage"] == 2]
    assert sorted(stage2) == ["C-10", "C-12", "C-13"]
    d.restart()
    d.advance(RECORDED + dt.timedelta(hours=100))
    assert len(d.values(d.topics.escalations)) == 6 and d.pending_deadlines() == 0
