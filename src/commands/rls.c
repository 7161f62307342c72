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

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/pg_auth_members.h"
#include "catalog/pg_authid.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_policy.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/readfuncs.h"
#include "optimizer/optimizer.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "storage/lmgr.h"
#include "utils/lsyscache.h"
#include "utils/catcache.h"
#include "utils/syscache.h"

#include "pg_compat.h"
#include "tenancy.h"

PG_FUNCTION_INFO_V1(tenancy_current_tenant);
PG_FUNCTION_INFO_V1(tenancy_tenant_of_role);
PG_FUNCTION_INFO_V1(tenancy_share_table);
PG_FUNCTION_INFO_V1(tenancy_unshare_table);
PG_FUNCTION_INFO_V1(tenancy_refuse_shared_rows);

/* Name of the one policy share_table puts on a table */
#define POLICY_NAME "tenancy_tenant_isolation"

/* Comment that marks the tenant-column index share_table created */
#define INDEX_COMMENT "tenancy: tenant column index for row-level security"

/*
 * Per-backend cache of the tenant of a role, for two roles: the current
 * role and the session role, which the hooks of tenant_guard.c ask about in
 * turn on every statement.
 */
#define TENANT_CACHE_SIZE 2
typedef struct TenantCacheEntry
{
	bool		valid;
	Oid			role;
	char		tenant[NAMEDATALEN];	/* "" when the role has no tenant */
} TenantCacheEntry;

static TenantCacheEntry tenant_cache[TENANT_CACHE_SIZE];
static int	tenant_cache_next = 0;
static bool cache_callbacks_registered = false;

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
	for (int i = 0; i < TENANT_CACHE_SIZE; i++)
		tenant_cache[i].valid = false;
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
 * group_created_by_tenancy
 *		Whether tenancy.created_objects records roleid as a role tenancy
 *		created.  A role merely named like a tenant's group is not that
 *		tenant's: from PostgreSQL 16 a CREATEROLE holder may create
 *		tenant_<slug>_reader once a deprovision dropped the real one, and
 *		grant it to itself.  In a database without the extension there is
 *		no record, and the name decides (the hooks' ceilings and budgets
 *		there).
 *
 * Read directly, not through SPI: the caller is any role, one that may
 * not read tenancy's tables, and the answer is cached (TenantOfRole).
 */
static bool
group_created_by_tenancy(Oid roleid)
{
	Oid			extension = get_extension_oid("tenancy", true);
	Oid			schema;
	Oid			relid;
	AttrNumber	oid_attnum;
	AttrNumber	kind_attnum;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		found = false;

	if (!OidIsValid(extension))
		return true;
	schema = get_namespace_oid("tenancy", true);
	relid = OidIsValid(schema) ? get_relname_relid("created_objects", schema) : InvalidOid;
	if (!OidIsValid(relid))
		return true;			/* before 0.2.0's update: names alone */
	oid_attnum = get_attnum(relid, "object_oid");
	kind_attnum = get_attnum(relid, "kind");
	if (oid_attnum == InvalidAttrNumber || kind_attnum == InvalidAttrNumber)
		return false;

	rel = table_open(relid, AccessShareLock);
	ScanKeyInit(&key, oid_attnum, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(roleid));
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 1, &key);
	while (!found && HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		kind = heap_getattr(tuple, kind_attnum, RelationGetDescr(rel), &isnull);

		found = !isnull && strcmp(TextDatumGetCString(kind), "role") == 0;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
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

		if (name != NULL && !group_created_by_tenancy(list_nth_oid(visited, i)))
			name = NULL;
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
			 * role it creates.  Such a member cannot act as the tenant, so it
			 * is not of the tenant either.
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
 * TenantOfRole
 *		The tenant of a role, NULL when it has none.
 *		Cached per backend (two roles), forgotten on any role or membership
 *		change, so that the hooks can ask on every statement.
 */
const char *
TenantOfRole(Oid roleid)
{
	TenantCacheEntry *entry = NULL;

	if (!cache_callbacks_registered)
	{
		CacheRegisterSyscacheCallback(AUTHOID, invalidate_tenant_cache, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHMEMMEMROLE, invalidate_tenant_cache, (Datum) 0);
		cache_callbacks_registered = true;
	}
	for (int i = 0; i < TENANT_CACHE_SIZE; i++)
		if (tenant_cache[i].valid && tenant_cache[i].role == roleid)
			entry = &tenant_cache[i];
	if (entry == NULL)
	{
		entry = &tenant_cache[tenant_cache_next];
		tenant_cache_next = (tenant_cache_next + 1) % TENANT_CACHE_SIZE;
		entry->valid = false;
		find_tenant(roleid, entry->tenant);
		entry->role = roleid;
		entry->valid = true;
	}
	return entry->tenant[0] == '\0' ? NULL : entry->tenant;
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
	const char *tenant = TenantOfRole(GetUserId());

	if (tenant == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(tenant));
}

/*
 * tenancy_tenant_of_role
 *		SQL: tenancy.tenant_of_role(role oid) returns text: the tenant of a
 *		role as current_tenant() would find it, NULL when none (the audit's
 *		checks of shared tables).
 */
Datum
tenancy_tenant_of_role(PG_FUNCTION_ARGS)
{
	const char *tenant = TenantOfRole(PG_GETARG_OID(0));

	if (tenant == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(tenant));
}

/*
 * check_owns_tree
 *		The caller owns every partition (and inheritance child) below relid
 *		too: share_table and unshare_table change all of them as tenancy's
 *		superuser, and a partition may have an owner of its own (a member
 *		of the group that owns the parent may create one).  The tree is
 *		locked against partitions being attached or detached meanwhile.
 */
static void
check_owns_tree(Oid relid)
{
	ListCell   *lc;

	foreach(lc, find_all_inheritors(relid, ShareUpdateExclusiveLock, NULL))
	{
		Oid			part = lfirst_oid(lc);

		if (!pg_class_ownercheck(part, GetOuterUserId()))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("must be owner of table %s", get_rel_name(part)),
					 errdetail("Table %s is a partition or child of table %s, and sharing or unsharing a table changes all of them.",
							   quote_qualified_identifier(get_namespace_name(get_rel_namespace(part)),
														  get_rel_name(part)),
							   quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
														  get_rel_name(relid)))));
	}
}

/*
 * check_shareable
 *		The table may be shared by the caller: an ordinary or partitioned
 *		table, not a system or tenancy table, owned by the calling role
 *		(these functions are SECURITY DEFINER: the caller is the outer user)
 *		with every partition and child below it.
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
	check_owns_tree(relid);
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
 * SharedTenantColumn
 *		The tenant column of a table that carries the share_table policy
 *		(read back from the policy's expression), NULL when it has none,
 *		"" when the policy was altered so that it names no column.
 *		Reads pg_policy directly: the hooks of tenant_guard.c call it.
 */
char *
SharedTenantColumn(Oid relid)
{
	Relation	rel;
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tuple;
	char	   *column = NULL;

	rel = table_open(PolicyRelationId, AccessShareLock);
	ScanKeyInit(&keys[0], Anum_pg_policy_polrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	ScanKeyInit(&keys[1], Anum_pg_policy_polname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum(POLICY_NAME));
	scan = systable_beginscan(rel, PolicyPolrelidPolnameIndexId, true, NULL, 2, keys);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		qual = heap_getattr(tuple, Anum_pg_policy_polqual,
										RelationGetDescr(rel), &isnull);

		if (!isnull)
		{
			List	   *vars = pull_var_clause(stringToNode(TextDatumGetCString(qual)), 0);

			if (vars != NIL && IsA(linitial(vars), Var))
				column = get_attname(relid, ((Var *) linitial(vars))->varattno, true);
		}
		/* an altered policy still marks a shared table (the audit says so) */
		if (column == NULL)
			column = pstrdup("");
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return column;
}

/*
 * SharedTableOf
 *		The shared table relid belongs to: itself when shared, else the
 *		nearest partition ancestor that is; InvalidOid when none is.
 *		*column receives the tenant column.
 */
Oid
SharedTableOf(Oid relid, char **column)
{
	List	   *visit = list_make1_oid(relid);

	/* up the partition or inheritance tree, nearest first */
	for (int i = 0; i < list_length(visit); i++)
	{
		Oid			rel = list_nth_oid(visit, i);
		Relation	inherits;
		ScanKeyData key;
		SysScanDesc scan;
		HeapTuple	tuple;

		*column = SharedTenantColumn(rel);
		if (*column != NULL)
			return rel;
		inherits = table_open(InheritsRelationId, AccessShareLock);
		ScanKeyInit(&key, Anum_pg_inherits_inhrelid, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(rel));
		scan = systable_beginscan(inherits, InheritsRelidSeqnoIndexId, true, NULL, 1, &key);
		while (HeapTupleIsValid(tuple = systable_getnext(scan)))
			visit = list_append_unique_oid(visit,
										   ((Form_pg_inherits) GETSTRUCT(tuple))->inhparent);
		systable_endscan(scan);
		table_close(inherits, AccessShareLock);
	}
	return InvalidOid;
}

/*
 * protect_relation
 *		Row-level security enabled and forced, and the generic policy, on
 *		one table (a shared table or a partition of one); the caller is
 *		connected to SPI with search_path pinned.  Querying a partition
 *		directly applies the partition's own policies, not its parent's:
 *		without these every tenant read every tenant's rows there.
 */
static void
protect_relation(Oid relid, const char *column)
{
	char	   *table = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												   get_rel_name(relid));
	char	   *condition = psprintf("(%s = (SELECT tenancy.current_tenant()))",
									 quote_identifier(column));

	spi_run(psprintf("ALTER TABLE ONLY %s ENABLE ROW LEVEL SECURITY", table));
	spi_run(psprintf("ALTER TABLE ONLY %s FORCE ROW LEVEL SECURITY", table));
	if (SharedTenantColumn(relid) == NULL)
		spi_run(psprintf("CREATE POLICY %s ON %s AS PERMISSIVE FOR ALL TO PUBLIC "
						 "USING %s WITH CHECK %s",
						 POLICY_NAME, table, condition, condition));
	/* tenants insert without naming themselves, and cannot name another */
	if (spi_count("SELECT 1 FROM pg_catalog.pg_attrdef WHERE adrelid = $1 "
				  "AND adnum = $2", relid, get_attnum(relid, column)) == 0)
		spi_run(psprintf("ALTER TABLE ONLY %s ALTER COLUMN %s SET DEFAULT tenancy.current_tenant()",
						 table, quote_identifier(column)));
}

/*
 * protect_partitions
 *		protect_relation on every partition (or inheritance child) below
 *		relid, at any depth.
 */
static void
protect_partitions(Oid relid, const char *column)
{
	ListCell   *lc;

	foreach(lc, find_all_inheritors(relid, NoLock, NULL))
	{
		char		relkind = get_rel_relkind(lfirst_oid(lc));

		/* foreign partitions have no row-level security: the audit says so */
		if (lfirst_oid(lc) != relid &&
			(relkind == RELKIND_RELATION || relkind == RELKIND_PARTITIONED_TABLE))
			protect_relation(lfirst_oid(lc), column);
	}
}

/*
 * SharePartition
 *		Called after a table was created as, or attached as, a partition:
 *		when it now belongs to a shared table, it (and its own partitions)
 *		get row-level security and the policy, as the current role (who
 *		owns it: creating or attaching a partition requires owning it).
 */
void
SharePartition(Oid relid)
{
	char	   *column;
	Oid			shared = SharedTableOf(relid, &column);
	int			nest;

	if (!OidIsValid(shared) || shared == relid || column[0] == '\0' ||
		(get_rel_relkind(relid) != RELKIND_RELATION &&
		 get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE))
		return;
	nest = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	SPI_connect();
	protect_relation(relid, column);
	protect_partitions(relid, column);
	SPI_finish();
	AtEOXact_GUC(true, nest);
}

/*
 * Privileges no tenant role keeps on a shared table.  TRIGGER: a trigger
 * runs the tenant's code on every tenant's rows.  TRUNCATE: it empties every
 * tenant's rows (row-level security does not apply to it).  REFERENCES: a
 * foreign key tells which keys exist, and creating one locks the table
 * against every tenant's writes.  MAINTAIN (PostgreSQL 17 and later, part
 * of GRANT ALL there): VACUUM FULL, CLUSTER and REINDEX lock every tenant
 * out of the table.
 */
#define REVOKED_PRIVILEGES (ACL_TRIGGER | ACL_TRUNCATE | ACL_REFERENCES)
#if PG_VERSION_NUM >= 170000
#define REVOKED_MAINTAIN ACL_MAINTAIN
#else
#define REVOKED_MAINTAIN 0
#endif

/*
 * revoke_tenant_privileges
 *		TRIGGER, TRUNCATE and REFERENCES, and MAINTAIN on PostgreSQL 17 and
 *		later, of tenant roles (and PUBLIC) on one table are revoked, each
 *		with a NOTICE (MAINTAIN in one of its own, so that a table without
 *		it reads the same on every version).
 */
static void
revoke_tenant_privileges(Oid relid, const char *table)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	List	   *grantees = NIL;
	List	   *maintainers = NIL;
	bool		isnull;
	Datum		datum;
	ListCell   *lc;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	datum = SysCacheGetAttr(RELOID, tuple, Anum_pg_class_relacl, &isnull);
	if (!isnull)
	{
		Acl		   *acl = DatumGetAclPCopy(datum);
		AclItem    *items = ACL_DAT(acl);

		for (int i = 0; i < ACL_NUM(acl); i++)
		{
			AclMode		privs = ACLITEM_GET_PRIVS(items[i]);
			Oid			grantee = items[i].ai_grantee;

			if (grantee != ACL_ID_PUBLIC && TenantOfRole(grantee) == NULL)
				continue;
			if ((privs & REVOKED_PRIVILEGES) != 0 && !list_member_oid(grantees, grantee))
				grantees = lappend_oid(grantees, grantee);
			if ((privs & REVOKED_MAINTAIN) != 0 && !list_member_oid(maintainers, grantee))
				maintainers = lappend_oid(maintainers, grantee);
		}
	}
	ReleaseSysCache(tuple);

	foreach(lc, grantees)
	{
		Oid			grantee = lfirst_oid(lc);
		const char *name = grantee == ACL_ID_PUBLIC ? "PUBLIC" :
		quote_identifier(GetUserNameFromId(grantee, false));

		spi_run(psprintf("REVOKE TRIGGER, TRUNCATE, REFERENCES ON %s FROM %s",
						 table, name));
		ereport(NOTICE,
				(errmsg("revoked TRIGGER, TRUNCATE and REFERENCES on %s from %s", table, name),
				 errdetail("A tenant role with these privileges on a shared table could copy other tenants' rows with a trigger, empty every tenant's rows, or probe their keys with a foreign key.")));
	}
	foreach(lc, maintainers)
	{
		Oid			grantee = lfirst_oid(lc);
		const char *name = grantee == ACL_ID_PUBLIC ? "PUBLIC" :
		quote_identifier(GetUserNameFromId(grantee, false));

		spi_run(psprintf("REVOKE MAINTAIN ON %s FROM %s", table, name));
		ereport(NOTICE,
				(errmsg("revoked MAINTAIN on %s from %s", table, name),
				 errdetail("A tenant role with MAINTAIN on a shared table could run VACUUM FULL, CLUSTER or REINDEX on it, which locks every tenant out of the table while it runs.")));
	}
}

/*
 * warn_unique_keys
 *		A unique index, or an exclusion constraint, whose key does not
 *		include the tenant column tells a tenant which keys other tenants
 *		hold: its insert fails, or ON CONFLICT DO NOTHING inserts nothing.
 *		On the table and on each partition (a partition may have unique
 *		indexes of its own, which the table's do not show); an index a
 *		partition has because the table's index is partitioned is the
 *		table's, warned about once.
 */
static void
warn_unique_keys(Oid relid, const char *table, const char *column)
{
	ListCell   *lc;

	foreach(lc, find_all_inheritors(relid, NoLock, NULL))
	{
		Oid			part = lfirst_oid(lc);
		AttrNumber	attnum = get_attnum(part, column);
		char	   *qpart = quote_qualified_identifier(get_namespace_name(get_rel_namespace(part)),
													   get_rel_name(part));

		if (attnum == InvalidAttrNumber)
			continue;
		(void) spi_count("SELECT pg_catalog.format('%I', c.relname), i.indisexclusion"
						 " FROM pg_catalog.pg_index i"
						 " JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid"
						 " WHERE i.indrelid = $1 AND (i.indisunique OR i.indisexclusion)"
						 " AND NOT $2 = ANY (i.indkey::pg_catalog.int2[])"
						 " AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h"
						 "  WHERE h.inhrelid = i.indexrelid)"
						 " ORDER BY c.relname",
						 part, attnum);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			char	   *index = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
			bool		exclusion = strcmp(SPI_getvalue(SPI_tuptable->vals[i],
														SPI_tuptable->tupdesc, 2), "t") == 0;

			if (part == relid && !exclusion)
				ereport(WARNING,
						(errcode(ERRCODE_WARNING),
						 errmsg("unique index %s of shared table %s does not include the tenant column %s",
								index, table, quote_identifier(column)),
						 errdetail("A tenant inserting a key another tenant holds gets a duplicate-key error, or nothing inserted with ON CONFLICT DO NOTHING: the key's existence is revealed."),
						 errhint("Make the key lead with the tenant column, as in UNIQUE (%s, ...).",
								 quote_identifier(column))));
			else
				ereport(WARNING,
						(errcode(ERRCODE_WARNING),
						 errmsg("%s %s of %s%s%s does not include the tenant column %s",
								exclusion ? "exclusion constraint index" : "unique index",
								index, part == relid ? "shared table " : "partition ",
								qpart, part == relid ? "" : psprintf(" of shared table %s", table),
								quote_identifier(column)),
						 exclusion ?
						 errdetail("A tenant inserting a row that conflicts with another tenant's gets a conflict error: the other row's existence is revealed.") :
						 errdetail("A tenant inserting a key another tenant holds gets a duplicate-key error, or nothing inserted with ON CONFLICT DO NOTHING: the key's existence is revealed."),
						 exclusion ?
						 errhint("Add the tenant column to the constraint with equality, as in EXCLUDE USING gist (%s WITH =, ...) (btree_gist).",
								 quote_identifier(column)) :
						 errhint("Make the key lead with the tenant column, as in UNIQUE (%s, ...).",
								 quote_identifier(column))));
		}
	}
}

/*
 * tenancy_share_table
 *		SQL: tenancy.share_table(tbl regclass, tenant_column name): FORCE
 *		row-level security with the one generic policy, on the table and
 *		every partition of it, an index on the tenant column unless an
 *		index already leads with it, and the column's default
 *		tenancy.current_tenant() when it has none.  TRIGGER, TRUNCATE,
 *		REFERENCES and MAINTAIN of tenant roles are revoked, and unique keys
 *		(and exclusion constraints) without the
 *		tenant column are warned about.  Sharing a shared table again
 *		repairs what drifted (partitions, privileges) and changes nothing
 *		else.
 */
Datum
tenancy_share_table(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *column;
	AttrNumber	attnum;
	Oid			atttype;
	char	   *table;
	char	   *qcolumn;
	char	   *shared_column;
	List	   *tables;
	ListCell   *lc;

	RequireArguments(fcinfo);
	relid = PG_GETARG_OID(0);
	column = NameStr(*PG_GETARG_NAME(1));
	qcolumn = (char *) quote_identifier(column);
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

	SPI_connect();
	shared_column = SharedTenantColumn(relid);
	if (shared_column != NULL)
	{
		ereport(NOTICE,
				(errmsg("table %s is already shared", table)));
		if (shared_column[0] != '\0')
		{
			column = shared_column;
			qcolumn = (char *) quote_identifier(column);
			attnum = get_attnum(relid, column);
		}
	}
	else
	{
		protect_relation(relid, column);
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
	}

	/* the table and its partitions, at any depth */
	protect_partitions(relid, column);
	tables = find_all_inheritors(relid, NoLock, NULL);
	foreach(lc, tables)
	{
		Oid			part = lfirst_oid(lc);

		revoke_tenant_privileges(part,
								 quote_qualified_identifier(get_namespace_name(get_rel_namespace(part)),
															get_rel_name(part)));
	}
	warn_unique_keys(relid, table, column);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * tenancy_unshare_table
 *		SQL: tenancy.unshare_table(tbl regclass): drop the policy (of the
 *		table and its partitions) and the index share_table created;
 *		row-level security is switched off where no other policy remains.
 *		The tenant column keeps its default.
 */
Datum
tenancy_unshare_table(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *table;
	ListCell   *lc;

	RequireArguments(fcinfo);
	relid = PG_GETARG_OID(0);
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
	foreach(lc, find_all_inheritors(relid, NoLock, NULL))
	{
		Oid			part = lfirst_oid(lc);
		char	   *qpart = quote_qualified_identifier(get_namespace_name(get_rel_namespace(part)),
													   get_rel_name(part));

		if (SharedTenantColumn(part) == NULL)
			continue;
		spi_run(psprintf("DROP POLICY %s ON %s", POLICY_NAME, qpart));
		if (spi_count("SELECT 1 FROM pg_catalog.pg_policy WHERE polrelid = $1",
					  part, 0) == 0)
		{
			spi_run(psprintf("ALTER TABLE ONLY %s NO FORCE ROW LEVEL SECURITY", qpart));
			spi_run(psprintf("ALTER TABLE ONLY %s DISABLE ROW LEVEL SECURITY", qpart));
		}
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

		for (uint64 i = 0; i < SPI_processed; i++)
			indexes = lappend(indexes, SPI_getvalue(SPI_tuptable->vals[i],
													SPI_tuptable->tupdesc, 1));
		foreach(lc, indexes)
			spi_run(psprintf("DROP INDEX %s", (char *) lfirst(lc)));
	}
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * tables_holding_rows_of
 *		"schema.table" of every shared table (the top of its partition or
 *		inheritance tree) holding a row whose tenant column is tenant.
 *
 * Run as tenancy's superuser on tables someone else owns, so nothing of the
 * owner's may run: row-level security does not apply to a superuser, a
 * SELECT fires no trigger, the tenant column is text or varchar (share_table
 * checked it, and a column used in a policy cannot change type) compared
 * with pg_catalog's operator.  A table that is locked is not waited for: a
 * table owner must not stall tenancy's callers (55P03, try again).
 */
static List *
tables_holding_rows_of(const char *tenant)
{
	List	   *tables = NIL;
	List	   *relids = NIL;
	ListCell   *lc;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(tenant)};
	Oid			policy_type[1] = {NAMEOID};
	Datum		policy_name[1] = {CStringGetDatum(POLICY_NAME)};
	MemoryContext caller = CurrentMemoryContext;

	SPI_connect();
	if (SPI_execute_with_args("SELECT p.polrelid FROM pg_catalog.pg_policy p "
							  "WHERE p.polname OPERATOR(pg_catalog.=) $1 "
							  "AND NOT EXISTS (SELECT FROM pg_catalog.pg_inherits i "
							  "  JOIN pg_catalog.pg_policy pp ON pp.polrelid OPERATOR(pg_catalog.=) i.inhparent "
							  "   AND pp.polname OPERATOR(pg_catalog.=) $1 "
							  "  WHERE i.inhrelid OPERATOR(pg_catalog.=) p.polrelid) "
							  "ORDER BY p.polrelid",
							  1, policy_type, policy_name, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list the shared tables");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		relids = lappend_oid(relids,
							 DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
															SPI_tuptable->tupdesc, 1,
															&isnull)));
	}

	foreach(lc, relids)
	{
		Oid			relid = lfirst_oid(lc);
		char	   *column = SharedTenantColumn(relid);
		char	   *table;
		AttrNumber	attnum;
		Oid			atttype;

		if (column == NULL || column[0] == '\0')
			continue;
		attnum = get_attnum(relid, column);
		atttype = attnum == InvalidAttrNumber ? InvalidOid : get_atttype(relid, attnum);
		table = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
										   get_rel_name(relid));
		if (atttype != TEXTOID && atttype != VARCHAROID)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("shared table %s has a tenant column \"%s\" that is not text", table, column),
					 errhint("Run tenancy.audit() and fix the shared table.")));
		if (!ConditionalLockRelationOid(relid, AccessShareLock))
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("shared table %s is locked", table),
					 errdetail("tenancy looks for rows of tenant \"%s\" in every shared table.", tenant),
					 errhint("Try again when the lock is released.")));
		if (SPI_execute_with_args(psprintf("SELECT FROM %s WHERE %s::pg_catalog.text "
										   "OPERATOR(pg_catalog.=) $1 LIMIT 1",
										   table, quote_identifier(column)),
								  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read shared table %s", table);
		if (SPI_processed > 0)
		{
			/* SPI_finish frees what was allocated since SPI_connect */
			MemoryContext spi = MemoryContextSwitchTo(caller);

			tables = lappend(tables, pstrdup(table));
			MemoryContextSwitchTo(spi);
		}
	}
	SPI_finish();
	return tables;
}

/*
 * RefuseSharedRowsOf
 *		Refuse (55000) what would leave a tenant's rows in a shared table
 *		where the next tenant of the same name would see them: deprovision
 *		with drop_data, forget (the record goes, so nothing would stop a new
 *		provision of the name), and a new provision of a name that shared
 *		tables hold rows of (rows a tenant committed while its deprovision
 *		ran, rows of a forgotten tenant, rows loaded by hand before the
 *		tenant existed).  tenancy.current_tenant() knows tenants by name.
 */
void
RefuseSharedRowsOf(const char *tenant, SharedRowsCheck why)
{
	List	   *tables = tables_holding_rows_of(tenant);
	StringInfoData list;
	ListCell   *lc;

	if (tables == NIL)
		return;
	initStringInfo(&list);
	foreach(lc, tables)
		appendStringInfo(&list, "%s%s", foreach_current_index(lc) > 0 ? ", " : "",
						 (char *) lfirst(lc));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 why == SHARED_ROWS_PROVISION ?
			 errmsg("shared tables still hold rows of a former tenant \"%s\"", tenant) :
			 why == SHARED_ROWS_FORGET ?
			 errmsg("cannot forget tenant \"%s\": shared tables hold its rows", tenant) :
			 errmsg("cannot drop the data of tenant \"%s\": shared tables hold its rows", tenant),
			 errdetail("Rows of tenant \"%s\" are in %s; a new tenant of that name would see them.",
					   tenant, list.data),
			 errhint("Delete them as the tables' owner with row-level security off, or as a role with BYPASSRLS (DELETE FROM <table> WHERE <tenant column> = '%s'), then try again.",
					 tenant)));
}

/*
 * tenancy_refuse_shared_rows
 *		SQL entry of RefuseSharedRowsOf for tenancy.forget (plpgsql), which
 *		only superusers run: shared tables are read as the caller, and only
 *		a superuser reads every row whatever the policies say.  Granted to
 *		no role.
 */
Datum
tenancy_refuse_shared_rows(PG_FUNCTION_ARGS)
{
	char	   *tenant = text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to look for rows of tenant \"%s\" in shared tables", tenant),
				 errdetail("Only superusers read every row of a shared table.")));
	RefuseSharedRowsOf(tenant, SHARED_ROWS_FORGET);
	PG_RETURN_VOID();
}
