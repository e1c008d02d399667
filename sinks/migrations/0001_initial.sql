-- The record of every complaint, route, resolution, escalation, delegation and dead letter.
-- Applied by yoyo-migrations at sink start-up (sinks/migrate.py).

CREATE TABLE complaints (
    complaint_id    text PRIMARY KEY,
    event_id        text NOT NULL,
    recorded_at     timestamptz NOT NULL,
    deadline        timestamptz NOT NULL,
    category        text NOT NULL,
    province_code   text,          -- as the citizen gave them (location)
    district_code   text,
    commune_code    text,
    site_code       text,
    payload         jsonb NOT NULL,
    kafka_partition int,           -- where it was read on complaints.submitted (null: from a routed event)
    kafka_offset    bigint,
    stored_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX complaints_recorded_at ON complaints (recorded_at);

CREATE TABLE routes (
    complaint_id   text PRIMARY KEY,
    route          text NOT NULL CHECK (route IN ('site_system', 'jurisdiction', 'triage')),
    topic          text NOT NULL,
    province_code  text,
    level          text,
    handler_level  text NOT NULL,
    handler_unit   text NOT NULL,
    warnings       text[] NOT NULL DEFAULT '{}',
    recorded_at    timestamptz NOT NULL,
    deadline       timestamptz NOT NULL,
    routed_at      timestamptz NOT NULL,
    payload        jsonb NOT NULL,
    stored_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX routes_province ON routes (province_code, recorded_at);
CREATE INDEX routes_handler ON routes (handler_level, handler_unit, deadline);

CREATE TABLE resolutions (
    event_id           text PRIMARY KEY,
    complaint_id       text NOT NULL,
    resolved_at        timestamptz NOT NULL,
    resolved_by_level  text NOT NULL,
    resolved_by_unit   text NOT NULL,
    outcome            text NOT NULL,
    note               text,
    payload            jsonb NOT NULL,
    stored_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX resolutions_complaint ON resolutions (complaint_id, resolved_at);

CREATE TABLE escalations (
    event_id         text PRIMARY KEY,
    complaint_id     text NOT NULL,
    stage            int NOT NULL,
    recorded_at      timestamptz NOT NULL,
    deadline         timestamptz NOT NULL,
    escalated_at     timestamptz NOT NULL,
    overdue_seconds  double precision NOT NULL,
    route            text NOT NULL,
    province_code    text,
    handler_level    text NOT NULL,
    handler_unit     text NOT NULL,
    payload          jsonb NOT NULL,
    stored_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (complaint_id, stage)
);

CREATE TABLE delegations (
    unit_code      text PRIMARY KEY,
    level          text NOT NULL,
    province_code  text NOT NULL,
    district_code  text NOT NULL,
    commune_code   text,
    granted_at     timestamptz NOT NULL,
    granted_by     text NOT NULL,
    revoked        boolean NOT NULL DEFAULT false,
    kafka_offset   bigint NOT NULL,   -- the compacted topic's order: an older event never wins
    stored_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dead_letters (
    source_topic   text NOT NULL,
    partition      int NOT NULL,
    "offset"       bigint NOT NULL,
    error          text NOT NULL,
    detail         text NOT NULL,
    key            text,
    raw            text NOT NULL,
    raw_encoding   text NOT NULL,
    failed_at      timestamptz,
    stored_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_topic, partition, "offset")
);

CREATE TABLE digests (
    event_id       text PRIMARY KEY,
    province_code  text NOT NULL,
    digest_date    date NOT NULL,
    generated_at   timestamptz NOT NULL,
    open_total     int NOT NULL,
    payload        jsonb NOT NULL,
    stored_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (province_code, digest_date)
);
