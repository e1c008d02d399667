"""The 48-hour clock on the real broker: escalations, resolutions, restarts, the digest."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import replace

import pytest

from processors.ops.readback import read_committed
from producers.client import ComplaintPublisher
from schemas.models import ComplaintEscalated, DailyDigest
from schemas.times import ICT
from schemas.topics import Topics
from harness.processes import free_port
from tests.fixtures import complaint
from tests.kafka_helpers import wait_for_records

pytestmark = pytest.mark.integration
UTC = dt.timezone.utc


def now() -> dt.datetime:
    return dt.datetime.now(UTC)


def cid(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}"


def resolution(complaint_id: str, at: dt.datetime, province: str = "79") -> dict:
    """A result recorded by the complaint's province (only its handler or province count)."""
    return {"schema_version": 1, "event_id": f"res-{complaint_id}-{at.timestamp()}", "complaint_id": complaint_id,
            "resolved_at": at.isoformat(), "resolved_by": {"level": "province", "unit_code": province},
            "outcome": "updated"}


def escalations(settings, ids: set[str]) -> list:
    topic = settings.topics.escalations
    return [r for r in read_committed([topic], settings) if r.key.decode() in ids]


def test_escalated_within_two_seconds_of_the_deadline(kafka, worker):
    recorded = now() - dt.timedelta(hours=48) + dt.timedelta(seconds=6)
    c = complaint(cid("due"), province="79", recorded_at=recorded.isoformat())
    with ComplaintPublisher(kafka) as pub:
        pub.publish_complaint(c)
    deadline = recorded + dt.timedelta(hours=48)
    records = wait_for_records(kafka, [Topics(kafka.topic_prefix).escalations],
                               lambda rs: any(r.key.decode() == c["complaint_id"] for r in rs), timeout_s=30)
    [record] = [r for r in records if r.key.decode() == c["complaint_id"]]
    event = ComplaintEscalated.model_validate_json(record.value)
    assert event.stage == 1 and event.deadline == deadline and event.route == "jurisdiction"
    assert 0 <= (event.escalated_at - deadline).total_seconds() <= 2.0
    # As a read_committed consumer sees it: the record's broker timestamp, within 2 s too.
    visible = dt.datetime.fromtimestamp(record.timestamp / 1000, UTC)
    assert (visible - deadline).total_seconds() <= 2.0, visible - deadline


def test_no_escalation_when_resolved_in_time_even_before_arrival(kafka, worker):
    recorded = now() - dt.timedelta(hours=48) + dt.timedelta(seconds=4)
    resolved_after, resolved_before, control = (
        complaint(cid(tag), province="79", recorded_at=recorded.isoformat()) for tag in ("after", "before", "ctrl"))
    with ComplaintPublisher(kafka) as pub:
        pub.publish_resolution(resolution(resolved_before["complaint_id"], recorded + dt.timedelta(hours=1)))
        for c in (resolved_after, resolved_before, control):
            pub.publish_complaint(c)
        pub.publish_resolution(resolution(resolved_after["complaint_id"], recorded + dt.timedelta(hours=2)))
    ids = {c["complaint_id"] for c in (resolved_after, resolved_before, control)}
    wait_for_records(kafka, [Topics(kafka.topic_prefix).escalations],
                     lambda rs: any(r.key.decode() == control["complaint_id"] for r in rs), timeout_s=30)
    time.sleep(3)  # well past every deadline above
    assert [r.key.decode() for r in escalations(kafka, ids)] == [control["complaint_id"]]


def test_overdue_on_arrival_and_retried_is_escalated_exactly_once(kafka, worker):
    c = complaint(cid("retried"), province="79", recorded_at=(now() - dt.timedelta(hours=50)).isoformat())
    with ComplaintPublisher(kafka) as pub:
        for _ in range(3):
            pub.publish_complaint(c)
    wait_for_records(kafka, [Topics(kafka.topic_prefix).escalations],
                     lambda rs: any(r.key.decode() == c["complaint_id"] for r in rs), timeout_s=30)
    time.sleep(2)
    [record] = escalations(kafka, {c["complaint_id"]})
    event = ComplaintEscalated.model_validate_json(record.value)
    assert 7100 < event.overdue_seconds < 7300  # two hours late


def test_a_late_resolution_emits_nothing_new(kafka, worker):
    c = complaint(cid("late"), province="79", recorded_at=(now() - dt.timedelta(hours=49)).isoformat())
    with ComplaintPublisher(kafka) as pub:
        pub.publish_complaint(c)
        wait_for_records(kafka, [Topics(kafka.topic_prefix).escalations],
                         lambda rs: any(r.key.decode() == c["complaint_id"] for r in rs), timeout_s=30)
        pub.publish_resolution(resolution(c["complaint_id"], now()))
    deadline = time.monotonic() + 20
    text = ""
    while time.monotonic() < deadline:
        text = worker.metrics(worker.settings.worker_metrics_port)
        if "complaints_late_resolutions_total 1.0" in text:
            break
        time.sleep(0.3)
    assert "complaints_late_resolutions_total 1.0" in text
    assert len(escalations(kafka, {c["complaint_id"]})) == 1


def test_overdue_complaints_are_escalated_after_a_restart_and_none_twice(kafka, worker_factory, tmp_path):
    settings = replace(kafka, faust_data_dir=str(tmp_path / "clock"), worker_metrics_port=free_port())
    first = worker_factory(settings, name="clock")
    early = now() - dt.timedelta(hours=48) + dt.timedelta(seconds=3)
    while_down = now() - dt.timedelta(hours=48) + dt.timedelta(seconds=12)
    before = [complaint(cid("before"), province="79", recorded_at=early.isoformat()) for _ in range(5)]
    during = [complaint(cid("down"), province="01", recorded_at=while_down.isoformat()) for _ in range(20)]
    with ComplaintPublisher(kafka) as pub:
        for c in before + during:
            pub.publish_complaint(c, wait=False)
        pub.flush()
    before_ids = {c["complaint_id"] for c in before}
    wait_for_records(kafka, [Topics(kafka.topic_prefix).escalations],
                     lambda rs: before_ids <= {r.key.decode() for r in rs}, timeout_s=30)
    first.kill()  # SIGKILL while the others are still running down their 48 hours
    time.sleep(max(0.0, (while_down + dt.timedelta(hours=48) - now()).total_seconds()) + 2)
    worker_factory(settings, name="clock")
    ids = before_ids | {c["complaint_id"] for c in during}
    wait_for_records(kafka, [Topics(kafka.topic_prefix).escalations],
                     lambda rs: ids <= {r.key.decode() for r in rs}, timeout_s=60)
    time.sleep(2)
    keys = [r.key.decode() for r in escalations(kafka, ids)]
    assert sorted(keys) == sorted(ids), "each complaint escalated exactly once"


def test_daily_digest_at_seven_with_an_injected_schedule_clock(kafka, worker_factory, scratch_topics, tmp_path):
    # Only the digest's schedule is shifted: its clock reads 06:59:20 ICT when the worker starts.
    run = uuid.uuid4().hex[:8]
    settings = replace(kafka, topic_prefix=f"digest-{run}.", faust_app_id=f"digest-{run}.router",
                       faust_data_dir=str(tmp_path / "digest"), worker_metrics_port=free_port())
    scratch_topics(settings)
    real = now()
    fake_start = dt.datetime.combine(real.astimezone(ICT).date(), dt.time(6, 59, 20), ICT)
    offset = (fake_start - real).total_seconds()
    digest_time = real + dt.timedelta(seconds=40)
    worker = worker_factory(replace(settings, digest_clock_offset_s=offset), name="digest")
    base = now()
    a = complaint(cid("A"), province="48", district="490", recorded_at=(base - dt.timedelta(hours=40)).isoformat())
    b = complaint(cid("B"), province="48", recorded_at=(base - dt.timedelta(hours=10)).isoformat())
    c = complaint(cid("C"), province="48", recorded_at=(base - dt.timedelta(hours=30)).isoformat())
    t = complaint(cid("T"), recorded_at=(base - dt.timedelta(hours=5)).isoformat())  # triage: no province
    with ComplaintPublisher(settings) as pub:
        for x in (a, b, c, t):
            pub.publish_complaint(x)
        pub.publish_resolution(resolution(c["complaint_id"], base - dt.timedelta(hours=1), province="48"))
    assert now() < digest_time - dt.timedelta(seconds=10), "the load must be in before the digest runs"
    topics = settings.topics
    provinces = len(settings.topics.all_jurisdictions())  # 34 under the map in force

    def todays(records) -> list:
        return [r for r in records if DailyDigest.model_validate_json(r.value).digest_date == fake_start.date()]

    records = todays(wait_for_records(settings, [topics.digest], lambda rs: len(todays(rs)) >= provinces,
                                      timeout_s=90))
    digests = {r.key.decode(): DailyDigest.model_validate_json(r.value) for r in records}
    assert len(records) == provinces == len(digests) == 34
    assert now() >= digest_time - dt.timedelta(seconds=3), "not before 07:00 on the digest's clock"
    d48 = digests["48"]
    assert d48.digest_date == fake_start.date()
    assert d48.open_total == 2
    assert [(h.handler.unit_code, h.open) for h in d48.open_by_handler] == [("48", 2)]
    assert d48.oldest.complaint_id == a["complaint_id"]
    assert [i.complaint_id for i in d48.due_within_24h] == [a["complaint_id"]] and d48.due_within_24h_total == 1
    assert digests["01"].open_total == 0 and digests["01"].oldest is None
    time.sleep(3)
    assert len(todays(read_committed([topics.digest], settings))) == 34, "one digest per province per day"
    assert worker.alive()
