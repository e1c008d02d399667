"""`python -m sinks roles apply`, what the compose project and Kubernetes run as the server's
superuser, on the real local server: a database of its own, owned by the sink's role, the
migrations and the grants, run as a user would run it. The roles are the local stack's own
(the same passwords, read from .run/postgres), so nothing else on the server changes."""

from __future__ import annotations

import secrets
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import errors
from psycopg2.extensions import parse_dsn

from harness.processes import REPO, drop_database
from sinks import roles

pytestmark = pytest.mark.integration
LOCAL = REPO / ".run" / "postgres"


def as_postgres(sql: str, port: str) -> None:
    """As the server's OS superuser (peer authentication), the statement on standard input."""
    done = subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-q", "-p", port, "-v", "ON_ERROR_STOP=1"],
                          input=sql, text=True, capture_output=True, cwd="/")
    assert done.returncode == 0, done.stderr


@pytest.fixture
def install(tmp_path: Path):
    """A directory as `roles generate` leaves it: admin.url (a superuser made for the test)
    and the clients' URLs, naming a database that does not exist yet."""
    try:
        local = roles.read_urls(LOCAL, roles.ROLES)
    except roles.RolesError as exc:
        pytest.fail(f"{exc}: the local roles are made by `make services` (deploy/postgres/postgres.sh)")
    port = parse_dsn(local["sink"]).get("port", "5432")
    superuser, password = f"roles_test_{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(18)
    as_postgres(f"CREATE ROLE {superuser} LOGIN SUPERUSER PASSWORD '{password}';", port)
    database = f"roles_{uuid.uuid4().hex[:8]}"
    urls = {roles.ADMIN: roles.url(superuser, password, "127.0.0.1", int(port), "postgres")}
    for client, dsn in local.items():
        urls[client] = f"{dsn.rpartition('/')[0]}/{database}"
    roles.write_urls(tmp_path, urls)
    yield tmp_path, urls, database
    drop_database(urls[roles.ADMIN], database)
    as_postgres(f"DROP ROLE IF EXISTS {superuser};", port)


def apply_cli(directory: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sinks", "roles", "--dir", str(directory), "apply"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)


def test_apply_makes_the_database_owned_by_the_sink_with_every_grant_and_runs_again(install):
    directory, urls, database = install
    first = apply_cli(directory)
    assert first.returncode == 0, first.stderr
    assert "migrations applied: 0001_initial" in first.stderr
    assert roles.password_of(urls["sink"]) not in first.stdout + first.stderr
    with psycopg2.connect(urls[roles.ADMIN]) as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (database,))
        assert cur.fetchone() == ("complaints",)
        cur.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s) AND NOT rolsuper ORDER BY 1",
                    (list(roles.ROLES.values()),))
        assert [r for (r,) in cur.fetchall()] == sorted(roles.ROLES.values())
    with psycopg2.connect(urls["console"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM office_accounts")
        assert cur.fetchone() == (0,)
    with psycopg2.connect(urls["reports"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM complaints")
        with pytest.raises(errors.InsufficientPrivilege):
            cur.execute("SELECT count(*) FROM office_accounts")
    again = apply_cli(directory)
    assert again.returncode == 0 and "migrations applied: none missing" in again.stderr, again.stderr


def test_the_grants_come_back_on_every_migration_run_not_only_the_first(install):
    """A role made after the tables (a server whose roles came later) gets its grants at the
    sink's next start: the grants run after every migration run."""
    directory, urls, _ = install
    assert apply_cli(directory).returncode == 0
    with psycopg2.connect(urls["sink"]) as conn, conn.cursor() as cur:
        cur.execute("REVOKE SELECT ON complaints FROM complaints_reports")
    with psycopg2.connect(urls["reports"]) as conn, conn.cursor() as cur:
        with pytest.raises(errors.InsufficientPrivilege):
            cur.execute("SELECT count(*) FROM complaints")
    done = subprocess.run([sys.executable, "-m", "sinks", "migrate"], cwd=REPO, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "DATABASE_URL": urls["sink"]}, timeout=60)
    assert done.returncode == 0 and "nothing, schema up to date" in done.stdout, done.stderr
    with psycopg2.connect(urls["reports"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM complaints")
        assert cur.fetchone() == (0,)


def test_apply_refuses_a_url_naming_another_role_and_says_which_without_the_password(install):
    directory, urls, _ = install
    wrong = urls["console"].replace("complaints_console:", "complaints:")
    (directory / "console.url").write_text(wrong)
    done = apply_cli(directory)
    assert done.returncode == 1
    assert "console.url names the role 'complaints', not 'complaints_console'" in done.stderr
    assert roles.password_of(wrong) not in done.stderr
