"""One judge: generated stories of submissions, resolutions, delegations and clock moves run
through the worker's handlers (the in-memory driver) and through the sink's rows, writer and
SQL on a real PostgreSQL, then compared complaint by complaint: routed, its handler, resolved
(when, by which event), late, escalated, and the citizen's lookup open or closed.

ONE_JUDGE_EXAMPLES sets how many stories (`make test`: 2,000; `make chaos`: more)."""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid

import psycopg2
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from harness.processes import create_database, drop_database
from offices import queries
from processors.testing.driver import MemoryDriver
from processors.domain.state import ComplaintState
from processors.shards import key_partition
from schemas.admin_units import load
from schemas.settings import Settings
from sinks.migrate import migrate
from sinks.rows import Batch, add, topic_kind
from sinks.store import write
from sinks.units import refresh_provinces
from tests.fixtures import FULL_DOSE, complaint

pytestmark = pytest.mark.integration
EXAMPLES = int(os.environ.get("ONE_JUDGE_EXAMPLES", "2000"))
UTC = dt.timezone.utc
START = dt.datetime(2025, 8, 4, 2, 0, tzinfo=UTC)
UNITS = load("2025")
COMMUNE = "26737"  # Phường Tân Định, 79
SITE = {"site_code": "S-79-1", "name": "Trạm Y tế", "province_code": "79", "commune_code": COMMUNE}
PLACES = {
    "province": {"province": "79"},
    "commune": {"province": "79", "commune": COMMUNE},
    "old_address": {"province": "79", "district": "760", "commune": "26734"},  # became 26737
    "site": {"province": "79", "site": SITE, "doses": [FULL_DOSE]},
    "triage": {},
}
RESOLVERS = [("province", "79"), ("commune", COMMUNE), ("site", "S-79-1"), ("national", "VN"), ("province", "01"),
             ("province", "77"), ("district", "760")]
MALFORMED = ["utf16", "numeric_time", "future", "nul"]

submit = st.tuples(st.just("submit"), st.integers(0, 2), st.sampled_from(sorted(PLACES)), st.integers(-60, 2),
                   st.sampled_from([None, None, None, None, *MALFORMED]), st.sampled_from(["same", "same", "other"]))
# (resolve, complaint, resolver: the province in force most often, hours before now it was
# resolved (negative: in the future), event tag, malformed)
resolve = st.tuples(st.just("resolve"), st.integers(0, 2), st.sampled_from([0, 0, 0, 1, 1, 2, 3, 4, 5, 6]),
                    st.integers(-1, 60), st.integers(0, 2), st.sampled_from([None] * 8 + ["numeric_time"]))
step = st.one_of(submit, resolve, st.tuples(st.just("grant")), st.tuples(st.just("revoke")),
                 st.tuples(st.just("advance"), st.integers(1, 30)))


@pytest.fixture(scope="module")
def record(database):
    name = f"complaints_judge_{uuid.uuid4().hex[:8]}"
    url = create_database(database.database_url, name)
    migrate(url)
    refresh_provinces(url, "2025")
    conn = psycopg2.connect(url)
    yield conn
    conn.close()
    drop_database(database.database_url, name)


def story_complaint(cid: str, place: str, hours: int, content: str) -> dict:
    c = complaint(cid, recorded_at=(START + dt.timedelta(hours=hours)).isoformat(), **PLACES[place])
    c["event_id"] = f"ev-{cid}-{place}-{hours}-{content}"
    if content == "other":
        c["description"] = "Một nội dung khác"
    return c


def malformed(c: dict, kind: str, now: dt.datetime) -> bytes:
    if kind == "utf16":
        return json.dumps({**c, "description": "x\u0000y"}).encode("utf-16")
    if kind == "numeric_time":
        return json.dumps({**c, "recorded_at": str(int(START.timestamp()))}).encode()
    if kind == "future":
        return json.dumps({**c, "recorded_at": (now + dt.timedelta(hours=3)).isoformat()}).encode()
    return json.dumps({**c, "description": "x\u0000y"}).encode()


def play(steps: list, run: str) -> tuple[MemoryDriver, list[tuple[str, int, int, bytes | None, bytes | None]]]:
    """The story through the worker's handlers; returns the driver and every record the record
    would read (inputs as published, outputs as sent), in order."""
    d = MemoryDriver(Settings(admin_map="2025", partitions=3), now=START + dt.timedelta(hours=3))
    inputs: list[tuple[str, int, int, bytes | None, bytes | None]] = []
    offsets: dict[str, int] = {}

    def published(topic: str, key: str, value: bytes | None) -> None:
        offsets[topic] = offsets.get(topic, 0) + 1
        inputs.append((topic, 0, offsets[topic], key.encode(), value))

    for s in steps:
        if s[0] == "submit":
            _, n, place, hours, bad, content = s
            cid = f"{run}-{n}"
            c = story_complaint(cid, place, hours, content)
            raw = malformed(c, bad, d.now) if bad else json.dumps(c).encode()
            published(d.topics.submitted, cid, raw)
            d.submit(raw, key=cid)
        elif s[0] == "resolve":
            _, n, who, ago, tag, bad = s
            cid = f"{run}-{n}"
            level, unit = RESOLVERS[who]
            at = d.now - dt.timedelta(hours=ago)
            event = {"schema_version": 1, "event_id": f"r-{cid}-{tag}", "complaint_id": cid,
                     "resolved_at": at.isoformat(), "resolved_by": {"level": level, "unit_code": unit},
                     "outcome": "updated"}
            if bad == "numeric_time":
                event["resolved_at"] = str(int(at.timestamp()))
            raw = json.dumps(event).encode()
            published(d.topics.resolved, cid, raw)
            d.resolve(raw, key=cid)
        elif s[0] == "grant":
            grant = {"unit_code": COMMUNE, "level": "commune", "province_code": "79", "commune_code": COMMUNE,
                     "granted_at": d.now.isoformat(), "granted_by": "79"}
            published(d.topics.delegations_of("79"), COMMUNE, json.dumps(grant).encode())
            d.grant(grant)
        elif s[0] == "revoke":
            published(d.topics.delegations_of("79"), COMMUNE, None)
            d.revoke(COMMUNE, "79")
        else:
            d.advance(d.now + dt.timedelta(hours=s[1]))
    outputs = [(r.topic, r.partition or 0, n, r.key, r.value) for n, r in enumerate(d.records)
               if not r.topic.endswith("-changelog") and r.topic != d.topics.digest_parts
               and r.topic not in d.topics.notices()]  # the portal's and the registry's: not the record's
    return d, inputs + outputs


def worker_view(d: MemoryDriver, cid: str) -> ComplaintState | None:
    return ComplaintState.from_value(d.stores["complaints"].get(cid, key_partition(cid, d.settings.partitions)))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=st.lists(step, min_size=1, max_size=14))
def test_the_worker_and_the_record_agree_on_every_complaint(record, steps):
    run = f"J{uuid.uuid4().hex[:10]}"
    d, records = play(steps, run)
    batch = Batch()
    for topic, partition, offset, key, value in records:
        add(batch, topic_kind(topic, d.topics), topic, partition, offset, key, value, UNITS)
    written = write(record, batch)
    for verdict in {row[8] for row in batch.resolutions.values()}:
        event(f"a verdict: {verdict}")
    for letter in {row[3] for row in batch.dead_letters.values()}:
        event(f"a dead letter: {letter}")
    if batch.escalations:
        event("an escalation")
    assert not [k for k in written if k.startswith("quarantine/")], (written, batch.quarantine)
    now = d.now
    for n in range(3):
        cid = f"{run}-{n}"
        state = worker_view(d, cid)
        routed = state is not None and state.routed
        with record.cursor() as cur:
            cur.execute("SELECT handler_level, handler_unit FROM routes WHERE complaint_id = %s", (cid,))
            route = cur.fetchone()
            cur.execute("SELECT resolved_at, event_id, late FROM accepted_resolutions WHERE complaint_id = %s", (cid,))
            counted = cur.fetchall()
            cur.execute("SELECT count(*) FROM escalations WHERE complaint_id = %s AND stage = 1", (cid,))
            (escalated,) = cur.fetchone()
            cur.execute("SELECT state FROM complaint_status WHERE complaint_id = %s", (cid,))
            status = cur.fetchone()
        record.rollback()
        assert (route is not None) == routed, cid
        if not routed:
            assert counted == [] and escalated == 0 and status is None
            assert queries.status(record, cid) is None  # the lookup: 404
            record.rollback()
            continue
        assert route == (state.handler["level"], state.handler["unit_code"])
        assert escalated == (1 if 1 in state.escalated else 0)
        if state.resolved_at is None:
            assert counted == [] and status[0] == ("overdue" if state.due < dt.datetime.now(UTC) else "open")
        else:
            [(resolved_at, event_id, late)] = counted
            assert resolved_at == dt.datetime.fromisoformat(state.resolved_at)
            assert event_id == state.resolution_id
            assert late == (dt.datetime.fromisoformat(state.resolved_at) > state.due)
            assert status[0].startswith("resolved late" if late else ("escalated" if escalated else "resolved in"))
        lookup = queries.status(record, cid)
        record.rollback()
        assert (lookup["resolved_at"] is not None) == (state.resolved_at is not None)
        assert now >= START
