"""SLA reports from the record: compliance per province or handler, and an office's overdue list."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from typing import Any

import psycopg2
from tabulate import tabulate

from schemas.times import ICT

# The resolution the worker counted (one per complaint at most), with its verdict: late or not,
# read after the escalation or not (complaints.verdicts; migration 0008). Nothing is judged here.
FIRST_RESOLUTION = """
    SELECT complaint_id, resolved_at, late, after_escalation, outcome,
           CASE WHEN jsonb_typeof(payload -> 'corrections') = 'array'
                THEN jsonb_array_length(payload -> 'corrections') ELSE 0 END AS corrections
    FROM accepted_resolutions
"""

# "province": the one scope of a province's numbers, as its console queue holds them: the
# jurisdiction complaints of the province in force (an old province's count for its successor);
# site-system and triage routes are grouped apart. "first-province": the province a complaint
# was first routed to.
GROUPINGS = {
    "province": (["COALESCE(r.province_in_force, CASE WHEN r.route IS NULL THEN '(unrouted)' ELSE '(national)' END)"],
                 ["province"]),
    "first-province": (["COALESCE(r.first_province_code, CASE WHEN r.route IS NULL THEN '(unrouted)' "
                        "ELSE '(national)' END)"], ["first_province"]),
    "handler": (["COALESCE(r.handler_level, '(unrouted)')", "COALESCE(r.handler_unit, '')"],
                ["handler_level", "handler_unit"]),
}

SLA_COLUMNS = ["received", "resolved_in_48h", "resolved_late", "open_overdue", "open_in_time",
               "compliance_pct", "median_h", "p90_h", "escalated_then_in_time", "updated", "updated_with_corrections",
               "doses_corrected"]


def sla(conn: psycopg2.extensions.connection, by: str, start: dt.datetime, end: dt.datetime,
        as_of: dt.datetime, province: str | None = None) -> tuple[list[str], list[tuple]]:
    """Complaints recorded in [start, end), as they stand at `as_of`."""
    exprs, names = GROUPINGS[by]
    group = ", ".join(exprs)
    select = ", ".join(f"{e} AS {n}" for e, n in zip(exprs, names))
    sql = f"""
        WITH first_resolution AS ({FIRST_RESOLUTION}),
        c AS (
            SELECT c.complaint_id, c.recorded_at, c.deadline, r.route,
                   CASE WHEN r.route = 'jurisdiction' THEN p.in_force
                        WHEN r.route IS NOT NULL THEN '(' || r.route || ')' END AS province_in_force,
                   r.first_province_code, r.handler_level, r.handler_unit,
                   CASE WHEN f.resolved_at <= %(as_of)s THEN f.resolved_at END AS resolved_at,
                   CASE WHEN f.resolved_at <= %(as_of)s THEN f.late END AS late,
                   CASE WHEN f.resolved_at <= %(as_of)s THEN f.after_escalation END AS after_escalation,
                   CASE WHEN f.resolved_at <= %(as_of)s THEN f.outcome END AS outcome,
                   CASE WHEN f.resolved_at <= %(as_of)s THEN f.corrections END AS corrections,
                   (SELECT min(e.escalated_at) FROM escalations e
                    WHERE e.complaint_id = c.complaint_id AND e.stage = 1) AS escalated_at
            FROM complaints c
            LEFT JOIN routes r USING (complaint_id)
            LEFT JOIN provinces p ON p.code = r.province_code
            LEFT JOIN first_resolution f USING (complaint_id)
            WHERE c.recorded_at >= %(start)s AND c.recorded_at < %(end)s
              AND (%(province)s::text IS NULL OR (r.route = 'jurisdiction' AND p.in_force = %(province)s))
        )
        SELECT {select},
            count(*) AS received,
            count(*) FILTER (WHERE NOT late) AS resolved_in_48h,
            count(*) FILTER (WHERE late) AS resolved_late,
            count(*) FILTER (WHERE resolved_at IS NULL AND deadline < %(as_of)s) AS open_overdue,
            count(*) FILTER (WHERE resolved_at IS NULL AND deadline >= %(as_of)s) AS open_in_time,
            round(100.0 * count(*) FILTER (WHERE NOT late)
                  / NULLIF(count(*) FILTER (WHERE resolved_at IS NOT NULL OR deadline < %(as_of)s), 0), 1)
                AS compliance_pct,
            round((percentile_cont(0.5) WITHIN GROUP (
                ORDER BY extract(epoch FROM resolved_at - recorded_at)) / 3600)::numeric, 2) AS median_h,
            round((percentile_cont(0.9) WITHIN GROUP (
                ORDER BY extract(epoch FROM resolved_at - recorded_at)) / 3600)::numeric, 2) AS p90_h,
            count(*) FILTER (WHERE NOT late AND after_escalation AND escalated_at <= %(as_of)s)
                AS escalated_then_in_time,
            count(*) FILTER (WHERE outcome = 'updated') AS updated,
            count(*) FILTER (WHERE corrections > 0) AS updated_with_corrections,
            COALESCE(sum(corrections), 0) AS doses_corrected
        FROM c AS r
        GROUP BY {group}
        ORDER BY {group}
    """
    with conn.cursor() as cur:
        cur.execute(sql, {"start": start, "end": end, "as_of": as_of, "province": province})
        return names + SLA_COLUMNS, cur.fetchall()


def overdue(conn: psycopg2.extensions.connection, level: str, unit: str,
            as_of: dt.datetime) -> tuple[list[str], list[tuple]]:
    """Open complaints of one office whose deadline has passed, oldest first."""
    sql = f"""
        WITH first_resolution AS ({FIRST_RESOLUTION})
        SELECT r.complaint_id, r.province_code, c.category, r.recorded_at, r.deadline,
               round((extract(epoch FROM %(as_of)s - r.deadline) / 3600)::numeric, 1) AS overdue_h,
               EXISTS (SELECT 1 FROM escalations e WHERE e.complaint_id = r.complaint_id) AS escalated
        FROM routes r
        JOIN complaints c USING (complaint_id)
        LEFT JOIN first_resolution f USING (complaint_id)
        WHERE r.handler_level = %(level)s AND r.handler_unit = %(unit)s
          AND r.deadline < %(as_of)s AND (f.resolved_at IS NULL OR f.resolved_at > %(as_of)s)
        ORDER BY r.deadline, r.complaint_id
    """
    with conn.cursor() as cur:
        cur.execute(sql, {"level": level, "unit": unit, "as_of": as_of})
        return ["complaint_id", "province", "category", "recorded_at", "deadline", "overdue_h", "escalated"], \
            cur.fetchall()


def quarantined(conn: psycopg2.extensions.connection, limit: int) -> tuple[list[str], list[tuple]]:
    """Events set aside, newest first: where they were read, what they were for, and why.
    The bytes stay in the table (key, value), never on a terminal: they may hold personal data."""
    with conn.cursor() as cur:
        cur.execute("""SELECT quarantined_at, topic, partition, "offset", kind, error, octet_length(value)
                       FROM quarantine ORDER BY quarantined_at DESC, topic, partition, "offset" LIMIT %s""",
                    (limit,))
        return ["quarantined_at", "topic", "partition", "offset", "kind", "error", "bytes"], cur.fetchall()


def render(headers: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> str:
    """A table or CSV; times in Asia/Ho_Chi_Minh, as the offices read them (with the offset)."""
    rows = [[v.astimezone(ICT) if isinstance(v, dt.datetime) else v for v in row] for row in rows]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(headers)
        for row in rows:
            writer.writerow(["" if v is None else v.isoformat() if isinstance(v, (dt.datetime, dt.date)) else v
                             for v in row])
        return out.getvalue()
    return tabulate(rows, headers=headers, tablefmt="simple", missingval="-", floatfmt=".2f")
