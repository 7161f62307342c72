/*-------------------------------------------------------------------------
 *
 * maintenance_record.c
 *	  What the worker's maintenance handlers (handler_audit.c,
 *	  audit_remote.c) record in the catalog: the findings of an audit run
 *	  and the pod requests of a usage sample.
 *
 * A record layer below the handlers, like the journal: the handlers write
 * here and never call back into the SQL entry points (audit.c,
 * metering.c) that enqueued them.  Each function runs in the caller's
 * transaction, which has a snapshot.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "maintenance.h"

/*
 * AuditRecordPlatformFinding
 *		Record a finding of a platform check (handler_audit.c) in the audit
 *		run that enqueued it.
 */
void
AuditRecordPlatformFinding(int64 run_id, const char *tenant,
						   const char *check_name, const char *severity,
						   const char *object, const char *detail)
{
	AuditRecordFinding(run_id, tenant, "platform", check_name, severity,
					   object, detail);
}

/*
 * AuditRecordFinding
 *		Record a finding the worker made (a platform check, or the check of
 *		a tenant's database on another server: source 'database') in the
 *		audit run that enqueued it.
 */
void
AuditRecordFinding(int64 run_id, const char *tenant, const char *source,
				   const char *check_name, const char *severity,
				   const char *object, const char *detail)
{
	Oid			types[7] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[7];

	values[0] = Int64GetDatum(run_id);
	values[1] = CStringGetTextDatum(tenant);
	values[2] = CStringGetTextDatum(check_name);
	values[3] = CStringGetTextDatum(severity);
	values[4] = CStringGetTextDatum(object);
	values[5] = CStringGetTextDatum(detail);
	values[6] = CStringGetTextDatum(source);
	SPI_connect();
	if (SPI_execute_with_args("INSERT INTO tenancy.audit_findings "
							  "(run_id, tenant, source, check_name, severity, object, detail) "
							  "VALUES ($1, $2, $7, $3, $4, $5, $6)",
							  7, types, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record a finding of audit run " INT64_FORMAT, run_id);
	SPI_finish();
}

/*
 * MeteringRecordPodRequests
 *		Fill the pod requests into a usage sample (the worker's pod_requests
 *		step).
 */
void
MeteringRecordPodRequests(int64 sample_id, double cpu_cores, double memory_bytes,
						  int pods_running)
{
	Oid			types[4] = {INT8OID, FLOAT8OID, FLOAT8OID, INT4OID};
	Datum		values[4];

	values[0] = Int64GetDatum(sample_id);
	values[1] = Float8GetDatum(cpu_cores);
	values[2] = Float8GetDatum(memory_bytes);
	values[3] = Int32GetDatum(pods_running);
	SPI_connect();
	if (SPI_execute_with_args("UPDATE tenancy.usage_samples SET "
							  "cpu_requested = round($2::numeric, 3), "
							  "memory_requested_bytes = $3::bigint, pods_running = $4 "
							  "WHERE sample_id = $1",
							  4, types, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record the pod requests of usage sample " INT64_FORMAT,
			 sample_id);
	SPI_finish();
}
