/*-------------------------------------------------------------------------
 *
 * sql_exec.c
 *	  Run the planned SQL actions of a tenant in the caller's transaction.
 *
 * The statements run through SPI as the extension's owner (the entry
 * points are SECURITY DEFINER), in plan order.  An error aborts the
 * caller's transaction (or subtransaction) like any other statement, so a
 * failed provision leaves nothing half-created.  Actions for another
 * server (target remote_database) are left to the worker.  Also here: the
 * kept plans of the extension's own catalog statements (SpiExecuteKept,
 * spi_util.c).
 *
 * One exception to "an error aborts everything": the statements that drop
 * one role of a deprovisioned tenant (REASSIGN OWNED, DROP OWNED, DROP
 * ROLE, phase PLAN_PHASE_DROP_ROLES) run in a subtransaction of their own.
 * A role that cannot be dropped (it owns objects or holds privileges in
 * another database, which DROP OWNED here cannot reach) is left behind,
 * NOLOGIN, and reported, instead of rolling back the deprovision and with
 * it the NOLOGIN that ends the tenant's access.
 *
 * Locks: every statement waits at most tenancy.lock_timeout for one (or
 * the caller's lock_timeout, when shorter).  The caller holds the tenant's
 * row, which the worker waits for before it records the outcomes of a pass;
 * a session that kept one of the tenant's tables locked (the tenant's own,
 * or a neighbour's through a dependency) would otherwise hold up the
 * provision, apply or deprovision, and every tenant's steps behind it, for
 * as long as it liked.  A role whose drop times out is left behind as
 * above; any other statement fails with 55P03, naming its action.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "plan.h"
#include "tenancy.h"

/*
 * plan_error_context
 *		Name the planned action an error came from.
 */
static void
plan_error_context(void *arg)
{
	PlanAction *action = arg;

	errcontext("tenancy planned action %d (%s %s)", action->ordinal,
			   action->action, action->object);
}

/*
 * role_dependents
 *		Where a role still owns objects or holds privileges, from
 *		pg_shdepend: "database d: n objects" per database, and the
 *		objects of this database by name.
 */
static char *
role_dependents(Oid roleid)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(roleid)};
	StringInfoData out;

	initStringInfo(&out);
	if (SPI_execute_with_args("SELECT COALESCE(d.datname::pg_catalog.text, '(shared)'), "
							  "pg_catalog.count(*), "
							  "pg_catalog.string_agg(CASE WHEN s.dbid OPERATOR(pg_catalog.=) "
							  "(SELECT oid FROM pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.=) "
							  "pg_catalog.current_database()) THEN pg_catalog.pg_describe_object(s.classid, "
							  "s.objid, s.objsubid) END, ', ') "
							  "FROM pg_catalog.pg_shdepend s LEFT JOIN pg_catalog.pg_database d "
							  "ON d.oid OPERATOR(pg_catalog.=) s.dbid "
							  "WHERE s.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_authid'::pg_catalog.regclass "
							  "AND s.refobjid OPERATOR(pg_catalog.=) $1 "
							  "AND s.deptype OPERATOR(pg_catalog.<>) 'p' "
							  "GROUP BY 1 ORDER BY 1",
							  1, types, values, NULL, true, 0) != SPI_OK_SELECT)
		return pstrdup("(pg_shdepend could not be read)");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *db = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *n = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		char	   *here = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);

		appendStringInfo(&out, "%sdatabase %s: %s object%s%s%s%s", i > 0 ? "; " : "",
						 db, n, strcmp(n, "1") == 0 ? "" : "s",
						 here ? " (" : "", here ? here : "", here ? ")" : "");
	}
	return out.data;
}

/*
 * drop_role_isolated
 *		Run the drop statements of one role (actions first..last) in a
 *		subtransaction; false, with *leftover describing what is left of
 *		the role and why, when they fail.
 */
static bool
drop_role_isolated(List *actions, int first, int last, ErrorContextCallback *callback,
				   char **leftover)
{
	MemoryContext caller = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	PlanAction *head = list_nth(actions, first);
	Oid			roleid = get_role_oid(head->object, true);
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller);
	PG_TRY();
	{
		for (int i = first; i <= last; i++)
		{
			PlanAction *action = list_nth(actions, i);

			callback->arg = action;
			if (SPI_execute(action->sql, false, 0) < 0)
				elog(ERROR, "SPI_execute failed for planned action %d", action->ordinal);
		}
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(caller);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller);
		CurrentResourceOwner = owner;
		*leftover = psprintf("role %s: %s%s%s", head->object, edata->message,
							 OidIsValid(roleid) ? "; it still has " : "",
							 OidIsValid(roleid) ? role_dependents(roleid) : "");
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * ExecutePlanSql
 *		Run every action whose target is this database, in order.  Returns
 *		what was left behind (see drop_role_isolated), one string per role,
 *		NIL when everything ran.
 */
List *
ExecutePlanSql(List *actions)
{
	MemoryContext outer = CurrentMemoryContext;
	ErrorContextCallback callback;
	List	   *leftovers = NIL;
	int			n = list_length(actions);
	int			nest;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	nest = NewGUCNestLevel();
	if (LockTimeout == 0 || LockTimeout > tenancy_lock_timeout_ms)
		(void) set_config_option("lock_timeout", psprintf("%d", tenancy_lock_timeout_ms),
								 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);

	callback.callback = plan_error_context;
	callback.previous = error_context_stack;
	error_context_stack = &callback;

	for (int i = 0; i < n; i++)
	{
		PlanAction *action = list_nth(actions, i);
		int			rc;

		if (strcmp(action->target, PLAN_TARGET_DATABASE) != 0)
			continue;
		if (action->phase && strcmp(action->phase, PLAN_PHASE_DROP_ROLES) == 0)
		{
			int			last = i;
			char	   *leftover = NULL;

			/* the statements of one role follow one another */
			while (last + 1 < n &&
				   strcmp(((PlanAction *) list_nth(actions, last + 1))->object,
						  action->object) == 0)
				last++;
			if (!drop_role_isolated(actions, i, last, &callback, &leftover))
			{
				MemoryContext spi = MemoryContextSwitchTo(outer);

				leftovers = lappend(leftovers, pstrdup(leftover));
				MemoryContextSwitchTo(spi);
			}
			i = last;
			continue;
		}
		callback.arg = action;
		rc = SPI_execute(action->sql, false, 0);
		if (rc < 0)
			elog(ERROR, "SPI_execute failed for planned action %d: %s",
				 action->ordinal, SPI_result_code_string(rc));
	}
	error_context_stack = callback.previous;
	AtEOXact_GUC(true, nest);
	SPI_finish();
	return leftovers;
}
