"""Schema migrations: versioned SQL files in sinks/migrations/, applied by yoyo-migrations.

yoyo keeps the applied versions in its own table, takes a lock so two sinks starting at
once do not race, and needs no ORM: the migrations stay plain SQL a DBA can read.
"""

from __future__ import annotations

from pathlib import Path

from yoyo import get_backend, read_migrations

MIGRATIONS = Path(__file__).with_name("migrations")


def migrate(database_url: str) -> list[str]:
    """Apply what is missing, then the grants (post-apply.sql) on every run, not only when
    something was missing: a role made after the tables gets them; return the ids applied."""
    backend = get_backend(database_url)
    migrations = read_migrations(str(MIGRATIONS))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations_only(pending)
        backend.run_post_apply(migrations)
    return [m.id for m in pending]
