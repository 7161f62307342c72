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

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"

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
