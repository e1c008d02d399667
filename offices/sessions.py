"""The console's sessions, kept on the server (migration 0009).

The signed cookie holds only a random session id; every office request checks it here, so a
cookie copied before its owner signed out, or older than its lifetime, opens nothing. A session
ends when its owner signs out, signs out everywhere, has the password reset or the account
disabled; it lives at most `lifetime` from sign-in (8 hours, however busy) and ends after
`idle` without a request (2 hours: a shared office computer left signed in).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

import psycopg2

LIFETIME = dt.timedelta(hours=8)
IDLE = dt.timedelta(hours=2)
TOUCH_EVERY = dt.timedelta(minutes=1)  # last_seen_at is written at most this often


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    username: str
    created_at: dt.datetime
    last_seen_at: dt.datetime


class Sessions:
    def __init__(self, conn: psycopg2.extensions.connection, lifetime: dt.timedelta = LIFETIME,
                 idle: dt.timedelta = IDLE) -> None:
        self.conn = conn
        self.lifetime = lifetime
        self.idle = idle

    def start(self, username: str, now: dt.datetime) -> str:
        """A new session for a sign-in; returns its id (for the cookie)."""
        session_id = secrets.token_urlsafe(32)
        with self.conn, self.conn.cursor() as cur:
            cur.execute("""INSERT INTO console_sessions (id_hash, username, created_at, last_seen_at)
                           VALUES (%s, %s, %s, %s)""", (_hash(session_id), username, now, now))
        return session_id

    def check(self, session_id: str, now: dt.datetime) -> Session | None:
        """The session when it is still valid (and it is seen now), else None (and it ends)."""
        with self.conn, self.conn.cursor() as cur:
            cur.execute("""SELECT username, created_at, last_seen_at, ended_at FROM console_sessions
                           WHERE id_hash = %s""", (_hash(session_id),))
            row = cur.fetchone()
            if row is None or row[3] is not None:
                return None
            username, created, seen, _ = row
            why = ("lifetime" if now - created >= self.lifetime else "idle" if now - seen >= self.idle else None)
            if why:
                cur.execute("UPDATE console_sessions SET ended_at = %s, ended_why = %s WHERE id_hash = %s",
                            (now, why, _hash(session_id)))
                return None
            if now - seen >= TOUCH_EVERY:
                cur.execute("UPDATE console_sessions SET last_seen_at = %s WHERE id_hash = %s",
                            (now, _hash(session_id)))
        return Session(username, created, seen)

    def end(self, session_id: str, now: dt.datetime, why: str = "signed out") -> None:
        with self.conn, self.conn.cursor() as cur:
            cur.execute("""UPDATE console_sessions SET ended_at = %s, ended_why = %s
                           WHERE id_hash = %s AND ended_at IS NULL""", (now, why, _hash(session_id)))

    def end_all(self, username: str, now: dt.datetime, why: str) -> int:
        """End every open session of an account; returns how many."""
        with self.conn, self.conn.cursor() as cur:
            cur.execute("""UPDATE console_sessions SET ended_at = %s, ended_why = %s
                           WHERE username = %s AND ended_at IS NULL""", (now, why, username))
            return cur.rowcount
