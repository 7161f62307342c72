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

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "storage/itemptr.h"
#include "storage/lmgr.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "tenancy.h"
#include "worker_xact.h"

/*
 * The memory context current when WorkerXactBegin was called, current again
 * after WorkerXactCommit.  The worker's transactions do not nest, and none
 * spans a request (a task switch).
 */
static MemoryContext caller_context = NULL;

/*
 * The version of pg_extension's row for tenancy last compared with the
 * library's (TENANCY_VERSION): the row is known by its xmin and ctid, which
 * every UPDATE of it (ALTER EXTENSION UPDATE) changes; the verdict is
 * kept until then, so that a transaction of the worker compares no text.
 */
static TransactionId compared_xmin = InvalidTransactionId;
static ItemPointerData compared_tid;
static bool compared_ours = false;

static Oid	look_up_extension(bool *ours, char **version);

/*
 * look_up_extension
 *		The OID of extension tenancy (InvalidOid when not installed), from
 *		one index scan of pg_extension, and in *ours whether it is installed
 *		at the library's version.  What get_extension_oid reads, and the
 *		version with it at no extra scan; the version is decoded only when
 *		the row is not the one last compared, or when version is not NULL
 *		(then *version is it, palloc'd, or NULL when not installed).
 */
static Oid
look_up_extension(bool *ours, char **version)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			oid = InvalidOid;

	*ours = false;
	if (version != NULL)
		*version = NULL;
	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("tenancy"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		TransactionId xmin = HeapTupleHeaderGetRawXmin(tuple->t_data);

		oid = ((Form_pg_extension) GETSTRUCT(tuple))->oid;
		if (version != NULL || !TransactionIdEquals(xmin, compared_xmin) ||
			!ItemPointerEquals(&tuple->t_self, &compared_tid))
		{
			bool		isnull;
			Datum		d = heap_getattr(tuple, Anum_pg_extension_extversion,
										 RelationGetDescr(rel), &isnull);
			bool		same = false;

			if (!isnull)
			{
				text	   *t = DatumGetTextPP(d);
				size_t		len = VARSIZE_ANY_EXHDR(t);

				same = len == strlen(TENANCY_VERSION) &&
					memcmp(VARDATA_ANY(t), TENANCY_VERSION, len) == 0;
				/* not TextDatumGetCString: builtins.h clashes with jansson */
				if (version != NULL)
				{
					*version = palloc(len + 1);
					memcpy(*version, VARDATA_ANY(t), len);
					(*version)[len] = '\0';
				}
			}
			compared_xmin = xmin;
			compared_tid = tuple->t_self;
			compared_ours = same;
		}
		*ours = compared_ours;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return oid;
}

/*
 * WorkerInstalledVersion
 *		The version of extension tenancy installed in this database, in a
 *		short transaction of its own; NULL when it is not installed.
 *		Allocated in the caller's memory context.
 */
char *
WorkerInstalledVersion(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *version;
	char	   *copy = NULL;
	bool		ours;

	WorkerXactBegin("tenancy worker: reading the extension's version");
	(void) look_up_extension(&ours, &version);
	if (version != NULL)
		copy = MemoryContextStrdup(cxt, version);
	WorkerXactCommit();
	MemoryContextSwitchTo(cxt);
	return copy;
}

/*
 * WorkerLockExtension
 *		In a transaction of the worker, before it touches a table of the
 *		extension: lock the extension itself (AccessShareLock on the
 *		pg_extension object, until the transaction ends), and say whether it
 *		is installed at the library's version.
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
 *
 * Installed at another version (ALTER EXTENSION UPDATE while this library
 * runs, or UPDATE pg_extension), the extension counts as not installed:
 * the statements of this library were written for its own version's
 * tables, columns and states, and a transaction that ran them against
 * another's could leave steps half recorded.  The worker then waits in
 * wait_for_catalog until the versions match again (a restart with the
 * library of the catalog's version).  The check costs nothing: the
 * version comes from the scan that finds the extension's OID, and is
 * compared only when the row changed (look_up_extension).
 */
bool
WorkerLockExtension(void)
{
	Oid			locked = InvalidOid;

	for (;;)
	{
		bool		ours;
		Oid			current = look_up_extension(&ours, NULL);

		if (current == locked)
			return OidIsValid(current) && ours;
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
	caller_context = CurrentMemoryContext;
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
 *		Commit what WorkerXactBegin started, report statistics, and make the
 *		caller's memory context current again.
 *
 * The commit leaves TopMemoryContext current: a handler that went on
 * allocating after one of its transactions (setting a password, checking
 * the schemas) did so there, for the life of the worker: about 23 kB per
 * tenant provisioned (pg_log_backend_memory_contexts after 300 tenants:
 * 6.9 MB used in TopMemoryContext itself).
 */
void
WorkerXactCommit(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	if (caller_context != NULL)
		MemoryContextSwitchTo(caller_context);
	caller_context = NULL;
}
