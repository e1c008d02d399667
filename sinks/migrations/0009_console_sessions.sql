-- The console's sessions, kept on the server: the cookie holds a random session id, checked on
-- every office request; signing out, a password reset, disabling the account and "sign out
-- everywhere" end it; it lives at most 8 hours from sign-in and ends after 2 idle hours
-- (offices/sessions.py).
CREATE TABLE console_sessions (
    id_hash       text PRIMARY KEY,            -- SHA-256 of the session id; the id itself is never stored
    username      text NOT NULL REFERENCES office_accounts (username) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    ended_at      timestamptz,
    ended_why     text
);
CREATE INDEX console_sessions_open ON console_sessions (username) WHERE ended_at IS NULL;
