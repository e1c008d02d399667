-- Bad input never stops the record (issue #14).
-- depends: 0001_initial

-- A dead letter's original bytes, exactly as they were read (text cannot hold NUL or
-- invalid UTF-8). `raw` stays as readable text where the bytes are clean UTF-8, else null.
ALTER TABLE dead_letters ADD COLUMN original bytea;
UPDATE dead_letters SET original = CASE raw_encoding WHEN 'base64' THEN decode(raw, 'base64')
                                                     ELSE convert_to(raw, 'UTF8') END;
ALTER TABLE dead_letters ALTER COLUMN original SET NOT NULL;
ALTER TABLE dead_letters ALTER COLUMN raw DROP NOT NULL;
UPDATE dead_letters SET raw = NULL WHERE raw_encoding = 'base64';

-- What the sink could not store or read, that no dead letter covers: set aside whole with
-- the reason, so that it never blocks the rows after it (`python -m sinks quarantine`
-- lists them; metric complaints_sink_quarantined_total, alert ComplaintsSinkQuarantining).
CREATE TABLE quarantine (
    topic           text NOT NULL,
    partition       int NOT NULL,
    "offset"        bigint NOT NULL,
    kind            text NOT NULL,      -- the table it was meant for, or the topic kind
    error           text NOT NULL,      -- the error class and its first line
    key             bytea,
    value           bytea,
    quarantined_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, "offset", kind)
);

-- Where each complaint stands, in the contract's one meaning of late: resolved_at after
-- the deadline. A result stamped in time that arrived after the escalation was sent is in
-- time, and shows as such.
CREATE VIEW complaint_status AS
    WITH first_resolution AS (
        SELECT complaint_id, min(resolved_at) AS resolved_at FROM resolutions GROUP BY complaint_id
    ), escalated AS (
        SELECT DISTINCT complaint_id FROM escalations WHERE stage = 1
    )
    SELECT c.complaint_id, c.recorded_at, c.deadline, r.route, r.province_code, r.level,
           r.handler_level, r.handler_unit, f.resolved_at, e.complaint_id IS NOT NULL AS escalated,
           CASE
               WHEN f.resolved_at IS NULL AND c.deadline < now() THEN 'overdue'
               WHEN f.resolved_at IS NULL THEN 'open'
               WHEN f.resolved_at > c.deadline THEN 'resolved late'
               WHEN e.complaint_id IS NOT NULL THEN 'escalated, then resolved in time'
               ELSE 'resolved in time'
           END AS state
    FROM complaints c
    LEFT JOIN routes r USING (complaint_id)
    LEFT JOIN first_resolution f USING (complaint_id)
    LEFT JOIN escalated e USING (complaint_id);
