"""The cut-over from the 2021 map to the map in force, on the real stack: a deployment runs under
ADMIN_MAP=2021 with complaints open in merged provinces, its workers are restarted under 2025,
and `python -m processors cutover` moves each open complaint once to the unit in force."""

from __future__ import annotations

import datetime as dt
import html.parser
import http.cookiejar
import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from dataclasses import replace

import psycopg2
import pytest

from harness.processes import REPO, Process, create_database, drop_database, free_port, settings_env
from processors.ops.readback import read_committed
from processors.ops.topics import delete_topics, ensure_topics
from producers.cli import grant_for
from producers.client import ComplaintPublisher
from schemas.models import DailyDigest
from schemas.times import ICT
from schemas.topics import Topics
from tests.fixtures import complaint

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery staple"


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


def run(settings, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, env=settings_env(settings), input=stdin,
                          capture_output=True, text=True, timeout=300)


class Hidden(html.parser.HTMLParser):
    """The CSRF token of a form, and the complaints a queue page lists."""

    def __init__(self) -> None:
        super().__init__()
        self.token = ""
        self.complaints: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name") == "csrf_token":
            self.token = a.get("value") or ""
        if tag == "tr" and a.get("data-complaint"):
            self.complaints.add(a["data-complaint"])


def signed_in(url: str, username: str) -> tuple[urllib.request.OpenerDirector, int, str]:
    """Sign in as a user would, over HTTP: (the session, the answer's status, its page)."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    form = Hidden()
    form.feed(opener.open(f"{url}/office/login").read().decode())
    data = urllib.parse.urlencode({"username": username, "password": PASSWORD, "csrf_token": form.token}).encode()
    try:
        with opener.open(f"{url}/office/login", data=data) as answer:
            return opener, answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return opener, refused.code, refused.read().decode()


def queue(opener, url: str) -> set[str]:
    page = Hidden()
    page.feed(opener.open(f"{url}/office/").read().decode())
    return page.complaints


@pytest.fixture
def deployment(kafka, tmp_path):
    run_id = uuid.uuid4().hex[:8]
    old = replace(kafka, admin_map="2021", topic_prefix=f"cut-{run_id}.", faust_app_id=f"cut-{run_id}.router")
    ensure_topics(old)  # the 63 jurisdiction topics of 2021; those of 2025 are among them
    name = f"complaints_cut_{run_id}"
    old = replace(old, database_url=create_database(kafka.database_url, name))
    started: list[Process] = []

    def start(args: list[str], settings, label: str, ready: str) -> Process:
        p = Process(args, settings, tmp_path / f"{label}.log", ready_line=ready).start()
        started.append(p)
        return p

    yield old, start, tmp_path
    for p in started:
        p.stop()
    delete_topics(old)
    drop_database(kafka.database_url, name)


def test_the_cut_over_moves_each_open_complaint_once_to_the_unit_in_force(deployment):
    old, start, tmp = deployment
    worker_dir = str(tmp / "faust")
    w21 = start(["processors", "worker"], replace(old, faust_data_dir=worker_dir, worker_metrics_port=free_port()),
                "worker-2021", "Worker ready")
    s21 = start(["sinks", "postgres"], replace(old, sink_metrics_port=free_port()), "sink-2021", "sink ready")
    now = dt.datetime.now(dt.timezone.utc)
    soon = now - dt.timedelta(hours=48) + dt.timedelta(seconds=120)  # due after the cut-over: escalated under 2025
    made = {
        "province": complaint(f"C77-{uuid.uuid4().hex[:6]}", province="77", recorded_at=now.isoformat()),
        "delegated": complaint(f"C77-{uuid.uuid4().hex[:6]}", province="77", district="748",
                               recorded_at=now.isoformat()),
        "due_soon": complaint(f"C77-{uuid.uuid4().hex[:6]}", province="77", recorded_at=soon.isoformat()),
        "overdue": complaint(f"C77-{uuid.uuid4().hex[:6]}", province="77",
                             recorded_at=(now - dt.timedelta(hours=50)).isoformat()),
        "resolved": complaint(f"C77-{uuid.uuid4().hex[:6]}", province="77", recorded_at=now.isoformat()),
        "unchanged_province": complaint(f"C79-{uuid.uuid4().hex[:6]}", province="79", district="760",
                                        recorded_at=now.isoformat()),
    }
    ids = {k: c["complaint_id"] for k, c in made.items()}
    with ComplaintPublisher(old) as pub:
        pub.grant_delegation(grant_for("748", None, None, "2021"))  # Bà Rịa-Vũng Tàu's district of Vũng Tàu
        time.sleep(2)  # the registry applies the grant before the complaints are read
        for c in made.values():
            pub.publish_complaint(c)
        pub.publish_resolution({"schema_version": 1, "event_id": f"r-{ids['resolved']}",
                                "complaint_id": ids["resolved"], "resolved_at": now.isoformat(),
                                "resolved_by": {"level": "province", "unit_code": "77"}, "outcome": "updated"})
    wait_until(lambda: len(rows(old, "SELECT 1 FROM routes WHERE complaint_id = ANY(%s)", (list(ids.values()),)))
               == len(ids) and rows(old, "SELECT 1 FROM escalations WHERE complaint_id = %s", (ids["overdue"],))
               and rows(old, "SELECT 1 FROM accepted_resolutions WHERE complaint_id = %s", (ids["resolved"],)),
               "routed, escalated and resolved under 2021")
    [(handler,)] = rows(old, "SELECT handler_unit FROM routes WHERE complaint_id = %s", (ids["delegated"],))
    assert handler == "748"
    for user, level, unit in (("dept-77", "province", "77"), ("dept-79", "province", "79")):
        added = run(old, "offices", "users", "add", "--province", unit, "--level", level, "--unit", unit,
                    "--username", f"{user}-{old.topic_prefix[4:12]}", "--password-stdin", stdin=PASSWORD)
        assert added.returncode == 0, added.stderr

    # The switch: the workers restart under the map in force; the registry of 2021 lapses.
    w21.stop()
    s21.stop()
    new = replace(old, admin_map="2025")
    # The digest's clock reads 06:59:40 tomorrow (ICT) when the worker starts: tomorrow's digest goes out at once.
    tomorrow = dt.datetime.combine(now.astimezone(ICT).date() + dt.timedelta(days=1), dt.time(6, 59, 40), ICT)
    worker = start(["processors", "worker"], replace(new, faust_data_dir=worker_dir, worker_metrics_port=free_port(),
                                                     digest_clock_offset_s=(tomorrow - now).total_seconds()),
                   "worker-2025", "Worker ready")
    start(["sinks", "postgres"], replace(new, sink_metrics_port=free_port()), "sink-2025", "sink ready")
    console = replace(new, console_port=free_port(), console_metrics_port=free_port(), console_dir=str(tmp / "console"))
    start(["offices", "console"], console, "console-2025", "console ready")

    first = run(new, "processors", "cutover", "--timeout", "120")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "5 open ones moved" in first.stdout and "77 -> 79: 4" in first.stdout and "79 -> 79: 1" in first.stdout
    again = run(new, "processors", "cutover", "--timeout", "120")
    assert again.returncode == 0 and "0 open ones moved" in again.stdout, again.stdout + again.stderr

    topics = Topics(new.topic_prefix, "2025")
    moved = [json.loads(r.value) for r in read_committed([topics.jurisdiction("79")], new)
             if json.loads(r.value)["routing"].get("reassigned_from")]
    assert Counter(m["complaint_id"] for m in moved) == {ids[k]: 1 for k in made if k != "resolved"}
    by_id = {m["complaint_id"]: m["routing"] for m in moved}
    assert by_id[ids["delegated"]]["reassigned_from"] == {
        "topic": "complaints.jurisdiction.77", "province_code": "77", "handler": {"level": "district",
                                                                                 "unit_code": "748"},
        "reason": "cutover"}
    assert all(r["handler"] == {"level": "province", "unit_code": "79"} for r in by_id.values())
    assert dt.datetime.fromisoformat(by_id[ids["due_soon"]]["deadline"]) == soon + dt.timedelta(hours=48)

    # The escalations: the overdue one once (under 2021), the one due soon once, at its original deadline.
    due = soon + dt.timedelta(hours=48)
    escalations = wait_until(lambda: [json.loads(r.value) for r in read_committed([topics.escalations], new)
                                      if json.loads(r.value)["complaint_id"] == ids["due_soon"]],
                             "the complaint due after the cut-over escalated", timeout_s=150)
    time.sleep(3)
    all_escalations = Counter(json.loads(r.value)["complaint_id"] for r in read_committed([topics.escalations], new))
    assert all_escalations[ids["due_soon"]] == 1 and all_escalations[ids["overdue"]] == 1
    [late] = escalations
    assert late["handler"] == {"level": "province", "unit_code": "79"} and late["province_code"] == "79"
    assert 0 <= (dt.datetime.fromisoformat(late["escalated_at"]) - due).total_seconds() < 5

    # The console: 79's department sees every open complaint it absorbed; 77's account is refused.
    url = f"http://127.0.0.1:{console.console_port}"
    suffix = old.topic_prefix[4:12]
    session, status, _ = signed_in(url, f"dept-79-{suffix}")
    assert status == 200
    open_ids = {ids[k] for k in made if k != "resolved"}
    assert wait_until(lambda: open_ids <= queue(session, url), "79's queue holds what it absorbed")
    _, status, page = signed_in(url, f"dept-77-{suffix}")
    assert status == 403 and "01/07/2025" in page  # its unit is not in the map in force
    [(first_province, province)] = rows(new, "SELECT first_province_code, province_code FROM routes "
                                             "WHERE complaint_id = %s", (ids["delegated"],))
    assert (first_province, province) == ("77", "79")

    # The digest of the province in force holds them; the old province has none.
    def tomorrows() -> list[DailyDigest]:
        return [d for d in (DailyDigest.model_validate_json(r.value) for r in read_committed([topics.digest], new))
                if d.digest_date == tomorrow.date()]

    digests = wait_until(lambda: len(tomorrows()) == 34 and tomorrows(), "a digest per province in force")
    by_province = {d.province_code: d for d in digests}
    assert "77" not in by_province and by_province["79"].open_total == len(open_ids)
    assert worker.alive()
