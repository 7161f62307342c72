/*-------------------------------------------------------------------------
 *
 * metering.c
 *	  tenancy.tenant_objects: the schemas, roles and namespace of each
 *	  tenant as the planner derives them, for metering (sample_usage sums
 *	  the size of the schemas, reads <prefix>audit.pipeline_runs and asks
 *	  the worker for the namespace's pod requests) and for DBAs; and
 *	  tenancy.parse_quantity for quota arithmetic in SQL.
 *
 * Billing inputs: tenancy_pipeline_runs_guard is the trigger of every local
 * tenant's pipeline_runs (declared by provision in the tenant's audit
 * schema).  It keeps the table append-only and records each completion in
 * tenancy.run_completions as it happens, which is what sample_usage counts:
 * a tenant rewriting or deleting its runs afterwards changes nothing billed.
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

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "maintenance.h"
#include "tenancy.h"
#include "plan.h"
#include "spec.h"

PG_FUNCTION_INFO_V1(tenancy_tenant_objects);
PG_FUNCTION_INFO_V1(tenancy_parse_quantity);
PG_FUNCTION_INFO_V1(tenancy_pipeline_runs_guard);

/* Columns of a run that never change once inserted (start_time once set) */
static const char *const fixed_columns[] = {
	"run_id", "dag_id", "task_id", "execution_date", "created_at"
};

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
 *		(purpose: their layer), roles (owner, writer, reader, login, backup
 *		when backups are on) and
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
		/* a login role too: forget's list of what remains must name it */
		if (m->backup_enabled)
			put_object(rsinfo, m, "role", "backup", m->backup_role);
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
 * run_column
 *		A column of a pipeline_runs row by name; *isnull set.  A column the
 *		table lacks reads as NULL.
 */
static Datum
run_column(HeapTuple tuple, TupleDesc desc, const char *name, bool *isnull,
		   Form_pg_attribute *att)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);

		if (!a->attisdropped && strcmp(NameStr(a->attname), name) == 0)
		{
			if (att)
				*att = a;
			return heap_getattr(tuple, i + 1, desc, isnull);
		}
	}
	*isnull = true;
	if (att)
		*att = NULL;
	return (Datum) 0;
}

/*
 * column_changed
 *		Whether an update changes a column.
 */
static bool
column_changed(HeapTuple old, HeapTuple new, TupleDesc desc, const char *name)
{
	bool		old_null;
	bool		new_null;
	Form_pg_attribute att;
	Datum		a = run_column(old, desc, name, &old_null, &att);
	Datum		b = run_column(new, desc, name, &new_null, NULL);

	if (old_null || new_null)
		return old_null != new_null;
	return !datumIsEqual(a, b, att->attbyval, att->attlen);
}

/*
 * refuse_run_change
 *		42501 for a change of a run the guard does not allow.
 */
static void
refuse_run_change(Relation rel, const char *message, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("%s: %s.%s is append-only", message,
					get_namespace_name(RelationGetNamespace(rel)),
					RelationGetRelationName(rel)),
			 errdetail("%s", detail),
			 errhint("Insert runs, and complete each once by setting its end_time (with status, rows_processed, error_message).")));
}

/*
 * record_completion
 *		A completed run into tenancy.run_completions, as the bootstrap
 *		superuser (the tenant has no privilege there).  Nothing when the
 *		extension is gone from this database (DROP EXTENSION leaves tenants
 *		and their guard behind).
 */
static void
record_completion(Relation rel, HeapTuple tuple)
{
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			saved_user;
	int			saved_sec;
	Oid			types[4] = {OIDOID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	bool		isnull;
	Oid			nsp = get_namespace_oid(TENANCY_SCHEMA, true);
	int			nest;

	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid("run_completions", nsp)))
		return;
	values[0] = ObjectIdGetDatum(RelationGetRelid(rel));
	values[1] = run_column(tuple, desc, "run_id", &isnull, NULL);
	if (isnull)
		return;
	values[2] = run_column(tuple, desc, "start_time", &isnull, NULL);
	nulls[2] = isnull ? 'n' : ' ';
	values[3] = run_column(tuple, desc, "end_time", &isnull, NULL);

	/* search_path pinned: nothing of the tenant's resolves as superuser */
	GetUserIdAndSecContext(&saved_user, &saved_sec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   saved_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	nest = NewGUCNestLevel();
	PG_TRY();
	{
		(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
		SPI_connect();
		if (SPI_execute_with_args("INSERT INTO tenancy.run_completions "
								  "(relid, run_id, start_time, end_time) "
								  "VALUES ($1, $2, $3, $4)",
								  4, types, values, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not record the completion of a pipeline run");
		SPI_finish();
		AtEOXact_GUC(true, nest);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(saved_user, saved_sec);
	}
	PG_END_TRY();
}

/*
 * tenancy_pipeline_runs_guard
 *		Trigger (BEFORE INSERT OR UPDATE OR DELETE FOR EACH ROW, and BEFORE
 *		TRUNCATE) of a tenant's pipeline_runs.  DELETE and TRUNCATE are
 *		refused; an update may fill in a running run's progress, and
 *		complete it once by setting end_time, but not change a completed run
 *		nor the run's identity (run_id, dag_id, task_id, execution_date,
 *		created_at, a start_time once set).  Each completion (an insert or
 *		update that sets end_time) is recorded in tenancy.run_completions.
 *		Applies to every role: a DBA who must correct runs sets
 *		session_replication_role = replica.
 */
Datum
tenancy_pipeline_runs_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	desc;
	HeapTuple	result;
	bool		isnull;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("pipeline_runs_guard must be called as a trigger")));
	rel = trigdata->tg_relation;
	desc = RelationGetDescr(rel);

	if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		refuse_run_change(rel, "TRUNCATE is refused",
						  "Pipeline runs are billing records.");
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("pipeline_runs_guard must fire before each row")));
	if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		refuse_run_change(rel, "DELETE is refused",
						  "Pipeline runs are billing records.");

	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		HeapTuple	old = trigdata->tg_trigtuple;

		result = trigdata->tg_newtuple;
		(void) run_column(old, desc, "end_time", &isnull, NULL);
		if (!isnull)
			refuse_run_change(rel, "a completed pipeline run cannot be changed",
							  "A run is completed once, by setting its end_time, and billed as completed.");
		for (size_t i = 0; i < lengthof(fixed_columns); i++)
			if (column_changed(old, result, desc, fixed_columns[i]))
				refuse_run_change(rel, psprintf("column %s of a pipeline run cannot be changed",
												fixed_columns[i]),
								  "run_id, dag_id, task_id, execution_date, created_at, and a start_time once set, are fixed when the run is inserted.");
		(void) run_column(old, desc, "start_time", &isnull, NULL);
		if (!isnull && column_changed(old, result, desc, "start_time"))
			refuse_run_change(rel, "column start_time of a pipeline run cannot be changed",
							  "run_id, dag_id, task_id, execution_date, created_at, and a start_time once set, are fixed when the run is inserted.");
	}
	else
		result = trigdata->tg_trigtuple;

	(void) run_column(result, desc, "end_time", &isnull, NULL);
	if (!isnull)
		record_completion(rel, result);
	return PointerGetDatum(result);
}
