/*-------------------------------------------------------------------------
 *
 * audit_setup.c
 *	  Checks of the full audit that concern the installation rather than
 *	  one tenant: tenancy's own pg_cron jobs (tenancy.schedule_maintenance)
 *	  and who may connect to the platform database.
 *
 * pg_cron records each run in cron.job_run_details; a job whose runs fail
 * (pg_cron could not connect as the job's role, say) fails silently there
 * and nowhere else.  The audit reads the latest finished run of each
 * tenancy-* job of this database: a failed one, or a daily job that has
 * not run for more than a day, is a finding.  It reads cron's tables only
 * when pg_cron is installed here; tenancy.audit runs as the extension's
 * owner, which sees every user's jobs.
 *
 * PostgreSQL grants CONNECT on a new database to PUBLIC.  Tenants placed in
 * another database of this server have their login roles on this server
 * too: with that grant they can connect to the platform database.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "audit.h"

/* A daily job whose latest run started longer ago than this is overdue */
#define CRON_DAILY_OVERDUE "25 hours"

/*
 * AuditScheduledJobs
 *		Findings scheduled_job_failed (high) and scheduled_job_overdue
 *		(warning: no finished run within its schedule's period, or none
 *		at all since schedule_maintenance registered it) for tenancy's
 *		pg_cron jobs; nothing when pg_cron is not installed in this
 *		database.  The caller is connected to SPI.
 */
void
AuditScheduledJobs(AuditRun *run)
{
	if (SPI_execute("SELECT pg_catalog.to_regclass('cron.job_run_details') IS NOT NULL "
					"AND pg_catalog.to_regclass('cron.job') IS NOT NULL",
					true, 1) != SPI_OK_SELECT || SPI_processed != 1 ||
		strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "t") != 0)
		return;

	/*
	 * Per job: its latest finished run, how long its schedule may go between
	 * runs (the period of its five cron fields, with slack: hourly 2 hours,
	 * daily 25 hours, weekly 8 days, else 32 days), and when
	 * schedule_maintenance registered it with that schedule (NULL: registered
	 * otherwise, or before tenancy.scheduled_jobs existed).  A job with no
	 * finished run that was registered longer than its period ago never ran:
	 * the launcher does not run in this database (cron.database_name), or its
	 * runs never end.
	 */
	if (SPI_execute("SELECT j.jobname, j.schedule, l.status, l.start_time::text,"
					"       pg_catalog.left(l.return_message, 300),"
					"       CASE WHEN l.start_time IS NOT NULL"
					"            THEN l.start_time < pg_catalog.now() - p.period"
					"            ELSE s.scheduled_at < pg_catalog.now() - p.period END AS overdue,"
					"       j.username, s.scheduled_at::text, p.period::text"
					"  FROM cron.job j"
					"  LEFT JOIN tenancy.scheduled_jobs s"
					"         ON s.job_name = j.jobname AND s.jobid = j.jobid AND s.schedule = j.schedule"
					"  CROSS JOIN LATERAL (SELECT pg_catalog.regexp_split_to_array("
					"                        pg_catalog.btrim(j.schedule), '\\s+') AS f) c"
					"  CROSS JOIN LATERAL (SELECT CASE"
					"       WHEN pg_catalog.array_length(c.f, 1) <> 5 THEN interval '32 days'"
					"       WHEN c.f[3] = '*' AND c.f[4] = '*' AND c.f[5] = '*' AND c.f[2] = '*'"
					"            THEN interval '2 hours'"
					"       WHEN c.f[3] = '*' AND c.f[4] = '*' AND c.f[5] = '*' THEN interval '" CRON_DAILY_OVERDUE "'"
					"       WHEN c.f[3] = '*' AND c.f[4] = '*' THEN interval '8 days'"
					"       ELSE interval '32 days' END AS period) p"
					"  LEFT JOIN LATERAL (SELECT d.status, d.start_time, d.return_message"
					"                       FROM cron.job_run_details d"
					"                      WHERE d.jobid = j.jobid"
					"                        AND d.status IN ('succeeded', 'failed')"
					"                      ORDER BY d.runid DESC LIMIT 1) l ON true"
					" WHERE j.jobname LIKE 'tenancy-%'"
					"   AND j.database = pg_catalog.current_database()"
					" ORDER BY j.jobname, j.username",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_cron's jobs");

	{
		SPITupleTable *jobs = SPI_tuptable;
		uint64		n = SPI_processed;

		for (uint64 i = 0; i < n; i++)
		{
			HeapTuple	tuple = jobs->vals[i];
			TupleDesc	desc = jobs->tupdesc;
			char	   *jobname = SPI_getvalue(tuple, desc, 1);
			char	   *schedule = SPI_getvalue(tuple, desc, 2);
			char	   *status = SPI_getvalue(tuple, desc, 3);
			char	   *started = SPI_getvalue(tuple, desc, 4);
			char	   *message = SPI_getvalue(tuple, desc, 5);
			char	   *overdue = SPI_getvalue(tuple, desc, 6);
			char	   *username = SPI_getvalue(tuple, desc, 7);
			char	   *scheduled_at = SPI_getvalue(tuple, desc, 8);
			char	   *period = SPI_getvalue(tuple, desc, 9);

			if (status != NULL && strcmp(status, "failed") == 0)
				AuditReport(run, NULL, "scheduled_job_failed", AUDIT_HIGH, jobname,
							"The latest run of pg_cron job %s (as role %s), started %s, failed: %s. "
							"Until it runs, what it does (audit, usage sampling, rotation, purge) does not happen; see \"Scheduling with pg_cron\" in the README.",
							jobname, username, started,
							message ? message : "no message");
			else if (overdue != NULL && strcmp(overdue, "t") == 0 && started != NULL)
				AuditReport(run, NULL, "scheduled_job_overdue", AUDIT_WARNING, jobname,
							"pg_cron job %s (schedule \"%s\") should run at least every %s, but its latest finished run started %s. "
							"Is pg_cron running in this database (cron.database_name)?",
							jobname, schedule, period, started);
			else if (overdue != NULL && strcmp(overdue, "t") == 0)
				AuditReport(run, NULL, "scheduled_job_overdue", AUDIT_WARNING, jobname,
							"pg_cron job %s (schedule \"%s\") was scheduled at %s and has never finished a run, although it should run at least every %s. "
							"Is pg_cron's launcher running in this database (cron.database_name, shared_preload_libraries)? SELECT * FROM cron.job_run_details WHERE jobid = (SELECT jobid FROM cron.job WHERE jobname = '%s') shows its runs.",
							jobname, schedule, scheduled_at, period, jobname);
		}
	}
}

/*
 * AuditPlatformConnect
 *		Finding public_connect (warning) when the platform database lets
 *		every role connect while tenants live in other databases of this
 *		server (their login roles exist here).  The caller is connected to
 *		SPI.
 */
void
AuditPlatformConnect(AuditRun *run)
{
	char	   *tenants;

	if (SPI_execute("SELECT pg_catalog.string_agg(t.name, ', ' ORDER BY t.name) "
					"FROM tenancy.tenants t "
					"WHERE t.server IS NULL AND t.state <> 'deprovisioned' "
					"AND COALESCE(t.spec #>> '{warehouse,database,host}', '') = '' "
					"AND COALESCE(t.spec #>> '{warehouse,database,name}', pg_catalog.current_database()) "
					"    <> pg_catalog.current_database() "
					"AND EXISTS (SELECT FROM pg_catalog.pg_database d, "
					"    pg_catalog.aclexplode(COALESCE(d.datacl, pg_catalog.acldefault('d', d.datdba))) x "
					"    WHERE d.datname = pg_catalog.current_database() "
					"      AND x.grantee = 0 AND x.privilege_type = 'CONNECT')",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read tenancy.tenants");
	tenants = SPI_processed == 1 ?
		SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) : NULL;
	if (tenants == NULL)
		return;
	AuditReport(run, NULL, "public_connect", AUDIT_WARNING,
				get_database_name(MyDatabaseId),
				"Database %s grants CONNECT to PUBLIC, and the login roles of tenants placed in other databases of this server (%s) exist here: they can connect to the platform database. "
				"REVOKE CONNECT ON DATABASE %s FROM PUBLIC, and grant it to tenancy_admin and to the groups of the tenants that live in it.",
				quote_identifier(get_database_name(MyDatabaseId)), tenants,
				quote_identifier(get_database_name(MyDatabaseId)));
}
