-- Identities: a resolution counts only from the complaint's handler (for a site route, its
-- site) or its province; the router dead-letters the others (not_handler), and the record
-- keeps every resolution read but counts only these. The same rule in Python:
-- schemas/checks.py resolver_problem.

CREATE VIEW accepted_resolutions AS
    SELECT s.*
    FROM resolutions s
    JOIN routes r USING (complaint_id)
    WHERE (s.resolved_by_level = r.handler_level AND s.resolved_by_unit = r.handler_unit)
       OR (s.resolved_by_level = 'province' AND s.resolved_by_unit = r.province_code);

CREATE OR REPLACE VIEW complaint_status AS
    WITH first_resolution AS (
        SELECT complaint_id, min(resolved_at) AS resolved_at FROM accepted_resolutions GROUP BY complaint_id
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
