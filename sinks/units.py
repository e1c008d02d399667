"""The record's copy of the province data: which province of the map in force holds each code.

schemas/admin_units.py is the one source; the sink writes this table at every start, so that
the SLA reports and the console group by the province in force (after a switch of ADMIN_MAP,
at the sink's next start) without writing the map again in SQL.
"""

from __future__ import annotations

import psycopg2
from psycopg2.extras import execute_values

from schemas.admin_units import load


def refresh_provinces(database_url: str, admin_map: str) -> int:
    """Replace the `provinces` rows with those of `admin_map`; return how many there are."""
    units = load(admin_map)
    codes = sorted(set(units.history.provinces) | set(units.provinces))
    rows = []
    for code in codes:
        in_force = units.province_in_force(code)
        assert in_force is not None, code
        rows.append((code, units.name("province", code) or code, in_force, units.provinces[in_force].name, admin_map))
    with psycopg2.connect(database_url, application_name="complaints-sink") as conn, conn.cursor() as cur:
        cur.execute("LOCK TABLE provinces IN EXCLUSIVE MODE")
        cur.execute("DELETE FROM provinces")
        execute_values(cur, "INSERT INTO provinces (code, name, in_force, in_force_name, admin_map) VALUES %s", rows)
    conn.close()
    return len(rows)
