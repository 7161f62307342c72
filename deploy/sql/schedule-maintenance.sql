-- deploy/sql/schedule-maintenance.sql: schedule tenancy's periodic work
-- with pg_cron.  Run once, as a superuser, in the platform database (the
-- one named by tenancy.database and cron.database_name):
--
--   psql -d platform -v ON_ERROR_STOP=1 -f deploy/sql/schedule-maintenance.sql
--
-- tenancy.schedule_maintenance() is implemented by the Maintenance issue
-- (audit, credential age, usage metering); until that release is installed
-- this script stops with "function tenancy.schedule_maintenance() does not
-- exist" and schedules nothing.  It is idempotent: run it again after an
-- upgrade and the jobs are replaced, not duplicated.

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
