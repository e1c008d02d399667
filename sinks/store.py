"""Batched, idempotent writes: every statement upserts on the event's identity."""

from __future__ import annotations

import psycopg2
from psycopg2.extras import execute_values

from sinks.rows import Batch, quarantine_row

INSERTS = {
    "complaints": """INSERT INTO complaints (complaint_id, event_id, recorded_at, deadline, category,
                       province_code, district_code, commune_code, site_code, payload, kafka_partition,
                       kafka_offset)
                     VALUES %s ON CONFLICT (complaint_id) DO UPDATE
                     SET kafka_partition = COALESCE(complaints.kafka_partition, EXCLUDED.kafka_partition),
                         kafka_offset = COALESCE(complaints.kafka_offset, EXCLUDED.kafka_offset)
                     WHERE complaints.kafka_partition IS NULL AND EXCLUDED.kafka_partition IS NOT NULL""",
    # A complaint is routed once; a later route of it is a move (the cut-over, a revoked
    # delegation): the latest wins, whichever topic the sink reads first; the first province
    # and time stay.
    "routes": f"""INSERT INTO routes (complaint_id, route, topic, province_code, level, handler_level, handler_unit,
                    warnings, recorded_at, deadline, routed_at, payload, admin_map, location_in_force,
                    first_province_code, first_routed_at)
                  VALUES %s ON CONFLICT (complaint_id) DO UPDATE
                  SET {", ".join(f"{c} = CASE WHEN routes.routed_at < EXCLUDED.routed_at THEN EXCLUDED.{c} ELSE routes.{c} END"
                                 for c in ("route", "topic", "province_code", "level", "handler_level", "handler_unit",
                                           "warnings", "routed_at", "payload", "admin_map", "location_in_force"))},
                      first_province_code = CASE WHEN EXCLUDED.first_routed_at < routes.first_routed_at
                                                 THEN EXCLUDED.first_province_code ELSE routes.first_province_code END,
                      first_routed_at = LEAST(routes.first_routed_at, EXCLUDED.first_routed_at),
                      stored_at = now()
                  WHERE routes.routed_at <> EXCLUDED.routed_at""",
    "reassignments": """INSERT INTO reassignments (complaint_id, routed_at, reason, from_topic, from_province,
                          from_handler_level, from_handler_unit, to_topic, to_province, to_handler_level,
                          to_handler_unit)
                        VALUES %s ON CONFLICT DO NOTHING""",
    # The worker's verdict on each resolution; a corrected resolution replayed under the same
    # event id is judged again: the later verdict (in complaints.verdicts, the complaint's
    # partition, in the order of judgement) stands.
    "resolutions": """INSERT INTO resolutions (event_id, complaint_id, resolved_at, resolved_by_level,
                        resolved_by_unit, outcome, note, payload, verdict, reason, late, after_escalation,
                        judged_at, read_topic, read_partition, read_offset, verdict_offset)
                      VALUES %s ON CONFLICT (event_id) DO UPDATE
                      SET complaint_id = EXCLUDED.complaint_id, resolved_at = EXCLUDED.resolved_at,
                          resolved_by_level = EXCLUDED.resolved_by_level, resolved_by_unit = EXCLUDED.resolved_by_unit,
                          outcome = EXCLUDED.outcome, note = EXCLUDED.note, payload = EXCLUDED.payload,
                          verdict = EXCLUDED.verdict, reason = EXCLUDED.reason, late = EXCLUDED.late,
                          after_escalation = EXCLUDED.after_escalation, judged_at = EXCLUDED.judged_at,
                          read_topic = EXCLUDED.read_topic, read_partition = EXCLUDED.read_partition,
                          read_offset = EXCLUDED.read_offset, verdict_offset = EXCLUDED.verdict_offset,
                          stored_at = now()
                      WHERE resolutions.verdict_offset IS NULL OR resolutions.verdict_offset < EXCLUDED.verdict_offset""",
    "escalations": """INSERT INTO escalations (event_id, complaint_id, stage, recorded_at, deadline, escalated_at,
                        overdue_seconds, route, province_code, handler_level, handler_unit, payload)
                      VALUES %s ON CONFLICT DO NOTHING""",
    # A unit's grant from its province's topic ("own") decides over admin's ("shared"); within a
    # layer the later offset wins (offsets of different topics are not compared).
    "delegations": """INSERT INTO delegations (unit_code, level, province_code, district_code, commune_code,
                        granted_at, granted_by, kafka_offset, layer)
                      VALUES %s ON CONFLICT (unit_code) DO UPDATE
                      SET level = EXCLUDED.level, province_code = EXCLUDED.province_code,
                          district_code = EXCLUDED.district_code, commune_code = EXCLUDED.commune_code,
                          granted_at = EXCLUDED.granted_at, granted_by = EXCLUDED.granted_by,
                          revoked = false, kafka_offset = EXCLUDED.kafka_offset, layer = EXCLUDED.layer,
                          stored_at = now()
                      WHERE (delegations.layer = EXCLUDED.layer AND delegations.kafka_offset < EXCLUDED.kafka_offset)
                         OR (delegations.layer = 'shared' AND EXCLUDED.layer = 'own')""",
    "dead_letters": """INSERT INTO dead_letters (source_topic, partition, "offset", error, detail, key, raw,
                         raw_encoding, failed_at, original)
                       VALUES %s ON CONFLICT DO NOTHING""",
    "digests": """INSERT INTO digests (event_id, province_code, digest_date, generated_at, open_total, payload)
                  VALUES %s ON CONFLICT DO NOTHING""",
}
QUARANTINE = """INSERT INTO quarantine (topic, partition, "offset", kind, error, key, value)
                VALUES %s ON CONFLICT DO NOTHING"""
REVOKE = """UPDATE delegations AS d SET revoked = true, kafka_offset = v.kafka_offset, layer = v.layer,
                stored_at = now()
            FROM (VALUES %s) AS v (unit_code, layer, kafka_offset)
            WHERE d.unit_code = v.unit_code
              AND ((d.layer = v.layer AND d.kafka_offset < v.kafka_offset) OR (d.layer = 'shared' AND v.layer = 'own'))"""


# The database is unreachable or restarting: keep the batch and retry it whole. Any other
# error is about a row's content: the batch is written again row by row and what is
# refused is set aside in quarantine, so it never blocks the rows after it.
UNAVAILABLE = (psycopg2.OperationalError, psycopg2.InterfaceError)


def write(conn: psycopg2.extensions.connection, batch: Batch) -> dict[str, int]:
    """Write the batch in one transaction; return rows written per table, and rows set aside
    per kind as "quarantine/<kind>"."""
    try:
        with conn:  # commits, or rolls back on error
            with conn.cursor() as cur:
                return _write_all(cur, batch)
    except UNAVAILABLE:
        raise
    except (psycopg2.Error, ValueError):  # ValueError: psycopg2 refuses NUL in text client-side
        with conn:
            with conn.cursor() as cur:
                return _write_row_by_row(cur, batch)


def _table_rows(batch: Batch) -> list[tuple[str, str, list[tuple[object, tuple]]]]:
    tables = [(table, sql, list(getattr(batch, table).items())) for table, sql in INSERTS.items()]
    tables.append(("revocations", REVOKE, [(identity, (*identity, offset))
                                           for identity, offset in batch.revocations.items()]))
    return tables


def _write_all(cur: psycopg2.extensions.cursor, batch: Batch) -> dict[str, int]:
    written: dict[str, int] = {}
    for table, sql, rows in _table_rows(batch):
        if rows:
            execute_values(cur, sql, [row for _, row in rows], page_size=len(rows))  # one statement
            name = "delegations" if table == "revocations" else table
            written[name] = written.get(name, 0) + cur.rowcount
    _set_aside(cur, batch.quarantine, written)
    return written


def _set_aside(cur: psycopg2.extensions.cursor, rows: dict[tuple, tuple], written: dict[str, int]) -> None:
    """Store quarantined rows; count them as "quarantine/<kind>"."""
    if not rows:
        return
    execute_values(cur, QUARANTINE, list(rows.values()), page_size=len(rows))
    for topic, partition, offset, kind in rows:
        written[f"quarantine/{kind}"] = written.get(f"quarantine/{kind}", 0) + 1


def _write_row_by_row(cur: psycopg2.extensions.cursor, batch: Batch) -> dict[str, int]:
    written: dict[str, int] = {}
    refused: dict[tuple, tuple] = dict(batch.quarantine)
    for table, sql, rows in _table_rows(batch):
        name = "delegations" if table == "revocations" else table
        for identity, row in rows:
            cur.execute("SAVEPOINT row")
            try:
                execute_values(cur, sql, [row])
                written[name] = written.get(name, 0) + cur.rowcount
                cur.execute("RELEASE SAVEPOINT row")
            except UNAVAILABLE:
                raise
            except (psycopg2.Error, ValueError) as exc:
                cur.execute("ROLLBACK TO SAVEPOINT row")
                origin = batch.origins[(table, identity)]
                refused[(origin.topic, origin.partition, origin.offset, name)] = quarantine_row(
                    origin, name, refusal(exc))
    _set_aside(cur, refused, written)
    return written


def refusal(exc: Exception) -> str:
    """The error's class, SQLSTATE and first line (its detail lines can quote values)."""
    code = getattr(exc, "pgcode", None)
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}{f' [{code}]' if code else ''}: {first}"
