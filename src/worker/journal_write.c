/*-------------------------------------------------------------------------
 *
 * journal_write.c
 *	  The journal's writers that run in the caller's transaction: new
 *	  operations and their steps, and the operator's controls (retry,
 *	  cancel, superseding by a deprovision).
 *
 * With journal.c (the worker's claims, outcomes, compensation) this file is
 * the only code that INSERTs into or UPDATEs tenancy.operations and
 * tenancy.steps: provision, apply and deprovision (commands/provision.c),
 * the audit (maintenance/audit.c) and, through the SQL functions at the end
 * of this file, rotation and usage sampling (50_maintenance.sql) and retry
 * and cancel (30_operations.sql) call it.  The mapping from an operation's
 * kind to its tenant's state lives here too (JournalTenantStateRunning), as
 * do the tenant states the worker sets when an operation ends (journal.c,
 * FINISH_OPERATIONS).
 *
 * Callers lock the tenant's row before they call a function that changes
 * existing operations or steps (the lock order, doc/architecture.md);
 * JournalRestart and JournalCancel do it themselves.  Statements are
 * prepared once per backend (SPI_EXEC_KEPT).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "journal.h"
#include "plan.h"
#include "tenancy.h"
#include "worker.h"

PG_FUNCTION_INFO_V1(tenancy_journal_add_operation);
PG_FUNCTION_INFO_V1(tenancy_journal_add_step);
PG_FUNCTION_INFO_V1(tenancy_journal_restart);
PG_FUNCTION_INFO_V1(tenancy_journal_cancel);

/*
 * first_int64
 *		The bigint first column of the first row the last statement returned.
 */
static int64
first_int64(void)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								  1, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/*
 * JournalTenantStateRunning
 *		The state of a tenant while an operation of this kind runs for it,
 *		or NULL when the kind does not change its tenant's state (rotate,
 *		audit, usage).  The states an ended operation leaves are set by the
 *		worker (journal.c, FINISH_OPERATIONS).
 */
const char *
JournalTenantStateRunning(const char *kind)
{
	if (strcmp(kind, "provision") == 0)
		return "provisioning";
	if (strcmp(kind, "apply") == 0)
		return "updating";
	if (strcmp(kind, "deprovision") == 0)
		return "deprovisioning";
	return NULL;
}

/*
 * JournalAddOperation
 *		Record a new operation of a tenant, pending (or succeeded at once
 *		when done: nothing is left for the worker); returns its id.
 *		started: its first steps ran in the caller's transaction (the SQL
 *		of a provision, apply or deprovision), so it has started now.
 */
int64
JournalAddOperation(int64 tenant_id, const char *kind, int64 generation,
					bool started, bool done)
{
	Oid			types[5] = {INT8OID, TEXTOID, INT8OID, BOOLOID, BOOLOID};
	Datum		values[5];
	int64		operation_id;

	values[0] = Int64GetDatum(tenant_id);
	values[1] = CStringGetTextDatum(kind);
	values[2] = Int64GetDatum(generation);
	values[3] = BoolGetDatum(done);
	values[4] = BoolGetDatum(started || done);
	SPI_connect();
	SPI_EXEC_KEPT("INSERT INTO tenancy.operations "
				  "(tenant_id, kind, generation, state, started_at, finished_at) "
				  "VALUES ($1, $2, $3, "
				  "CASE WHEN $4 THEN 'succeeded' ELSE 'pending' END, "
				  "CASE WHEN $5 THEN pg_catalog.now() END, "
				  "CASE WHEN $4 THEN pg_catalog.now() END) "
				  "RETURNING operation_id",
				  5, types, values, NULL, SPI_OK_INSERT_RETURNING);
	operation_id = first_int64();
	SPI_finish();
	return operation_id;
}

/*
 * depends_on_literal
 *		The int4[] literal of an integer List, e.g. {3}.
 */
static Datum
depends_on_literal(List *ints)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	foreach(lc, ints)
		appendStringInfo(&buf, "%s%d", foreach_current_index(lc) > 0 ? "," : "",
						 lfirst_int(lc));
	appendStringInfoChar(&buf, '}');
	return CStringGetTextDatum(buf.data);
}

/*
 * JournalAddPlanSteps
 *		Record the planned steps (PlanStep *) of an operation in one
 *		statement.  SQL that already ran in the caller's transaction is
 *		recorded as succeeded; everything else is pending for the worker.
 */
void
JournalAddPlanSteps(int64 operation_id, List *steps)
{
	int			n = list_length(steps);
	Oid			types[11] = {INT8OID, INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
		TEXTARRAYOID, TEXTARRAYOID, JSONBARRAYOID, JSONBARRAYOID,
	TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[11];
	Datum	   *ordinals;
	Datum	   *targets;
	Datum	   *verbs;
	Datum	   *objects;
	Datum	   *depends;
	Datum	   *requests;
	Datum	   *compensations;
	bool	   *no_compensation;
	Datum	   *kinds;
	Datum	   *namespaces;
	Datum	   *names;
	bool	   *no_kind;
	bool	   *no_namespace;
	bool	   *no_name;
	ListCell   *lc;

	if (n == 0)
		return;
	ordinals = palloc(sizeof(Datum) * n);
	targets = palloc(sizeof(Datum) * n);
	verbs = palloc(sizeof(Datum) * n);
	objects = palloc(sizeof(Datum) * n);
	depends = palloc(sizeof(Datum) * n);
	requests = palloc(sizeof(Datum) * n);
	compensations = palloc(sizeof(Datum) * n);
	no_compensation = palloc(sizeof(bool) * n);
	kinds = palloc(sizeof(Datum) * n);
	namespaces = palloc(sizeof(Datum) * n);
	names = palloc(sizeof(Datum) * n);
	no_kind = palloc(sizeof(bool) * n);
	no_namespace = palloc(sizeof(bool) * n);
	no_name = palloc(sizeof(bool) * n);
	foreach(lc, steps)
	{
		PlanStep   *step = lfirst(lc);
		int			i = foreach_current_index(lc);

		ordinals[i] = Int32GetDatum(step->ordinal);
		targets[i] = CStringGetTextDatum(step->target);
		verbs[i] = CStringGetTextDatum(step->action);
		objects[i] = CStringGetTextDatum(step->object);
		depends[i] = depends_on_literal(step->depends_on);
		requests[i] = JsonbPGetDatum(step->request);
		compensations[i] = step->compensation ? JsonbPGetDatum(step->compensation) : (Datum) 0;
		no_compensation[i] = step->compensation == NULL;
		no_kind[i] = step->object_kind == NULL;
		kinds[i] = no_kind[i] ? (Datum) 0 : CStringGetTextDatum(step->object_kind);
		no_namespace[i] = step->object_namespace == NULL;
		namespaces[i] = no_namespace[i] ? (Datum) 0 : CStringGetTextDatum(step->object_namespace);
		no_name[i] = step->object_name == NULL;
		names[i] = no_name[i] ? (Datum) 0 : CStringGetTextDatum(step->object_name);
	}
	values[0] = Int64GetDatum(operation_id);
	values[1] = JournalArrayDatum(ordinals, NULL, n, INT4OID);
	values[2] = JournalArrayDatum(targets, NULL, n, TEXTOID);
	values[3] = JournalArrayDatum(verbs, NULL, n, TEXTOID);
	values[4] = JournalArrayDatum(objects, NULL, n, TEXTOID);
	values[5] = JournalArrayDatum(depends, NULL, n, TEXTOID);	/* ragged: literals */
	values[6] = JournalArrayDatum(requests, NULL, n, JSONBOID);
	values[7] = JournalArrayDatum(compensations, no_compensation, n, JSONBOID);
	values[8] = JournalArrayDatum(kinds, no_kind, n, TEXTOID);
	values[9] = JournalArrayDatum(namespaces, no_namespace, n, TEXTOID);
	values[10] = JournalArrayDatum(names, no_name, n, TEXTOID);

	SPI_connect();
	SPI_EXEC_KEPT("INSERT INTO tenancy.steps "
				  "(operation_id, ordinal, target, action, object, request, "
				  "compensation, depends_on, state, started_at, finished_at, "
				  "object_kind, object_namespace, object_name) "
				  "SELECT $1, s.ordinal, s.target, s.action, s.object, s.request, "
				  "s.compensation, s.depends_on::pg_catalog.int4[], "
				  "CASE WHEN s.target = 'database' THEN 'succeeded' ELSE 'pending' END, "
				  "CASE WHEN s.target = 'database' THEN pg_catalog.now() END, "
				  "CASE WHEN s.target = 'database' THEN pg_catalog.now() END, "
				  "s.kind, s.namespace, s.name "
				  "FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3), "
				  "pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6), "
				  "pg_catalog.unnest($7), pg_catalog.unnest($8), pg_catalog.unnest($9), "
				  "pg_catalog.unnest($10), pg_catalog.unnest($11)) "
				  "AS s(ordinal, target, action, object, depends_on, request, compensation, "
				  "kind, namespace, name)",
				  11, types, values, NULL, SPI_OK_INSERT);
	SPI_finish();
}

/*
 * JournalAddStep
 *		Record one pending step of an operation (a maintenance step: audit,
 *		rotation, usage); depends_on is an int4[] datum, or 0 for none;
 *		acts_on, the planned action whose object the step acts on, or NULL.
 */
void
JournalAddStep(int64 operation_id, int32 ordinal, const char *target,
			   const char *action, const char *object, Datum request,
			   Datum depends_on, const PlanAction *acts_on)
{
	Oid			types[10] = {INT8OID, INT4OID, TEXTOID, TEXTOID, TEXTOID,
		JSONBOID, INT4ARRAYOID,
	TEXTOID, TEXTOID, TEXTOID};
	Datum		values[10];
	char		nulls[10] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', 'n', 'n', 'n'};
	const char *typed[3] = {NULL, NULL, NULL};

	values[0] = Int64GetDatum(operation_id);
	values[1] = Int32GetDatum(ordinal);
	values[2] = CStringGetTextDatum(target);
	values[3] = CStringGetTextDatum(action);
	values[4] = CStringGetTextDatum(object);
	values[5] = request;
	values[6] = depends_on;
	if (depends_on == (Datum) 0)
		nulls[6] = 'n';
	if (acts_on != NULL)
	{
		typed[0] = acts_on->object_kind;
		typed[1] = acts_on->object_namespace;
		typed[2] = acts_on->object_name;
	}
	for (int i = 0; i < 3; i++)
	{
		values[7 + i] = typed[i] ? CStringGetTextDatum(typed[i]) : (Datum) 0;
		nulls[7 + i] = typed[i] ? ' ' : 'n';
	}
	SPI_connect();
	SPI_EXEC_KEPT("INSERT INTO tenancy.steps "
				  "(operation_id, ordinal, target, action, object, request, depends_on, "
				  "object_kind, object_namespace, object_name) "
				  "VALUES ($1, $2, $3, $4, $5, $6, coalesce($7, '{}'), $8, $9, $10)",
				  10, types, values, nulls, SPI_OK_INSERT);
	SPI_finish();
}

/*
 * JournalSupersede
 *		End every unfinished operation of a tenant, cancelled, with the
 *		reason given: steps not started are not run, compensations not
 *		started are not needed (a deprovision removes everything).
 *		Requests in flight finish; the journal's claims make the next
 *		operation of the tenant wait for them.  The caller holds the
 *		tenant's row.
 */
void
JournalSupersede(int64 tenant_id, const char *reason)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2];

	values[0] = Int64GetDatum(tenant_id);
	values[1] = CStringGetTextDatum(reason);
	SPI_connect();
	SPI_EXEC_KEPT("UPDATE tenancy.steps SET state = 'cancelled', finished_at = pg_catalog.now(), "
				  "last_error = 'not run: ' || $2 "
				  "WHERE state IN ('pending', 'compensating') AND operation_id IN "
				  "(SELECT operation_id FROM tenancy.operations WHERE tenant_id = $1 "
				  "AND state IN ('pending', 'running', 'compensating'))",
				  2, types, values, NULL, SPI_OK_UPDATE);
	SPI_EXEC_KEPT("UPDATE tenancy.operations SET state = 'cancelled', "
				  "finished_at = pg_catalog.now(), "
				  "error = coalesce(error || '; ', '') || $2 "
				  "WHERE tenant_id = $1 AND state IN ('pending', 'running', 'compensating')",
				  2, types, values, NULL, SPI_OK_UPDATE);
	SPI_finish();
}

/*
 * JournalSetError
 *		Say on an operation what went wrong (or was left behind).
 */
void
JournalSetError(int64 operation_id, const char *error)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2];

	values[0] = Int64GetDatum(operation_id);
	values[1] = CStringGetTextDatum(error);
	SPI_connect();
	SPI_EXEC_KEPT("UPDATE tenancy.operations SET error = $2 WHERE operation_id = $1",
				  2, types, values, NULL, SPI_OK_UPDATE);
	SPI_finish();
}

/*
 * lock_operation
 *		Lock the tenant's row, then the operation's (the lock order); the
 *		operation's tenant, kind and state, or false when it does not exist.
 */
static bool
lock_operation(int64 operation_id, int64 *tenant_id, char **kind, char **state)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(operation_id)};

	SPI_EXEC_KEPT("SELECT FROM tenancy.tenants t "
				  "WHERE t.tenant_id = (SELECT o.tenant_id FROM tenancy.operations o "
				  "                      WHERE o.operation_id = $1) "
				  "FOR NO KEY UPDATE",
				  1, types, values, NULL, SPI_OK_SELECT);
	SPI_EXEC_KEPT("SELECT o.tenant_id, o.kind, o.state FROM tenancy.operations o "
				  "WHERE o.operation_id = $1 FOR UPDATE",
				  1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return false;
	*tenant_id = first_int64();
	*kind = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	*state = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	return true;
}

/*
 * set_tenant_state
 *		The tenant's state, when an operation of this kind sets it.
 */
static void
set_tenant_state(int64 tenant_id, const char *state)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2];

	if (state == NULL)
		return;
	values[0] = Int64GetDatum(tenant_id);
	values[1] = CStringGetTextDatum(state);
	SPI_EXEC_KEPT("UPDATE tenancy.tenants SET state = $2, updated_at = pg_catalog.now() "
				  "WHERE tenant_id = $1",
				  2, types, values, NULL, SPI_OK_UPDATE);
}

/*
 * JournalRestart
 *		Run an operation that ended without succeeding again (tenancy.retry;
 *		the caller checked that it may).  Its steps start over with fresh
 *		attempts; after a compensation (undone), every step the worker runs
 *		starts over, each idempotent against what exists now (compensation
 *		deleted the namespace, whatever the steps say); SQL that ran in the
 *		caller's transaction of the operation is never undone, and stays
 *		done.  Its tenant is provisioning, updating or deprovisioning again.
 */
void
JournalRestart(int64 operation_id, bool undone)
{
	Oid			types[2] = {INT8OID, BOOLOID};
	Datum		values[2];
	int64		tenant_id;
	char	   *kind;
	char	   *state;

	values[0] = Int64GetDatum(operation_id);
	values[1] = BoolGetDatum(undone);
	SPI_connect();
	if (!lock_operation(operation_id, &tenant_id, &kind, &state))
		elog(ERROR, "operation " INT64_FORMAT " does not exist", operation_id);
	SPI_EXEC_KEPT("UPDATE tenancy.steps s "
				  "SET state = 'pending', phase = 'forward', attempts = 0, "
				  "next_attempt_at = pg_catalog.now(), lease_until = NULL, "
				  "unreachable_since = NULL, "
				  "http_status = NULL, last_error = NULL, finished_at = NULL "
				  "WHERE s.operation_id = $1 "
				  "AND s.state <> 'running' "
				  "AND NOT (s.phase = 'forward' AND s.state IN ('succeeded', 'skipped') "
				  "AND (NOT $2 OR s.target IN ('database', 'remote_database')))",
				  2, types, values, NULL, SPI_OK_UPDATE);
	SPI_EXEC_KEPT("UPDATE tenancy.operations o "
				  "SET state = 'pending', error = NULL, started_at = NULL, finished_at = NULL "
				  "WHERE o.operation_id = $1",
				  1, types, values, NULL, SPI_OK_UPDATE);
	set_tenant_state(tenant_id, JournalTenantStateRunning(kind));
	SPI_finish();
	WorkerWakeAtCommit();
}

/*
 * JournalCancel
 *		Stop an unfinished operation (tenancy.cancel; the caller checked
 *		that it may): steps not started are cancelled with the reason,
 *		requests in flight finish, nothing is undone; a provision, apply or
 *		deprovision leaves its tenant failed.
 */
void
JournalCancel(int64 operation_id, const char *reason)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2];
	int64		tenant_id;
	char	   *kind;
	char	   *state;

	values[0] = Int64GetDatum(operation_id);
	values[1] = CStringGetTextDatum(reason);
	SPI_connect();
	if (!lock_operation(operation_id, &tenant_id, &kind, &state))
		elog(ERROR, "operation " INT64_FORMAT " does not exist", operation_id);
	SPI_EXEC_KEPT("UPDATE tenancy.steps s "
				  "SET state = 'cancelled', finished_at = pg_catalog.now(), last_error = $2 "
				  "WHERE s.operation_id = $1 AND s.state IN ('pending', 'compensating')",
				  2, types, values, NULL, SPI_OK_UPDATE);
	SPI_EXEC_KEPT("UPDATE tenancy.operations o "
				  "SET state = 'cancelled', finished_at = pg_catalog.now(), "
				  "error = coalesce(o.error || '; ', '') || $2 "
				  "WHERE o.operation_id = $1",
				  2, types, values, NULL, SPI_OK_UPDATE);
	if (JournalTenantStateRunning(kind) != NULL)
		set_tenant_state(tenant_id, "failed");
	SPI_finish();
}

/*
 * tenancy_journal_add_operation
 *		SQL: tenancy.journal_add_operation(tenant bigint, kind text,
 *		generation bigint) returns bigint, a pending operation.
 */
Datum
tenancy_journal_add_operation(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(JournalAddOperation(PG_GETARG_INT64(0),
										text_to_cstring(PG_GETARG_TEXT_PP(1)),
										PG_GETARG_INT64(2), false, false));
}

/*
 * tenancy_journal_add_step
 *		SQL: tenancy.journal_add_step(operation bigint, ordinal integer,
 *		target text, action text, object text, request jsonb,
 *		depends_on integer[] DEFAULT '{}') returns void.
 */
Datum
tenancy_journal_add_step(PG_FUNCTION_ARGS)
{
	for (int i = 0; i < 6; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("a step needs its operation, ordinal, target, action, object and request")));
	JournalAddStep(PG_GETARG_INT64(0), PG_GETARG_INT32(1),
				   text_to_cstring(PG_GETARG_TEXT_PP(2)),
				   text_to_cstring(PG_GETARG_TEXT_PP(3)),
				   text_to_cstring(PG_GETARG_TEXT_PP(4)),
				   PG_GETARG_DATUM(5),
				   PG_ARGISNULL(6) ? (Datum) 0 : PG_GETARG_DATUM(6), NULL);
	PG_RETURN_VOID();
}

/*
 * tenancy_journal_restart
 *		SQL: tenancy.journal_restart(operation bigint, undone boolean).
 */
Datum
tenancy_journal_restart(PG_FUNCTION_ARGS)
{
	JournalRestart(PG_GETARG_INT64(0), PG_GETARG_BOOL(1));
	PG_RETURN_VOID();
}

/*
 * tenancy_journal_cancel
 *		SQL: tenancy.journal_cancel(operation bigint, reason text).
 */
Datum
tenancy_journal_cancel(PG_FUNCTION_ARGS)
{
	JournalCancel(PG_GETARG_INT64(0), text_to_cstring(PG_GETARG_TEXT_PP(1)));
	PG_RETURN_VOID();
}
