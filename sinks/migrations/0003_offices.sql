-- The office console (offices/): staff accounts, and who sent which result through it.

CREATE TABLE office_accounts (
    username         text PRIMARY KEY CHECK (username ~ '^[a-z0-9][a-z0-9._-]{2,63}$'),
    province_code    text NOT NULL,
    level            text NOT NULL CHECK (level IN ('province', 'district', 'commune')),
    unit_code        text NOT NULL,
    display_name     text NOT NULL DEFAULT '',
    password_hash    text NOT NULL,            -- argon2id (argon2-cffi), never the password
    disabled         boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    password_set_at  timestamptz NOT NULL DEFAULT now(),  -- a reset ends every open session
    last_sign_in_at  timestamptz
);

-- Kafka knows the office's principal; this says which of its staff pressed the button.
CREATE TABLE console_results (
    event_id       text PRIMARY KEY,
    complaint_id   text NOT NULL,
    username       text NOT NULL REFERENCES office_accounts (username),
    outcome        text NOT NULL,
    sent_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX console_results_complaint ON console_results (complaint_id);
