"""The office console and the public status lookup: a Flask application.

Flask because everything it talks to is synchronous (psycopg2, the kafka-python producer
library) and its kept extensions cover what a staff console needs: Flask-WTF's CSRF
protection, Flask-Limiter's rate limits, signed session cookies, Jinja2 templates with
autoescaping. waitress serves it (offices/__main__.py).
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import secrets
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.pool
from flask import (Flask, Response, abort, flash, g, jsonify, redirect, render_template, request, session,
                   url_for)
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import BadRequest, HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from offices import i18n, metrics, queries, ratelimits
from offices.accounts import Account, AccountError, Accounts, generate_password
from offices.sessions import LIFETIME, Sessions
from offices.present import agency, local, open311, phone_matches, sla_chart, unit_name, urgency
from producers.client import ComplaintPublisher, InvalidEvent, PublishError
from schemas.admin_units import AdminUnits, load as load_units
from schemas.models import forbidden_character
from schemas.reach import PG_CONNECT_TIMEOUT_S
from schemas.settings import Settings
from schemas.times import utcnow

OUTCOMES = ("updated", "rejected", "duplicate", "referred")
log = logging.getLogger(__name__)
# Correction rows on the result form (a result rarely changes more than a dose or two).
CORRECTION_ROWS = 3


def corrections_from(form: Any) -> list[dict[str, Any]]:
    """The filled correction rows of the result form, in the contract's shape; a row without
    an action is empty. Values are passed as typed; the publisher's validation names what is
    wrong (a dose number that is not one, a date, a replace without its dose)."""
    found = []
    for i in range(CORRECTION_ROWS):
        action = form.get(f"corr_action_{i}", "")
        if not action:
            continue
        row: dict[str, Any] = {"action": action}
        dose = form.get(f"corr_dose_{i}", "").strip()
        if dose:
            row["dose_number"] = int(dose) if dose.isdigit() else dose
        for field, name in (("vaccine", "vaccine"), ("vaccinated_on", "date"), ("lot_number", "lot")):
            value = form.get(f"corr_{name}_{i}", "").strip()
            if value:
                row[field] = value
        found.append(row)
    return found


# How long a sent result may take to reach the record before the page returns without it.
RECORD_WAIT_S = 5.0
SERVE_THREADS = 8  # waitress's (offices/__main__.py)
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def secret_key(settings: Settings) -> str:
    """CONSOLE_SECRET_KEY, else a key generated on first start and kept (mode 600)."""
    if settings.console_secret_key:
        return settings.console_secret_key
    path = Path(settings.console_dir) / "secret-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


class Publishers:
    """One producer per office principal, made when an office first sends a result."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._by_role: dict[str, ComplaintPublisher] = {}
        self._lock = threading.Lock()

    def __call__(self, role: str) -> ComplaintPublisher:
        with self._lock:
            if role not in self._by_role:
                self._by_role[role] = ComplaintPublisher(self.settings, role=role, timeout_s=15.0)
            return self._by_role[role]

    def close(self) -> None:
        with self._lock:
            for publisher in self._by_role.values():
                publisher.close()
            self._by_role.clear()


def create_app(settings: Settings, units: AdminUnits | None = None,
               clock: Callable[[], dt.datetime] = utcnow) -> Flask:
    """`clock` tells the time to the sessions (tests move it)."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret_key(settings),
        SESSION_COOKIE_NAME="complaints_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Served on loopback, the browser talks plain HTTP; anywhere else it sits behind TLS.
        SESSION_COOKIE_SECURE=settings.console_host not in LOOPBACK,
        # The cookie holds a session id checked on the server (offices/sessions.py); it expires
        # with the session's lifetime from sign-in and is not re-issued on every request.
        PERMANENT_SESSION_LIFETIME=LIFETIME,
        SESSION_REFRESH_EACH_REQUEST=False,
        WTF_CSRF_TIME_LIMIT=int(LIFETIME.total_seconds()),
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    app.json.ensure_ascii = False  # Vietnamese as it is written, in UTF-8
    units = units or load_units(settings.admin_map)
    # Two per serving thread: a request's own, and the rate-limit counters' (offices/ratelimits.py).
    pool = psycopg2.pool.ThreadedConnectionPool(1, 2 * SERVE_THREADS, settings.database_url_as("console"),
                                                connect_timeout=PG_CONNECT_TIMEOUT_S)
    publishers = Publishers(settings)
    atexit.register(publishers.close)
    CSRFProtect(app)
    if settings.console_proxies:
        # Behind N proxies (the TLS proxy, an Ingress): the client's address and scheme are
        # the ones they forward, else every citizen shares the proxy's address and its limit.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.console_proxies, x_proto=settings.console_proxies)
    # Counted in PostgreSQL, shared by every console process (offices/ratelimits.py); in
    # memory, per process, while the database cannot be reached.
    limiter = Limiter(get_remote_address, app=app, storage_uri=f"{ratelimits.SCHEME}://",
                      storage_options={"pool": pool, "secret": app.config["SECRET_KEY"]},
                      in_memory_fallback_enabled=True, default_limits=[], headers_enabled=True)

    def db() -> psycopg2.extensions.connection:
        if "db" not in g:
            g.db = pool.getconn()
        return g.db

    @app.teardown_appcontext
    def give_back(_exc: BaseException | None) -> None:
        conn = g.pop("db", None)
        if conn is not None:
            if not conn.closed:
                conn.rollback()
            pool.putconn(conn, close=bool(conn.closed))

    def lang() -> str:
        return i18n.pick(session.get("lang"))

    def t(key: str, **values: object) -> str:
        return i18n.translate(lang(), key, **values)

    @app.before_request
    def choose_language() -> None:
        if not request.path.startswith("/api/") and request.args.get("lang") in i18n.LANGUAGES:
            session["lang"] = request.args["lang"]

    @app.context_processor
    def template_helpers() -> dict[str, Any]:
        return {"t": t, "lang": lang(), "local": local, "account": g.get("account"),
                "agency": lambda level, unit: agency(units, level, unit, lang()),
                "unit_name": lambda level, code: unit_name(units, level, code)}

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = ("default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                                       "frame-ancestors 'none'; form-action 'self'")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        if request.path.startswith(("/office", "/api")):
            response.headers["Cache-Control"] = "no-store"  # personal data, or a complaint's state
        metrics.REQUESTS.labels(request.endpoint or "none", str(response.status_code)).inc()
        return response

    @app.before_request
    def refuse_control_characters():
        """Rule 5 at the console's edge: NUL, another C0 control character or a lone surrogate in
        the path, a query or form field, or a header is a clear 400, never a 500 (PostgreSQL
        refuses NUL)."""
        texts = [request.path, *request.args.keys(), *request.args.values(), *request.headers.values()]
        if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
            texts += [*request.form.keys(), *request.form.values()]
        if any(forbidden_character(text) for text in texts):
            raise BadRequest("the request holds a control character")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        """One answer for every refusal: the Open311 error list under /api/, the console's page
        elsewhere; never a stack trace."""
        code = exc.code or 500
        if request.path.startswith("/api/"):
            return jsonify([{"code": code, "description": exc.description or exc.name}]), code
        return render_template("message.html", title=f"{code} · {exc.name}"), code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.error("console: %s on %s %s", type(exc).__name__, request.method, request.endpoint, exc_info=exc)
        metrics.REQUESTS.labels(request.endpoint or "none", "500").inc()
        if request.path.startswith("/api/"):
            return jsonify([{"code": 500, "description": "internal error"}]), 500
        return render_template("message.html", title="500 · Internal Server Error"), 500

    @app.errorhandler(CSRFError)
    def csrf_refused(_exc: CSRFError):
        flash(t("form_expired"), "error")
        return render_template("message.html", title=t("form_expired")), 400

    @app.errorhandler(RateLimitExceeded)
    def too_many(_exc: RateLimitExceeded):
        if request.path.startswith("/api/"):
            return jsonify([{"code": 429, "description": "too many requests; try again later"}]), 429
        return render_template("message.html", title=t("too_many")), 429

    # -- accounts and sessions -----------------------------------------------------------

    def signed_in() -> Account | None:
        """The account of a session still valid on the server, else None."""
        session_id = session.get("sid")
        if not session_id:
            return None
        found = Sessions(db()).check(session_id, clock())
        account = Accounts(db(), units).get(found.username) if found else None
        # A disabled account, or a unit no longer in force, ends the session too.
        if account is None or account.disabled or units.unit(account.level, account.unit_code) is None:
            if found:
                Sessions(db()).end(session_id, clock(), "account disabled or unit not in force")
            session.clear()
            return None
        return account

    @app.before_request
    def require_account():
        if not request.path.startswith("/office/") or request.endpoint in ("sign_in", "static"):
            return None
        account = signed_in()
        if account is None:
            return redirect(url_for("sign_in", next=request.full_path.rstrip("?") if request.method == "GET"
                                    else None))
        g.account = account
        return None

    def same_site_path(target: str | None) -> str:
        """Where to go after signing in: a page of this console, normalised, or the queue."""
        home = url_for("queue_page")
        if not target or forbidden_character(target) or "\\" in target or any(ch.isspace() for ch in target):
            return home
        parts = urllib.parse.urlsplit(target)
        path = urllib.parse.unquote(parts.path)
        if parts.scheme or parts.netloc or not path.startswith("/office/") or path.startswith("//") or \
                "/../" in path or forbidden_character(path):
            return home
        return urllib.parse.urlunsplit(("", "", urllib.parse.quote(path), parts.query, ""))

    @app.route("/office/login", methods=["GET", "POST"], endpoint="sign_in")
    @limiter.limit("20 per minute", methods=["POST"])
    @limiter.limit("5 per minute", methods=["POST"],
                   key_func=lambda: "user:" + request.form.get("username", "").strip().lower()[:64])
    def sign_in():
        if request.method == "GET":
            return render_template("login.html", next=request.args.get("next"))
        username = request.form.get("username", "").strip().lower()
        account = Accounts(db(), units).authenticate(username, request.form.get("password", ""))
        metrics.SIGN_INS.labels("ok" if account else "refused").inc()
        if account is None:
            flash(t("bad_credentials"), "error")
            return render_template("login.html", next=request.form.get("next")), 401
        if units.unit(account.level, account.unit_code) is None:  # a unit of another map (a district, 77...)
            flash(t("unit_not_in_force"), "error")
            return render_template("login.html", next=request.form.get("next")), 403
        chosen = session.get("lang")
        session.clear()  # a new session for a new sign-in (no fixation)
        session.permanent = True
        session["sid"] = Sessions(db()).start(account.username, clock())
        if chosen:
            session["lang"] = chosen
        return redirect(same_site_path(request.form.get("next")))

    def signed_out(every: bool = False):
        chosen = session.get("lang")
        session_id = session.get("sid")
        if every and g.get("account") is not None:
            Sessions(db()).end_all(g.account.username, clock(), "signed out everywhere")
        elif session_id:
            Sessions(db()).end(session_id, clock())
        session.clear()
        if chosen:
            session["lang"] = chosen
        return redirect(url_for("sign_in"))

    @app.post("/office/logout", endpoint="sign_out")
    def sign_out():
        return signed_out()

    @app.post("/office/logout-everywhere", endpoint="sign_out_everywhere")
    def sign_out_everywhere():
        """Ends every session of the account: on other computers too."""
        return signed_out(every=True)

    # -- the office's pages --------------------------------------------------------------

    @app.get("/")
    def home():
        return redirect(url_for("queue_page"))

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @app.get("/office/", endpoint="queue_page")
    def queue_page():
        args = request.args
        escalated = {"yes": True, "no": False}.get(args.get("escalated", ""))
        wanted = queries.QueueFilter(
            level=args.get("level") if args.get("level") in units.levels else None,
            category=args.get("category") if args.get("category") in queries.CATEGORIES else None,
            escalated=escalated, search=(args.get("q") or "")[:64] or None)
        now = utcnow()
        rows, total = queries.queue(db(), queries.Scope.of(g.account), wanted)
        for row in rows:
            row["urgency"], row["hours"] = urgency(row["deadline"], now)
        return render_template("queue.html", rows=rows, total=total, wanted=wanted, args=args,
                               categories=[(c, t(f"cat_{c}")) for c in queries.CATEGORIES],
                               levels=[(level, t(f"lvl_{level}")) for level in units.levels])

    @app.get("/office/complaints/<complaint_id>", endpoint="complaint_page")
    def complaint_page(complaint_id: str):
        item = queries.complaint(db(), queries.Scope.of(g.account), complaint_id)
        if item is None:
            abort(404)
        item["urgency"], item["hours"] = urgency(item["deadline"], utcnow())
        return render_template("complaint.html", c=item, s=item["submitted"], r=item["routing"],
                               outcomes=OUTCOMES, correction_rows=CORRECTION_ROWS)

    @app.post("/office/complaints/<complaint_id>/result", endpoint="record_result")
    def record_result(complaint_id: str):
        account: Account = g.account
        item = queries.complaint(db(), queries.Scope.of(account), complaint_id)
        if item is None:
            abort(404)
        if item["resolved"]:  # a second form, or a second tab: the first result stands
            flash(t("already_resolved"), "error")
            return redirect(url_for("complaint_page", complaint_id=complaint_id))
        outcome = request.form.get("outcome")
        if outcome not in OUTCOMES:
            abort(400)
        note = request.form.get("note", "").strip() or None
        event = {"schema_version": 1, "event_id": f"console-{uuid.uuid4()}", "complaint_id": complaint_id,
                 "resolved_at": utcnow().isoformat(timespec="milliseconds"),
                 "resolved_by": {"level": account.level, "unit_code": account.unit_code},
                 "outcome": outcome, "note": note}
        response = request.form.get("response", "").strip()
        if response:
            event["response"] = response
        corrections = corrections_from(request.form)
        if corrections:
            event["corrections"] = corrections  # the publisher validates them as the contract does
        try:
            publishers(account.role).publish_resolution(event)
        except (InvalidEvent, PublishError) as exc:
            metrics.RESULTS.labels("refused" if isinstance(exc, InvalidEvent) else "failed").inc()
            flash(t("result_failed", why=str(exc)), "error")
            return redirect(url_for("complaint_page", complaint_id=complaint_id))
        metrics.RESULTS.labels("sent").inc()
        queries.record_sent(db(), event["event_id"], complaint_id, account.username, outcome)
        deadline = time.monotonic() + RECORD_WAIT_S
        while not queries.resolution_recorded(db(), event["event_id"]) and time.monotonic() < deadline:
            time.sleep(0.2)
        recorded = queries.resolution_recorded(db(), event["event_id"])
        flash(t("result_recorded" if recorded else "result_sent", id=complaint_id), "ok")
        return redirect(url_for("queue_page"))

    # -- delegations: a province grants and revokes its units, and makes their accounts ----------

    def province_only() -> Account:
        account: Account = g.account
        if not account.is_province:
            abort(403)
        return account

    def delegable(province: str) -> list[tuple[str, str]]:
        """The units a province may delegate: its communes in force (under 2021 its districts too)."""
        level = units.levels[-1]
        return sorted((code, unit.name) for code, unit in units.communes.items()
                      if units.province_of(level, code) == province)

    @app.get("/office/units", endpoint="units_page")
    def units_page():
        account = province_only()
        return render_template("units.html", delegated=queries.delegated_units(db(), account.province_code),
                               candidates=delegable(account.province_code), levels=units.levels,
                               password=session.pop("new_password", None))

    @app.post("/office/units", endpoint="grant_unit")
    def grant_unit():
        """One step: the account is made, then the grant published as the province (its own
        delegations topic); if the grant cannot be sent the account is removed again."""
        account = province_only()
        unit = request.form.get("unit", "")
        if unit not in dict(delegable(account.province_code)):
            abort(400)
        accounts = Accounts(db(), units)
        password = generate_password()
        try:
            made = accounts.add(request.form.get("username", "").strip().lower(), "commune", unit, password,
                                request.form.get("name", "").strip()[:200], province_code=account.province_code)
            grant = {"unit_code": unit, "level": "commune", "province_code": account.province_code,
                     "commune_code": unit, "granted_at": clock().isoformat(timespec="seconds"),
                     "granted_by": account.province_code}
            publishers(account.role).grant_delegation(grant)
        except AccountError as exc:
            flash(t("grant_failed", why=str(exc)), "error")
            return redirect(url_for("units_page"))
        except (InvalidEvent, PublishError) as exc:
            accounts.remove(made.username)
            flash(t("grant_failed", why=str(exc)), "error")
            return redirect(url_for("units_page"))
        wait_for(lambda: any(u["unit_code"] == unit for u in queries.delegated_units(db(), account.province_code)))
        session["new_password"] = (made.username, password)
        flash(t("granted", unit=unit_name(units, "commune", unit)), "ok")
        return redirect(url_for("units_page"))

    @app.post("/office/units/<unit_code>/revoke", endpoint="revoke_unit")
    def revoke_unit(unit_code: str):
        """The revocation is published (the unit's open complaints go back to the province), then
        the unit's accounts are disabled, their sessions ended."""
        account = province_only()
        if unit_code not in {u["unit_code"] for u in queries.delegated_units(db(), account.province_code)}:
            abort(404)
        try:
            publishers(account.role).revoke_delegation(unit_code)
        except (InvalidEvent, PublishError) as exc:
            flash(t("grant_failed", why=str(exc)), "error")
            return redirect(url_for("units_page"))
        accounts = Accounts(db(), units)
        disabled = [a for a in accounts.list(account.province_code) if a.unit_code == unit_code and not a.disabled]
        for a in disabled:
            accounts.set_disabled(a.username, True, account.province_code)
        wait_for(lambda: all(u["unit_code"] != unit_code
                             for u in queries.delegated_units(db(), account.province_code)))
        flash(t("revoked", unit=unit_name(units, "commune", unit_code), n=len(disabled)), "ok")
        return redirect(url_for("units_page"))

    def wait_for(recorded: Callable[[], bool]) -> bool:
        """Until the record shows what was just sent (at most RECORD_WAIT_S)."""
        deadline = time.monotonic() + RECORD_WAIT_S
        while not recorded() and time.monotonic() < deadline:
            time.sleep(0.2)
        return recorded()

    @app.get("/office/sla", endpoint="sla_page")
    def sla_page():
        scope = queries.Scope.of(g.account)
        now = utcnow()
        numbers = queries.sla(db(), scope, now)
        days = queries.sla_by_day(db(), scope, now)
        chart = sla_chart(days, {"title": t("last_30_days"), "in_time": t("in_time"), "late": t("late"),
                                 "overdue": t("overdue"), "open": t("open")})
        return render_template("sla.html", numbers=numbers, chart=chart)

    @app.get("/office/digest", endpoint="digest_page")
    def digest_page():
        account: Account = g.account
        found = queries.latest_digest(db(), account.province_code)
        digest = found["payload"] if found else None
        if digest and not account.is_province:  # a delegated unit: its own lines only
            mine = {"level": account.level, "unit_code": account.unit_code}
            own = [h for h in digest["open_by_handler"] if h["handler"] == mine]
            due = [i for i in digest["due_within_24h"] if i["handler"] == mine]
            digest = {**digest, "open_by_handler": own, "due_within_24h": due, "oldest": None,
                      "open_total": sum(h["open"] for h in own), "due_within_24h_total": len(due)}
        return render_template("digest.html", digest=digest, found=found,
                               parse=dt.datetime.fromisoformat)

    # -- the citizens' status lookup -----------------------------------------------------

    def wrong_guess(response: Response) -> bool:
        return response.status_code == 404

    def complaint_key() -> str:
        return (request.view_args or {}).get("complaint_id", "")

    # Wrong guesses only are counted, so that a third party cannot lock a citizen out: 20 an hour
    # per complaint id and address (the guesser's own), and a cap per complaint id across every
    # address, so that 10,000 last-four digits still take a botnet (docs/offices.md, the status lookup).
    @app.get("/api/v1/requests/<complaint_id>.json", endpoint="status_lookup")
    @limiter.limit("30 per minute")
    @limiter.limit("20 per hour", deduct_when=wrong_guess,
                   key_func=lambda: f"complaint:{complaint_key()}:{get_remote_address()}")
    @limiter.limit("300 per day", deduct_when=wrong_guess, key_func=lambda: f"complaint:{complaint_key()}")
    def status_lookup(complaint_id: str):
        row = queries.status(db(), complaint_id) if len(complaint_id) <= 64 else None
        # One answer for an unknown id and a wrong or missing phone: ids cannot be probed.
        if row is None or not phone_matches(row["phone"], request.args.get("phone_last4")):
            metrics.LOOKUPS.labels("not_found").inc()
            return jsonify([{"code": 404, "description": "no such service request"}]), 404
        metrics.LOOKUPS.labels("found").inc()
        answer_lang = "en" if request.args.get("lang") == "en" else "vi"
        return jsonify([open311(row, units, utcnow(), answer_lang)])

    return app

