/*-------------------------------------------------------------------------
 *
 * owner_record.c
 *	  What the worker's ownership handlers (handler_owned.c) read and write
 *	  of tenancy.tenants: the tenant of an operation, and the metadata.uid
 *	  of the Kubernetes namespace tenancy created for it
 *	  (tenancy.tenants.namespace_uid), and those of the objects it created
 *	  in that namespace (tenancy.platform_objects).
 *
 * Each function runs its own short transaction: the worker calls them with
 * no transaction open, never across a network request.
 *
 *-------------------------------------------------------------------------
 */
#include "worker_xact.h"
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"

#include "journal.h"
#include "platform.h"

/*
 * OwnerRecordRead
 *		The name of the tenant of an operation and its recorded namespace
 *		uid (NULL when none), allocated in the caller's memory context.
 *		False when the extension or the operation is gone.
 */
bool
OwnerRecordRead(int64 operation_id, char **tenant, char **namespace_uid)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(operation_id)};
	MemoryContext caller = CurrentMemoryContext;
	bool		found = false;

	*tenant = *namespace_uid = NULL;
	WorkerXactBegin(NULL);
	if (WorkerLockExtension() &&
		SPI_execute_with_args("SELECT t.name, t.namespace_uid "
							  "FROM tenancy.operations o JOIN tenancy.tenants t "
							  "ON t.tenant_id OPERATOR(pg_catalog.=) o.tenant_id "
							  "WHERE o.operation_id OPERATOR(pg_catalog.=) $1",
							  1, types, values, NULL, true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
	{
		MemoryContext spi = MemoryContextSwitchTo(caller);

		*tenant = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		*namespace_uid = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		MemoryContextSwitchTo(spi);
		found = true;
	}
	WorkerXactCommit();
	MemoryContextSwitchTo(caller);
	return found;
}

/*
 * OwnerRecordSetNamespaceUid
 *		Record uid as the namespace uid of the tenant of an operation (NULL
 *		clears it: the namespace it named is gone).
 */
void
OwnerRecordSetNamespaceUid(int64 operation_id, const char *uid)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2];
	MemoryContext caller = CurrentMemoryContext;

	WorkerXactBegin(NULL);
	values[0] = Int64GetDatum(operation_id);
	values[1] = uid ? CStringGetTextDatum(uid) : (Datum) 0;
	if (WorkerLockExtension() &&
		SPI_execute_with_args("UPDATE tenancy.tenants t SET namespace_uid = $2 "
							  "FROM tenancy.operations o "
							  "WHERE o.operation_id OPERATOR(pg_catalog.=) $1 "
							  "AND t.tenant_id OPERATOR(pg_catalog.=) o.tenant_id",
							  2, types, values, uid ? NULL : " n", false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record the namespace uid");
	WorkerXactCommit();
	MemoryContextSwitchTo(caller);
}

/*
 * OwnerRecordObjectUid
 *		The metadata.uid recorded when tenancy created the Kubernetes object
 *		at path for the tenant of an operation (tenancy.platform_objects),
 *		allocated in the caller's memory context; NULL when none is.
 */
char *
OwnerRecordObjectUid(int64 operation_id, const char *path)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2];
	MemoryContext caller = CurrentMemoryContext;
	char	   *uid = NULL;

	values[0] = Int64GetDatum(operation_id);
	values[1] = CStringGetTextDatum(path);
	WorkerXactBegin(NULL);
	if (WorkerLockExtension() &&
		SPI_execute_with_args("SELECT p.uid FROM tenancy.operations o "
							  "JOIN tenancy.platform_objects p "
							  "ON p.tenant_id OPERATOR(pg_catalog.=) o.tenant_id "
							  "WHERE o.operation_id OPERATOR(pg_catalog.=) $1 "
							  "AND p.path OPERATOR(pg_catalog.=) $2",
							  2, types, values, NULL, true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
	{
		MemoryContext spi = MemoryContextSwitchTo(caller);

		uid = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		MemoryContextSwitchTo(spi);
	}
	WorkerXactCommit();
	MemoryContextSwitchTo(caller);
	return uid;
}

/*
 * OwnerRecordSetObjectUid
 *		Record uid as the one of the object at path that tenancy created for
 *		the tenant of an operation (NULL forgets it: the object is gone).
 */
void
OwnerRecordSetObjectUid(int64 operation_id, const char *path, const char *uid)
{
	Oid			types[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		values[3];
	MemoryContext caller = CurrentMemoryContext;
	int			expected = uid ? SPI_OK_INSERT : SPI_OK_DELETE;

	values[0] = Int64GetDatum(operation_id);
	values[1] = CStringGetTextDatum(path);
	values[2] = uid ? CStringGetTextDatum(uid) : (Datum) 0;
	WorkerXactBegin(NULL);
	if (WorkerLockExtension() &&
		SPI_execute_with_args(uid
							  ? "INSERT INTO tenancy.platform_objects (tenant_id, path, uid) "
							  "SELECT o.tenant_id, $2, $3 FROM tenancy.operations o "
							  "WHERE o.operation_id OPERATOR(pg_catalog.=) $1 "
							  "ON CONFLICT (tenant_id, path) DO UPDATE "
							  "SET uid = EXCLUDED.uid, created_at = pg_catalog.now()"
							  : "DELETE FROM tenancy.platform_objects p "
							  "USING tenancy.operations o "
							  "WHERE o.operation_id OPERATOR(pg_catalog.=) $1 "
							  "AND p.tenant_id OPERATOR(pg_catalog.=) o.tenant_id "
							  "AND p.path OPERATOR(pg_catalog.=) $2",
							  3, types, values, uid ? NULL : "  n", false, 0) != expected)
		elog(ERROR, "could not record the uid of %s", path);
	WorkerXactCommit();
	MemoryContextSwitchTo(caller);
}
