"""The console's sessions end when they should, and odd input gets a clear answer: the console
app in this process (its clock moved by the test) on the real PostgreSQL, with rows written by
the sink's own writer."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import replace

import psycopg2
import pytest

from harness.processes import create_database, drop_database
from offices.accounts import Accounts
from offices.web import create_app
from processors.domain.routing import route
from schemas.admin_units import load
from schemas.models import ComplaintSubmitted
from sinks.migrate import migrate
from sinks.rows import Batch, add
from sinks.store import write
from sinks.units import refresh_provinces
from tests.fixtures import complaint

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery staple"
UNITS = load("2025")
UNIT = "26737"


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture(scope="module")
def console(database, tmp_path_factory):
    run = uuid.uuid4().hex[:6]
    name = f"complaints_sessions_{run}"
    url = create_database(database.database_url, name)  # its own: a digest of 2099 must not leak
    migrate(url)
    refresh_provinces(url, "2025")
    settings = replace(database, database_url=url, console_dir=str(tmp_path_factory.mktemp("console")))
    conn = psycopg2.connect(url)
    accounts = Accounts(conn, UNITS)
    users = {"province": f"p79-{run}", "unit": f"td-{run}"}
    accounts.add(users["province"], "province", "79", PASSWORD)
    accounts.add(users["unit"], "commune", UNIT, PASSWORD)
    record_complaints(conn, run)
    yield settings, users, run, conn
    conn.close()
    drop_database(database.database_url, name)


def record_complaints(conn, run: str) -> None:
    """Two complaints of 79 as the sink records them: one handled by the commune, one by the province."""
    batch = Batch()
    now = dt.datetime.now(dt.timezone.utc)
    for n, (cid, where) in enumerate(((f"S-{run}-unit", {"commune": UNIT}), (f"S-{run}-prov", {}))):
        c = complaint(cid, province="79", recorded_at=now.isoformat(), **where)
        c["citizen"]["phone"] = "0901234567"
        model = ComplaintSubmitted.model_validate(c)
        delegated = {UNIT: _grant()} if where else {}
        block = route(model, delegated, UNITS).routing_json(model, now)
        add(batch, "routed", "complaints.jurisdiction.79", 0, n, cid.encode(),
            json.dumps({**c, "routing": block}).encode(), UNITS)
    digest = {"schema_version": 1, "event_id": f"digest-79-{run}", "province_code": "79",
              "digest_date": "2099-01-01", "generated_at": now.isoformat(), "open_total": 7,
              "open_by_handler": [{"handler": {"level": "province", "unit_code": "79"}, "open": 5},
                                  {"handler": {"level": "commune", "unit_code": UNIT}, "open": 2}],
              "oldest": None, "due_within_24h": [], "due_within_24h_total": 0}
    add(batch, "digest", "complaints.digest", 0, 99, b"79", json.dumps(digest).encode(), UNITS)
    write(conn, batch)


def _grant():
    from schemas.models import Delegation

    return Delegation(unit_code=UNIT, level="commune", province_code="79", commune_code=UNIT,
                      granted_at="2025-08-01T00:00:00+07:00", granted_by="79")


def fresh_user(conn, level: str = "province", unit: str = "79") -> str:
    """An account of its own: sign-ins are limited to 5 a minute per username."""
    username = f"u-{uuid.uuid4().hex[:8]}"
    Accounts(conn, UNITS).add(username, level, unit, PASSWORD)
    return username


def csrf(page: bytes) -> str:
    return re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()


def sign_in(client, username: str, next_: str | None = None):
    # An address of its own too: sign-ins are limited to 20 a minute per address.
    client.environ_base.setdefault("REMOTE_ADDR", f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.1")
    token = csrf(client.get("/office/login").data)
    form = {"username": username, "password": PASSWORD, "csrf_token": token}
    if next_ is not None:
        form["next"] = next_
    answer = client.post("/office/login", data=form)
    assert answer.status_code == 302, answer.status_code  # signed in
    return answer


def test_a_cookie_replayed_after_sign_out_opens_nothing(console):
    settings, users, run, _ = console
    app = create_app(settings)
    browser = app.test_client()
    assert sign_in(browser, users["unit"]).status_code == 302
    queue = browser.get("/office/")
    assert queue.status_code == 200 and f"S-{run}-unit".encode() in queue.data
    stolen = browser.get_cookie("complaints_console").value
    assert browser.post("/office/logout", data={"csrf_token": csrf(queue.data)}).status_code == 302
    thief = app.test_client()
    thief.set_cookie("complaints_console", stolen)
    replayed = thief.get("/office/")
    assert replayed.status_code == 302 and "/office/login" in replayed.headers["Location"]
    assert thief.get(f"/office/complaints/S-{run}-unit").status_code == 302


def test_a_session_ends_8_hours_after_sign_in_though_used_all_along(console):
    settings, _, _, conn = console
    clock = Clock()
    client = create_app(settings, clock=clock).test_client()
    sign_in(client, fresh_user(conn))
    signed_in_at = clock.now
    while clock.now - signed_in_at < dt.timedelta(hours=8) - dt.timedelta(minutes=1):
        assert client.get("/office/").status_code == 200, clock.now - signed_in_at
        clock.now += dt.timedelta(minutes=5)  # in use every 5 minutes: never idle
    clock.now = signed_in_at + dt.timedelta(hours=8)
    refused = client.get("/office/")
    assert refused.status_code == 302 and "/office/login" in refused.headers["Location"]
    cookie = [h for h in client.get("/office/login").headers.getlist("Set-Cookie")]
    assert not any("Expires" in c and str(signed_in_at.year + 1) in c for c in cookie)


def test_a_session_left_idle_for_2_hours_ends(console):
    settings, _, _, conn = console
    clock = Clock()
    client = create_app(settings, clock=clock).test_client()
    sign_in(client, fresh_user(conn))
    assert client.get("/office/").status_code == 200
    clock.now += dt.timedelta(hours=2, minutes=1)
    assert client.get("/office/").status_code == 302


def test_sign_out_everywhere_and_a_password_reset_end_every_session(console):
    settings, _, _, conn = console
    username = fresh_user(conn)
    app = create_app(settings)
    office, home = app.test_client(), app.test_client()
    sign_in(office, username)
    sign_in(home, username)
    page = office.get("/office/")
    assert office.post("/office/logout-everywhere", data={"csrf_token": csrf(page.data)}).status_code == 302
    assert home.get("/office/").status_code == 302  # the other computer's session ended too
    sign_in(home, username)
    assert home.get("/office/").status_code == 200
    Accounts(conn, UNITS).reset(username, PASSWORD)  # the CLI's `users reset`
    assert home.get("/office/").status_code == 302


@pytest.mark.parametrize("path", ["/office/?q=a%00b", "/office/complaints/a%00b", "/office/?q=%1b[2J",
                                  "/office/?level=%00"])
def test_control_characters_in_office_pages_get_400(console, path):
    settings, _, _, conn = console
    client = create_app(settings).test_client()
    sign_in(client, fresh_user(conn))
    assert client.get("/office/").status_code == 200
    answer = client.get(path)
    assert answer.status_code == 400 and b"Traceback" not in answer.data and b"<html" in answer.data


def test_control_characters_in_the_lookup_get_the_open311_error(console):
    settings, _, _, _ = console
    answer = create_app(settings).test_client().get("/api/v1/requests/zz%00x.json?phone_last4=1234")
    assert answer.status_code == 400 and answer.is_json
    assert answer.get_json()[0]["code"] == 400


def test_a_nul_in_the_username_or_a_header_is_refused_not_a_500(console):
    settings, _, _, _ = console
    client = create_app(settings).test_client()
    token = csrf(client.get("/office/login").data)
    answer = client.post("/office/login", data={"username": "a\x00b", "password": "x" * 12, "csrf_token": token})
    assert answer.status_code == 400
    assert client.get("/office/login", headers={"X-Probe": "a\x01b"}).status_code == 400


@pytest.mark.parametrize("target", ["/office/\r\nSet-Cookie: x=1", "https://evil.example/office/", "//evil/office/",
                                    "/office/../../etc", "/office/\\evil", "javascript:alert(1)", "/office/sla?x=1"])
def test_next_is_a_page_of_this_console_or_the_queue(console, target):
    settings, _, _, conn = console
    answer = sign_in(create_app(settings).test_client(), fresh_user(conn), target)
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert "\r" not in location and "\n" not in location and "evil" not in location
    assert location == ("/office/sla?x=1" if target == "/office/sla?x=1" else "/office/")


def test_a_delegated_units_digest_shows_its_own_total(console):
    settings, _, _, conn = console
    client = create_app(settings).test_client()
    sign_in(client, fresh_user(conn, "commune", UNIT))
    page = client.get("/office/digest").data.decode()
    assert re.search(r'data-testid="open-total"[^>]*>\s*2\s*<', page), page


def test_a_citizen_keeps_access_while_a_third_party_exhausts_guesses(console):
    settings, _, run, _ = console
    client = create_app(settings).test_client()
    cid = f"S-{run}-prov"
    guesses = [client.get(f"/api/v1/requests/{cid}.json?phone_last4={n:04d}",
                          environ_base={"REMOTE_ADDR": "10.66.0.1"}).status_code for n in range(25)]
    assert guesses[:20] == [404] * 20 and set(guesses[20:]) == {429}
    citizen = client.get(f"/api/v1/requests/{cid}.json?phone_last4=4567", environ_base={"REMOTE_ADDR": "10.77.0.9"})
    assert citizen.status_code == 200 and citizen.get_json()[0]["service_request_id"] == cid
