/*-------------------------------------------------------------------------
 *
 * worker_xact_util.c
 *	  The worker's short transactions, one way for every file that runs
 *	  one (the journal, the step executors, the handlers, placement):
 *	  WorkerXactBegin and WorkerXactCommit, and the lock each takes on the
 *	  extension before it touches one of its tables (WorkerLockExtension).
 *
 * A transaction is begun with SPI connected and a snapshot pushed, and
 * never held across a network call.  On an error, the worker's loop aborts
 * it (AbortCurrentTransaction releases SPI, snapshot and locks).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "storage/lmgr.h"
#include "utils/snapmgr.h"

#include "worker_xact.h"

/*
 * WorkerLockExtension
 *		In a transaction of the worker, before it touches a table of the
 *		extension: lock the extension itself (AccessShareLock on the
 *		pg_extension object, until the transaction ends), and say whether it
 *		is installed.
 *
 * DROP EXTENSION locks the extension (AccessExclusiveLock) before any of
 * its members, then the members one after another in an order of its own,
 * which differs from the order in which the worker's statements lock
 * tenancy.steps, operations and tenants.  Without this lock, a worker
 * transaction holding steps and waiting for operations, and a DROP
 * EXTENSION holding operations and waiting for steps, deadlock; and the
 * DBA's statement may be the one the deadlock detector cancels.  With it,
 * the two queue on one lock before either holds a table: DROP EXTENSION
 * waits for the worker's short transaction, or the worker waits for the
 * DROP and then finds the extension gone.  The lock taken is re-checked
 * after the wait (a DROP and a CREATE may have come in between).
 */
bool
WorkerLockExtension(void)
{
	Oid			locked = InvalidOid;

	for (;;)
	{
		Oid			current = get_extension_oid("tenancy", true);

		if (current == locked)
			return OidIsValid(current);
		if (OidIsValid(locked))
			UnlockDatabaseObject(ExtensionRelationId, locked, 0, AccessShareLock);
		if (!OidIsValid(current))
			return false;
		LockDatabaseObject(ExtensionRelationId, current, 0, AccessShareLock);

		/*
		 * the re-check reads pg_extension as of now, after a DROP we waited
		 * for
		 */
		InvalidateCatalogSnapshot();
		locked = current;
	}
}

/*
 * WorkerXactBegin
 *		Start a transaction of the worker: statement timestamp, transaction,
 *		SPI connected, a snapshot; activity (if not NULL) is what
 *		pg_stat_activity shows meanwhile.
 */
void
WorkerXactBegin(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	if (activity != NULL)
		pgstat_report_activity(STATE_RUNNING, activity);
}

/*
 * WorkerXactCommit
 *		Commit what WorkerXactBegin started, and report statistics.
 */
void
WorkerXactCommit(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}
