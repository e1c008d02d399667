-- The grants first applied here are in post-apply.sql, applied after every migration run
-- (sinks/migrate.py): a role made after the tables then gets them too.
SELECT 1;
