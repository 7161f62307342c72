/*-------------------------------------------------------------------------
 *
 * hooks.c
 *	  Every hook tenancy installs in a backend, in one place: the utility
 *	  hook, the planner hook and the executor's start and end hooks.  Each
 *	  calls the checks of the files that own them, then the previous hook
 *	  (another extension's) or the standard function.
 *
 *	  utility statement, before:  RefuseDropWithTenants (setup.c),
 *	                              TenantGuardBeforeUtility (tenant_guard.c)
 *	  utility statement, after:   TenantGuardAfterUtility (tenant_guard.c)
 *	  query, before and after:    TenantGuardAroundQuery (tenant_guard.c)
 *	  query, before planning:     TenantGuardAroundQuery (tenant_guard.c)
 *
 * Installed from _PG_init, so they hold wherever the library is loaded;
 * with tenancy in shared_preload_libraries (the supported setup) that is
 * every session.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/executor.h"
#include "optimizer/planner.h"
#include "tcop/utility.h"

#include "tenancy.h"

static ProcessUtility_hook_type prev_utility_hook = NULL;
static ExecutorStart_hook_type prev_executor_start_hook = NULL;
static ExecutorEnd_hook_type prev_executor_end_hook = NULL;
static planner_hook_type prev_planner_hook = NULL;

/*
 * tenancy_utility
 *		ProcessUtility_hook.
 */
static void
tenancy_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
				ProcessUtilityContext context, ParamListInfo params,
				QueryEnvironment *queryEnv, DestReceiver *dest,
				QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	Oid			next_oid_before;

	RefuseDropWithTenants(parsetree);
	/* a local, not a static: utility statements nest (CREATE TABLE's indexes) */
	next_oid_before = TenantGuardBeforeUtility(parsetree);

	if (prev_utility_hook)
		prev_utility_hook(pstmt, queryString, readOnlyTree, context, params,
						  queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);

	TenantGuardAfterUtility(parsetree, next_oid_before);
}

/*
 * tenancy_executor_start
 *		ExecutorStart_hook.
 */
static void
tenancy_executor_start(QueryDesc *queryDesc, int eflags)
{
	TenantGuardAroundQuery();
	if (prev_executor_start_hook)
		prev_executor_start_hook(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/*
 * tenancy_executor_end
 *		ExecutorEnd_hook.
 */
static void
tenancy_executor_end(QueryDesc *queryDesc)
{
	if (prev_executor_end_hook)
		prev_executor_end_hook(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
	TenantGuardAroundQuery();
}

/*
 * tenancy_planner
 *		planner_hook: the ceilings hold before a query is planned too, since
 *		the plan fixes its parallel workers (a function called after
 *		set_config() in the same statement plans its queries before their
 *		ExecutorStart).
 */
static PlannedStmt *
tenancy_planner(Query *parse, const char *query_string, int cursorOptions,
				ParamListInfo boundParams)
{
	TenantGuardAroundQuery();
	if (prev_planner_hook)
		return prev_planner_hook(parse, query_string, cursorOptions, boundParams);
	return standard_planner(parse, query_string, cursorOptions, boundParams);
}

/*
 * InstallHooks
 *		Chain tenancy's hooks to those installed before; from _PG_init.
 */
void
InstallHooks(void)
{
	prev_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = tenancy_utility;
	prev_executor_start_hook = ExecutorStart_hook;
	ExecutorStart_hook = tenancy_executor_start;
	prev_executor_end_hook = ExecutorEnd_hook;
	ExecutorEnd_hook = tenancy_executor_end;
	prev_planner_hook = planner_hook;
	planner_hook = tenancy_planner;
}
