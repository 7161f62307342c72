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
 * kept plans of the extension's own catalog statements (SpiExecuteKept).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"

#include "plan.h"

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
 * ExecutePlanSql
 *		Run every action whose target is this database, in order.
 */
void
ExecutePlanSql(List *actions)
{
	ListCell   *lc;
	ErrorContextCallback callback;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	callback.callback = plan_error_context;
	callback.previous = error_context_stack;
	error_context_stack = &callback;

	foreach(lc, actions)
	{
		PlanAction *action = lfirst(lc);
		int			rc;

		if (strcmp(action->target, PLAN_TARGET_DATABASE) != 0)
			continue;
		callback.arg = action;
		rc = SPI_execute(action->sql, false, 0);
		if (rc < 0)
			elog(ERROR, "SPI_execute failed for planned action %d: %s",
				 action->ordinal, SPI_result_code_string(rc));
	}

	error_context_stack = callback.previous;
	SPI_finish();
}

/*
 * SpiExecuteKept
 *		Run a catalog statement of the extension through a plan prepared on
 *		first use and kept for the life of the backend (*plan caches it);
 *		the caller is connected to SPI.  An unexpected result is an internal
 *		error.
 *
 * The plan cache revalidates a kept plan before each use and prepares it
 * again from the statement's text when a table it uses was dropped and
 * created again (DROP and CREATE EXTENSION in one session).  Plans are
 * generic: the statements follow an index or insert whatever the values.
 */
int
SpiExecuteKept(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types,
			   Datum *values, const char *nulls, int expected)
{
	int			rc;

	if (*plan == NULL)
	{
		SPIPlanPtr	prepared = SPI_prepare_cursor(sql, nargs, types,
												  CURSOR_OPT_GENERIC_PLAN);

		if (prepared == NULL)
			elog(ERROR, "could not prepare \"%s\": %s", sql,
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(prepared) != 0)
			elog(ERROR, "could not keep the plan of \"%s\"", sql);
		*plan = prepared;
	}
	rc = SPI_execute_plan(*plan, values, nulls, false, 0);
	if (rc != expected)
		elog(ERROR, "tenancy catalog statement failed: %s",
			 SPI_result_code_string(rc));
	return rc;
}
