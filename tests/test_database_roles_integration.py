"""Who may touch what in PostgreSQL: roles made by deploy/postgres/postgres.sh with generated
passwords, privileges granted by the migrations; each refusal proven on the real server."""

from __future__ import annotations

import stat

import psycopg2
import pytest
from psycopg2 import errors

from harness.processes import REPO
from schemas.settings import DEFAULT_DATABASE_URL
from sinks.migrate import migrate

pytestmark = pytest.mark.integration
URLS = REPO / ".run" / "postgres"


def role_url(client: str, database_url: str) -> str:
    """The client's role (its generated password) on the test's own database."""
    path = URLS / f"{client}.url"
    if not path.is_file():
        pytest.fail(f"no {path}: the local PostgreSQL's roles are made by `make services` (deploy/postgres/postgres.sh)")
    base, _, _ = path.read_text().strip().rpartition("/")
    return f"{base}/{database_url.rpartition('/')[2]}"


def refused(url: str, sql: str) -> bool:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
        return False
    except errors.InsufficientPrivilege:
        return True
    finally:
        conn.rollback()
        conn.close()


@pytest.fixture(scope="module")
def migrated(database):
    migrate(database.database_url)
    return database


def test_passwords_are_generated_per_install_and_no_role_is_a_superuser(migrated):
    for role in ("complaints", "complaints_reports", "complaints_console"):
        secret = URLS / f"{role}.password"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        password = secret.read_text().strip()
        assert len(password) >= 20 and password != "complaints"
    assert ":" not in DEFAULT_DATABASE_URL.split("@")[0].removeprefix("postgresql://")  # no password in the code
    with psycopg2.connect(role_url("sink", migrated.database_url)) as conn, conn.cursor() as cur:
        cur.execute("SELECT rolname, rolsuper FROM pg_roles WHERE rolname LIKE 'complaints%' ORDER BY rolname")
        assert cur.fetchall() == [("complaints", False), ("complaints_console", False), ("complaints_reports", False)]
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(role_url("reports", migrated.database_url).replace(
            (URLS / "complaints_reports.password").read_text().strip(), "complaints")).close()


def test_the_reports_read_the_record_and_nothing_else(migrated):
    url = role_url("reports", migrated.database_url)
    assert not refused(url, "SELECT count(*) FROM complaints JOIN routes USING (complaint_id)")
    assert not refused(url, "SELECT count(*) FROM complaint_status")
    assert refused(url, "INSERT INTO digests VALUES ('x', '01', '2026-01-01', now(), 0, '{}')")
    assert refused(url, "DELETE FROM resolutions")
    assert refused(url, "SELECT password_hash FROM office_accounts")  # not even the hashes
    assert refused(url, "CREATE TABLE mine (x int)")


def test_the_console_keeps_accounts_and_reads_the_record_but_cannot_change_it(migrated):
    url = role_url("console", migrated.database_url)
    assert not refused(url, "SELECT count(*) FROM accepted_resolutions")
    assert not refused(url, "UPDATE office_accounts SET disabled = disabled WHERE false")
    assert not refused(url, "SELECT count(*) FROM console_results")
    assert refused(url, "DELETE FROM complaints")
    assert refused(url, "INSERT INTO resolutions (event_id, complaint_id, resolved_at, resolved_by_level, "
                        "resolved_by_unit, outcome, payload) VALUES ('x', 'x', now(), 'province', '79', 'updated', '{}')")
    assert refused(url, "SELECT * FROM dead_letters")  # raw payloads: not the console's
    assert refused(url, "DROP TABLE console_results")
    assert not refused(url, "DELETE FROM console_rate_limits WHERE false")  # its own counters
    assert refused(role_url("reports", migrated.database_url), "SELECT * FROM console_rate_limits")
