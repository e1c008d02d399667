"""The database roles' URLs, made per install (sinks/roles.py), without a server."""

from __future__ import annotations

import re
import stat
import subprocess
import sys

import pytest
import yaml
from psycopg2.extensions import parse_dsn

from harness.processes import REPO
from schemas.settings import Settings
from sinks import roles


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_generate_makes_each_url_once_with_its_own_role_and_a_fresh_password(tmp_path):
    made = roles.generate(tmp_path, "postgres", 5432, "complaints")
    assert made == ["admin", "sink", "reports", "console"]
    urls = roles.read_urls(tmp_path, made)
    assert {c: parse_dsn(urls[c])["user"] for c in roles.ROLES} == roles.ROLES
    passwords = {roles.password_of(u) for u in urls.values()}
    assert len(passwords) == 4 and all(len(p) >= 30 for p in passwords)
    assert roles.check({c: urls[c] for c in roles.ROLES}) == "complaints"
    # each service's mount holds its own secret only; the files are the owner's alone
    assert sorted(p.relative_to(tmp_path / "mounts").as_posix() for p in (tmp_path / "mounts").rglob("*.*")) == [
        "console/console.url", "postgres/admin.password", "reports/reports.url", "sink/sink.url"]
    assert (tmp_path / "mounts" / "postgres" / "admin.password").read_text().strip() == roles.password_of(urls["admin"])
    assert all(mode(p) == 0o600 for p in tmp_path.glob("*.url"))
    assert mode(tmp_path / "mounts" / "postgres" / "admin.password") == 0o444  # the postgres image's own uid reads it
    assert roles.generate(tmp_path, "postgres", 5432, "complaints") == []
    assert roles.read_urls(tmp_path, made) == urls  # kept: a restart of the secrets step changes nothing


def test_rotate_changes_one_clients_password_and_its_mount_only(tmp_path):
    roles.generate(tmp_path, "db.internal", 6432, "record")
    before = roles.read_urls(tmp_path, ["admin", *roles.ROLES])
    roles.rotate(tmp_path, "console")
    after = roles.read_urls(tmp_path, ["admin", *roles.ROLES])
    assert after["console"] != before["console"]
    assert parse_dsn(after["console"]) | {"password": ""} == parse_dsn(before["console"]) | {"password": ""}
    assert {k: v for k, v in after.items() if k != "console"} == {k: v for k, v in before.items() if k != "console"}
    assert (tmp_path / "mounts" / "console" / "console.url").read_text().strip() == after["console"]
    with pytest.raises(roles.RolesError, match="no client 'admin'"):
        roles.rotate(tmp_path, "admin")


def test_the_kubernetes_secret_holds_the_superusers_password_and_every_url():
    urls = roles.fresh_urls("postgres")
    secret = yaml.safe_load(roles.kubernetes_secret(urls))
    assert secret["kind"] == "Secret" and secret["metadata"] == {"name": "postgres", "namespace": "complaints"}
    data = secret["stringData"]
    assert data["password"] == roles.password_of(urls["admin"])
    assert {k: v for k, v in data.items() if k != "password"} == {f"{k}.url": v for k, v in urls.items()}
    assert roles.fresh_urls("postgres") != urls  # never the same twice: nothing fixed in the repository


def test_check_refuses_urls_that_cannot_be_applied():
    urls = {c: u for c, u in roles.fresh_urls("postgres").items() if c in roles.ROLES}
    with pytest.raises(roles.RolesError, match="reports.url names the role 'complaints'"):
        roles.check({**urls, "reports": urls["sink"]})
    with pytest.raises(roles.RolesError, match="one database"):
        roles.check({**urls, "console": urls["console"].rpartition("/")[0] + "/other"})
    with pytest.raises(roles.RolesError, match="console.url has no password"):
        roles.check({**urls, "console": "postgresql://complaints_console@postgres/complaints"})


def test_the_local_server_makes_the_same_roles():
    """deploy/postgres/postgres.sh makes the local server's roles without Python (it runs as
    the postgres OS user): its list must be this module's."""
    script = (REPO / "deploy" / "postgres" / "postgres.sh").read_text()
    declared = dict(re.findall(r"\[(\w+)\]=(\w+)", re.search(r"declare -A clients=\((.*)\)", script).group(1)))
    assert declared == roles.ROLES
    made = re.search(r"for r in ([\w ]+); do", script).group(1).split()
    assert sorted(made) == sorted(roles.ROLES.values())


def test_a_container_with_its_own_url_alone_connects_as_its_own_role(tmp_path, monkeypatch):
    """The console's container mounts console.url only (no sink.url)."""
    roles.generate(tmp_path, "postgres", 5432, "complaints")
    console = tmp_path / "mounts" / "console"
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DATABASE_URLS_DIR", str(console))
    settings = Settings.from_env()
    assert settings.database_url_as("console") == (console / "console.url").read_text().strip()
    monkeypatch.setenv("DATABASE_URLS_DIR", str(tmp_path / "mounts" / "sink"))
    sink = Settings.from_env()
    assert sink.database_url == sink.database_url_as("sink") == (tmp_path / "sink.url").read_text().strip()


@pytest.mark.integration
def test_the_cli_prints_a_secret_and_says_what_is_missing(tmp_path):
    done = subprocess.run([sys.executable, "-m", "sinks", "roles", "kubernetes", "--host", "postgres"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and yaml.safe_load(done.stdout)["kind"] == "Secret"
    missing = subprocess.run([sys.executable, "-m", "sinks", "roles", "--dir", str(tmp_path), "apply"],
                             cwd=REPO, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and f"no {tmp_path}/admin.url (python -m sinks roles generate" in missing.stderr
