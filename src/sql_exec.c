/*-------------------------------------------------------------------------
 *
 * sql_exec.c
 *	  Run the planned SQL actions of a tenant in the caller's transaction.
 *
 * The statements run through SPI as the extension's owner (the entry
 * points are SECURITY DEFINER), in plan order.  An error aborts the
 * caller's transaction (or subtransaction) like any other statement, so a
 * failed provision leaves nothing half-created.  Actions for another
 * server (target remote_database) are left to the worker.
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
