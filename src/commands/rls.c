/*-------------------------------------------------------------------------
 *
 * rls.c
 *	  Shared tables under row-level security: tenancy.share_table,
 *	  tenancy.unshare_table and tenancy.current_tenant.
 *
 * A shared table gets one generic policy, the same for every tenant:
 *
 *	  USING (col = (SELECT tenancy.current_tenant()))
 *	  WITH CHECK (col = (SELECT tenancy.current_tenant()))
 *
 * so planning stays O(1) in the number of tenants (one policy per tenant
 * would make it O(tenants)), and the sub-select makes current_tenant() an
 * InitPlan evaluated once per query, compared against an indexed column.
 *
 * current_tenant() derives the tenant from role membership: the tenant
 * whose group role (tenant_<slug>_owner, _writer or _reader, NOLOGIN) the
 * current role is, or is a member of, directly or not (from PostgreSQL 16,
 * through grants that give INHERIT or SET: an ADMIN-only grant lets its
 * member manage the group, not act as it).  Nothing a user can SET feeds
 * it.  The answer is cached per backend and forgotten whenever
 * pg_authid or pg_auth_members change (syscache invalidation), so SET ROLE
 * and GRANT/REVOKE take effect at once.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/pg_auth_members.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/catcache.h"
#include "utils/syscache.h"

#include "pg_compat.h"
#include "tenancy.h"

PG_FUNCTION_INFO_V1(tenancy_current_tenant);
PG_FUNCTION_INFO_V1(tenancy_share_table);
PG_FUNCTION_INFO_V1(tenancy_unshare_table);

/* Name of the one policy share_table puts on a table */
#define POLICY_NAME "tenancy_tenant_isolation"

/* Comment that marks the tenant-column index share_table created */
#define INDEX_COMMENT "tenancy: tenant column index for row-level security"

/* Per-backend cache of current_tenant() for one role */
static bool cache_valid = false;
static bool cache_callbacks_registered = false;
static Oid	cache_role = InvalidOid;
static char cache_tenant[NAMEDATALEN];	/* "" when the role has no tenant */

/*
 * invalidate_tenant_cache
 *		Syscache callback: a role or a membership changed.
 */
static void
invalidate_tenant_cache(Datum arg, int cacheid, uint32 hashvalue)
{
	(void) arg;
	(void) cacheid;
	(void) hashvalue;
	cache_valid = false;
}

/*
 * tenant_of_group_role
 *		The tenant name a tenant group role stands for, or NULL: roles named
 *		tenant_<slug>_{owner,writer,reader} that cannot log in.  The slug
 *		maps back to the name by turning _ into - (names have no _).
 */
static char *
tenant_of_group_role(Oid roleid)
{
	HeapTuple	tuple = SearchSysCache1(AUTHOID, ObjectIdGetDatum(roleid));
	Form_pg_authid role;
	char	   *rolname;
	char	   *suffix;
	char	   *name = NULL;

	if (!HeapTupleIsValid(tuple))
		return NULL;
	role = (Form_pg_authid) GETSTRUCT(tuple);
	rolname = NameStr(role->rolname);
	suffix = strrchr(rolname, '_');
	if (!role->rolcanlogin && strncmp(rolname, "tenant_", 7) == 0 &&
		suffix != NULL && suffix > rolname + 7 &&
		(strcmp(suffix, "_owner") == 0 || strcmp(suffix, "_writer") == 0 ||
		 strcmp(suffix, "_reader") == 0))
	{
		name = pnstrdup(rolname + 7, suffix - (rolname + 7));
		for (char *c = name; *c; c++)
			if (*c == '_')
				*c = '-';
	}
	ReleaseSysCache(tuple);
	return name;
}

/*
 * find_tenant
 *		Walk the roles roleid is (transitively) a member of; the tenant is
 *		the one their tenant group roles agree on.  A role in the groups of
 *		two tenants belongs to neither: "" then, as for no tenant at all.
 */
static void
find_tenant(Oid roleid, char *tenant)
{
	List	   *visited = list_make1_oid(roleid);

	tenant[0] = '\0';
	for (int i = 0; i < list_length(visited); i++)
	{
		char	   *name = tenant_of_group_role(list_nth_oid(visited, i));
		CatCList   *memberships;

		if (name != NULL)
		{
			if (tenant[0] != '\0' && strcmp(tenant, name) != 0)
			{
				tenant[0] = '\0';	/* ambiguous */
				break;
			}
			strlcpy(tenant, name, NAMEDATALEN);
		}

		/* every membership is followed (no bound that would hide a tenant) */
		memberships = SearchSysCacheList1(AUTHMEMMEMROLE,
										  ObjectIdGetDatum(list_nth_oid(visited, i)));
		for (int j = 0; j < memberships->n_members; j++)
		{
			Form_pg_auth_members m = (Form_pg_auth_members)
			GETSTRUCT(&memberships->members[j]->tuple);

#if PG_VERSION_NUM >= 160000

			/*
			 * From 16 a grant may give neither the group's privileges
			 * (INHERIT FALSE) nor SET ROLE to it (SET FALSE): only ADMIN, to
			 * manage its members, as CREATEROLE gives its creator over each
			 * role it creates.  Such a member cannot act as the tenant, so
			 * it is not of the tenant either.
			 */
			if (!m->inherit_option && !m->set_option)
				continue;
#endif
			visited = list_append_unique_oid(visited, m->roleid);
		}
		ReleaseSysCacheList(memberships);
	}
	list_free(visited);
}

/*
 * tenancy_current_tenant
 *		SQL: tenancy.current_tenant() returns text: the tenant of the
 *		current role, NULL when it has none (then a shared table shows it
 *		no row).
 */
Datum
tenancy_current_tenant(PG_FUNCTION_ARGS)
{
	Oid			roleid = GetUserId();

	if (!cache_callbacks_registered)
	{
		CacheRegisterSyscacheCallback(AUTHOID, invalidate_tenant_cache, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHMEMMEMROLE, invalidate_tenant_cache, (Datum) 0);
		cache_callbacks_registered = true;
	}
	if (!cache_valid || cache_role != roleid)
	{
		find_tenant(roleid, cache_tenant);
		cache_role = roleid;
		cache_valid = true;
	}
	if (cache_tenant[0] == '\0')
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(cache_tenant));
}

/*
 * check_shareable
 *		The table may be shared by the caller: an ordinary or partitioned
 *		table, not a system or tenancy table, owned by the calling role
 *		(these functions are SECURITY DEFINER: the caller is the outer user).
 */
static void
check_shareable(Oid relid)
{
	char		relkind = get_rel_relkind(relid);
	Oid			nsp = get_rel_namespace(relid);
	char	   *nspname;

	if (relkind == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	nspname = get_namespace_name(nsp);
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", get_rel_name(relid)),
				 errdetail("Only ordinary and partitioned tables can be shared between tenants.")));
	if (IsCatalogRelationOid(relid) || IsCatalogNamespace(nsp) || IsToastNamespace(nsp) ||
		strcmp(nspname, TENANCY_SCHEMA) == 0 || isAnyTempNamespace(nsp))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("table \"%s.%s\" cannot be shared", nspname, get_rel_name(relid)),
				 errdetail("System, temporary and tenancy tables cannot be shared between tenants.")));
	if (!pg_class_ownercheck(relid, GetOuterUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s", get_rel_name(relid))));
}

/*
 * spi_count
 *		Rows a parameterised catalog query returns; the caller is connected.
 */
static uint64
spi_count(const char *sql, Oid relid, int16 attnum)
{
	Oid			types[2] = {OIDOID, INT2OID};
	Datum		values[2] = {ObjectIdGetDatum(relid), Int16GetDatum(attnum)};

	if (SPI_execute_with_args(sql, attnum ? 2 : 1, types, values, NULL, false, 0)
		!= SPI_OK_SELECT)
		elog(ERROR, "tenancy catalog query failed");
	return SPI_processed;
}

/*
 * spi_run
 *		Run one statement built with quoted identifiers.
 */
static void
spi_run(const char *sql)
{
	if (SPI_execute(sql, false, 0) < 0)
		elog(ERROR, "SPI_execute failed: %s", sql);
}

/*
 * tenancy_share_table
 *		SQL: tenancy.share_table(tbl regclass, tenant_column name): FORCE
 *		row-level security with the one generic policy, and an index on the
 *		tenant column unless an index already leads with it.  Sharing a
 *		shared table again does nothing.
 */
Datum
tenancy_share_table(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *column = NameStr(*PG_GETARG_NAME(1));
	AttrNumber	attnum;
	Oid			atttype;
	char	   *table;
	char	   *qcolumn = (char *) quote_identifier(column);
	char	   *condition;

	check_shareable(relid);
	attnum = get_attnum(relid, column);
	if (attnum == InvalidAttrNumber || attnum < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						column, get_rel_name(relid))));
	atttype = get_atttype(relid, attnum);
	if (atttype != TEXTOID && atttype != VARCHAROID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("tenant column \"%s\" must be of type text or varchar", column),
				 errdetail("It is of type %s; it holds tenant names as tenancy.current_tenant() returns them.",
						   format_type_be(atttype))));

	table = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									   get_rel_name(relid));
	condition = psprintf("(%s = (SELECT tenancy.current_tenant()))", qcolumn);

	SPI_connect();
	if (spi_count("SELECT 1 FROM pg_catalog.pg_policy WHERE polrelid = $1 "
				  "AND polname = '" POLICY_NAME "'", relid, 0) > 0)
	{
		SPI_finish();
		ereport(NOTICE,
				(errmsg("table %s is already shared", table)));
		PG_RETURN_VOID();
	}
	spi_run(psprintf("ALTER TABLE %s ENABLE ROW LEVEL SECURITY", table));
	spi_run(psprintf("ALTER TABLE %s FORCE ROW LEVEL SECURITY", table));
	spi_run(psprintf("CREATE POLICY %s ON %s AS PERMISSIVE FOR ALL TO PUBLIC "
					 "USING %s WITH CHECK %s",
					 POLICY_NAME, table, condition, condition));
	if (spi_count("SELECT 1 FROM pg_catalog.pg_index WHERE indrelid = $1 "
				  "AND indkey[0] = $2", relid, attnum) == 0)
	{
		char	   *index = ChooseRelationName(get_rel_name(relid), column,
											   "tenant_idx",
											   get_rel_namespace(relid), false);
		char	   *qindex = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
														index);

		spi_run(psprintf("CREATE INDEX %s ON %s (%s)", quote_identifier(index),
						 table, qcolumn));
		spi_run(psprintf("COMMENT ON INDEX %s IS %s", qindex,
						 quote_literal_cstr(INDEX_COMMENT)));
	}
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * tenancy_unshare_table
 *		SQL: tenancy.unshare_table(tbl regclass): drop the policy and the
 *		index share_table created; row-level security is switched off when
 *		no other policy remains on the table.
 */
Datum
tenancy_unshare_table(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *table;

	check_shareable(relid);
	table = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									   get_rel_name(relid));

	SPI_connect();
	if (spi_count("SELECT 1 FROM pg_catalog.pg_policy WHERE polrelid = $1 "
				  "AND polname = '" POLICY_NAME "'", relid, 0) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table %s is not shared", table),
				 errhint("Tables are shared with tenancy.share_table().")));
	spi_run(psprintf("DROP POLICY %s ON %s", POLICY_NAME, table));
	if (spi_count("SELECT 1 FROM pg_catalog.pg_policy WHERE polrelid = $1",
				  relid, 0) == 0)
	{
		spi_run(psprintf("ALTER TABLE %s NO FORCE ROW LEVEL SECURITY", table));
		spi_run(psprintf("ALTER TABLE %s DISABLE ROW LEVEL SECURITY", table));
	}
	(void) spi_count("SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) "
					 "FROM pg_catalog.pg_index i "
					 "JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid "
					 "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
					 "WHERE i.indrelid = $1 AND pg_catalog.obj_description(c.oid, 'pg_class') = "
					 "'" INDEX_COMMENT "'", relid, 0);
	if (SPI_processed > 0)
	{
		List	   *indexes = NIL;
		ListCell   *lc;

		for (uint64 i = 0; i < SPI_processed; i++)
			indexes = lappend(indexes, SPI_getvalue(SPI_tuptable->vals[i],
													SPI_tuptable->tupdesc, 1));
		foreach(lc, indexes)
			spi_run(psprintf("DROP INDEX %s", (char *) lfirst(lc)));
	}
	SPI_finish();
	PG_RETURN_VOID();
}
