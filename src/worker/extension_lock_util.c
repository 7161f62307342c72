/*-------------------------------------------------------------------------
 *
 * extension_lock_util.c
 *	  The lock every worker transaction takes on the extension before it
 *	  touches one of its tables: a leaf that the journal, the step
 *	  executors and the handlers share.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "storage/lmgr.h"
#include "utils/snapmgr.h"

#include "extension_lock.h"

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
