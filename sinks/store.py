"""Batched, idempotent writes: every statement upserts on the event's identity."""

from __future__ import annotations

import psycopg2
from psycopg2.extras import execute_values

from sinks.rows import Batch

INSERTS = {
    "complaints": """INSERT INTO complaints (complaint_id, event_id, recorded_at, deadline, category,
                       province_code, district_code, commune_code, site_code, payload, kafka_partition,
                       kafka_offset)
                     VALUES %s ON CONFLICT (complaint_id) DO UPDATE
                     SET kafka_partition = COALESCE(complaints.kafka_partition, EXCLUDED.kafka_partition),
                         kafka_offset = COALESCE(complaints.kafka_offset, EXCLUDED.kafka_offset)
                     WHERE complaints.kafka_partition IS NULL AND EXCLUDED.kafka_partition IS NOT NULL""",
    "routes": """INSERT INTO routes (complaint_id, route, topic, province_code, level, handler_level, handler_unit,
                   warnings, recorded_at, deadline, routed_at, payload)
                 VALUES %s ON CONFLICT (complaint_id) DO NOTHING""",
    "resolutions": """INSERT INTO resolutions (event_id, complaint_id, resolved_at, resolved_by_level,
                        resolved_by_unit, outcome, note, payload)
                      VALUES %s ON CONFLICT (event_id) DO NOTHING""",
    "escalations": """INSERT INTO escalations (event_id, complaint_id, stage, recorded_at, deadline, escalated_at,
                        overdue_seconds, route, province_code, handler_level, handler_unit, payload)
                      VALUES %s ON CONFLICT DO NOTHING""",
    "delegations": """INSERT INTO delegations (unit_code, level, province_code, district_code, commune_code,
                        granted_at, granted_by, kafka_offset)
                      VALUES %s ON CONFLICT (unit_code) DO UPDATE
                      SET level = EXCLUDED.level, province_code = EXCLUDED.province_code,
                          district_code = EXCLUDED.district_code, commune_code = EXCLUDED.commune_code,
                          granted_at = EXCLUDED.granted_at, granted_by = EXCLUDED.granted_by,
                          revoked = false, kafka_offset = EXCLUDED.kafka_offset, stored_at = now()
                      WHERE delegations.kafka_offset < EXCLUDED.kafka_offset""",
    "dead_letters": """INSERT INTO dead_letters (source_topic, partition, "offset", error, detail, key, raw,
                         raw_encoding, failed_at)
                       VALUES %s ON CONFLICT DO NOTHING""",
    "digests": """INSERT INTO digests (event_id, province_code, digest_date, generated_at, open_total, payload)
                  VALUES %s ON CONFLICT DO NOTHING""",
}
REVOKE = """UPDATE delegations AS d SET revoked = true, kafka_offset = v.kafka_offset, stored_at = now()
            FROM (VALUES %s) AS v (unit_code, kafka_offset)
            WHERE d.unit_code = v.unit_code AND d.kafka_offset < v.kafka_offset"""


def write(conn: psycopg2.extensions.connection, batch: Batch) -> dict[str, int]:
    """Write the batch in one transaction; return rows written per table."""
    written: dict[str, int] = {}
    with conn:  # commits, or rolls back on error
        with conn.cursor() as cur:
            for table, sql in INSERTS.items():
                rows = list(getattr(batch, table).values())
                if rows:
                    execute_values(cur, sql, rows, page_size=len(rows))  # one statement: rowcount covers all
                    written[table] = cur.rowcount
            if batch.revocations:
                execute_values(cur, REVOKE, list(batch.revocations.items()), page_size=len(batch.revocations))
                written["delegations"] = written.get("delegations", 0) + cur.rowcount
    return written
