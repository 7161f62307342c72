-- deploy/sql/schedule-maintenance.sql: schedule tenancy's periodic work
-- with pg_cron.  Run once, as a member of tenancy_admin or a superuser, in
-- the platform database (the one named by tenancy.database and
-- cron.database_name):
--
--   psql -d platform -v ON_ERROR_STOP=1 -f deploy/sql/schedule-maintenance.sql
--
-- tenancy.schedule_maintenance() registers the jobs as the extension's
-- owner (SECURITY DEFINER), so the caller needs no grant on schema cron.
-- It is idempotent: run it again after an upgrade and the jobs of its four
-- names in this database are replaced, not duplicated.  See "Scheduling
-- with pg_cron" in the README for what pg_cron needs to run them
-- (cron.use_background_workers = on, or a connection it can open).

\set ON_ERROR_STOP on

BEGIN;

-- Both extensions must be there: say which one is missing rather than fail
-- somewhere inside.
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
		RAISE EXCEPTION 'pg_cron is not installed in database %', pg_catalog.current_database()
			USING HINT = 'Run CREATE EXTENSION pg_cron in the database named by cron.database_name.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'tenancy') THEN
		RAISE EXCEPTION 'tenancy is not installed in database %', pg_catalog.current_database()
			USING HINT = 'Run CREATE EXTENSION tenancy in the database named by tenancy.database.';
	END IF;
END
$$;

SELECT tenancy.schedule_maintenance();

COMMIT;
