-- Least privilege in the database: what the reports and the console may touch, for the
-- roles of sinks/roles.py (a server without them is left as it is). The tables' owner, the
-- role that applies the migrations, is the sink's. yoyo runs this file after the migrations,
-- and sinks/migrate.py on every run: a role made after the tables gets its grants on the
-- next one. A migration that adds a table grants it here alike.
DO $$ BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'complaints_reports') THEN
        -- the record, never the office accounts (their password hashes)
        GRANT SELECT ON complaints, routes, resolutions, escalations, delegations, dead_letters, digests,
                        quarantine, complaint_status, accepted_resolutions, reassignments, provinces
                        TO complaints_reports;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'complaints_console') THEN
        GRANT SELECT ON complaints, routes, resolutions, escalations, digests, complaint_status,
                        accepted_resolutions, reassignments, provinces TO complaints_console;
        GRANT SELECT, INSERT, UPDATE, DELETE ON office_accounts TO complaints_console;
        GRANT SELECT ON delegations TO complaints_console;
        GRANT SELECT, INSERT ON console_results TO complaints_console;
        GRANT SELECT, INSERT, UPDATE, DELETE ON console_rate_limits TO complaints_console;
        GRANT SELECT, INSERT, UPDATE, DELETE ON console_sessions TO complaints_console;
    END IF;
END $$;
