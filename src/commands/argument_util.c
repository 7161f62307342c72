/*-------------------------------------------------------------------------
 *
 * argument_util.c
 *	  The arguments of tenancy's SQL commands.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_proc.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/syscache.h"

#include "tenancy.h"

/*
 * RequireArguments
 *		ERROR (22004) when an argument of the calling SQL function is NULL,
 *		naming it.  For the commands (provision, apply, deprovision, plan,
 *		share_table, register_server, set_password ...): declared STRICT,
 *		a NULL (a subquery that found no spec, a misspelled variable) made
 *		the call return NULL having done nothing, which a script takes for
 *		success.  They are declared CALLED ON NULL INPUT and call this
 *		first.
 */
void
RequireArguments(FunctionCallInfo fcinfo)
{
	for (int i = 0; i < PG_NARGS(); i++)
	{
		HeapTuple	tuple;
		char	  **names = NULL;
		Oid		   *types;
		char	   *modes;
		int			n;
		char	   *proname;

		if (!PG_ARGISNULL(i))
			continue;
		tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
		if (!HeapTupleIsValid(tuple))
			elog(ERROR, "cache lookup failed for function %u", fcinfo->flinfo->fn_oid);
		proname = pstrdup(NameStr(((Form_pg_proc) GETSTRUCT(tuple))->proname));
		n = get_func_arg_info(tuple, &types, &names, &modes);
		ReleaseSysCache(tuple);
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" of tenancy.%s must not be NULL",
						names != NULL && i < n && names[i][0] != '\0'
						? names[i] : psprintf("$%d", i + 1),
						proname)));
	}
}
