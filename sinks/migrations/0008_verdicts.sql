-- One judge (docs/contract.md): the record stores the worker's verdict on each resolution
-- (complaints.verdicts) instead of judging the resolutions again in SQL. `accepted_resolutions`
-- is the counted ones: one per complaint at most; `late` and `after_escalation` are the worker's.

ALTER TABLE resolutions ADD COLUMN verdict text;            -- counted | repeat | refused | expired
ALTER TABLE resolutions ADD COLUMN reason text;
ALTER TABLE resolutions ADD COLUMN late boolean;
ALTER TABLE resolutions ADD COLUMN after_escalation boolean;
ALTER TABLE resolutions ADD COLUMN judged_at timestamptz;
ALTER TABLE resolutions ADD COLUMN read_topic text;
ALTER TABLE resolutions ADD COLUMN read_partition int;
ALTER TABLE resolutions ADD COLUMN read_offset bigint;
ALTER TABLE resolutions ADD COLUMN verdict_offset bigint;   -- its offset on complaints.verdicts: the later stands

-- Resolutions recorded before verdicts existed: the earliest the old rule accepted counts,
-- the rest are repeats or refusals (a one-time reading of the rows already there).
WITH accepted AS (
    SELECT DISTINCT ON (s.complaint_id) s.event_id
    FROM resolutions s JOIN routes r USING (complaint_id)
    WHERE (s.resolved_by_level = r.handler_level AND s.resolved_by_unit = r.handler_unit)
       OR (s.resolved_by_level = 'province' AND s.resolved_by_unit = r.province_code)
    ORDER BY s.complaint_id, s.resolved_at
)
UPDATE resolutions s
SET verdict = CASE WHEN s.event_id IN (SELECT event_id FROM accepted) THEN 'counted' ELSE 'repeat' END,
    late = CASE WHEN s.event_id IN (SELECT event_id FROM accepted)
                THEN s.resolved_at > (SELECT c.deadline FROM complaints c WHERE c.complaint_id = s.complaint_id) END
WHERE s.verdict IS NULL;

CREATE INDEX resolutions_counted ON resolutions (complaint_id) WHERE verdict = 'counted';

CREATE OR REPLACE VIEW accepted_resolutions AS
    SELECT s.* FROM resolutions s WHERE s.verdict = 'counted';

-- Where each complaint stands, in the worker's words: open, overdue (open, its deadline passed),
-- resolved in time, escalated then resolved in time, resolved late.
CREATE OR REPLACE VIEW complaint_status AS
    WITH escalated AS (
        SELECT DISTINCT complaint_id FROM escalations WHERE stage = 1
    )
    SELECT c.complaint_id, c.recorded_at, c.deadline, r.route, r.province_code, r.level,
           r.handler_level, r.handler_unit, a.resolved_at, e.complaint_id IS NOT NULL AS escalated,
           CASE
               WHEN a.event_id IS NULL AND c.deadline < now() THEN 'overdue'
               WHEN a.event_id IS NULL THEN 'open'
               WHEN a.late THEN 'resolved late'
               WHEN a.after_escalation THEN 'escalated, then resolved in time'
               ELSE 'resolved in time'
           END AS state
    FROM complaints c
    LEFT JOIN routes r USING (complaint_id)
    LEFT JOIN accepted_resolutions a USING (complaint_id)
    LEFT JOIN escalated e USING (complaint_id);
