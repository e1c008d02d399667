-- The console's rate limits, shared by every console process (offices/ratelimits.py): one
-- counter per key and fixed window. Unlogged: a counter need not survive a crash of the
-- server, and it is written on every sign-in and status lookup.
CREATE UNLOGGED TABLE console_rate_limits (
    key         text PRIMARY KEY,             -- a keyed hash of Flask-Limiter's key, never the address
    hits        integer NOT NULL,
    expires_at  double precision NOT NULL     -- epoch seconds: when the window ends
);
