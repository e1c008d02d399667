"""Who sent it: the broker proves who wrote a resolution or a delegation (each writer has topics
of its own, schemas/identities.py), and the worker counts a resolution only within its writer's
scope. The ACLs on the local broker's deployment topics; the worker, the sink and the console on
a prefixed deployment of their own (where the tests act as admin)."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid
from dataclasses import replace

import psycopg2
import pytest

from offices.accounts import Accounts
from offices.web import create_app
from producers.client import ComplaintPublisher, InvalidEvent, PublishError
from processors.ops.readback import read_committed
from schemas.admin_units import load
from tests.fixtures import complaint
from tests.test_identities_integration import TOPICS, writable

pytestmark = pytest.mark.integration
UNITS = load("2025")
PASSWORD = "correct horse battery staple"


# -- the broker: ACLs on the deployment's own topics ---------------------------------------------

def test_an_office_writes_only_its_own_provinces_results_and_grants(base_settings):
    assert not writable(base_settings, "office-01", TOPICS.resolved_by_office("79"))
    assert writable(base_settings, "office-79", TOPICS.resolved_by_office("79"), key=b"acl-test", value=b"{}")
    assert writable(base_settings, "office-79", TOPICS.delegations_of("79"), key=b"99999", value=None)
    assert not writable(base_settings, "office-01", TOPICS.delegations_of("79"), key=b"26737", value=None)
    assert not writable(base_settings, "site-system", TOPICS.resolved_by_office("79"))
    assert writable(base_settings, "site-system", TOPICS.resolved_by_site_system, value=b"{}")
    assert writable(base_settings, "triage", TOPICS.resolved_by_triage, value=b"{}")


@pytest.mark.parametrize("role", ["office-79", "office-01", "site-system", "triage", "portal", "delegations",
                                  "sink"])
def test_nobody_but_admin_writes_the_shared_topics(base_settings, role):
    """(The router, the judge itself, may put a record keyed wrongly back on the topic it read it
    from, keyed right: the same topic, so the same proven writer.)"""
    assert not writable(base_settings, role, TOPICS.resolved), role
    assert not writable(base_settings, role, TOPICS.delegations, key=b"26737", value=None), role


def test_the_library_refusal_names_the_new_topic(base_settings):
    as_office = replace(base_settings, kafka_client_properties="")  # its role's own client file
    with ComplaintPublisher(as_office, role="office-79", timeout_s=15) as pub:
        assert pub.principal == "office-79"  # its own client file
        with pytest.raises(PublishError, match=r"complaints\.resolved\.79"):
            pub.publish_raw(TOPICS.resolved, "C-x", b"{}")
        with pytest.raises(InvalidEvent, match="not a unit of province 79|results of province 79"):
            pub.publish_resolution({"schema_version": 1, "event_id": "r-x", "complaint_id": "C-x",
                                    "resolved_at": dt.datetime.now(dt.timezone.utc).isoformat(),
                                    "resolved_by": {"level": "province", "unit_code": "01"}, "outcome": "updated"})


# -- the worker and the record: each writer within its scope ----------------------------------------

def wait_until(check, what: str, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"{what}: not after {timeout_s} s")


def rows(settings, sql: str, args: tuple = ()) -> list[tuple]:
    with psycopg2.connect(settings.database_url) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def resolution(cid: str, by: tuple[str, str], event_id: str) -> dict:
    return {"schema_version": 1, "event_id": event_id, "complaint_id": cid,
            "resolved_at": dt.datetime.now(dt.timezone.utc).isoformat(), "outcome": "updated",
            "resolved_by": {"level": by[0], "unit_code": by[1]}}


def test_a_result_outside_its_writers_scope_is_wrong_origin_and_the_deadline_holds(database, worker_factory,
                                                                                   sink_factory):
    worker_factory()
    sink_factory()
    topics = database.topics
    now = dt.datetime.now(dt.timezone.utc)
    forged = complaint(f"W-{uuid.uuid4().hex[:8]}", province="79",
                       recorded_at=(now - dt.timedelta(hours=48) + dt.timedelta(seconds=25)).isoformat())
    owned = complaint(f"W-{uuid.uuid4().hex[:8]}", province="79", recorded_at=now.isoformat())
    with ComplaintPublisher(database) as pub:
        pub.publish_complaint(forged)
        pub.publish_complaint(owned)
        wait_until(lambda: len(rows(database, "SELECT 1 FROM routes WHERE complaint_id = ANY(%s)",
                                    ([forged["complaint_id"], owned["complaint_id"]],))) == 2, "routed")
        # office-01's result for a complaint of 79, on office-01's own topic, names province 79
        pub.publish_raw(topics.resolved_by_office("01"), forged["complaint_id"],
                        json.dumps(resolution(forged["complaint_id"], ("province", "79"), "r-forged")).encode())
        pub.publish_raw(topics.resolved_by_office("79"), owned["complaint_id"],
                        json.dumps(resolution(owned["complaint_id"], ("province", "79"), "r-owned")).encode())
    [(error, detail, source)] = wait_until(lambda: rows(
        database, "SELECT error, detail, source_topic FROM dead_letters WHERE key = %s", (forged["complaint_id"],)),
        "the forged result dead-lettered")
    assert error == "wrong_origin" and source == topics.resolved_by_office("01") and "province 79" in detail
    wait_until(lambda: rows(database, "SELECT 1 FROM accepted_resolutions WHERE event_id = 'r-owned'"),
               "office-79's result counted")
    [(verdict,)] = rows(database, "SELECT verdict FROM resolutions WHERE event_id = 'r-forged'")
    assert verdict == "refused"
    escalated = wait_until(lambda: [json.loads(r.value) for r in read_committed([topics.escalations], database)
                                    if r.key.decode() == forged["complaint_id"]],
                           "the forged one escalated at its deadline", timeout_s=60)
    assert len(escalated) == 1
    assert not [r for r in read_committed([topics.escalations], database) if r.key.decode() == owned["complaint_id"]]


def csrf(page: bytes) -> str:
    return re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()


def sign_in(client, username: str) -> None:
    client.environ_base["REMOTE_ADDR"] = f"10.9.{uuid.uuid4().int % 250}.1"
    token = csrf(client.get("/office/login").data)
    answer = client.post("/office/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 302, answer.status_code


def test_a_province_delegates_in_the_console_and_a_revocation_sends_the_units_complaints_back(
        database, worker_factory, sink_factory, tmp_path):
    worker_factory()
    sink_factory()
    run = uuid.uuid4().hex[:6]
    conn = psycopg2.connect(database.database_url)
    Accounts(conn, UNITS).add(f"so79-{run}", "province", "79", PASSWORD)
    console = create_app(replace(database, console_dir=str(tmp_path / "console")))
    province = console.test_client()
    sign_in(province, f"so79-{run}")
    # Grant commune 26737 and make its account, in one step.
    page = province.get("/office/units")
    assert page.status_code == 200 and b"26737" in page.data
    answer = province.post("/office/units", data={"unit": "26737", "username": f"td-{run}", "name": "Trạm Tân Định",
                                                  "csrf_token": csrf(page.data)})
    assert answer.status_code == 302
    page = province.get("/office/units")
    password = re.search(rb'data-testid="new-password">[^<]*<code>([^<]+)</code>', page.data).group(1).decode()
    assert b'data-unit="26737"' in page.data
    [(layer, revoked)] = rows(database, "SELECT layer, revoked FROM delegations WHERE unit_code = '26737'")
    assert (layer, revoked) == ("own", False)

    c = complaint(f"TD-{run}", province="79", commune="26737",
                  recorded_at=dt.datetime.now(dt.timezone.utc).isoformat())
    time.sleep(1.5)  # the worker's registry reads the grant
    with ComplaintPublisher(database) as pub:
        pub.publish_complaint(c)
    wait_until(lambda: rows(database, "SELECT handler_unit FROM routes WHERE complaint_id = %s AND handler_unit = "
                                      "'26737'", (c["complaint_id"],)), "routed to the commune")
    unit = console.test_client()
    unit.environ_base["REMOTE_ADDR"] = f"10.8.{uuid.uuid4().int % 250}.1"
    token = csrf(unit.get("/office/login").data)
    assert unit.post("/office/login", data={"username": f"td-{run}", "password": password,
                                            "csrf_token": token}).status_code == 302
    assert unit.get(f"/office/complaints/{c['complaint_id']}").status_code == 200

    # Revoked by the library (as an office system would): the account stays, the complaint goes back.
    with ComplaintPublisher(database) as pub:
        pub.revoke_delegation("26737")
    moved = wait_until(lambda: [json.loads(r.value) for r in read_committed([database.topics.jurisdiction("79")],
                                                                            database)
                                if r.key.decode() == c["complaint_id"]
                                and json.loads(r.value)["routing"].get("reassigned_from")],
                       "the complaint back to the province")
    time.sleep(2)
    assert len([r for r in read_committed([database.topics.jurisdiction("79")], database)
                if r.key.decode() == c["complaint_id"]]) == 2, "moved once"
    assert moved[0]["routing"]["handler"] == {"level": "province", "unit_code": "79"}
    assert moved[0]["routing"]["reassigned_from"]["reason"] == "revocation"
    wait_until(lambda: rows(database, "SELECT 1 FROM routes WHERE complaint_id = %s AND handler_level = 'province'",
                            (c["complaint_id"],)), "the record follows")
    assert unit.get(f"/office/complaints/{c['complaint_id']}").status_code == 404
    assert province.get(f"/office/complaints/{c['complaint_id']}").status_code == 200

    # Revoked in the console: the grant, then the unit's accounts, in one step.
    page = province.get("/office/units")
    province.post("/office/units", data={"unit": "26740", "username": f"sg-{run}", "csrf_token": csrf(page.data)})
    page = province.get("/office/units")
    assert b'data-unit="26740"' in page.data
    answer = province.post("/office/units/26740/revoke", data={"csrf_token": csrf(page.data)})
    assert answer.status_code == 302
    assert b'data-unit="26740"' not in province.get("/office/units").data
    [(disabled,)] = rows(database, "SELECT disabled FROM office_accounts WHERE username = %s", (f"sg-{run}",))
    assert disabled
    assert province.post("/office/units/26740/revoke", data={"csrf_token": csrf(page.data)}).status_code == 404
    conn.close()
