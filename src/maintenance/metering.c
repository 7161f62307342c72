/*-------------------------------------------------------------------------
 *
 * metering.c
 *	  tenancy.tenant_objects: the schemas, roles and namespace of each
 *	  tenant as the planner derives them, for metering (sample_usage sums
 *	  the size of the schemas, reads <prefix>audit.pipeline_runs and asks
 *	  the worker for the namespace's pod requests) and for DBAs; and
 *	  tenancy.parse_quantity for quota arithmetic in SQL.
 *
 * The arithmetic of metering and billing (sample_usage, usage, invoice,
 * recommendations) is SQL in sql/install/50_maintenance.sql; what it needs
 * from the planner is here, so that no SQL repeats the naming rules.  The
 * pod requests of a tenant's namespace are read by the worker
 * (handler_audit.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "maintenance.h"
#include "plan.h"
#include "spec.h"

PG_FUNCTION_INFO_V1(tenancy_tenant_objects);
PG_FUNCTION_INFO_V1(tenancy_parse_quantity);

/*
 * put_object
 *		One row of tenant_objects.
 */
static void
put_object(ReturnSetInfo *rsinfo, const TenantModel *m, const char *type,
		   const char *purpose, const char *object)
{
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};

	values[0] = CStringGetTextDatum(m->name);
	values[1] = CStringGetTextDatum(type);
	values[2] = CStringGetTextDatum(purpose);
	values[3] = CStringGetTextDatum(object);
	values[4] = BoolGetDatum(m->local);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * tenancy_tenant_objects
 *		SQL: tenancy.tenant_objects(name text DEFAULT NULL) returns
 *		table(tenant, object_type, purpose, object_name, local): the schemas
 *		(purpose: their layer), roles (owner, writer, reader, login) and
 *		namespace of each tenant that is not deprovisioned, or of the one
 *		named.  local is false for tenants on another server.
 */
Datum
tenancy_tenant_objects(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			types[1] = {TEXTOID};
	Datum		args[1];
	MemoryContext outer;

	if (name != NULL)
		TenantCheckName(name);
	InitMaterializedSRF(fcinfo, 0);
	outer = CurrentMemoryContext;

	SPI_connect();
	args[0] = name ? CStringGetTextDatum(name) : (Datum) 0;
	if (SPI_execute_with_args("SELECT name, spec FROM tenancy.tenants "
							  "WHERE state <> 'deprovisioned' "
							  "AND ($1 IS NULL OR name = $1) ORDER BY name",
							  1, types, args, name ? NULL : "n", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read tenancy.tenants");

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		char	   *tenant = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		Jsonb	   *spec = DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[i],
														SPI_tuptable->tupdesc, 2,
														&isnull));
		MemoryContext spi = MemoryContextSwitchTo(outer);
		TenantModel *m = TenantModelFromSpec(tenant, spec);

		for (int s = 0; s < TENANT_SCHEMA_COUNT; s++)
			put_object(rsinfo, m, "schema", TenantSchemaSuffixes[s], m->schemas[s]);
		put_object(rsinfo, m, "role", "owner", m->owner_role);
		put_object(rsinfo, m, "role", "writer", m->writer_role);
		put_object(rsinfo, m, "role", "reader", m->reader_role);
		for (int r = 0; r < TENANT_LOGIN_ROLE_COUNT; r++)
			put_object(rsinfo, m, "role", "login", m->login_roles[r]);
		put_object(rsinfo, m, "namespace", "airflow", m->namespace);
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * tenancy_parse_quantity
 *		SQL: tenancy.parse_quantity(text) returns float8: a Kubernetes
 *		resource quantity ("500m", "32Gi") as a plain number (cores,
 *		bytes).  22P02 when it is not one.
 */
Datum
tenancy_parse_quantity(PG_FUNCTION_ARGS)
{
	char	   *input = text_to_cstring(PG_GETARG_TEXT_PP(0));
	double		value;

	if (!SpecParseQuantity(input, &value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid Kubernetes resource quantity \"%s\"", input),
				 errhint("A quantity is a number with an optional suffix such as m, Ki, Mi, Gi, k, M or G.")));
	PG_RETURN_FLOAT8(value);
}

/*
 * MeteringRecordPodRequests
 *		Fill the pod requests into a usage sample (the worker's pod_requests
 *		step); the caller has a transaction and a snapshot.
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
