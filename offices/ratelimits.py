"""The console's rate limits, counted in PostgreSQL so that every console process shares them.

Flask-Limiter (the `limits` library) counts in memory by default: each process counts alone,
and two replicas allow twice the sign-in tries and twice the status lookups docs/offices.md
promises. Its shared backends (Redis, Memcached, MongoDB) are servers this project does not
run; the console already has PostgreSQL. This is a `limits` storage for its fixed windows
(Flask-Limiter's default strategy): one row per key (`console_rate_limits`, unlogged), the
key a keyed hash, since Flask-Limiter's keys hold addresses, usernames and complaint ids.
"""

from __future__ import annotations

import hashlib
import random
import time
from typing import Any

import psycopg2
import psycopg2.pool
from limits.storage import Storage

SCHEME = "complaints+postgresql"
# One incr in this many also deletes the windows that ended (the table stays small).
PURGE_EVERY = 200

_INCR = """
INSERT INTO console_rate_limits AS r (key, hits, expires_at)
VALUES (%(key)s, %(amount)s, extract(epoch FROM clock_timestamp()) + %(expiry)s)
ON CONFLICT (key) DO UPDATE SET
    hits = CASE WHEN r.expires_at <= extract(epoch FROM clock_timestamp())
                THEN EXCLUDED.hits ELSE r.hits + EXCLUDED.hits END,
    expires_at = CASE WHEN r.expires_at <= extract(epoch FROM clock_timestamp())
                      THEN EXCLUDED.expires_at ELSE r.expires_at END
RETURNING hits
"""
_GET = ("SELECT hits, expires_at FROM console_rate_limits "
        "WHERE key = %s AND expires_at > extract(epoch FROM clock_timestamp())")


class PostgresStorage(Storage):
    """`limits` storage over the console's connection pool: Limiter(storage_uri=SCHEME + "://",
    storage_options={"pool": pool, "secret": key})."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False,
                 pool: psycopg2.pool.AbstractConnectionPool | None = None, secret: str = "", **options: Any) -> None:
        super().__init__(uri, wrap_exceptions, **options)
        if pool is None or not secret:
            raise ValueError("PostgresStorage needs the console's connection pool and its secret key")
        self.pool = pool
        self._secret = hashlib.sha256(secret.encode()).digest()

    @property
    def base_exceptions(self) -> type[Exception]:
        return psycopg2.Error

    def _key(self, key: str) -> str:
        return hashlib.blake2b(key.encode(), key=self._secret, digest_size=20).hexdigest()

    def _run(self, sql: str, args: Any) -> tuple | int | None:
        conn = self.pool.getconn()
        try:
            with conn, conn.cursor() as cur:  # commits, or rolls back on an error
                cur.execute(sql, args)
                return cur.fetchone() if cur.description else cur.rowcount
        finally:
            self.pool.putconn(conn, close=bool(conn.closed))

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        if random.randrange(PURGE_EVERY) == 0:
            self._run("DELETE FROM console_rate_limits WHERE expires_at < extract(epoch FROM clock_timestamp())", ())
        row = self._run(_INCR, {"key": self._key(key), "amount": amount, "expiry": expiry})
        return row[0]

    def get(self, key: str) -> int:
        row = self._run(_GET, (self._key(key),))
        return row[0] if row else 0

    def get_expiry(self, key: str) -> float:
        row = self._run(_GET, (self._key(key),))
        return row[1] if row else time.time()

    def check(self) -> bool:
        try:
            return self._run("SELECT 1", ()) == (1,)
        except psycopg2.Error:
            return False

    def reset(self) -> int | None:
        return self._run("DELETE FROM console_rate_limits", ())

    def clear(self, key: str) -> None:
        self._run("DELETE FROM console_rate_limits WHERE key = %s", (self._key(key),))
