"""The offices' side as people use it: the console in a real browser (Debian's Chromium driven
by Playwright), the status lookup over HTTP, the users CLI and the inbox, on the real
router, sink, Kafka and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg2
import pytest

from harness.processes import REPO, Process, free_port, metric_value, settings_env
from offices import Inbox
from producers.cli import grant_for
from producers.client import ComplaintPublisher
from schemas.settings import Settings
from tests.fixtures import complaint

pytestmark = pytest.mark.integration
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# As the machine's probe found: without the background-networking flags Chromium keeps
# trying to reach Google's hosts, which a closed network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PASSWORD = "correct horse battery staple"
UNIT = "26737"  # Phường Tân Định, Hồ Chí Minh City: a commune in force (old 26734, Quận 1, became it)


@dataclass
class Stack:
    settings: Settings
    console: Process
    url: str
    ids: dict[str, str]        # name -> complaint id
    phones: dict[str, str]
    unit_user: str
    province_user: str


def users(settings: Settings, *args: str, password: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "offices", "users", *args], cwd=REPO, env=settings_env(settings),
                          input=password, capture_output=True, text=True, timeout=60)


def wait_until(check, what: str, timeout_s: float = 60):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"{what}: not after {timeout_s} s")


def pg_rows(settings: Settings, sql: str, args: tuple = ()) -> list[tuple]:
    with psycopg2.connect(settings.database_url) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


@pytest.fixture(scope="module")
def stack(database: Settings, tmp_path_factory) -> Stack:
    tmp = tmp_path_factory.mktemp("offices")
    worker = Process(["processors", "worker"], replace(database, faust_data_dir=str(tmp / "faust"),
                                                       worker_metrics_port=free_port()), tmp / "worker.log",
                     ready_line="Worker ready").start()
    sink = Process(["sinks", "postgres"], replace(database, sink_metrics_port=free_port()), tmp / "sink.log",
                   ready_line="sink ready").start()
    console_settings = replace(database, console_port=free_port(), console_metrics_port=free_port(),
                               console_dir=str(tmp / "console"))
    console = Process(["offices", "console"], console_settings, tmp / "console.log", ready_line="console ready").start()
    run = uuid.uuid4().hex[:6]
    now = dt.datetime.now(dt.timezone.utc)
    recent = (now - dt.timedelta(hours=1)).isoformat()
    # Under the map in force: commune 26737 (Phường Tân Định) is delegated; an address of 2021
    # (district 760, old commune 26734) reaches it too; a district alone stays with the province.
    made = {
        "unit": complaint(f"TD-{run}-a", province="79", commune=UNIT, recorded_at=recent),
        "old_address": complaint(f"TD-{run}-b", province="79", district="760", commune="26734", recorded_at=recent),
        "overdue": complaint(f"TD-{run}-c", province="79", commune=UNIT,
                             recorded_at=(now - dt.timedelta(hours=50)).isoformat()),
        "province": complaint(f"HCM-{run}-d", province="79", district="769", recorded_at=recent),
    }
    for n, (name, c) in enumerate(made.items()):
        c["citizen"]["phone"] = f"090{run_digits(run)}{n}"[:10]
    try:
        with ComplaintPublisher(database) as pub:
            delegated = metric_value(worker.metrics(worker.settings.worker_metrics_port),
                                     "complaints_delegations_active", level="commune")
            pub.grant_delegation(grant_for(UNIT, None, None))
            wait_until(lambda: metric_value(worker.metrics(worker.settings.worker_metrics_port),
                                            "complaints_delegations_active", level="commune") > delegated,
                       f"the worker applies the grant of commune {UNIT}")
            for c in made.values():
                pub.publish_complaint(c)
        ids = {name: c["complaint_id"] for name, c in made.items()}
        wait_until(lambda: len(pg_rows(database, "SELECT 1 FROM routes WHERE complaint_id = ANY(%s)",
                                       (list(ids.values()),))) == 4, "the four complaints routed and recorded")
        wait_until(lambda: pg_rows(database, "SELECT 1 FROM escalations WHERE complaint_id = %s", (ids["overdue"],)),
                   "the overdue complaint escalated and recorded")
        unit_user, province_user = f"td-{run}", f"so-{run}"
        assert users(console_settings, "add", "--province", "79", "--level", "commune", "--unit", UNIT,
                     "--username", unit_user, "--password-stdin", password=PASSWORD).returncode == 0
        assert users(console_settings, "add", "--province", "79", "--level", "province", "--unit", "79",
                     "--username", province_user, "--password-stdin", password=PASSWORD).returncode == 0
        yield Stack(console_settings, console, f"http://127.0.0.1:{console_settings.console_port}", ids,
                    {name: c["citizen"]["phone"] for name, c in made.items()}, unit_user, province_user)
    finally:
        with ComplaintPublisher(database) as pub:  # later tests count the delegations they make
            pub.revoke_delegation(UNIT)
        time.sleep(1)
        for p in (console, sink, worker):
            p.stop()


def run_digits(run: str) -> str:
    return "".join(str(int(ch, 16) % 10) for ch in run)


def http(url: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


# -- the browser --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make tools` installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def sign_in(page, url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{url}/office/")
    assert "/office/login" in page.url  # office pages need an account
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form.card button[type=submit]")


def queue_ids(page) -> set[str]:
    return set(page.locator("tr[data-complaint]").evaluate_all("rows => rows.map(r => r.dataset.complaint)"))


REPLY = "Hồ sơ của bạn đã được bổ sung mũi 2 (Comirnaty, 01/10/2021)."


def test_a_delegated_commune_works_its_queue_in_a_browser(stack, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, stack.url, stack.unit_user)
    page.wait_for_selector("[data-testid=queue]")
    mine = {stack.ids["unit"], stack.ids["old_address"], stack.ids["overdue"]}
    shown = queue_ids(page)
    assert mine <= shown and stack.ids["province"] not in shown
    handlers = page.locator("tr[data-complaint] td:nth-child(4)").all_inner_texts()
    assert handlers and all(h == "Phường Tân Định" for h in handlers)  # a delegated unit sees only its own
    overdue = page.locator(f"tr[data-complaint='{stack.ids['overdue']}']")
    assert "overdue" in overdue.get_attribute("class") and overdue.locator(".badge.escalated").count() == 1
    assert page.locator(f"tr[data-complaint='{stack.ids['overdue']}'] ~ tr[data-complaint='{stack.ids['unit']}']"
                        ).count() == 1  # earliest deadline first

    # search, and the English switch
    page.fill("input[name=q]", stack.ids["old_address"])
    page.click("form.filters button")
    assert queue_ids(page) == {stack.ids["old_address"]}
    page.goto(f"{stack.url}/office/?lang=en")
    assert page.locator("h1").inner_text() == "Open complaints"

    # another unit's complaint is not there for it
    response = page.goto(f"{stack.url}/office/complaints/{stack.ids['province']}")
    assert response.status == 404

    page.goto(f"{stack.url}/office/")
    page.goto(f"{stack.url}/office/complaints/{stack.ids['old_address']}")  # a 2021 address, read in force
    assert page.locator("[data-testid=in-force]").inner_text().startswith("Phường Tân Định, Thành phố Hồ Chí Minh")
    page.goto(f"{stack.url}/office/")
    page.click(f"a:text-is('{stack.ids['unit']}')")
    assert page.locator("[data-testid=handler]").inner_text().endswith(f"(commune {UNIT})")
    assert "Trần Thị Bình" in page.content()
    history = page.locator("[data-testid=history] li").all_inner_texts()
    assert history[0].endswith("Submitted") and "Routed" in history[1]
    if os.environ.get("CONSOLE_SCREENSHOTS"):
        page.screenshot(path=str(Path(os.environ["CONSOLE_SCREENSHOTS"]) / "console-complaint-test.png"))
    stale = context.new_page()  # a second tab on the same complaint, to send a result late
    stale.goto(page.url)
    page.check("input[value=updated]")
    page.fill("textarea[name=note]", "Đã bổ sung mũi 2 vào hệ thống")
    page.fill("textarea[name=response]", REPLY)  # what the citizen reads, with a correction of the record
    page.select_option("select[name=corr_action_0]", "add")
    page.fill("input[name=corr_dose_0]", "2")
    page.fill("input[name=corr_vaccine_0]", "Comirnaty")
    page.fill("input[name=corr_date_0]", "2021-10-01")
    preview = page.locator("[data-testid=citizen-preview]").inner_text()  # what the lookup will say
    assert preview.startswith("Closed: the vaccination record was updated.") and preview.endswith(REPLY)
    assert "Đã bổ sung mũi 2 vào hệ thống" not in preview  # the note is not the citizen's
    assert "Doses the citizen reported" in page.locator("[data-testid=reported-doses]").inner_text()
    page.click("form.result button[type=submit]")
    page.wait_for_selector(".flash.ok")
    assert stack.ids["unit"] in page.locator(".flash.ok").inner_text()
    assert page.url.rstrip("/").endswith("/office")
    assert stack.ids["unit"] not in queue_ids(page)  # it left the queue once recorded
    assert {stack.ids["old_address"], stack.ids["overdue"]} <= queue_ids(page)

    [(level, unit, outcome, note, username)] = pg_rows(stack.settings, """
        SELECT s.resolved_by_level, s.resolved_by_unit, s.outcome, s.note, a.username
        FROM resolutions s JOIN console_results a USING (event_id) WHERE s.complaint_id = %s""",
                                                       (stack.ids["unit"],))
    assert (level, unit, outcome, username) == ("commune", UNIT, "updated", stack.unit_user)
    [(read_topic,)] = pg_rows(stack.settings, "SELECT read_topic FROM resolutions WHERE complaint_id = %s",
                              (stack.ids["unit"],))
    assert read_topic == "complaints.resolved.79"  # where office-79 may write, whoever of 79 signed in
    assert note == "Đã bổ sung mũi 2 vào hệ thống"
    [(payload,)] = pg_rows(stack.settings, "SELECT payload FROM accepted_resolutions WHERE complaint_id = %s",
                           (stack.ids["unit"],))
    given = [{k: v for k, v in c.items() if v is not None} for c in payload["corrections"]]
    assert payload["response"] == REPLY and given == [
        {"action": "add", "dose_number": 2, "vaccine": "Comirnaty", "vaccinated_on": "2021-10-01"}]
    status, _, body = http(f"{stack.url}/api/v1/requests/{stack.ids['unit']}.json"
                           f"?phone_last4={stack.phones['unit'][-4:]}")
    [answer] = json.loads(body)
    assert status == 200 and answer["status"] == "closed" and answer["status_notes"].endswith(REPLY)
    assert "Đã bổ sung mũi 2 vào hệ thống" not in body.decode()  # the internal note never leaves the offices
    stale.check("input[value=rejected]")
    stale.click("form.result button[type=submit]")
    assert stale.locator(".flash.error").inner_text() == "This complaint has a result."
    assert stale.locator("form.result").count() == 0  # the page now shows the result, no form
    assert len(pg_rows(stack.settings, "SELECT 1 FROM resolutions WHERE complaint_id = %s",
                       (stack.ids["unit"],))) == 1
    stale.close()

    # the SLA page and the digest page answer; signing out ends the session
    page.goto(f"{stack.url}/office/sla")
    assert page.locator("[data-testid=sla]").count() == 1 and page.locator("svg.chart").count() == 1
    page.goto(f"{stack.url}/office/digest")
    assert page.locator("h1").inner_text() == "Daily digest"
    copied = [c for c in context.cookies() if c["name"] == "complaints_console"]  # a shared office computer
    page.click("button:text-is('Sign out')")
    page.goto(f"{stack.url}/office/")
    assert "/office/login" in page.url
    context.close()
    # The cookie copied before signing out, replayed from another browser, opens nothing.
    thief = browser.new_context()
    thief.add_cookies(copied)
    replayed = thief.new_page()
    replayed.goto(f"{stack.url}/office/complaints/{stack.ids['overdue']}")
    assert "/office/login" in replayed.url and "Trần Thị Bình" not in replayed.content()
    thief.close()


def test_a_province_sees_its_whole_province_and_resolves_a_delegated_complaint(stack, browser):
    page = browser.new_page()
    sign_in(page, stack.url, stack.province_user)
    page.wait_for_selector("[data-testid=queue]")
    page.goto(f"{stack.url}/office/?q={stack.ids['province']}")
    assert stack.ids["province"] in queue_ids(page)
    page.goto(f"{stack.url}/office/complaints/{stack.ids['old_address']}")
    page.check("input[value=referred]")  # a correction with another outcome: refused, by name, nothing sent
    page.select_option("select[name=corr_action_0]", "remove")
    page.fill("input[name=corr_dose_0]", "1")
    page.click("form.result button[type=submit]")
    assert "only with outcome updated" in page.locator(".flash.error").inner_text()
    assert pg_rows(stack.settings, "SELECT 1 FROM console_results WHERE complaint_id = %s",
                   (stack.ids["old_address"],)) == []
    page.check("input[value=referred]")
    page.click("form.result button[type=submit]")
    page.wait_for_selector(".flash.ok")
    [(level, unit)] = pg_rows(stack.settings, "SELECT resolved_by_level, resolved_by_unit FROM resolutions "
                                              "WHERE complaint_id = %s", (stack.ids["old_address"],))
    assert (level, unit) == ("province", "79")
    page.close()


def test_sign_in_refusals_csrf_and_cookies(stack, browser):
    status, _, _ = http(f"{stack.url}/healthz")
    assert status == 200
    # a form posted without its CSRF token is refused
    status, _, _ = http(f"{stack.url}/office/login", data=f"username={stack.unit_user}&password=x".encode(),
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 400
    page = browser.new_page()
    sign_in(page, stack.url, stack.unit_user, "wrong password, long enough")
    assert page.locator(".flash.error").count() == 1 and "/office/login" in page.url
    # the session cookie: HttpOnly, SameSite=Lax; no session before signing in
    sign_in(page, stack.url, stack.unit_user)
    [cookie] = [c for c in page.context.cookies() if c["name"] == "complaints_console"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    # disabling the account ends its open session at the next page
    assert users(stack.settings, "disable", "--province", "79", stack.unit_user).returncode == 0
    page.goto(f"{stack.url}/office/")
    assert "/office/login" in page.url
    assert users(stack.settings, "enable", "--province", "79", stack.unit_user).returncode == 0
    # five wrong passwords for one username, then the sixth try is refused before checking
    limited = f"nobody-{uuid.uuid4().hex[:6]}"
    for _ in range(5):
        sign_in(page, stack.url, limited, "wrong password, long enough")
        assert page.locator(".flash.error").count() == 1
    page.goto(f"{stack.url}/office/login")
    page.fill("input[name=username]", limited)
    page.fill("input[name=password]", "wrong password, long enough")
    with page.expect_response(lambda r: r.url.endswith("/office/login") and r.request.method == "POST") as answer:
        page.click("form.card button[type=submit]")
    assert answer.value.status == 429
    page.close()


def test_control_characters_and_odd_next_get_a_clear_answer_over_http(stack):
    """What a tester's probes met as 500s, on the running console."""
    for path in ("/office/?q=a%00b", "/office/complaints/a%00b", "/office/login?next=%0d%0aX:1"):
        status, _, body = http(f"{stack.url}{path}")
        assert status in (200, 302, 400) and b"Traceback" not in body, path  # the sign-in page: next checked at use
    status, headers, body = http(f"{stack.url}/api/v1/requests/zz%00x.json?phone_last4=1234")
    assert status == 400 and headers["Content-Type"].startswith("application/json")
    assert json.loads(body)[0]["code"] == 400


def test_the_users_cli_refuses_what_a_province_may_not_do(stack):
    other = users(stack.settings, "add", "--province", "01", "--level", "commune", "--unit", UNIT,
                  "--username", f"x-{uuid.uuid4().hex[:6]}", "--password-stdin", password=PASSWORD)
    assert other.returncode == 2 and f"commune {UNIT} is not in province 01" in other.stderr
    abolished = users(stack.settings, "add", "--province", "79", "--level", "district", "--unit", "760",
                      "--username", f"x-{uuid.uuid4().hex[:6]}", "--password-stdin", password=PASSWORD)
    assert abolished.returncode == 2 and "districts were abolished" in abolished.stderr
    short = users(stack.settings, "add", "--province", "79", "--level", "commune", "--unit", UNIT,
                  "--username", f"x-{uuid.uuid4().hex[:6]}", "--password-stdin", password="short")
    assert short.returncode == 2 and "at least 12 characters" in short.stderr
    taken = users(stack.settings, "add", "--province", "79", "--level", "commune", "--unit", UNIT,
                  "--username", stack.unit_user, "--password-stdin", password=PASSWORD)
    assert taken.returncode == 2 and "taken" in taken.stderr
    not_theirs = users(stack.settings, "disable", "--province", "01", stack.unit_user)
    assert not_theirs.returncode == 2 and "no account" in not_theirs.stderr
    generated = users(stack.settings, "add", "--province", "79", "--level", "commune", "--unit", "26740",
                      "--username", f"bn-{uuid.uuid4().hex[:6]}")
    assert generated.returncode == 0 and "password " in generated.stdout
    listed = users(stack.settings, "list", "--province", "79")
    assert stack.unit_user in listed.stdout and stack.province_user in listed.stdout
    hashes = pg_rows(stack.settings, "SELECT password_hash FROM office_accounts WHERE username = %s",
                     (stack.unit_user,))
    assert hashes[0][0].startswith("$argon2id$") and PASSWORD not in hashes[0][0]


def test_citizens_status_lookup_over_http(stack):
    cid, phone = stack.ids["overdue"], stack.phones["overdue"]
    status, headers, body = http(f"{stack.url}/api/v1/requests/{cid}.json?phone_last4={phone[-4:]}")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    [answer] = json.loads(body)
    assert answer["service_request_id"] == cid and answer["status"] == "open"
    assert answer["agency_responsible"] == "Trạm Y tế Phường Tân Định"
    deadline = dt.datetime.fromisoformat(answer["expected_datetime"])
    requested = dt.datetime.fromisoformat(answer["requested_datetime"])
    assert deadline - requested == dt.timedelta(hours=48) and deadline.utcoffset() == dt.timedelta(hours=7)
    text = body.decode()
    assert phone not in text and "Trần Thị Bình" not in text and "079190001234" not in text
    assert "1985" not in text

    refusals = {http(f"{stack.url}/api/v1/requests/{cid}.json?phone_last4=0000")[::2],
                http(f"{stack.url}/api/v1/requests/{cid}.json")[::2],
                http(f"{stack.url}/api/v1/requests/NO-SUCH-{uuid.uuid4().hex[:6]}.json?phone_last4="
                     f"{phone[-4:]}")[::2]}
    assert len(refusals) == 1 and next(iter(refusals))[0] == 404  # ids cannot be probed

    probed = f"PROBE-{uuid.uuid4().hex[:6]}"
    codes = [http(f"{stack.url}/api/v1/requests/{probed}.json?phone_last4={n:04d}")[0] for n in range(21)]
    assert codes[:20] == [404] * 20 and codes[20] == 429  # 20 tries an hour per complaint id

    metrics = urllib.request.urlopen(f"http://127.0.0.1:{stack.settings.console_metrics_port}/metrics").read().decode()
    assert metric_value(metrics, "complaints_console_status_lookups_total", result="found") >= 1
    assert cid not in metrics and phone not in metrics


def test_the_inbox_hands_over_the_units_complaints_and_commits_after_the_handler(stack):
    group = f"test-inbox-{uuid.uuid4().hex[:6]}"
    mine = {stack.ids["unit"], stack.ids["old_address"], stack.ids["overdue"]}
    seen: list[str] = []

    def fail_on_commune(c) -> None:
        if c.complaint_id == stack.ids["old_address"]:
            raise RuntimeError("the office system is down")
        seen.append(c.complaint_id)

    with Inbox("79", UNIT, settings=stack.settings, group_id=group) as first, pytest.raises(RuntimeError):
        first.run(fail_on_commune, until=lambda: False)
    taken: list[str] = []
    with Inbox("79", UNIT, settings=stack.settings, group_id=group) as second:
        second.run(lambda c: taken.append(c.complaint_id), until=lambda: mine <= set(seen) | set(taken),
                   max_polls=30)
    assert stack.ids["old_address"] in taken  # handed over again after the handler raised
    assert not set(seen) & set(taken)  # what the handler finished is not handed over again
    assert mine <= set(seen) | set(taken)
    assert stack.ids["province"] not in set(seen) | set(taken)  # the province's own: not the unit's
    assert first.skipped + second.skipped >= 1


def test_the_inbox_command_shows_a_units_complaints_live(stack):
    proc = subprocess.Popen([sys.executable, "-m", "offices", "inbox", "--province", "79", "--unit", UNIT,
                             "--group", f"test-inbox-cli-{uuid.uuid4().hex[:6]}"], cwd=REPO,
                            env=settings_env(stack.settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=20)  # it runs until stopped
    except subprocess.TimeoutExpired:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert "times in Asia/Ho_Chi_Minh" in err
    [line] = [line for line in out.splitlines() if stack.ids["overdue"] in line]
    assert f"commune {UNIT}" in line and "h overdue" in line and "+00:00" not in line
    assert stack.ids["province"] not in out


def test_a_result_from_another_provinces_office_is_dead_lettered_and_does_not_count(stack):
    cid = stack.ids["overdue"]
    event_id = f"r-{uuid.uuid4().hex[:8]}"
    with ComplaintPublisher(stack.settings, role="office-01") as pub:  # as admin here: tests use their own prefix
        pub.publish_resolution({"schema_version": 1, "event_id": event_id, "complaint_id": cid,
                                "resolved_at": dt.datetime.now(dt.timezone.utc).isoformat(), "outcome": "updated",
                                "resolved_by": {"level": "province", "unit_code": "01"}})
    [(error, detail)] = wait_until(lambda: pg_rows(
        stack.settings, "SELECT error, detail FROM dead_letters WHERE key = %s AND error = 'wrong_origin'", (cid,)),
        "the dead letter recorded")
    assert "complaints.resolved.01 carries office-01's results; this complaint is of province 79" in detail
    assert pg_rows(stack.settings, "SELECT 1 FROM resolutions WHERE event_id = %s", (event_id,))  # kept, as read
    assert not pg_rows(stack.settings, "SELECT 1 FROM accepted_resolutions WHERE event_id = %s", (event_id,))
    [(state,)] = pg_rows(stack.settings, "SELECT state FROM complaint_status WHERE complaint_id = %s", (cid,))
    assert state == "overdue"
    status, _, body = http(f"{stack.url}/api/v1/requests/{cid}.json?phone_last4={stack.phones['overdue'][-4:]}")
    assert status == 200 and json.loads(body)[0]["status"] == "open"
