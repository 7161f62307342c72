/*-------------------------------------------------------------------------
 *
 * tenancy.c
 *	  Module entry point of the tenancy extension.
 *
 * Settings are defined here (through guc.c) whether or not the library is
 * preloaded, so that SET and SHOW work in any session.  The background
 * worker is registered only when the library is in
 * shared_preload_libraries, since a worker cannot be registered later.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_proc.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/syscache.h"

#include "tenancy.h"
#include "worker.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

PG_FUNCTION_INFO_V1(tenancy_version);
PG_FUNCTION_INFO_V1(tenancy_is_own_transaction);

/*
 * _PG_init
 *		Define settings; register the worker when preloaded.
 */
void
_PG_init(void)
{
	/* pg_upgrade loads libraries only to check them: do nothing then */
	if (IsBinaryUpgrade)
		return;

	DefineTenancySettings();

	/*
	 * hooks.c: DROP EXTENSION refused with tenants; tenants held to their
	 * share
	 */
	InstallHooks();

	if (!process_shared_preload_libraries_in_progress)
		return;

	/* the background worker registers itself here (worker.c) */
	WorkerRequestSharedMemory();
	RegisterTenancyWorker();
}

/*
 * tenancy_version
 *		SQL: tenancy.version() returns the version of the loaded library.
 */
Datum
tenancy_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(TENANCY_VERSION));
}

/*
 * tenancy_is_own_transaction
 *		SQL: tenancy.is_own_transaction(xid) returns whether xid is the
 *		current transaction or one of its subtransactions (not aborted).
 *		tenancy.wait refuses to wait for an operation its own transaction
 *		wrote: the worker cannot see it before COMMIT.  Comparing with the
 *		top-level xid alone misses an operation written in a subtransaction
 *		(a savepoint, a PL/pgSQL block with EXCEPTION).
 */
Datum
tenancy_is_own_transaction(PG_FUNCTION_ARGS)
{
	TransactionId xid = DatumGetTransactionId(PG_GETARG_DATUM(0));

	PG_RETURN_BOOL(TransactionIdIsCurrentTransactionId(xid));
}

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
