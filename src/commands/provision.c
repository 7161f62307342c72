/*-------------------------------------------------------------------------
 *
 * provision.c
 *	  SQL entry points tenancy.plan, provision, apply and deprovision: lock
 *	  the tenant, plan, run the local SQL in the caller's transaction and
 *	  record the tenant, the operation and its steps.
 *
 * Everything happens in the caller's transaction: ROLLBACK leaves no trace
 * (no role, schema, catalog row or step), and the worker only sees the
 * steps after COMMIT, when it is woken.  Two sessions working on the same
 * tenant serialize on a row of tenancy.locks keyed by the tenant name (no
 * other role can lock it, unlike an advisory lock); the second then sees
 * what the first committed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "access/xact.h"
#include "storage/bufmgr.h"
#include "storage/proc.h"
#include <signal.h>
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "commands/dbcommands.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "journal.h"
#include "plan.h"
#include "servers.h"
#include "spec.h"
#include "tenancy.h"
#include "worker.h"

PG_FUNCTION_INFO_V1(tenancy_plan);
PG_FUNCTION_INFO_V1(tenancy_plan_text);
PG_FUNCTION_INFO_V1(tenancy_provision);
PG_FUNCTION_INFO_V1(tenancy_provision_text);
PG_FUNCTION_INFO_V1(tenancy_apply);
PG_FUNCTION_INFO_V1(tenancy_apply_text);
PG_FUNCTION_INFO_V1(tenancy_deprovision);

/* The tenant's row in tenancy.tenants, if any */
typedef struct TenantRow
{
	bool		found;
	int64		tenant_id;
	char	   *state;
	int64		generation;
	Jsonb	   *spec;
	char	   *server;			/* tenancy.tenants.server, or NULL */
} TenantRow;

/* What became of the tenant's earlier provisions and applies */
typedef struct PlatformHistory
{
	bool		ever_succeeded;
	bool		last_ended_unsuccessfully;
	bool		last_unfinished;	/* pending, running or compensating */
	bool		planned_by_other_version;	/* the latest provision or apply
											 * that succeeded */
	bool		planned_by_0_1_0;	/* that one by 0.1.0 (planned_by NULL) */
} PlatformHistory;

static PlatformHistory platform_history(int64 tenant_id);

/* A converge (provision or apply) being prepared */
typedef struct Converge
{
	TenantRow	row;
	TenantModel *model;
	TenantState *state;
	List	   *actions;
	bool		creating;		/* no live tenant yet: provision */
} Converge;

/*
 * lock_tenant
 *		Serialize provision/apply/deprovision of one tenant until the end of
 *		the transaction.
 */
static void
lock_tenant(const char *name)
{
	ServerLockRow(psprintf("tenant %s", name));
}

/*
 * spi_int64
 *		The first column of the first row the last statement returned.
 */
static int64
spi_int64(void)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								  1, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/*
 * read_tenant
 *		The tenant's catalog row (locked FOR UPDATE), copied into the
 *		caller's memory context.
 */
static TenantRow
read_tenant(const char *name)
{
	MemoryContext caller = CurrentMemoryContext;
	TenantRow	row = {0};
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};

	SPI_connect();
	SPI_EXEC_KEPT("SELECT tenant_id, state, generation, spec, server FROM tenancy.tenants "
				  "WHERE name = $1 FOR UPDATE",
				  1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
	{
		HeapTuple	tuple = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		MemoryContext spi = MemoryContextSwitchTo(caller);

		row.found = true;
		row.tenant_id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		row.state = SPI_getvalue(tuple, desc, 2);
		row.generation = DatumGetInt64(SPI_getbinval(tuple, desc, 3, &isnull));
		row.spec = DatumGetJsonbPCopy(SPI_getbinval(tuple, desc, 4, &isnull));
		row.server = SPI_getvalue(tuple, desc, 5);
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	return row;
}

/*
 * row_is_live
 *		Whether the catalog holds a tenant that is not (being) removed.
 */
static bool
row_is_live(const TenantRow *row)
{
	return row->found && strcmp(row->state, "deprovisioned") != 0;
}

/*
 * check_relation_budget
 *		Refuse a new tenant that would push pg_class past
 *		tenancy.max_catalog_relations (0: no limit).
 *
 * The row count is estimated the way the planner estimates any table
 * (tuples per page from the last VACUUM/ANALYZE times the current number
 * of pages), so the check costs the same with 10 tenants or 10,000.
 */
static void
check_relation_budget(void)
{
	Relation	rel;
	BlockNumber pages;
	double		density;
	double		estimate;

	if (tenancy_max_catalog_relations <= 0)
		return;
	rel = table_open(RelationRelationId, AccessShareLock);
	pages = RelationGetNumberOfBlocks(rel);
	if (rel->rd_rel->relpages > 0 && rel->rd_rel->reltuples > 0)
		density = rel->rd_rel->reltuples / rel->rd_rel->relpages;
	else
		density = BLCKSZ / 256.0;	/* a pg_class row is about 256 bytes */
	table_close(rel, AccessShareLock);

	estimate = density * pages;
	if (estimate + TENANT_RELATIONS_PER_TENANT > tenancy_max_catalog_relations)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("provisioning another tenant would exceed tenancy.max_catalog_relations"),
				 errdetail("pg_class holds about %.0f relations and a tenant adds %d; the limit is %d.",
						   estimate, TENANT_RELATIONS_PER_TENANT,
						   tenancy_max_catalog_relations),
				 errhint("Place new tenants on another server (warehouse.database.host), or raise the limit after reading the README section on tenancy.max_catalog_relations.")));
}

/*
 * check_changes_supported
 *		Refuse spec changes that apply cannot converge to (0A000).
 */
static void
check_changes_supported(const TenantModel *old, const TenantModel *new)
{
	if (old == NULL)
		return;
	if (strcmp(old->schema_prefix, new->schema_prefix) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot change the schema prefix of tenant \"%s\"", new->name),
				 errdetail("Its schemas use the prefix \"%s\"; the spec asks for \"%s\".",
						   old->schema_prefix, new->schema_prefix),
				 errhint("Rename the schemas by hand first, or keep warehouse.database.schema_prefix.")));
	if (old->local != new->local ||
		(!old->local && (strcmp(old->remote_host, new->remote_host) != 0 ||
						 old->remote_port != new->remote_port ||
						 strcmp(old->remote_database, new->remote_database) != 0)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot move tenant \"%s\" to another database", new->name),
				 errdetail("warehouse.database names a different server or database than the spec last applied.")));
	if (strcmp(old->namespace, new->namespace) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot move tenant \"%s\" to another Kubernetes namespace", new->name),
				 errdetail("Its namespace is \"%s\"; resources.kubernetes.namespace asks for \"%s\".",
						   old->namespace, new->namespace),
				 errhint("Keep resources.kubernetes.namespace, or deprovision the tenant and provision it again in the new namespace.")));
}

/*
 * checked_spec
 *		The normalized form of a spec that tenancy.validate accepts; 22023
 *		with every problem (by JSON path) otherwise.  The tenant name is
 *		checked first, so that a hostile name is reported as such.
 */
static Jsonb *
checked_spec(const char *name, Jsonb *spec)
{
	TenantCheckName(name);
	SpecCheck(spec);
	return SpecNormalize(spec);
}

/*
 * jsonb_equal
 *		Whether two jsonb values are equal.
 */
static bool
jsonb_equal(Jsonb *a, Jsonb *b)
{
	return DatumGetBool(DirectFunctionCall2(jsonb_eq, JsonbPGetDatum(a),
											JsonbPGetDatum(b)));
}

/*
 * prepare_converge
 *		Model, current state and plan of a provision or apply.  Shared by
 *		tenancy.plan, so that what it shows is what provision/apply do.
 *		The spec is checked_spec's result.
 */
static Converge
prepare_converge(const char *name, Jsonb *spec, TenantRow row, bool dry_run)
{
	Converge	c;
	TenantModel *previous = NULL;

	c.row = row;
	c.creating = !row_is_live(&row);
	c.model = TenantModelFromSpec(name, spec);
	/* checked_spec has validated and normalized it: see PlatformSpec */
	c.model->platform_spec = spec;

	/*
	 * One namespace holds one tenant: two provisions of different tenants
	 * into one namespace serialize here, so that the second, once the first
	 * commits, is refused by the planner's check (22023, owner named) rather
	 * than by tenancy.tenants_namespace_idx (23505).
	 */
	if (!dry_run)
		ServerLockRow(psprintf("namespace %s", c.model->namespace));
	if (row.found)
		previous = TenantModelFromSpec(name, row.spec);
	if (!c.creating)
		check_changes_supported(previous, c.model);
	ServerPlaceTenant(c.model, row.server, row.found, dry_run);
	if (previous)
		ServerPlaceTenant(previous, row.server, true, true);

	if (c.model->local)
		c.state = TenantStateFromCatalogs(c.model, row.found ? row.tenant_id : 0);
	else
	{
		c.state = TenantStateFromModel(c.creating ? NULL : previous);
		/* another database of this server: its pgaudit is this server's */
		if (c.model->server == NULL || c.model->server[0] == '\0')
			c.state->pgaudit_loaded = PgauditLoadedHere();
	}
	c.state->platform = c.creating ? NULL : previous;

	/*
	 * A new tenant of this database, or one whose data was dropped, comes
	 * (back) with no data of its own: rows of its name in shared tables would
	 * be its to see.  They are rows its roles committed while a drop_data
	 * deprovision ran, rows of a forgotten tenant of that name (forget
	 * deleted the record, so this must not depend on row.found), or rows
	 * loaded by hand for it.  One query per shared table.
	 */
	if (c.creating && c.model->local && !c.state->owner.exists && !dry_run)
		RefuseSharedRowsOf(name, SHARED_ROWS_PROVISION);
	if (!c.creating)
	{
		PlatformHistory history = platform_history(row.tenant_id);

		/*
		 * The latest provision or apply ended without succeeding: the
		 * platform side may differ from the spec last applied, whatever its
		 * steps say (compensation deleted the namespace).  Plan every object
		 * again, as new if none ever succeeded (compensation then deletes
		 * them again).
		 *
		 * One that has not ended yet runs before this one (the journal runs a
		 * tenant's operations in order), and may still fail and be
		 * compensated: a change of the spec cannot know what it will find
		 * either, so it plans every object again too (issue 16, item 5). Its
		 * steps are idempotent, so the tenant ends at the new spec whatever
		 * the earlier operation ends in.  The same spec again adds nothing to
		 * the operation in front (if that fails, the tenant is failed and the
		 * next apply plans everything).
		 */
		if (history.last_ended_unsuccessfully)
		{
			if (!history.ever_succeeded)
				c.state->platform = NULL;
			c.state->platform_unknown = true;
		}
		else if (history.last_unfinished && !jsonb_equal(spec, row.spec))
			c.state->platform_unknown = true;

		/*
		 * The platform side was last converged by another version of the
		 * library (before an upgrade): this one may build objects that one
		 * did not (0.2.0's backup CronJob, PrometheusRule, Celery values),
		 * and comparing its renderings of the old and new spec would miss
		 * them.  Plan every object again; server-side apply makes that
		 * harmless.
		 */
		if (history.planned_by_other_version)
			c.state->platform_unknown = true;

		/*
		 * On another server the state is inferred from the spec last applied,
		 * as this version would have planned it; 0.1.0 created no backup role
		 * there.
		 */
		if (!c.model->local && history.planned_by_0_1_0)
			memset(&c.state->backup, 0, sizeof(c.state->backup));
	}
	c.actions = PlanTenant(c.model, c.state, PLAN_PROVISION);
	return c;
}

/*
 * platform_history
 *		What the tenant's provisions and applies did to its platform side:
 *		whether one ever succeeded, whether the latest converge operation
 *		(provision, apply or deprovision) ended without succeeding (failed,
 *		compensated, cancelled) or has not ended, and whether the latest
 *		that succeeded was planned by another version of the library.
 */
static PlatformHistory
platform_history(int64 tenant_id)
{
	PlatformHistory history = {false, false, false, false, false};
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(tenant_id),
	CStringGetTextDatum(TENANCY_VERSION)};

	SPI_connect();
	SPI_EXEC_KEPT("SELECT coalesce(bool_or(o.state = 'succeeded' AND o.kind <> 'deprovision'), false), "
				  "coalesce((array_agg(o.state IN ('failed', 'compensated', 'cancelled') "
				  "                    ORDER BY o.operation_id DESC))[1], false), "
				  "coalesce((array_agg(o.state IN ('pending', 'running', 'compensating') "
				  "                    ORDER BY o.operation_id DESC))[1], false), "
				  "coalesce((array_agg(o.planned_by IS DISTINCT FROM $2 ORDER BY o.operation_id DESC) "
				  "          FILTER (WHERE o.state = 'succeeded' AND o.kind <> 'deprovision'))[1], false), "
				  "coalesce((array_agg(o.planned_by IS NULL ORDER BY o.operation_id DESC) "
				  "          FILTER (WHERE o.state = 'succeeded' AND o.kind <> 'deprovision'))[1], false) "
				  "FROM tenancy.operations o WHERE o.tenant_id = $1 "
				  "AND o.kind IN ('provision', 'apply', 'deprovision')",
				  2, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 1)
	{
		bool		isnull;

		history.ever_succeeded = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
															SPI_tuptable->tupdesc,
															1, &isnull));
		history.last_ended_unsuccessfully = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
																	   SPI_tuptable->tupdesc,
																	   2, &isnull));
		history.last_unfinished = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
															 SPI_tuptable->tupdesc,
															 3, &isnull));
		history.planned_by_other_version = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
																	  SPI_tuptable->tupdesc,
																	  4, &isnull));
		history.planned_by_0_1_0 = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
															  SPI_tuptable->tupdesc,
															  5, &isnull));
	}
	SPI_finish();
	return history;
}

/*
 * record_operation
 *		Record the operation and its steps (see PlanSteps) in the journal.
 *		SQL that already ran here is recorded as succeeded; everything else
 *		is pending for the worker.  Without pending steps the operation is
 *		done at once.
 */
static int64
record_operation(const TenantModel *model, int64 tenant_id, const char *kind,
				 int64 generation, List *actions)
{
	bool		done = PlanCountExternal(actions) == 0;
	int64		operation_id;

	operation_id = JournalAddOperation(tenant_id, kind, generation, true, done);
	JournalAddPlanSteps(operation_id, PlanSteps(model, actions));
	if (!done)
		WorkerWakeAtCommit();
	return operation_id;
}

/*
 * sync_tenant_objects
 *		Bring tenancy.created_objects in step with a local tenant after its
 *		planned SQL ran: forget what no longer exists under its recorded
 *		OID and name (dropped), and, when record is set (provision, apply),
 *		record the tenant's roles and schemas as they exist now: each one
 *		either was created by this transaction or was checked against the
 *		record by TenantStateFromCatalogs before the plan was made.
 */
static void
sync_tenant_objects(const TenantModel *m, int64 tenant_id, bool record)
{
	Oid			types[3] = {INT8OID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[3];
	Datum		roles[4 + TENANT_LOGIN_ROLE_COUNT];
	Datum		schemas[TENANT_SCHEMA_COUNT];

	values[0] = Int64GetDatum(tenant_id);
	SPI_EXEC_KEPT("DELETE FROM tenancy.created_objects o WHERE o.tenant_id = $1 "
				  "AND NOT CASE o.kind "
				  "WHEN 'role' THEN EXISTS (SELECT FROM pg_catalog.pg_roles r "
				  "WHERE r.oid OPERATOR(pg_catalog.=) o.object_oid "
				  "AND r.rolname OPERATOR(pg_catalog.=) o.name) "
				  "ELSE EXISTS (SELECT FROM pg_catalog.pg_namespace n "
				  "WHERE n.oid OPERATOR(pg_catalog.=) o.object_oid "
				  "AND n.nspname OPERATOR(pg_catalog.=) o.name) END",
				  1, types, values, NULL, SPI_OK_DELETE);
	if (!record || !m->local)
		return;

	roles[0] = CStringGetTextDatum(m->owner_role);
	roles[1] = CStringGetTextDatum(m->writer_role);
	roles[2] = CStringGetTextDatum(m->reader_role);
	for (int i = 0; i < TENANT_LOGIN_ROLE_COUNT; i++)
		roles[3 + i] = CStringGetTextDatum(m->login_roles[i]);
	/* "" when backups are off: a role of that name is not the tenant's */
	roles[3 + TENANT_LOGIN_ROLE_COUNT] =
		CStringGetTextDatum(m->backup_enabled ? m->backup_role : "");
	for (int i = 0; i < TENANT_SCHEMA_COUNT; i++)
		schemas[i] = CStringGetTextDatum(m->schemas[i]);
	values[1] = PointerGetDatum(construct_array(roles, lengthof(roles), TEXTOID,
												-1, false, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(schemas, lengthof(schemas), TEXTOID,
												-1, false, TYPALIGN_INT));
	SPI_EXEC_KEPT("INSERT INTO tenancy.created_objects AS o (tenant_id, kind, name, object_oid) "
				  "SELECT $1, 'role', r.rolname, r.oid FROM pg_catalog.pg_roles r "
				  "WHERE r.rolname OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.name[]) "
				  "UNION ALL "
				  "SELECT $1, 'schema', n.nspname, n.oid FROM pg_catalog.pg_namespace n "
				  "WHERE n.nspname OPERATOR(pg_catalog.=) ANY ($3::pg_catalog.name[]) "
				  "ON CONFLICT (tenant_id, kind, name) DO UPDATE "
				  "SET object_oid = excluded.object_oid, created_at = pg_catalog.now() "
				  "WHERE o.object_oid OPERATOR(pg_catalog.<>) excluded.object_oid",
				  3, types, values, NULL, SPI_OK_INSERT);
}

/*
 * run_converge
 *		Execute a prepared provision or apply: the local SQL, the tenant
 *		row, the operation and its steps.  NULL operation when an apply
 *		finds nothing to do.
 */
static bool
run_converge(Converge *c, Jsonb *spec, int64 *operation_id)
{
	const TenantModel *m = c->model;
	bool		spec_changed;
	bool		pending = PlanCountExternal(c->actions) > 0;
	int64		tenant_id = c->row.tenant_id;
	int64		generation;
	const char *state;
	Oid			types[6] = {TEXTOID, TEXTOID, JSONBOID, TEXTOID, INT8OID, TEXTOID};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};

	spec_changed = !c->row.found || !jsonb_equal(spec, c->row.spec);
	if (!c->creating && c->actions == NIL && !spec_changed)
	{
		ereport(NOTICE,
				(errmsg("tenant \"%s\" is up to date", m->name),
				 errdetail("The spec is the one last applied and the database matches it; nothing was changed.")));
		return false;
	}

	if (m->local && !c->state->audit_table_exists)
		check_relation_budget();
	ExecutePlanSql(c->actions);

	/* a change with nothing for the worker leaves earlier work pending */
	if (pending)
		state = JournalTenantStateRunning(c->creating ? "provision" : "apply");
	else if (c->creating)
		state = "ready";
	else if (strcmp(c->row.state, "provisioning") == 0 ||
			 strcmp(c->row.state, "updating") == 0)
		state = c->row.state;
	else
		state = "ready";

	SPI_connect();
	values[0] = CStringGetTextDatum(m->name);
	values[1] = CStringGetTextDatum(m->slug);
	values[2] = JsonbPGetDatum(spec);
	values[3] = CStringGetTextDatum(state);
	if (!c->row.found)
	{
		/* the placement: a registered server, NULL for this server */
		values[4] = Int64GetDatum(0);
		if (m->server && m->server[0])
			values[5] = CStringGetTextDatum(m->server);
		else
			nulls[5] = 'n';
		SPI_EXEC_KEPT("INSERT INTO tenancy.tenants (name, slug, spec, state, server) "
					  "VALUES ($1, $2, $3, $4, $6) RETURNING tenant_id",
					  6, types, values, nulls, SPI_OK_INSERT_RETURNING);
		tenant_id = spi_int64();
		generation = 1;
	}
	else
	{
		values[4] = Int64GetDatum(tenant_id);
		SPI_EXEC_KEPT("UPDATE tenancy.tenants SET spec = $3, state = $4, "
					  "generation = generation + 1, updated_at = pg_catalog.now() "
					  "WHERE tenant_id = $5 AND name = $1 AND slug = $2 "
					  "RETURNING generation",
					  5, types, values, NULL, SPI_OK_UPDATE_RETURNING);
		generation = spi_int64();
	}
	sync_tenant_objects(m, tenant_id, true);
	*operation_id = record_operation(m, tenant_id,
									 c->creating ? "provision" : "apply",
									 generation, c->actions);
	SPI_finish();
	return true;
}

/*
 * warn_if_no_worker
 *		WARNING when the operation just recorded has steps for the worker
 *		and no worker serves this database: they would stay pending for
 *		ever, and wait() would only time out.
 */
static void
warn_if_no_worker(const Converge *c, int64 operation_id)
{
	char	   *problem;

	if (operation_id == 0 || (c->model->local && PlanCountExternal(c->actions) == 0))
		return;
	problem = WorkerProblem(false);
	if (problem != NULL)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("no tenancy background worker serves database \"%s\"",
						get_database_name(MyDatabaseId)),
				 errdetail("Operation %lld is recorded, but its platform and remote steps will stay pending: %s",
						   (long long) operation_id, problem),
				 errhint("Set tenancy.database to this database and tenancy in shared_preload_libraries, then restart the server; tenancy.worker_problem() says when it is fixed.")));
}

/*
 * provision
 *		Create a tenant; 42710 if it exists (unless it was deprovisioned).
 */
static int64
provision(const char *name, Jsonb *spec)
{
	TenantRow	row;
	Converge	c;
	int64		operation_id = 0;

	spec = checked_spec(name, spec);
	lock_tenant(name);
	row = read_tenant(name);
	if (row_is_live(&row))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("tenant \"%s\" already exists", name),
				 errdetail("Its state is %s.", row.state),
				 errhint("Use tenancy.apply() to change the spec of an existing tenant.")));
	c = prepare_converge(name, spec, row, false);
	(void) run_converge(&c, spec, &operation_id);
	warn_if_no_worker(&c, operation_id);
	return operation_id;
}

/*
 * apply
 *		Create the tenant or converge it to the spec, touching only what
 *		changed; false (with a NOTICE) when nothing changed.
 */
static bool
apply(const char *name, Jsonb *spec, int64 *operation_id)
{
	TenantRow	row;
	Converge	c;
	bool		changed;

	spec = checked_spec(name, spec);
	lock_tenant(name);
	row = read_tenant(name);
	if (row.found && strcmp(row.state, "deprovisioning") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tenant \"%s\" is being deprovisioned", name),
				 errhint("Wait until its deprovision operation has finished (tenancy.operation_steps).")));
	c = prepare_converge(name, spec, row, false);
	changed = run_converge(&c, spec, operation_id);
	if (changed)
		warn_if_no_worker(&c, *operation_id);
	return changed;
}

/*
 * spec_from_text
 *		A spec given as YAML or JSON text.
 */
static Jsonb *
spec_from_text(text *t)
{
	return SpecParseText(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

/*
 * tenancy_provision
 *		SQL: tenancy.provision(name text, spec jsonb) returns bigint.
 */
Datum
tenancy_provision(PG_FUNCTION_ARGS)
{
	RequireArguments(fcinfo);
	PG_RETURN_INT64(provision(text_to_cstring(PG_GETARG_TEXT_PP(0)),
							  PG_GETARG_JSONB_P(1)));
}

/*
 * tenancy_provision_text
 *		SQL: tenancy.provision(name text, spec text) returns bigint; the
 *		spec as YAML or JSON text.
 */
Datum
tenancy_provision_text(PG_FUNCTION_ARGS)
{
	RequireArguments(fcinfo);
	PG_RETURN_INT64(provision(text_to_cstring(PG_GETARG_TEXT_PP(0)),
							  spec_from_text(PG_GETARG_TEXT_PP(1))));
}

/*
 * tenancy_apply
 *		SQL: tenancy.apply(name text, spec jsonb) returns bigint, NULL when
 *		nothing changed.
 */
Datum
tenancy_apply(PG_FUNCTION_ARGS)
{
	int64		operation_id;

	RequireArguments(fcinfo);
	if (!apply(text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_GETARG_JSONB_P(1),
			   &operation_id))
		PG_RETURN_NULL();
	PG_RETURN_INT64(operation_id);
}

/*
 * tenancy_apply_text
 *		SQL: tenancy.apply(name text, spec text): the spec as YAML or JSON.
 */
Datum
tenancy_apply_text(PG_FUNCTION_ARGS)
{
	int64		operation_id;

	RequireArguments(fcinfo);
	if (!apply(text_to_cstring(PG_GETARG_TEXT_PP(0)),
			   spec_from_text(PG_GETARG_TEXT_PP(1)), &operation_id))
		PG_RETURN_NULL();
	PG_RETURN_INT64(operation_id);
}

/*
 * Sessions to end when the transaction commits: the OIDs of the roles a
 * deprovision disabled (in TopMemoryContext, emptied at every end).
 */
static List *terminate_at_commit = NIL;
static bool terminate_callback_registered = false;

/*
 * terminate_sessions_callback
 *		At COMMIT of a deprovision, send SIGTERM to every backend whose
 *		session role is one of the tenant's disabled roles: NOLOGIN keeps
 *		new sessions out once committed, this ends those already open (a
 *		session opened before the commit but after a termination in the
 *		transaction would survive).  No ereport here: the transaction is
 *		committed already.  What pg_terminate_backend does, without its
 *		permission check (a SECURITY DEFINER caller is the extension's
 *		owner); a superuser's backend is never among them (tenant roles are
 *		NOSUPERUSER).
 */
static void
terminate_sessions_callback(XactEvent event, void *arg)
{
	(void) arg;
	if (terminate_at_commit == NIL)
		return;
	if (event == XACT_EVENT_COMMIT)
	{
		for (uint32 i = 0; i < ProcGlobal->allProcCount; i++)
		{
			PGPROC	   *proc = &ProcGlobal->allProcs[i];
			int			pid = proc->pid;

			if (pid != 0 && pid != MyProcPid &&
				list_member_oid(terminate_at_commit, proc->roleId))
				(void) kill(pid, SIGTERM);
		}
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		list_free(terminate_at_commit);
		terminate_at_commit = NIL;
	}
}

/*
 * terminate_at_commit_of
 *		End the sessions of the tenant's roles that exist when the current
 *		transaction commits (see terminate_sessions_callback).
 */
static void
terminate_at_commit_of(const TenantModel *m)
{
	const char *roles[4 + TENANT_LOGIN_ROLE_COUNT];
	MemoryContext old;

	roles[0] = m->owner_role;
	roles[1] = m->writer_role;
	roles[2] = m->reader_role;
	for (int i = 0; i < TENANT_LOGIN_ROLE_COUNT; i++)
		roles[3 + i] = m->login_roles[i];
	roles[3 + TENANT_LOGIN_ROLE_COUNT] = m->backup_enabled ? m->backup_role : NULL;
	if (!terminate_callback_registered)
	{
		RegisterXactCallback(terminate_sessions_callback, NULL);
		terminate_callback_registered = true;
	}
	old = MemoryContextSwitchTo(TopMemoryContext);
	for (int i = 0; i < (int) lengthof(roles); i++)
	{
		Oid			oid = roles[i] ? get_role_oid(roles[i], true) : InvalidOid;

		if (OidIsValid(oid))
			terminate_at_commit = list_append_unique_oid(terminate_at_commit, oid);
	}
	MemoryContextSwitchTo(old);
}

/*
 * tenancy_deprovision
 *		SQL: tenancy.deprovision(name text, drop_data boolean) returns
 *		bigint.  Disable login at once and remove the roles; the schemas
 *		and data are kept unless drop_data; the platform side is deleted by
 *		the worker.  Pending steps of earlier operations are cancelled.
 *
 * NOLOGIN and the end of the tenant's sessions (at COMMIT) take effect even
 * when a role cannot be dropped: such a role is left behind, reported with
 * what it still owns and where (a WARNING, and the operation's error), and
 * a later deprovision of the tenant tries again.
 */
Datum
tenancy_deprovision(PG_FUNCTION_ARGS)
{
	char	   *name;
	bool		drop_data;
	TenantRow	row;
	TenantModel *model;
	TenantState *state;
	List	   *actions;
	List	   *leftovers;
	bool		pending;
	bool		deprovisioned;
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2];
	int64		operation_id;

	RequireArguments(fcinfo);
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	drop_data = PG_GETARG_BOOL(1);
	TenantCheckName(name);
	lock_tenant(name);
	row = read_tenant(name);
	if (!row.found)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("tenant \"%s\" does not exist", name)));
	deprovisioned = strcmp(row.state, "deprovisioned") == 0;

	model = TenantModelFromSpec(name, row.spec);
	ServerPlaceTenant(model, row.server, true, false);
	if (model->local)
		state = TenantStateFromCatalogs(model, row.tenant_id);
	else
	{
		state = TenantStateFromModel(model);
		if (deprovisioned)
		{
			/* only the owner role and the data were kept */
			state->writer.exists = state->reader.exists = false;
			for (int i = 0; i < TENANT_LOGIN_ROLE_COUNT; i++)
				state->logins[i].exists = false;
			state->backup.exists = false;
		}
	}
	if (deprovisioned && !drop_data)
	{
		bool		left = state->writer.exists || state->reader.exists;

		for (int i = 0; i < TENANT_LOGIN_ROLE_COUNT; i++)
			left |= state->logins[i].exists;
		if (!left || !model->local)
		{
			ereport(NOTICE,
					(errmsg("tenant \"%s\" is already deprovisioned", name),
					 errhint("Pass drop_data => true to drop its schemas and data too.")));
			PG_RETURN_NULL();
		}
	}
	/* drop_data drops every row of the tenant, or nothing */
	if (drop_data)
		RefuseSharedRowsOf(name, SHARED_ROWS_DROP_DATA);
	actions = PlanTenant(model, state, drop_data ? PLAN_DEPROVISION_DROP_DATA :
						 PLAN_DEPROVISION);
	if (model->local)
		terminate_at_commit_of(model);
	leftovers = ExecutePlanSql(actions);
	pending = PlanCountExternal(actions) > 0;

	SPI_connect();
	values[0] = Int64GetDatum(row.tenant_id);
	values[1] = CStringGetTextDatum(pending ? JournalTenantStateRunning("deprovision")
									: "deprovisioned");

	/*
	 * Every unfinished operation of the tenant ends here, cancelled: steps
	 * not started are not run, compensations not started are not needed (the
	 * deprovision removes everything).  Requests in flight finish; the
	 * deprovision's steps wait for them (the journal's claims).
	 */
	JournalSupersede(row.tenant_id, "superseded by deprovision");
	SPI_EXEC_KEPT("UPDATE tenancy.tenants SET state = $2, updated_at = pg_catalog.now() "
				  "WHERE tenant_id = $1",
				  2, types, values, NULL, SPI_OK_UPDATE);
	sync_tenant_objects(model, row.tenant_id, false);
	operation_id = record_operation(model, row.tenant_id, "deprovision",
									row.generation, actions);
	if (leftovers != NIL)
	{
		StringInfoData all;
		ListCell   *lc;

		initStringInfo(&all);
		appendStringInfoString(&all, "left behind (NOLOGIN, sessions ended): ");
		foreach(lc, leftovers)
		{
			ereport(WARNING,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("tenant \"%s\": a role was not dropped", name),
					 errdetail("%s.", (char *) lfirst(lc)),
					 errhint("The role cannot log in and its sessions end at COMMIT. Reassign or drop what it owns in the databases named (REASSIGN OWNED / DROP OWNED, connected to each), then run tenancy.deprovision('%s') again.",
							 name)));
			appendStringInfo(&all, "%s%s", foreach_current_index(lc) > 0 ? " | " : "",
							 (char *) lfirst(lc));
		}
		JournalSetError(operation_id, all.data);
	}
	SPI_finish();
	PG_RETURN_INT64(operation_id);
}

/*
 * put_plan_row
 *		One row of tenancy.plan's result: ordinal, target, action, object,
 *		detail, and for an action of the plan the request the worker would
 *		send (never a secret: Vault references stay references) and, for an
 *		apply, the paths that differ from what the spec last applied gave.
 */
static void
put_plan_row(ReturnSetInfo *rsinfo, int ordinal, const char *target,
			 const char *action, const char *object, const char *detail,
			 Jsonb *request, Jsonb *changes)
{
	Datum		values[7];
	bool		nulls[7] = {false, false, false, false, false, false, false};

	values[0] = Int32GetDatum(ordinal);
	values[1] = CStringGetTextDatum(target);
	values[2] = CStringGetTextDatum(action);
	values[3] = CStringGetTextDatum(object);
	values[4] = CStringGetTextDatum(detail);
	/* the request the worker would send (SQL: the statement is detail) */
	values[5] = request ? JsonbPGetDatum(request) : (Datum) 0;
	nulls[5] = request == NULL;
	values[6] = changes ? JsonbPGetDatum(changes) : (Datum) 0;
	nulls[6] = changes == NULL;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * plan_rows
 *		tenancy.plan's result for a spec: what provision (new tenant) or
 *		apply (existing tenant) would do, in order; nothing is executed.
 *		A spec whose warehouse.database.host no registered server matches
 *		gets a first row (ordinal 0, target placement, action
 *		unregistered_host) saying that provision would refuse it, 42704.
 */
static void
plan_rows(FunctionCallInfo fcinfo, const char *name, Jsonb *spec)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TenantRow	row = {0};
	Converge	c;
	ListCell   *lc;
	Oid			types[1] = {TEXTOID};
	Datum		args[1];

	InitMaterializedSRF(fcinfo, 0);
	spec = checked_spec(name, spec);

	/* the plan reads the row without locking it: nothing is changed */
	SPI_connect();
	args[0] = CStringGetTextDatum(name);
	SPI_EXEC_KEPT("SELECT state, spec, server, tenant_id FROM tenancy.tenants WHERE name = $1",
				  1, types, args, NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
	{
		bool		isnull;
		MemoryContext spi = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);

		row.found = true;
		row.state = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		row.spec = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0],
													SPI_tuptable->tupdesc, 2, &isnull));
		row.server = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
		row.tenant_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
													SPI_tuptable->tupdesc, 4, &isnull));
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();

	c = prepare_converge(name, spec, row, true);
	if (!c.model->local && c.model->server == NULL &&
		c.model->remote_host != NULL && c.model->remote_host[0] != '\0')
		put_plan_row(rsinfo, 0, "placement", "unregistered_host",
					 psprintf("%s:%d", c.model->remote_host, c.model->remote_port),
					 psprintf("No registered server has this name or this host and port: provision would refuse the spec (42704). "
							  "Register it under any name whose connection string has host=%s port=%d, "
							  "e.g. tenancy.register_server('wh-1', 'host=%s port=%d dbname=postgres'), "
							  "or leave warehouse.database.host empty.",
							  c.model->remote_host, c.model->remote_port,
							  c.model->remote_host, c.model->remote_port),
					 NULL, NULL);
	foreach(lc, c.actions)
	{
		PlanAction *a = lfirst(lc);

		put_plan_row(rsinfo, a->ordinal, a->target, a->action, a->object,
					 a->detail, a->request, a->changes);
	}
}

/*
 * tenancy_plan
 *		SQL: tenancy.plan(name text, spec jsonb) returns table(ordinal,
 *		target, action, object, detail, request, changes); see plan_rows.
 */
Datum
tenancy_plan(PG_FUNCTION_ARGS)
{
	RequireArguments(fcinfo);
	plan_rows(fcinfo, text_to_cstring(PG_GETARG_TEXT_PP(0)),
			  PG_GETARG_JSONB_P(1));
	PG_RETURN_VOID();
}

/*
 * tenancy_plan_text
 *		SQL: tenancy.plan(name text, spec text): the spec as YAML or JSON
 *		text, like provision and apply take it.
 */
Datum
tenancy_plan_text(PG_FUNCTION_ARGS)
{
	RequireArguments(fcinfo);
	plan_rows(fcinfo, text_to_cstring(PG_GETARG_TEXT_PP(0)),
			  spec_from_text(PG_GETARG_TEXT_PP(1)));
	PG_RETURN_VOID();
}
