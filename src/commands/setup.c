/*-------------------------------------------------------------------------
 *
 * setup.c
 *	  What a DBA gets wrong on the first day, said where it happens:
 *	  tenancy.worker_problem() (no worker serves this database), and the
 *	  check that refuses DROP EXTENSION tenancy while tenants exist (run
 *	  by the utility hook, hooks.c).
 *
 * The platform and remote steps run only in the background worker, which
 * connects to one database, tenancy.database (default postgres).  An
 * extension created elsewhere works on the database side and leaves every
 * other step pending forever; the install script, provision and wait say
 * so through worker_problem().
 *
 * DROP EXTENSION tenancy removes the record of every tenant but not the
 * tenants: their roles and schemas (customer data) and platform objects
 * stay, and nothing could deprovision them any more.  It is refused
 * (2BP01) while tenants are not deprovisioned, unless
 * tenancy.allow_drop_with_tenants is on.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/varlena.h"

#include "tenancy.h"
#include "worker.h"

PG_FUNCTION_INFO_V1(tenancy_worker_problem);

/*
 * preloaded
 *		Is tenancy in shared_preload_libraries (as "tenancy" or a path
 *		ending in /tenancy, with or without .so)?
 */
static bool
preloaded(void)
{
	const char *value = GetConfigOption("shared_preload_libraries", true, false);
	char	   *copy;
	List	   *names;
	ListCell   *lc;
	bool		found = false;

	if (value == NULL)
		return false;
	copy = pstrdup(value);
	if (!SplitDirectoriesString(copy, ',', &names))
		return false;
	foreach(lc, names)
	{
		char	   *name = lfirst(lc);
		char	   *base = strrchr(name, '/');

		base = base ? base + 1 : name;
		if (strcmp(base, "tenancy") == 0 || strcmp(base, "tenancy.so") == 0)
			found = true;
	}
	return found;
}

/*
 * WorkerProblem
 *		Why no worker serves the current database, in one sentence, or NULL
 *		when one does.  Unless running_now, a worker that is preloaded for
 *		this database but not running at the moment is no problem: the
 *		postmaster restarts it within 5 seconds (right after the database
 *		is created, say).
 */
char *
WorkerProblem(bool running_now)
{
	char	   *here = get_database_name(MyDatabaseId);

	if (!preloaded())
		return pstrdup("tenancy is not in shared_preload_libraries, so no background worker runs the platform and remote steps.");
	if (tenancy_database == NULL || strcmp(tenancy_database, here) != 0)
		return psprintf("The background worker serves database \"%s\" (tenancy.database), not \"%s\": platform and remote steps of this database stay pending.",
						tenancy_database ? tenancy_database : "", here);
	if (running_now && WorkerPid() == 0)
		return pstrdup("No background worker runs at the moment: it starts once the database named by tenancy.database exists (the server log says why it stopped).");
	return NULL;
}

/*
 * tenancy_worker_problem
 *		SQL: tenancy.worker_problem(running_now boolean DEFAULT true)
 *		returns text: why no worker serves this database, NULL when one
 *		does; see WorkerProblem.
 */
Datum
tenancy_worker_problem(PG_FUNCTION_ARGS)
{
	char	   *problem = WorkerProblem(PG_GETARG_BOOL(0));

	if (problem == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(problem));
}

/*
 * live_tenants
 *		How many tenants of this database's extension are not
 *		deprovisioned.  Only asked for a caller who may drop the extension
 *		(its owner, which owns the table, or a superuser); every name and
 *		operator is qualified, so the caller's search_path plays no part.
 */
static int64
live_tenants(void)
{
	int64		count = 0;
	bool		isnull;

	SPI_connect();
	if (SPI_execute("SELECT pg_catalog.count(*) FROM tenancy.tenants "
					"WHERE state OPERATOR(pg_catalog.<>) 'deprovisioned'",
					true, 0) == SPI_OK_SELECT && SPI_processed == 1)
		count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return count;
}

/*
 * drops_tenancy
 *		Does this statement drop the extension tenancy of this database
 *		(DROP EXTENSION tenancy, DROP SCHEMA tenancy ... CASCADE)?
 */
static bool
drops_tenancy(Node *parsetree)
{
	DropStmt   *stmt;
	ListCell   *lc;

	if (!IsA(parsetree, DropStmt))
		return false;
	stmt = (DropStmt *) parsetree;
	if (stmt->removeType != OBJECT_EXTENSION && stmt->removeType != OBJECT_SCHEMA)
		return false;
	foreach(lc, stmt->objects)
	{
		Node	   *object = lfirst(lc);

		if (IsA(object, String) && strcmp(strVal(object), "tenancy") == 0)
		{
			Oid			extension = get_extension_oid("tenancy", true);

			/* others are refused by DROP itself, before anything is read */
			return OidIsValid(extension) &&
				(superuser() ||
#if PG_VERSION_NUM >= 160000
				 object_ownercheck(ExtensionRelationId, extension, GetUserId())
#else
				 pg_extension_ownercheck(extension, GetUserId())
#endif
				);
		}
	}
	return false;
}

/*
 * RefuseDropWithTenants
 *		Refuse DROP EXTENSION tenancy while tenants exist (see the file
 *		header); from the utility hook (hooks.c), before the statement runs.
 */
void
RefuseDropWithTenants(Node *parsetree)
{
	if (!tenancy_allow_drop_with_tenants && drops_tenancy(parsetree))
	{
		int64		count = live_tenants();

		if (count > 0)
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg_plural("cannot drop extension tenancy because %lld tenant is not deprovisioned",
								   "cannot drop extension tenancy because %lld tenants are not deprovisioned",
								   count, (long long) count),
					 errdetail("Dropping it would forget them but leave their roles, schemas (customer data) and platform objects behind, with nothing left to deprovision them."),
					 errhint("Deprovision them first (SELECT tenancy.deprovision(name) FROM tenancy.tenants WHERE state <> 'deprovisioned', then tenancy.wait), or SET tenancy.allow_drop_with_tenants = on as a superuser to drop it anyway.")));
	}
}
