"""Closing the loop on the real stack: a result tells the citizen what was done and how the
record is corrected. The CLI sends it, the worker counts it and tells the portal
(complaints.status) and the registry (complaints.record-corrections) in its transaction, the
record keeps both, the lookup says what the feed says. The feeds are read as committed, with
the CLI a portal or registry operator runs; the ACLs on the deployment's own topics."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

import psycopg2
import pytest

from harness.processes import ADMIN_PROPERTIES, REPO, settings_env
from offices.present import open311
from offices.queries import status
from producers.client import ComplaintPublisher
from schemas.admin_units import load
from schemas.times import utcnow
from tests.fixtures import BASE_COMPLAINT, complaint
from tests.test_identities_integration import TOPICS, readable, writable

pytestmark = pytest.mark.integration

RESPONSE = "Đã bổ sung mũi 2 (Comirnaty, 01/10/2021) và sửa số lô mũi 1."


def cli(settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "producers", *args], cwd=REPO, env=settings_env(settings),
                          capture_output=True, text=True, timeout=120)


def feed(settings, name: str, cid: str, at_least: int, timeout_s: float = 60.0) -> list[dict]:
    """The committed events of one complaint on a feed, once there are `at_least` of them (or
    after the timeout: what there was); read by the CLI."""
    deadline = time.monotonic() + timeout_s
    while True:
        done = cli(settings, name, "--complaint", cid)
        assert done.returncode == 0, done.stderr
        events = [json.loads(line) for line in done.stdout.splitlines()]
        if len(events) >= at_least or time.monotonic() > deadline:
            return events
        time.sleep(1)


def counted(settings, cid: str, timeout_s: float = 60.0) -> dict | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with psycopg2.connect(settings.database_url) as conn, conn.cursor() as cur:
            cur.execute("SELECT payload FROM accepted_resolutions WHERE complaint_id = %s", (cid,))
            row = cur.fetchone()
        if row is not None:
            return row[0]
        time.sleep(0.5)
    return None


def lookup(settings, cid: str) -> dict:
    with psycopg2.connect(settings.database_url) as conn:
        return open311(status(conn, cid), load(settings.admin_map), utcnow())


def test_a_province_resolves_with_a_response_and_two_corrections_and_everyone_hears_once(
        database, worker_factory, sink_factory):
    worker_factory(database)
    sink_factory()
    cid, other = (f"C-loop-{uuid.uuid4().hex[:10]}" for _ in range(2))
    with ComplaintPublisher(database) as pub:
        now = utcnow().isoformat()  # due in 48 hours: no escalation comes between
        pub.publish_complaint(complaint(cid, province="79", recorded_at=now))
        pub.publish_complaint(complaint(other, province="79", recorded_at=now))

    refused = cli(database, "resolve", cid, "--level", "province", "--unit", "79", "--outcome", "rejected",
                  "--correction", "add:2:Comirnaty:2021-10-01")
    assert refused.returncode == 2 and "only with outcome updated" in refused.stderr

    # a province that does not handle the other complaint: its corrections go nowhere
    stranger = cli(database, "resolve", other, "--level", "province", "--unit", "01", "--outcome", "updated",
                   "--response", "không", "--correction", "add:3:Moderna:2022-01-01")
    assert stranger.returncode == 0, stranger.stderr
    done = cli(database, "resolve", cid, "--level", "province", "--unit", "79", "--outcome", "updated",
               "--response", RESPONSE, "--correction", "add:2:Comirnaty:2021-10-01",
               "--correction", "replace:1:Vero Cell:2021-08-02:L123")
    assert done.returncode == 0, done.stderr

    payload = counted(database, cid)
    assert payload is not None, "the result was not counted into the record"
    assert payload["response"] == RESPONSE
    assert [(c["action"], c["dose_number"]) for c in payload["corrections"]] == [("add", 2), ("replace", 1)]

    # the portal: received -> assigned -> resolved, once each, in order, no personal data
    changes = feed(database, "status", cid, 3)
    assert [c["status"] for c in changes] == ["received", "assigned", "resolved"]
    assert len({c["event_id"] for c in changes}) == 3
    assert {c["office"]["unit_code"] for c in changes} == {"79"}
    assert changes[-1]["outcome"] == "updated" and changes[-1]["response"] == RESPONSE
    text = json.dumps(changes, ensure_ascii=False)
    assert not any(value in text for value in BASE_COMPLAINT["citizen"].values())

    # the registry: one correction event with both doses, under the citizen's ID
    [correction] = feed(database, "corrections", cid, 1)
    assert correction["national_id"] == BASE_COMPLAINT["citizen"]["national_id"]
    assert correction["birth_date"] == BASE_COMPLAINT["citizen"]["birth_date"]
    assert [(d["action"], d["dose_number"], d["vaccine"]) for d in correction["corrections"]] == [
        ("add", 2, "Comirnaty"), ("replace", 1, "Vero Cell")]
    assert correction["corrected_by"] == {"level": "province", "unit_code": "79"}

    # the refused one: the citizen still hears "assigned", the registry nothing
    assert [c["status"] for c in feed(database, "status", other, 2)] == ["received", "assigned"]
    assert feed(database, "corrections", other, 1, timeout_s=5) == []

    # one judge: the lookup says what the feed says
    answer = lookup(database, cid)
    assert answer["status"] == "closed" and answer["status_notes"].endswith(RESPONSE)
    assert lookup(database, other)["status"] == "open"


def test_the_portal_reads_the_status_and_the_registry_the_corrections_nobody_else(base_settings):
    assert readable(base_settings, "portal", TOPICS.status)
    assert not readable(base_settings, "portal", TOPICS.record_corrections)
    assert readable(base_settings, "registry", TOPICS.record_corrections)
    for role in ("office-79", "sink", "site-system", "triage"):
        assert not readable(base_settings, role, TOPICS.record_corrections), role
    assert not readable(base_settings, "registry", TOPICS.status)
    assert not readable(base_settings, "registry", TOPICS.submitted)
    for role in ("office-79", "portal", "registry", "site-system"):
        assert not writable(base_settings, role, TOPICS.status), role
        assert not writable(base_settings, role, TOPICS.record_corrections), role


def test_the_cli_reads_as_the_portal_and_is_refused_the_registrys_topic(base_settings):
    """The operator's view: as the portal (its own client file), the status feed reads and the
    corrections do not, with one line saying why."""
    env = {**settings_env(base_settings), "TOPIC_PREFIX": "",
           "KAFKA_CLIENT_PROPERTIES": str(ADMIN_PROPERTIES.parent / "portal.properties")}
    run = subprocess.run([sys.executable, "-m", "producers", "status", "--new", "--timeout", "3"], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    refused = subprocess.run([sys.executable, "-m", "producers", "corrections", "--timeout", "3"], cwd=REPO,
                             env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "complaints.record-corrections" in refused.stderr
    assert "Traceback" not in refused.stderr
