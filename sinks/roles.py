"""The database's roles, in one place: least privilege, none of them a superuser at run time.

    client    role                what it does
    sink      complaints          owns the tables: the migrations and the sink's writes
    reports   complaints_reports  reads the record (the SLA reports, the summary)
    console   complaints_console  reads the record, keeps the office accounts

What each role may touch is granted by sinks/migrations/post-apply.sql (every migration run).
Each client connects with its own URL, `<client>.url` in DATABASE_URLS_DIR, its password
generated per install. The local server's roles are made by deploy/postgres/postgres.sh
(as the `postgres` OS user); a server in a container (the compose project, Kubernetes),
whose superuser has a password, by this module:

    python -m sinks roles generate --host postgres   the URLs, fresh passwords, once (DIR)
    python -m sinks roles kubernetes --host postgres the same as a Secret manifest, on stdout
    python -m sinks roles apply                      as the superuser (admin.url): the roles
                                                     with those passwords, the database, the
                                                     migrations and grants; idempotent
    python -m sinks roles rotate CLIENT              a new password in CLIENT's URL (then apply)
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from pathlib import Path

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import parse_dsn

from schemas.reach import PG_CONNECT_TIMEOUT_S
from schemas.settings import DATABASE_CLIENTS
from sinks.migrate import migrate

# client -> PostgreSQL role (deploy/postgres/postgres.sh makes the same three; a test checks it)
ROLES = {"sink": "complaints", "reports": "complaints_reports", "console": "complaints_console"}
assert tuple(ROLES) == DATABASE_CLIENTS
OWNER = ROLES["sink"]
# The server's superuser: only `apply` connects as it, never a service.
ADMIN = "admin"


class RolesError(ValueError):
    """The URLs cannot be applied as they are; the message says what to fix (no password)."""


def new_password() -> str:
    return secrets.token_urlsafe(24)  # URL-safe: no escaping in a libpq URL


def url(user: str, password: str, host: str, port: int, database: str) -> str:
    return f"postgresql://{user}:{password}@{host}:{port}/{database}"


def fresh_urls(host: str, port: int = 5432, database: str = "complaints",
               superuser: str = "postgres") -> dict[str, str]:
    """admin (the superuser) and each client's URL, every password new."""
    urls = {ADMIN: url(superuser, new_password(), host, port, "postgres")}
    urls.update({client: url(role, new_password(), host, port, database) for client, role in ROLES.items()})
    return urls


def password_of(dsn: str) -> str:
    return parse_dsn(dsn).get("password", "")


def read_urls(directory: Path, names: Iterable[str]) -> dict[str, str]:
    urls = {}
    for name in names:
        path = directory / f"{name}.url"
        if not path.is_file():
            raise RolesError(f"roles: no {path} (python -m sinks roles generate makes it)")
        urls[name] = path.read_text(encoding="utf-8").strip()
    return urls


def _write(path: Path, text: str, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text + "\n", encoding="utf-8")
    path.chmod(mode)


def write_urls(directory: Path, urls: dict[str, str]) -> None:
    """DIR/<name>.url for each, and one directory per service's mount, holding only its own:
    mounts/postgres/admin.password (the superuser's password alone, the server's
    POSTGRES_PASSWORD_FILE), mounts/<client>/<client>.url."""
    for name, dsn in urls.items():
        _write(directory / f"{name}.url", dsn)
        if name == ADMIN:
            # Read by the postgres image's own user (not the services' uid), in a volume
            # only the server and this step mount.
            _write(directory / "mounts" / "postgres" / "admin.password", password_of(dsn), 0o444)
        else:
            _write(directory / "mounts" / name / f"{name}.url", dsn)


def generate(directory: Path, host: str, port: int, database: str) -> list[str]:
    """The URLs this install lacks, with fresh passwords; those made before are kept.
    Returns the names made."""
    fresh = fresh_urls(host, port, database)
    made = [name for name in fresh if not (directory / f"{name}.url").is_file()]
    kept = read_urls(directory, [n for n in fresh if n not in made])
    write_urls(directory, {**fresh, **kept})
    return made


def rotate(directory: Path, client: str) -> None:
    """A new password in the client's URL (and its mount); `apply` then sets it on the server."""
    if client not in ROLES:
        raise RolesError(f"roles: no client {client!r}; one of {', '.join(ROLES)}")
    urls = read_urls(directory, [ADMIN, *ROLES])
    params = parse_dsn(urls[client])
    urls[client] = url(params["user"], new_password(), params.get("host", "localhost"),
                       int(params.get("port", 5432)), params["dbname"])
    write_urls(directory, urls)


def kubernetes_secret(urls: dict[str, str], name: str = "postgres", namespace: str = "complaints") -> str:
    """A Secret manifest: the superuser's password (the StatefulSet's POSTGRES_PASSWORD) and
    each URL under `<name>.url`."""
    lines = ["# Made by python -m sinks roles kubernetes: create it once, keep it out of the repository.",
             "apiVersion: v1", "kind: Secret", "metadata:", f"  name: {name}", f"  namespace: {namespace}",
             "type: Opaque", "stringData:", f"  password: {password_of(urls[ADMIN])}"]
    lines += [f"  {key}.url: {dsn}" for key, dsn in urls.items()]
    return "\n".join(lines) + "\n"


def check(urls: dict[str, str]) -> str:
    """The database the client URLs name (one for all), each naming its own role."""
    databases = set()
    for client, role in ROLES.items():
        params = parse_dsn(urls[client])
        if params.get("user") != role:
            raise RolesError(f"roles: {client}.url names the role {params.get('user')!r}, not {role!r}")
        if not params.get("password"):
            raise RolesError(f"roles: {client}.url has no password")
        databases.add(params.get("dbname"))
    if len(databases) != 1 or None in databases:
        raise RolesError("roles: the client URLs must name one database")
    return databases.pop()


def apply(admin_url: str, urls: dict[str, str]) -> list[str]:
    """As the server's superuser: each role exists, logs in with its URL's password and is
    no superuser; the database exists, owned by the sink's role; then, as that role, the
    migrations and the grants. Returns the migrations applied."""
    database = check(urls)
    admin = psycopg2.connect(admin_url, connect_timeout=PG_CONNECT_TIMEOUT_S)
    admin.autocommit = True  # CREATE DATABASE runs outside a transaction
    try:
        with admin.cursor() as cur:
            for client, role in ROLES.items():
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
                if cur.fetchone() is None:
                    cur.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
                # The password is sent as a literal (psycopg2 quotes it), never logged.
                cur.execute(sql.SQL("ALTER ROLE {} LOGIN NOSUPERUSER NOCREATEROLE PASSWORD %s")
                            .format(sql.Identifier(role)), (password_of(urls[client]),))
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database),
                                                                         sql.Identifier(OWNER)))
    finally:
        admin.close()
    return migrate(urls["sink"])
