"""What the console and the status lookup read from the record (the sink's tables).

Every office query is scoped in SQL by `Scope`: a province's account sees the complaints
routed to its jurisdiction topic, a delegated unit's account only those it handles.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import psycopg2
import psycopg2.extras

from offices.accounts import Account
from sinks import report

QUEUE_LIMIT = 500
CATEGORIES = ("missing_record", "incorrect_record", "missing_dose", "certificate", "other")


@dataclass(frozen=True)
class Scope:
    province_code: str
    level: str | None = None     # None: the whole province
    unit_code: str | None = None

    @classmethod
    def of(cls, account: Account) -> "Scope":
        if account.is_province:
            return cls(account.province_code)
        return cls(account.province_code, account.level, account.unit_code)

    # A province sees its jurisdiction in force: what was routed to it, and what old provinces
    # it absorbed hold (the `provinces` table, written from schemas/admin_units.py).
    SQL = """r.route = 'jurisdiction'
             AND r.province_code IN (SELECT code FROM provinces WHERE in_force = %(scope_province)s)
             AND (%(scope_unit)s::text IS NULL
                  OR (r.handler_level = %(scope_level)s AND r.handler_unit = %(scope_unit)s))"""

    def args(self) -> dict[str, Any]:
        return {"scope_province": self.province_code, "scope_level": self.level, "scope_unit": self.unit_code}


@dataclass(frozen=True)
class QueueFilter:
    level: str | None = None      # the complaint's routing level
    category: str | None = None
    escalated: bool | None = None
    search: str | None = None     # a complaint id, or part of one


def _rows(conn: psycopg2.extensions.connection, sql: str, args: dict[str, Any]) -> list[dict[str, Any]]:
    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def queue(conn: psycopg2.extensions.connection, scope: Scope,
          wanted: QueueFilter) -> tuple[list[dict[str, Any]], int]:
    """Open complaints in the scope, earliest deadline first (at most QUEUE_LIMIT), and how many match."""
    search = wanted.search.strip() if wanted.search else None
    sql = f"""
        SELECT *, count(*) OVER () AS matching FROM (
            SELECT r.complaint_id, c.category, r.level, r.handler_level, r.handler_unit, r.recorded_at, r.deadline,
                   r.warnings, c.district_code, c.commune_code,
                   EXISTS (SELECT 1 FROM escalations e WHERE e.complaint_id = r.complaint_id) AS escalated
            FROM routes r
            JOIN complaints c USING (complaint_id)
            WHERE {Scope.SQL}
              AND NOT EXISTS (SELECT 1 FROM accepted_resolutions s WHERE s.complaint_id = r.complaint_id)
              AND (%(level)s::text IS NULL OR r.level = %(level)s)
              AND (%(category)s::text IS NULL OR c.category = %(category)s)
              AND (%(search)s::text IS NULL OR strpos(lower(r.complaint_id), lower(%(search)s)) > 0)
        ) q
        WHERE %(escalated)s::boolean IS NULL OR escalated = %(escalated)s
        ORDER BY deadline, complaint_id
        LIMIT {QUEUE_LIMIT}
    """
    rows = _rows(conn, sql, {**scope.args(), "level": wanted.level, "category": wanted.category,
                             "escalated": wanted.escalated, "search": search or None})
    return rows, (rows[0]["matching"] if rows else 0)


def complaint(conn: psycopg2.extensions.connection, scope: Scope, complaint_id: str) -> dict[str, Any] | None:
    """The complaint as submitted, its routing and its history; None when not in the scope."""
    found = _rows(conn, f"""
        SELECT c.payload AS submitted, r.payload AS routing, r.route, COALESCE(r.first_routed_at, r.routed_at)
               AS routed_at, r.recorded_at, r.deadline, r.handler_level, r.handler_unit,
               (SELECT m.from_handler_level || ' ' || m.from_handler_unit FROM reassignments m
                WHERE m.complaint_id = r.complaint_id ORDER BY m.routed_at LIMIT 1) AS first_handler
        FROM routes r JOIN complaints c USING (complaint_id)
        WHERE r.complaint_id = %(id)s AND {Scope.SQL}
    """, {**scope.args(), "id": complaint_id})
    if not found:
        return None
    item = found[0]
    history: list[dict[str, Any]] = [
        {"at": item["recorded_at"], "event": "submitted"},
        {"at": item["routed_at"], "event": "routed", "route": item["route"],
         "handler": item["first_handler"] or f"{item['handler_level']} {item['handler_unit']}"},
    ]
    for m in _rows(conn, """SELECT routed_at, from_handler_level, from_handler_unit, to_handler_level, to_handler_unit
                             FROM reassignments WHERE complaint_id = %(id)s""", {"id": complaint_id}):
        history.append({"at": m["routed_at"], "event": "reassigned",
                        "handler": f"{m['from_handler_level']} {m['from_handler_unit']} → "
                                   f"{m['to_handler_level']} {m['to_handler_unit']}"})
    for e in _rows(conn, "SELECT escalated_at, stage FROM escalations WHERE complaint_id = %(id)s",
                   {"id": complaint_id}):
        history.append({"at": e["escalated_at"], "event": "escalated", "stage": e["stage"]})
    resolutions = _rows(conn, """
        SELECT s.resolved_at, s.resolved_by_level, s.resolved_by_unit, s.outcome, s.note, a.username
        FROM accepted_resolutions s LEFT JOIN console_results a USING (event_id)
        WHERE s.complaint_id = %(id)s ORDER BY s.resolved_at""", {"id": complaint_id})
    for s in resolutions:
        history.append({"at": s["resolved_at"], "event": "resolved", "outcome": s["outcome"], "note": s["note"],
                        "handler": f"{s['resolved_by_level']} {s['resolved_by_unit']}", "username": s["username"]})
    history.sort(key=lambda h: h["at"])
    item["history"] = history
    item["resolved"] = bool(resolutions)
    item["escalated"] = any(h["event"] == "escalated" for h in history)
    return item


def resolution_recorded(conn: psycopg2.extensions.connection, event_id: str) -> bool:
    return bool(_rows(conn, "SELECT 1 FROM accepted_resolutions WHERE event_id = %(id)s", {"id": event_id}))


def record_sent(conn: psycopg2.extensions.connection, event_id: str, complaint_id: str, username: str,
                outcome: str) -> None:
    with conn, conn.cursor() as cur:
        cur.execute("""INSERT INTO console_results (event_id, complaint_id, username, outcome)
                       VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING""", (event_id, complaint_id, username, outcome))


def sla(conn: psycopg2.extensions.connection, scope: Scope, now: dt.datetime, days: int = 30) -> dict[str, Any]:
    """The SLA report's numbers for the scope over the last `days` days (sinks/report.py)."""
    by = "province" if scope.unit_code is None else "handler"
    headers, rows = report.sla(conn, by, now - dt.timedelta(days=days), now, now, scope.province_code)
    keys = 1 if by == "province" else 2  # the grouping columns before the numbers
    mine = [r for r in rows if by == "province" or tuple(r[:2]) == (scope.level, scope.unit_code)]
    return dict(zip(headers[keys:], mine[0][keys:] if mine else [0] * (len(headers) - keys)))


def sla_by_day(conn: psycopg2.extensions.connection, scope: Scope, now: dt.datetime,
               days: int = 30) -> list[dict[str, Any]]:
    """Per day of recording (Asia/Ho_Chi_Minh) over the last `days` days: how each complaint stands now."""
    return _rows(conn, f"""
        WITH first_resolution AS ({report.FIRST_RESOLUTION}),
        days AS (
            SELECT generate_series((%(now)s AT TIME ZONE 'Asia/Ho_Chi_Minh')::date - (%(days)s - 1),
                                   (%(now)s AT TIME ZONE 'Asia/Ho_Chi_Minh')::date, interval '1 day')::date AS day
        ),
        c AS (
            SELECT (r.recorded_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date AS day, r.deadline, f.resolved_at, f.late
            FROM routes r LEFT JOIN first_resolution f USING (complaint_id)
            WHERE {Scope.SQL}
              AND r.recorded_at >= %(now)s - make_interval(days => %(days)s + 1)
        )
        SELECT d.day,
               count(c.day) FILTER (WHERE NOT c.late) AS in_time,
               count(c.day) FILTER (WHERE c.late) AS late,
               count(c.day) FILTER (WHERE c.resolved_at IS NULL AND c.deadline < %(now)s) AS overdue,
               count(c.day) FILTER (WHERE c.resolved_at IS NULL AND c.deadline >= %(now)s) AS open
        FROM days d LEFT JOIN c USING (day)
        GROUP BY d.day ORDER BY d.day
    """, {**scope.args(), "now": now, "days": days})


def latest_digest(conn: psycopg2.extensions.connection, province_code: str) -> dict[str, Any] | None:
    found = _rows(conn, """SELECT digest_date, generated_at, payload FROM digests WHERE province_code = %(p)s
                           ORDER BY digest_date DESC LIMIT 1""", {"p": province_code})
    return found[0] if found else None


def status(conn: psycopg2.extensions.connection, complaint_id: str) -> dict[str, Any] | None:
    """What the public status lookup needs, and the phone to check it against (never answered)."""
    found = _rows(conn, """
        WITH first_resolution AS (
            SELECT DISTINCT ON (complaint_id) complaint_id, resolved_at, outcome, resolved_by_level,
                   resolved_by_unit, stored_at, payload ->> 'response' AS response
            FROM accepted_resolutions WHERE complaint_id = %(id)s ORDER BY complaint_id, resolved_at
        )
        SELECT c.complaint_id, c.category, c.recorded_at, c.deadline, c.stored_at,
               c.payload #>> '{citizen,phone}' AS phone, c.payload #>> '{site,name}' AS site_name,
               r.route, r.province_code, r.handler_level, r.handler_unit, r.routed_at,
               f.resolved_at, f.outcome, f.resolved_by_level, f.resolved_by_unit, f.response,
               (SELECT max(escalated_at) FROM escalations e WHERE e.complaint_id = c.complaint_id) AS escalated_at
        FROM complaints c
        LEFT JOIN routes r USING (complaint_id)
        LEFT JOIN first_resolution f USING (complaint_id)
        WHERE c.complaint_id = %(id)s
    """, {"id": complaint_id})
    return found[0] if found else None


def delegated_units(conn: psycopg2.extensions.connection, province_code: str) -> list[dict[str, Any]]:
    """The province's delegated units as the record has them (the registry's own function wrote
    them: sinks/rows.py), with their accounts."""
    return _rows(conn, """
        SELECT d.unit_code, d.level, d.granted_at,
               COALESCE(array_agg(a.username ORDER BY a.username) FILTER (WHERE a.username IS NOT NULL
                                                                         AND NOT a.disabled), '{}') AS accounts
        FROM delegations d LEFT JOIN office_accounts a ON a.unit_code = d.unit_code AND a.level = d.level
        WHERE d.province_code = %(p)s AND NOT d.revoked
        GROUP BY d.unit_code, d.level, d.granted_at ORDER BY d.unit_code""", {"p": province_code})
