/*-------------------------------------------------------------------------
 *
 * tenant_guard.c
 *	  Hooks that hold a tenant's code to its own share of the server:
 *	  what a tenant role may not do to a shared table, its budget of
 *	  relations, the ceilings of its tier's settings, and row-level
 *	  security on partitions added to a shared table later.
 *
 * A tenant role is a role tenancy.current_tenant() maps to a tenant (rls.c;
 * cached per backend).  Every check first asks that, from the cache, and
 * returns at once for any other role.  hooks.c calls them around every
 * utility statement and query; the hooks are installed from _PG_init, so
 * they hold wherever the library is loaded; with tenancy in
 * shared_preload_libraries (the supported setup) that is every session.
 *
 *	  Shared tables (current role a tenant role): TRUNCATE (row-level
 *	  security does not apply to it), CREATE TRIGGER (a trigger sees every
 *	  tenant's rows), and what would stall every tenant: LOCK TABLE above
 *	  ROW EXCLUSIVE, VACUUM (FULL), ANALYZE, CLUSTER, REINDEX, a foreign key
 *	  referencing one, are refused with 42501, whatever was granted (on
 *	  PostgreSQL 17 GRANT ALL includes MAINTAIN).
 *
 *	  Types and functions of tenancy (current role a tenant role): DDL
 *	  whose new objects depend on a row type of tenancy's tables, or on a
 *	  function of tenancy (a column default or view calling
 *	  tenancy.current_tenant()), is refused with 42501: every role has
 *	  USAGE on schema tenancy, for tenancy.current_tenant(), and such an
 *	  object would block DROP EXTENSION.
 *
 *	  Partitions (any role): a table created as, or attached as, a partition
 *	  (or inheritance child) of a shared table gets row-level security and
 *	  the policy at once.
 *
 *	  Relation budget (current role a tenant role): a statement that
 *	  creates a relation is refused with 53400 once the tenant holds its
 *	  tier's budget of live relations (tenancy.max_relations_per_tenant),
 *	  counted in pg_class: those in its schemas and those its roles own.
 *	  After a statement that may have created relations (CREATE TABLE,
 *	  CREATE INDEX, ALTER TABLE, CREATE TABLE AS, ...) the count is taken
 *	  again and the statement fails with 53400 when it left the tenant
 *	  above its budget (one statement can create many).
 *
 *	  Setting ceilings (session role a tenant role): the login role's
 *	  settings (statement_timeout, work_mem,
 *	  idle_in_transaction_session_timeout, set by tier) are ceilings (of
 *	  the backup role, which pg_dump logs in as, only work_mem).  SET
 *	  to a value above one (0, which disables a timeout, is above any) is
 *	  refused with 42501, as is ALTER ROLE ... SET or RESET of them.  A
 *	  value that got above its ceiling another way (set_config(), a startup
 *	  option, RESET back to one, a function's SET clause) is lowered back
 *	  to the ceiling, with a WARNING, before and after every statement and
 *	  before a query is planned.  The settings that multiply one
 *	  statement's memory or parallel workers (hash_mem_multiplier,
 *	  maintenance_work_mem, temp_buffers, the parallel workers) have
 *	  ceilings too, from tenancy.session_ceilings unless the role has a
 *	  setting of its own; they hold against values the session set, not
 *	  the server's configuration.
 *
 *	  Policies (current role a tenant role): CREATE and ALTER POLICY may
 *	  name only PUBLIC and the tenant's own roles (42501): a policy naming
 *	  another tenant's role would let the tenant hold up that role's drop.
 *
 *	  The relation budget counts, with a dirty snapshot, the relations of
 *	  the tenant's transactions in progress too: concurrent sessions of a
 *	  tenant cannot each fill it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/transam.h"
#include "lib/qunique.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_db_role_setting.h"
#include "catalog/pg_depend.h"
#include "catalog/index.h"
#include "catalog/pg_database.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_policy.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "optimizer/cost.h"
#include "catalog/pg_rewrite.h"
#include "rewrite/rewriteSupport.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "plan.h"
#include "tenancy.h"

/*
 * The settings that are ceilings for a tenant's sessions: first those its
 * tier sets as role settings (TIER_CEILINGS), then those that multiply what
 * one statement may take of the server's memory and parallel workers, whose
 * ceilings come from tenancy.session_ceilings unless the role has a setting
 * of its own (which a DBA set: tenant roles may not).
 */
#define TIER_CEILINGS 3
#define CEILING_COUNT 9
#define HASH_MEM_MULTIPLIER 3
static const char *const ceiling_names[CEILING_COUNT] = {
	"statement_timeout", "work_mem", "idle_in_transaction_session_timeout",
	"hash_mem_multiplier", "maintenance_work_mem", "temp_buffers",
	"max_parallel_workers_per_gather", "max_parallel_maintenance_workers",
	"max_parallel_workers"
};

/*
 * Ceilings of one session role.  pg_db_role_setting has no syscache, hence
 * no invalidation: re-read when a transaction starts more than
 * CEILINGS_MAX_AGE after the last read (reading it for every transaction
 * cost a tenant's one-statement transactions a third of their rate).
 */
#define CEILINGS_MAX_AGE_MS 1000
typedef struct Ceilings
{
	Oid			role;
	TimestampTz read_at;
	bool		set[CEILING_COUNT];
	bool		of_role[CEILING_COUNT]; /* a role setting, not the default */
	double		value[CEILING_COUNT];	/* in the setting's base unit */
	char		as_set[CEILING_COUNT][64];	/* as the role setting has it */
} Ceilings;

static Ceilings ceilings = {InvalidOid};
static bool clamping = false;


/*
 * tenant_role
 *		The tenant of a role when it is to be held to its share: tenant
 *		roles that are not superusers.  NULL otherwise.
 */
static const char *
tenant_role(Oid roleid)
{
	const char *tenant = TenantOfRole(roleid);

	if (tenant != NULL && superuser_arg(roleid))
		return NULL;
	return tenant;
}

/* ------------------------------------------------------- shared tables */

/*
 * reaches_shared
 *		Whether relid is a shared table, a partition or child of one, or a
 *		view (at any depth) over one: LOCK TABLE on a view locks the tables
 *		it reads.
 */
static bool
reaches_shared(Oid relid, List **visited)
{
	char	   *column;
	Oid			rule;
	Relation	depend;
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		found = false;

	if (list_member_oid(*visited, relid))
		return false;
	*visited = lappend_oid(*visited, relid);
	if (OidIsValid(SharedTableOf(relid, &column)))
		return true;
	if (get_rel_relkind(relid) != RELKIND_VIEW ||
		!OidIsValid(rule = get_rewrite_oid(relid, ViewSelectRuleName, true)))
		return false;
	depend = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&keys[0], Anum_pg_depend_classid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(RewriteRelationId));
	ScanKeyInit(&keys[1], Anum_pg_depend_objid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(rule));
	scan = systable_beginscan(depend, DependDependerIndexId, true, NULL, 2, keys);
	while (!found && HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tuple);

		if (dep->refclassid == RelationRelationId && dep->refobjid != relid)
			found = reaches_shared(dep->refobjid, visited);
	}
	systable_endscan(scan);
	table_close(depend, AccessShareLock);
	return found;
}

/* the policy tenancy.share_table() creates (rls.c) */
#define SHARED_POLICY_NAME "tenancy_tenant_isolation"

#define SHARED_HINT "Tenant roles may not run TRUNCATE, CREATE TRIGGER, VACUUM, ANALYZE, CLUSTER, REINDEX, LOCK TABLE above ROW EXCLUSIVE or create a foreign key referencing a table shared with tenancy.share_table, whatever privileges they hold."

/*
 * toast_owner
 *		The table a TOAST table belongs to (VACUUM FULL or REINDEX of a
 *		shared table's TOAST table locks every tenant out of its toasted
 *		values), InvalidOid when none.  A TOAST table is named after its
 *		table's OID, pg_toast_<oid>; that table's reltoastrelid confirms it.
 */
static Oid
toast_owner(Oid toastid)
{
	const char *name = get_rel_name(toastid);
	unsigned int owner;
	HeapTuple	tuple;
	Oid			result = InvalidOid;

	if (name == NULL || sscanf(name, "pg_toast_%u", &owner) != 1)
		return InvalidOid;
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum((Oid) owner));
	if (HeapTupleIsValid(tuple))
	{
		if (((Form_pg_class) GETSTRUCT(tuple))->reltoastrelid == toastid)
			result = (Oid) owner;
		ReleaseSysCache(tuple);
	}
	return result;
}

/*
 * refuse_on_shared_relid
 *		42501 when a tenant role runs what on relid, when it is a shared
 *		table (or a partition or child of one, or a view over one), or an
 *		index of one.
 */
static void
refuse_on_shared_relid(Oid relid, const char *what, const char *why)
{
	List	   *visited = NIL;
	char		relkind = get_rel_relkind(relid);

	if (relkind == RELKIND_INDEX || relkind == RELKIND_PARTITIONED_INDEX)
	{
		relid = IndexGetRelation(relid, true);
		relkind = get_rel_relkind(relid);
	}
	if (relkind == RELKIND_TOASTVALUE)
		relid = toast_owner(relid);
	if (!OidIsValid(relid) || !reaches_shared(relid, &visited))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to %s shared table %s", what,
					quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
											   get_rel_name(relid))),
			 errdetail("%s", why),
			 errhint(SHARED_HINT)));
}

/*
 * refuse_on_shared
 *		refuse_on_shared_relid for a relation named in a statement.
 */
static void
refuse_on_shared(RangeVar *rv, const char *what, const char *why)
{
	Oid			relid;

	if (rv == NULL)
		return;
	relid = RangeVarGetRelid(rv, NoLock, true);
	if (OidIsValid(relid))
		refuse_on_shared_relid(relid, what, why);
}

/*
 * may_maintain
 *		Whether the current role may VACUUM, ANALYZE, CLUSTER or REINDEX
 *		relid: it owns it or the database, or (PostgreSQL 17 and later) holds
 *		MAINTAIN on it, directly or through pg_maintain.
 */
static bool
may_maintain(Oid relid)
{
	Oid			user = GetUserId();

#if PG_VERSION_NUM >= 170000
	return pg_class_aclcheck(relid, user, ACL_MAINTAIN) == ACLCHECK_OK ||
		object_ownercheck(DatabaseRelationId, MyDatabaseId, user);
#elif PG_VERSION_NUM >= 160000
	return object_ownercheck(RelationRelationId, relid, user) ||
		object_ownercheck(DatabaseRelationId, MyDatabaseId, user);
#else
	return pg_class_ownercheck(relid, user) || pg_database_ownercheck(MyDatabaseId, user);
#endif
}

/*
 * refuse_unlisted
 *		VACUUM, ANALYZE or CLUSTER without a table, or REINDEX of a schema
 *		or the database, by a tenant role: each processes every table the
 *		role may maintain, so it is refused when that includes a shared
 *		table (or a partition of one): a role that holds MAINTAIN on one (a
 *		DBA granted it again after share_table, or pg_maintain).
 */
static void
refuse_unlisted(const char *what)
{
	Relation	policies = table_open(PolicyRelationId, AccessShareLock);
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			found = InvalidOid;

	scan = systable_beginscan(policies, InvalidOid, false, NULL, 0, NULL);
	while (!OidIsValid(found) && HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_policy policy = (Form_pg_policy) GETSTRUCT(tuple);
		ListCell   *lc;

		if (strcmp(NameStr(policy->polname), SHARED_POLICY_NAME) != 0)
			continue;
		foreach(lc, find_all_inheritors(policy->polrelid, NoLock, NULL))
		{
			if (may_maintain(lfirst_oid(lc)))
			{
				found = lfirst_oid(lc);
				break;
			}
		}
	}
	systable_endscan(scan);
	table_close(policies, AccessShareLock);
	if (!OidIsValid(found))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to %s shared table %s", what,
					quote_qualified_identifier(get_namespace_name(get_rel_namespace(found)),
											   get_rel_name(found))),
			 errdetail("Without a table list the statement would process every table the role may maintain, shared table %s among them; it locks every tenant out of the table while it runs.",
					   quote_qualified_identifier(get_namespace_name(get_rel_namespace(found)),
												  get_rel_name(found))),
			 errhint("Name the tables to process, or revoke MAINTAIN on the shared table (tenancy.share_table() does).")));
}

/*
 * refuse_foreign_keys
 *		A foreign key referencing a shared table, in a list of table
 *		elements or column constraints: creating it takes SHARE ROW
 *		EXCLUSIVE on the shared table until the transaction ends (every
 *		tenant's writes wait), and it tells which keys other tenants hold.
 */
static void
refuse_foreign_keys(List *elements)
{
	ListCell   *lc;

	foreach(lc, elements)
	{
		Node	   *element = lfirst(lc);

		if (IsA(element, ColumnDef))
			refuse_foreign_keys(((ColumnDef *) element)->constraints);
		else if (IsA(element, Constraint) &&
				 ((Constraint *) element)->contype == CONSTR_FOREIGN)
			refuse_on_shared(((Constraint *) element)->pktable, "reference",
							 "Creating a foreign key locks the referenced table against every tenant's writes until the transaction ends, and its checks tell which keys other tenants hold.");
	}
}

/*
 * check_shared_tables
 *		What a tenant role may not run on a shared table, whatever it was
 *		granted: TRUNCATE, CREATE TRIGGER, LOCK TABLE above ROW EXCLUSIVE,
 *		VACUUM, ANALYZE, CLUSTER, REINDEX (they take SHARE UPDATE EXCLUSIVE
 *		or more: VACUUM FULL and CLUSTER an ACCESS EXCLUSIVE lock that
 *		every tenant's reads wait for, REINDEX a SHARE lock that every
 *		tenant's writes wait for; ANALYZE in a transaction keeps autovacuum
 *		off every tenant's dead rows until it ends), and a foreign key
 *		referencing one.
 */
static void
check_shared_tables(Node *parsetree)
{
	ListCell   *lc;

	switch (nodeTag(parsetree))
	{
		case T_TruncateStmt:
			foreach(lc, ((TruncateStmt *) parsetree)->relations)
				refuse_on_shared(lfirst(lc), "truncate",
								 "TRUNCATE ignores row-level security: it would empty every tenant's rows.");
			break;
		case T_CreateTrigStmt:
			refuse_on_shared(((CreateTrigStmt *) parsetree)->relation, "create a trigger on",
							 "A trigger runs on every tenant's rows, whatever row-level security shows its owner.");
			break;
		case T_LockStmt:
			if (((LockStmt *) parsetree)->mode > RowExclusiveLock)
				foreach(lc, ((LockStmt *) parsetree)->relations)
					refuse_on_shared(lfirst(lc), "lock",
									 "A lock above ROW EXCLUSIVE on a shared table stalls every tenant's writes.");
			break;
		case T_VacuumStmt:
			{
				VacuumStmt *stmt = (VacuumStmt *) parsetree;
				const char *what = stmt->is_vacuumcmd ? "vacuum" : "analyze";

				if (stmt->rels == NIL)
					refuse_unlisted(what);
				foreach(lc, stmt->rels)
					refuse_on_shared(((VacuumRelation *) lfirst(lc))->relation, what,
									 "VACUUM and ANALYZE lock a table against other maintenance (VACUUM FULL against every tenant's reads and writes); autovacuum maintains shared tables.");
				break;
			}
		case T_ClusterStmt:
			if (((ClusterStmt *) parsetree)->relation == NULL)
				refuse_unlisted("cluster");
			else
				refuse_on_shared(((ClusterStmt *) parsetree)->relation, "cluster",
								 "CLUSTER rewrites the table under an ACCESS EXCLUSIVE lock: every tenant's reads and writes wait until it ends.");
			break;
		case T_ReindexStmt:
			{
				ReindexStmt *stmt = (ReindexStmt *) parsetree;

				if (stmt->kind == REINDEX_OBJECT_TABLE || stmt->kind == REINDEX_OBJECT_INDEX)
					refuse_on_shared(stmt->relation, "reindex",
									 "REINDEX locks the table against every tenant's writes (and the index against their reads) until it ends.");
				else if (stmt->kind != REINDEX_OBJECT_SYSTEM)
					refuse_unlisted("reindex");
				break;
			}
		case T_CreateStmt:
			refuse_foreign_keys(((CreateStmt *) parsetree)->tableElts);
			refuse_foreign_keys(((CreateStmt *) parsetree)->constraints);
			break;
		case T_AlterTableStmt:
			foreach(lc, ((AlterTableStmt *) parsetree)->cmds)
			{
				AlterTableCmd *cmd = lfirst(lc);

				if ((cmd->subtype == AT_AddConstraint || cmd->subtype == AT_AddColumn) &&
					cmd->def != NULL)
					refuse_foreign_keys(list_make1(cmd->def));
			}
			break;
		default:
			break;
	}
}

/*
 * follow_partitions
 *		After a statement: a table created or attached as a partition of a
 *		shared table gets its row-level security.
 */
static void
follow_partitions(Node *parsetree)
{
	if (IsA(parsetree, CreateStmt) && (((CreateStmt *) parsetree)->partbound != NULL ||
									   ((CreateStmt *) parsetree)->inhRelations != NIL))
	{
		Oid			relid = RangeVarGetRelid(((CreateStmt *) parsetree)->relation,
											 NoLock, true);

		if (OidIsValid(relid))
			SharePartition(relid);
	}
	else if (IsA(parsetree, AlterTableStmt))
	{
		ListCell   *lc;

		foreach(lc, ((AlterTableStmt *) parsetree)->cmds)
		{
			AlterTableCmd *cmd = lfirst(lc);

			if (cmd->subtype == AT_AddInherit)
			{
				Oid			relid = RangeVarGetRelid(((AlterTableStmt *) parsetree)->relation,
													 NoLock, true);

				if (OidIsValid(relid))
					SharePartition(relid);
			}
			else if (cmd->subtype == AT_AttachPartition)
			{
				PartitionCmd *part = (PartitionCmd *) cmd->def;
				Oid			relid = RangeVarGetRelid(part->name, NoLock, true);

				if (OidIsValid(relid))
					SharePartition(relid);
			}
		}
	}
}

/* ------------------------------------- types and functions of tenancy */

/*
 * extension_members
 *		The row types (and their array types) of the tables and views of
 *		extension tenancy, the only types in its schema, and its functions.
 */
static void
extension_members(Oid extension, List **types, List **functions)
{
	Relation	depend = table_open(DependRelationId, AccessShareLock);
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tuple;

	*types = NIL;
	*functions = NIL;
	ScanKeyInit(&keys[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(ExtensionRelationId));
	ScanKeyInit(&keys[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(extension));
	scan = systable_beginscan(depend, DependReferenceIndexId, true, NULL, 2, keys);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tuple);
		Oid			rowtype;

		if (dep->classid == ProcedureRelationId)
			*functions = lappend_oid(*functions, dep->objid);
		if (dep->classid != RelationRelationId ||
			!OidIsValid(rowtype = get_rel_type_id(dep->objid)))
			continue;
		*types = lappend_oid(*types, rowtype);
		if (OidIsValid(get_array_type(rowtype)))
			*types = lappend_oid(*types, get_array_type(rowtype));
	}
	systable_endscan(scan);
	table_close(depend, AccessShareLock);
}

/*
 * relation_of
 *		The relation an object belongs to: itself when it is one, else the
 *		relation it depends on automatically or internally (a column
 *		default, a policy, a view's rule, a trigger, an index).  InvalidOid
 *		when none.
 */
static Oid
relation_of(Relation depend, Oid classid, Oid objid)
{
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			relid = InvalidOid;

	if (classid == RelationRelationId)
		return objid;
	ScanKeyInit(&keys[0], Anum_pg_depend_classid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(classid));
	ScanKeyInit(&keys[1], Anum_pg_depend_objid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(objid));
	scan = systable_beginscan(depend, DependDependerIndexId, true, NULL, 2, keys);
	while (!OidIsValid(relid) && HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tuple);

		if (dep->refclassid == RelationRelationId &&
			(dep->deptype == DEPENDENCY_AUTO || dep->deptype == DEPENDENCY_INTERNAL))
			relid = dep->refobjid;
	}
	systable_endscan(scan);
	return relid;
}

/*
 * new_dependent
 *		Whether an object created in this transaction depends on object
 *		(refclassid, refobjid).  With skip_shared, a dependent belonging to
 *		a shared table (or a partition of one) does not count: share_table
 *		gives those a policy and a column default calling
 *		tenancy.current_tenant(), also to the partitions a tenant creates.
 */
static bool
new_dependent(Relation depend, Oid refclassid, Oid refobjid, bool skip_shared)
{
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		found = false;

	ScanKeyInit(&keys[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(refclassid));
	ScanKeyInit(&keys[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(refobjid));
	scan = systable_beginscan(depend, DependReferenceIndexId, true, NULL, 2, keys);
	while (!found && HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tuple);
		char	   *column;
		Oid			relid;

		if (!TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tuple->t_data)))
			continue;
		if (skip_shared &&
			OidIsValid(relid = relation_of(depend, dep->classid, dep->objid)) &&
			OidIsValid(SharedTableOf(relid, &column)))
			continue;
		found = true;
	}
	systable_endscan(scan);
	return found;
}

/*
 * check_tenancy_members
 *		After DDL of a tenant role: no object it created in this
 *		transaction may depend on a type or a function of extension
 *		tenancy.  Every role has USAGE on the schema (to call
 *		tenancy.current_tenant()), so it can name the row types of
 *		tenancy's tables and current_tenant() in a column, a column
 *		default, a view, a policy or a function's SQL body; any of them
 *		would make DROP EXTENSION fail, and ALTER TABLE of tenancy's tables
 *		in an upgrade.
 */
static void
check_tenancy_members(void)
{
	Oid			extension = get_extension_oid("tenancy", true);
	Relation	depend;
	List	   *types;
	List	   *functions;
	ListCell   *lc;

	if (!OidIsValid(extension))
		return;
	extension_members(extension, &types, &functions);
	depend = table_open(DependRelationId, AccessShareLock);
	foreach(lc, types)
	{
		if (new_dependent(depend, TypeRelationId, lfirst_oid(lc), false))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for type %s", format_type_be(lfirst_oid(lc))),
					 errdetail("Tenant roles may call tenancy.current_tenant() but not use the types of schema tenancy: an object depending on one would block DROP EXTENSION and upgrades of tenancy.")));
	}
	foreach(lc, functions)
	{
		if (new_dependent(depend, ProcedureRelationId, lfirst_oid(lc), true))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to store a call of function %s",
							format_procedure(lfirst_oid(lc))),
					 errdetail("Tenant roles may call tenancy.current_tenant() in queries, but no object of theirs (a column default, a view, a policy, a function's SQL body) may depend on a function of tenancy: it would block DROP EXTENSION and upgrades of tenancy."),
					 errhint("Call it in the statements that need it, or in a PL/pgSQL function, whose body records no dependency.")));
	}
	table_close(depend, AccessShareLock);
}

/* ------------------------------------------------------ relation budget */

/*
 * creates_relation
 *		Whether a statement creates a relation (a row of pg_class).
 */
static bool
creates_relation(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_CreateStmt:
		case T_CreateForeignTableStmt:
		case T_CreateTableAsStmt:
		case T_ViewStmt:
		case T_CreateSeqStmt:
		case T_IndexStmt:
		case T_CompositeTypeStmt:
			return true;
		default:
			return false;
	}
}

/*
 * may_create_relations
 *		Whether a statement may leave more rows in pg_class than it found,
 *		beyond the one the statements of creates_relation create: indexes
 *		of constraints, TOAST tables of new columns, partitions' indexes,
 *		the relations of a trusted extension's script.
 */
static bool
may_create_relations(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_AlterTableStmt:
		case T_CreateExtensionStmt:
		case T_AlterExtensionStmt:
			return true;
		default:
			return creates_relation(parsetree);
	}
}

/*
 * next_oid
 *		The OID the server will assign next.  A statement that leaves it
 *		where it found it created no relation (every relation takes an OID
 *		from this counter), so the count after it can be skipped: ALTER
 *		TABLE ... DROP CONSTRAINT, ALTER COLUMN ... SET DEFAULT.  Other
 *		sessions move it too; that only costs a count.
 */
static Oid
next_oid(void)
{
	Oid			next;

	LWLockAcquire(OidGenLock, LW_SHARED);
#if PG_VERSION_NUM >= 170000
	next = TransamVariables->nextOid;
#else
	next = ShmemVariableCache->nextOid;
#endif
	LWLockRelease(OidGenLock);
	return next;
}

/*
 * TenantRelationBudget
 *		The budget of live relations of a tier from
 *		tenancy.max_relations_per_tenant ("tier=count,..."); -1 when the
 *		setting names no budget for the tier (no limit).
 */
int
TenantRelationBudget(const char *tier)
{
	char	   *list = pstrdup(tenancy_max_relations_per_tenant ?
							   tenancy_max_relations_per_tenant : "");
	char	   *save = NULL;
	size_t		len = strlen(tier);

	for (char *item = strtok_r(list, ", ", &save); item != NULL;
		 item = strtok_r(NULL, ", ", &save))
		if (strncmp(item, tier, len) == 0 && item[len] == '=')
			return atoi(item + len + 1);
	return -1;
}

/*
 * RelationCount
 *		What the budget check needs of a tenant: its tier, the tier's budget
 *		(-1: none) and the live relations it holds.
 */
typedef struct RelationCount
{
	const char *tier;
	int			budget;
	int64		live;
} RelationCount;

/*
 * What the count needs of the tenant a session's statements run as: its
 * tier and the OIDs of its schemas and roles, from its spec in
 * tenancy.tenants.  Read again when a transaction starts more than
 * BUDGET_INFO_MAX_AGE_MS after the last read, like the ceilings: reading
 * the spec for every DDL statement doubled the cost of a tenant's
 * statements even when its tier has no budget.  (A changed tier, or a
 * schema or role created since, counts from the next read.)
 */
#define BUDGET_INFO_MAX_AGE_MS 1000
#define BUDGET_ROLE_COUNT (4 + TENANT_LOGIN_ROLE_COUNT)
typedef struct BudgetInfo
{
	char		tenant[NAMEDATALEN];
	TimestampTz read_at;
	bool		found;			/* a tenant not being deprovisioned */
	char		tier[NAMEDATALEN];
	Datum		schemas[TENANT_SCHEMA_COUNT];
	Datum		roles[BUDGET_ROLE_COUNT];
} BudgetInfo;

static BudgetInfo budget_info;

/*
 * connect_as_superuser
 *		Connect to SPI as the bootstrap superuser with search_path pinned
 *		(the tenant's own search_path could otherwise put its operators
 *		before pg_catalog's; it cannot read tenancy.tenants).  Returns the
 *		GUC nest level the caller ends with AtEOXact_GUC after SPI_finish;
 *		the caller restores the user.
 */
static int
connect_as_superuser(int saved_sec)
{
	int			nest;

	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   saved_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	nest = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	SPI_connect();
	return nest;
}

/*
 * load_budget_info
 *		The tenant's tier and the OIDs of its schemas and roles (those that
 *		exist), read from its spec; cached (see BudgetInfo).  Called
 *		connected to SPI as the superuser.
 */
static void
load_budget_info(const char *tenant)
{
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	Oid			types[1] = {TEXTOID};
	Datum		args[1];
	bool		isnull;
	Jsonb	   *spec;
	TenantModel *m;
	int			n = 0;

	/* a tenant deprovisioned and provisioned again has new schemas */
	if (strcmp(budget_info.tenant, tenant) == 0 &&
		!TimestampDifferenceExceeds(budget_info.read_at, now, BUDGET_INFO_MAX_AGE_MS) &&
		(!budget_info.found ||
		 SearchSysCacheExists1(NAMESPACEOID, budget_info.schemas[0])))
		return;
	memset(&budget_info, 0, sizeof(budget_info));
	args[0] = CStringGetTextDatum(tenant);
	if (SPI_execute_with_args("SELECT spec FROM tenancy.tenants WHERE name = $1 "
							  "AND state NOT IN ('deprovisioning', 'deprovisioned')",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read tenancy.tenants");
	if (SPI_processed == 1)
	{
		spec = DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
											&isnull));
		m = TenantModelFromSpec(tenant, spec);
		strlcpy(budget_info.tier, m->tier, sizeof(budget_info.tier));
		for (int i = 0; i < TENANT_SCHEMA_COUNT; i++)
			budget_info.schemas[i] = ObjectIdGetDatum(get_namespace_oid(m->schemas[i], true));
		budget_info.roles[n++] = ObjectIdGetDatum(get_role_oid(m->owner_role, true));
		budget_info.roles[n++] = ObjectIdGetDatum(get_role_oid(m->writer_role, true));
		budget_info.roles[n++] = ObjectIdGetDatum(get_role_oid(m->reader_role, true));
		budget_info.roles[n++] = ObjectIdGetDatum(get_role_oid(m->backup_role, true));
		for (int i = 0; i < TENANT_LOGIN_ROLE_COUNT; i++)
			budget_info.roles[n++] = ObjectIdGetDatum(get_role_oid(m->login_roles[i], true));
		budget_info.found = true;
	}
	strlcpy(budget_info.tenant, tenant, sizeof(budget_info.tenant));
	budget_info.read_at = now;
}

/*
 * count_live_relations
 *		Relations in the tenant's schemas or owned by its roles, in pg_class
 *		read with a dirty snapshot: committed rows, and those of
 *		transactions still in progress (the tenant's other sessions' open
 *		transactions; this one's, the statement that just ran included),
 *		not those of transactions rolled back.  Whichever of two concurrent
 *		statements counts last sees the other's new relations, so N
 *		sessions of a tenant in open transactions cannot each fill the
 *		budget and all commit, and none waits for another (a lock held to
 *		the end of the transaction would have serialized every transaction
 *		of the tenant that creates a relation, a temporary table
 *		included).  A REPEATABLE READ transaction's snapshot plays no part.
 *		A row another transaction is updating shows twice (the old
 *		version and the new): relations are counted by OID, once.  A
 *		relation another transaction is dropping still counts until it
 *		commits.
 */
static int64
count_live_relations(void)
{
	Relation	rel = table_open(RelationRelationId, AccessShareLock);
	SnapshotData dirty;
	SysScanDesc scan;
	HeapTuple	tuple;
	int			size = 64;
	int			n = 0;
	Oid		   *oids = palloc(sizeof(Oid) * size);

	InitDirtySnapshot(dirty);
	scan = systable_beginscan(rel, InvalidOid, false, &dirty, 0, NULL);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_class c = (Form_pg_class) GETSTRUCT(tuple);
		bool		match = false;

		for (int i = 0; !match && i < TENANT_SCHEMA_COUNT; i++)
			match = OidIsValid(DatumGetObjectId(budget_info.schemas[i])) &&
				c->relnamespace == DatumGetObjectId(budget_info.schemas[i]);
		for (int i = 0; !match && i < BUDGET_ROLE_COUNT; i++)
			match = OidIsValid(DatumGetObjectId(budget_info.roles[i])) &&
				c->relowner == DatumGetObjectId(budget_info.roles[i]);
		if (!match)
			continue;
		if (n == size)
		{
			size *= 2;
			oids = repalloc(oids, sizeof(Oid) * size);
		}
		oids[n++] = c->oid;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	qsort(oids, n, sizeof(Oid), oid_cmp);
	n = (int) qunique(oids, n, sizeof(Oid), oid_cmp);
	pfree(oids);
	return n;
}

/*
 * count_relations
 *		The tenant's budget and live relations.  Counted in pg_class (so
 *		rows of rolled-back creations, dead until VACUUM, do not count):
 *		relations in the tenant's schemas and relations its roles own
 *		anywhere (temporary tables too).  Nothing is counted when the
 *		tier has no budget.  Also the relations of the tenant's
 *		transactions in progress (count_live_relations).
 */
static RelationCount
count_relations(const char *tenant)
{
	Oid			saved_user;
	int			saved_sec;
	volatile RelationCount result = {NULL, -1, 0};
	int			nest;

	GetUserIdAndSecContext(&saved_user, &saved_sec);
	PG_TRY();
	{
		nest = connect_as_superuser(saved_sec);
		load_budget_info(tenant);
		if (budget_info.found)
		{
			result.tier = budget_info.tier;
			result.budget = TenantRelationBudget(budget_info.tier);
		}
		if (result.budget >= 0)
			result.live = count_live_relations();
		SPI_finish();
		AtEOXact_GUC(true, nest);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(saved_user, saved_sec);
	}
	PG_END_TRY();
	return result;
}

/*
 * check_relation_budget
 *		Before a statement that creates a relation: 53400 when the tenant
 *		already holds its tier's budget of live relations.
 */
static void
check_relation_budget(const char *tenant)
{
	RelationCount count;

	if (!OidIsValid(get_extension_oid("tenancy", true)))
		return;
	count = count_relations(tenant);
	if (count.budget >= 0 && count.live >= count.budget)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("tenant \"%s\" has reached its relation budget of %d", tenant,
						count.budget),
				 errdetail("The tenant holds %lld live relations (tables, indexes, sequences, views and their TOAST tables, in its schemas or owned by its roles); tenancy.max_relations_per_tenant gives tier %s a budget of %d.",
						   (long long) count.live, count.tier, count.budget),
				 errhint("Drop relations the tenant no longer needs, or ask the platform's administrators for a larger budget.")));
}

/*
 * check_relation_budget_after
 *		After a DDL statement: 53400 when the tenant now holds more than its
 *		budget, so that the statement's transaction rolls back.  The check
 *		before a statement cannot see how many relations it creates: one
 *		CREATE TABLE with many UNIQUE columns creates an index for each,
 *		ALTER TABLE ... ADD CONSTRAINT ... UNIQUE one more, a column of a
 *		toastable type a TOAST table and its index.
 */
static void
check_relation_budget_after(const char *tenant)
{
	RelationCount count;

	if (!OidIsValid(get_extension_oid("tenancy", true)))
		return;
	count = count_relations(tenant);
	if (count.budget >= 0 && count.live > count.budget)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("statement would exceed the relation budget of %d of tenant \"%s\"",
						count.budget, tenant),
				 errdetail("After the statement the tenant would hold %lld live relations (tables, indexes, sequences, views and their TOAST tables, in its schemas or owned by its roles); tenancy.max_relations_per_tenant gives tier %s a budget of %d.",
						   (long long) count.live, count.tier, count.budget),
				 errhint("Drop relations the tenant no longer needs, or ask the platform's administrators for a larger budget.")));
}

/* ---------------------------------------------------- setting ceilings */

/*
 * is_backup_role
 *		Whether role is backup_<slug>, the backup role of its tenant.
 */
static bool
is_backup_role(Oid role)
{
	const char *tenant = TenantOfRole(role);
	char	   *name = GetUserNameFromId(role, true);
	char	   *expected;

	if (tenant == NULL || name == NULL)
		return false;
	expected = psprintf("backup_%s", tenant);
	for (char *c = expected; *c; c++)
		if (*c == '-')
			*c = '_';
	return strcmp(name, expected) == 0;
}

/*
 * parse_ceiling
 *		Set ceiling c from its text (a value of the setting, units allowed);
 *		false when it is not a valid value.
 */
static bool
parse_ceiling(int c, const char *text, bool of_role)
{
	int			flags = GetConfigOptionFlags(ceiling_names[c], false);
	double		value;
	int			ivalue;

	if (c == HASH_MEM_MULTIPLIER)
	{
		if (!parse_real(text, &value, flags, NULL))
			return false;
	}
	else
	{
		if (!parse_int(text, &ivalue, flags, NULL))
			return false;
		value = ivalue;
	}
	ceilings.set[c] = true;
	ceilings.of_role[c] = of_role;
	ceilings.value[c] = value;
	strlcpy(ceilings.as_set[c], text, sizeof(ceilings.as_set[c]));
	return true;
}

/*
 * session_ceiling_defaults
 *		The ceilings of tenancy.session_ceilings ("name=value,..."; its
 *		check hook validated it) for the settings the role has none of.
 */
static void
session_ceiling_defaults(void)
{
	char	   *list = pstrdup(tenancy_session_ceilings ? tenancy_session_ceilings : "");
	char	   *save = NULL;

	for (char *item = strtok_r(list, ", ", &save); item != NULL;
		 item = strtok_r(NULL, ", ", &save))
	{
		char	   *eq = strchr(item, '=');

		if (eq == NULL)
			continue;
		*eq = '\0';
		for (int c = TIER_CEILINGS; c < CEILING_COUNT; c++)
			if (pg_strcasecmp(item, ceiling_names[c]) == 0 && !ceilings.set[c])
				(void) parse_ceiling(c, eq + 1, false);
	}
}

/*
 * load_ceilings
 *		The ceilings of a session role: its own settings (all databases,
 *		or this one) of the ceiling settings, and tenancy.session_ceilings
 *		for those of the settings it has none of.  Read again at most once
 *		a second (a changed tier takes effect within a second).
 */
static void
load_ceilings(Oid role)
{
	Relation	rel;
	TimestampTz now = GetCurrentTransactionStartTimestamp();

	if (ceilings.role == role &&
		!TimestampDifferenceExceeds(ceilings.read_at, now, CEILINGS_MAX_AGE_MS))
		return;
	memset(&ceilings, 0, sizeof(ceilings));
	rel = table_open(DbRoleSettingRelationId, AccessShareLock);
	for (int db = 0; db < 2; db++)
	{
		ScanKeyData keys[2];
		SysScanDesc scan;
		HeapTuple	tuple;

		ScanKeyInit(&keys[0], Anum_pg_db_role_setting_setdatabase, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(db == 0 ? InvalidOid : MyDatabaseId));
		ScanKeyInit(&keys[1], Anum_pg_db_role_setting_setrole, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(role));
		scan = systable_beginscan(rel, DbRoleSettingDatidRolidIndexId, true, NULL, 2, keys);
		while (HeapTupleIsValid(tuple = systable_getnext(scan)))
		{
			bool		isnull;
			Datum		config = heap_getattr(tuple, Anum_pg_db_role_setting_setconfig,
											  RelationGetDescr(rel), &isnull);
			Datum	   *items;
			int			n;

			if (isnull)
				continue;
			deconstruct_array(DatumGetArrayTypeP(config), TEXTOID, -1, false,
							  TYPALIGN_INT, &items, NULL, &n);
			for (int i = 0; i < n; i++)
			{
				char	   *item = TextDatumGetCString(items[i]);
				char	   *eq = strchr(item, '=');

				if (eq == NULL)
					continue;
				*eq = '\0';
				/* a database-specific setting overrides the general one */
				for (int c = 0; c < CEILING_COUNT; c++)
					if (strcmp(item, ceiling_names[c]) == 0)
						(void) parse_ceiling(c, eq + 1, true);
			}
		}
		systable_endscan(scan);
	}
	table_close(rel, AccessShareLock);

	/*
	 * pg_dump sets both timeouts to 0 in its session (a dump runs as long as
	 * the data takes); refusing that would fail every backup.  The backup
	 * role keeps the tier's work_mem as a ceiling, and its temp_file_limit,
	 * which only a superuser can change.
	 */
	if (is_backup_role(role))
		ceilings.set[0] = ceilings.set[2] = false;
	session_ceiling_defaults();
	ceilings.role = role;
	ceilings.read_at = now;
}

/*
 * current_value
 *		The value in force of a ceiling setting, in its base unit.
 */
static double
current_value(int c)
{
	switch (c)
	{
		case 0:
			return StatementTimeout;
		case 1:
			return work_mem;
		case 2:
			return IdleInTransactionSessionTimeout;
		case HASH_MEM_MULTIPLIER:
			return hash_mem_multiplier;
		case 4:
			return maintenance_work_mem;
		case 5:
			return num_temp_buffers;
		case 6:
			return max_parallel_workers_per_gather;
		case 7:
			return max_parallel_maintenance_workers;
		default:
			return max_parallel_workers;
	}
}

/*
 * set_by_session
 *		Whether the value in force of a setting came from the session: a
 *		startup option, SET, set_config(), a function's SET clause, or
 *		RESET to one of those.  Not from the server's configuration, ALTER
 *		SYSTEM, ALTER DATABASE or a role setting: those are the DBA's.
 */
static bool
set_by_session(const char *name)
{
	struct config_generic *option = NULL;

#if PG_VERSION_NUM >= 160000
	option = find_option(name, false, true, ERROR);
#else
	struct config_generic **options = get_guc_variables();

	for (int i = 0; i < GetNumConfigOptions(); i++)
		if (strcmp(options[i]->name, name) == 0)
		{
			option = options[i];
			break;
		}
#endif
	return option != NULL && option->source >= PGC_S_CLIENT &&
		option->source != PGC_S_OVERRIDE;
}

/*
 * above_ceiling
 *		Whether the value in force of ceiling setting c is above its ceiling
 *		(0 disables a timeout: above any ceiling).  A ceiling of
 *		tenancy.session_ceilings holds only for a value the session set: a
 *		server whose configuration gives more keeps it (RESET returns to it).
 */
static bool
above_ceiling(int c)
{
	double		value = current_value(c);
	bool		above;

	if (!ceilings.set[c])
		return false;
	if ((c == 0 || c == 2) && value == 0)
		above = ceilings.value[c] != 0;
	else
		above = value > ceilings.value[c];
	if (above && !ceilings.of_role[c])
		above = set_by_session(ceiling_names[c]);
	return above;
}

/*
 * enforce_backup_transaction_timeout
 *		From PostgreSQL 17: the backup role's transaction_timeout is lowered
 *		to tenancy.max_tenant_transaction (0, no timeout, counts as above),
 *		with a WARNING when the session had set it.  Its other timeouts are
 *		not ceilings (pg_dump sets them to 0), so without this whoever has
 *		its password (the tenant's workload can: see README "Backups") could
 *		hold a snapshot, and with it the cleanup horizon of every tenant's
 *		tables, for ever.  pg_dump sets transaction_timeout to 0 too: not
 *		refused (that would fail every backup), lowered at its next
 *		statement, so a dump longer than the setting fails.  Which role is
 *		the backup role is remembered per session role.
 */
static void
enforce_backup_transaction_timeout(Oid session)
{
#if PG_VERSION_NUM >= 170000
	static Oid	checked_role = InvalidOid;
	static bool checked_is_backup = false;
	int			limit_ms = tenancy_max_tenant_transaction_s * 1000;
	bool		session_set;

	if (TransactionTimeout > 0 && TransactionTimeout <= limit_ms)
		return;
	if (checked_role != session)
	{
		checked_is_backup = is_backup_role(session);
		checked_role = session;
	}
	if (!checked_is_backup)
		return;
	/* the server's value (none, usually) is lowered quietly; a SET, loudly */
	session_set = set_by_session("transaction_timeout");
	(void) set_config_option("transaction_timeout", psprintf("%d", limit_ms), PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SET, true, 0, false);
	if (session_set)
		ereport(WARNING,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("transaction_timeout lowered to %d s, tenancy.max_tenant_transaction",
						tenancy_max_tenant_transaction_s),
				 errdetail("The backup role's transactions may not stay open longer: an open transaction holds back the cleanup of dead rows in every table of the database.")));
#else
	(void) session;
#endif
}

/*
 * enforce_ceilings
 *		Lower every ceiling setting of a tenant session that is above its
 *		ceiling back to it, with a WARNING.  A statement timeout lowered
 *		here is armed at once for the statement that starts.
 */
static void
enforce_ceilings(void)
{
	Oid			session = GetSessionUserId();

	if (clamping || !IsTransactionState() || IsInParallelMode() ||
		tenant_role(session) == NULL)
		return;
	load_ceilings(session);
	clamping = true;
	PG_TRY();
	{
		for (int c = 0; c < CEILING_COUNT; c++)
		{
			if (!above_ceiling(c))
				continue;

			/*
			 * WARNING, not ERROR, when the value cannot change now
			 * (temp_buffers once the session used temporary tables): the
			 * session's every statement would fail until it reconnects.
			 */
			if (set_config_option(ceiling_names[c], ceilings.as_set[c], PGC_USERSET,
								  PGC_S_SESSION, GUC_ACTION_SET, true, WARNING, false) <= 0)
				continue;
			ereport(WARNING,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 c < TIER_CEILINGS ?
					 errmsg("%s lowered to %s, the ceiling of the tenant's tier",
							ceiling_names[c], ceilings.as_set[c]) :
					 ceilings.of_role[c] ?
					 errmsg("%s lowered to %s, the ceiling the role's own setting gives",
							ceiling_names[c], ceilings.as_set[c]) :
					 errmsg("%s lowered to %s, the ceiling of tenant sessions (tenancy.session_ceilings)",
							ceiling_names[c], ceilings.as_set[c]),
					 errdetail("It was set above the ceiling (by set_config(), a startup option, RESET or a function's SET clause); tenant sessions may lower these settings, not raise them.")));
			if (c == 0 && StatementTimeout > 0 && !get_timeout_active(STATEMENT_TIMEOUT))
				enable_timeout_after(STATEMENT_TIMEOUT, StatementTimeout);
		}
	}
	PG_FINALLY();
	{
		clamping = false;
	}
	PG_END_TRY();
	enforce_backup_transaction_timeout(session);
}

/*
 * ceiling_index
 *		Index of a ceiling setting by name, -1 when name is not one.
 */
static int
ceiling_index(const char *name)
{
	if (name == NULL)
		return -1;
	for (int c = 0; c < CEILING_COUNT; c++)
		if (pg_strcasecmp(name, ceiling_names[c]) == 0)
			return c;
	return -1;
}

/*
 * check_set
 *		After SET of a ceiling setting in a tenant session: a value above the
 *		ceiling is refused (42501; the transaction's abort undoes the SET).
 */
static void
check_set(VariableSetStmt *stmt)
{
	int			c = ceiling_index(stmt->name);
	Oid			session = GetSessionUserId();

	if (c < 0 || stmt->kind != VAR_SET_VALUE || tenant_role(session) == NULL)
		return;
	load_ceilings(session);
	if (above_ceiling(c))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to set parameter \"%s\" above %s", stmt->name,
						ceilings.as_set[c]),
				 c >= TIER_CEILINGS && ceilings.of_role[c] ?
				 errdetail("%s is the role's own setting of %s, which is its ceiling; tenant sessions may lower it, not raise it.",
						   ceilings.as_set[c], stmt->name) :
				 c >= TIER_CEILINGS ?
				 errdetail("%s is the ceiling of tenant sessions for %s (tenancy.session_ceilings): it multiplies what one statement takes of the server's memory or parallel workers; tenant sessions may lower it, not raise it.",
						   ceilings.as_set[c], stmt->name) :
				 c == 1 ?
				 errdetail("%s is the ceiling of the tenant's tier for %s; tenant sessions may lower it, not raise it.",
						   ceilings.as_set[c], stmt->name) :
				 errdetail("%s is the ceiling of the tenant's tier for %s; tenant sessions may lower it, not raise it (0 disables the timeout, which is above any ceiling).",
						   ceilings.as_set[c], stmt->name),
				 errhint("Set it to %s or less.", ceilings.as_set[c])));
}

/*
 * check_alter_role_set
 *		ALTER ROLE ... SET or RESET of a ceiling setting (or RESET ALL) by a
 *		tenant role: refused, since the role's settings are the ceilings.
 */
static void
check_alter_role_set(AlterRoleSetStmt *stmt)
{
	VariableSetStmt *set = stmt->setstmt;

	if (set->kind != VAR_RESET_ALL && ceiling_index(set->name) < 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to change the role setting \"%s\"",
					set->name ? set->name : "ALL"),
			 errdetail("A tenant login role's statement_timeout, work_mem and idle_in_transaction_session_timeout are set by its tier, its hash_mem_multiplier, maintenance_work_mem, temp_buffers and parallel workers by tenancy.session_ceilings unless a DBA set them for the role; all are its sessions' ceilings."),
			 errhint("Ask the platform's administrators to change the tenant's tier.")));
}

/* --------------------------------------------------- policies' roles */

/*
 * check_policy_roles
 *		CREATE or ALTER POLICY by a tenant role may name only PUBLIC and the
 *		tenant's own roles.  A policy that names a role depends on it, and
 *		dropping that dependency (DROP OWNED BY, which deprovision runs for
 *		each of a tenant's roles, or DROP ROLE) takes the policy's table in
 *		ACCESS EXCLUSIVE mode: with a policy naming a neighbour's role on a
 *		table of its own, which it keeps locked, a tenant held up the
 *		neighbour's deprovision for as long as it liked, and with it every
 *		step the worker records for that neighbour.
 */
static void
check_policy_roles(Node *parsetree, const char *tenant)
{
	char		own[NAMEDATALEN];
	List	   *roles;
	ListCell   *lc;

	if (IsA(parsetree, CreatePolicyStmt))
		roles = ((CreatePolicyStmt *) parsetree)->roles;
	else if (IsA(parsetree, AlterPolicyStmt))
		roles = ((AlterPolicyStmt *) parsetree)->roles;
	else
		return;
	/* TenantOfRole's cache may reuse the entry tenant points into */
	strlcpy(own, tenant, sizeof(own));
	foreach(lc, roles)
	{
		RoleSpec   *spec = lfirst_node(RoleSpec, lc);
		Oid			roleid;
		const char *of;

		if (spec->roletype == ROLESPEC_PUBLIC)
			continue;
		roleid = get_rolespec_oid(spec, true);
		if (!OidIsValid(roleid))
			continue;			/* the statement reports it */
		of = TenantOfRole(roleid);
		if (of == NULL || strcmp(of, own) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("a policy of tenant \"%s\" may name only PUBLIC and the tenant's own roles",
							own),
					 errdetail("Role \"%s\" is not a role of the tenant: dropping a role locks the tables of the policies that name it, so the tenant could hold up that role's removal.",
							   GetUserNameFromId(roleid, false))));
	}
}

/* ------------------------------------------------- called by hooks.c */

/*
 * TenantGuardBeforeUtility
 *		The checks above, before a utility statement runs.  Returns the
 *		next OID for TenantGuardAfterUtility when the statement is a tenant
 *		role's that may create relations, InvalidOid otherwise.
 */
Oid
TenantGuardBeforeUtility(Node *parsetree)
{
	const char *tenant = tenant_role(GetUserId());
	Oid			next = InvalidOid;

	if (tenant != NULL)
	{
		check_shared_tables(parsetree);
		if (creates_relation(parsetree))
			check_relation_budget(tenant);
		if (IsA(parsetree, AlterRoleSetStmt))
			check_alter_role_set((AlterRoleSetStmt *) parsetree);
		if (may_create_relations(parsetree))
			next = next_oid();
		/* last: it may evict the cache entry tenant points into */
		check_policy_roles(parsetree, tenant);
	}
	enforce_ceilings();
	return next;
}

/*
 * TenantGuardAfterUtility
 *		After a utility statement ran: row-level security on new partitions
 *		of a shared table, the setting ceilings, tenancy's row types and functions, the
 *		relation budget.
 */
void
TenantGuardAfterUtility(Node *parsetree, Oid next_oid_before)
{
	const char *tenant;

	if (IsA(parsetree, CreateStmt) || IsA(parsetree, AlterTableStmt))
		follow_partitions(parsetree);
	/* this backend's ALTER ROLE ... SET takes effect at once (others': 1 s) */
	if (IsA(parsetree, AlterRoleSetStmt))
		ceilings.role = InvalidOid;
	if (IsA(parsetree, VariableSetStmt))
		check_set((VariableSetStmt *) parsetree);
	else if ((tenant = tenant_role(GetUserId())) != NULL &&
			 GetCommandLogLevel(parsetree) == LOGSTMT_DDL)
	{
		check_tenancy_members();
		if (may_create_relations(parsetree) && next_oid() != next_oid_before)
			check_relation_budget_after(tenant);
	}
	enforce_ceilings();
}

/*
 * TenantGuardAroundQuery
 *		Before and after every query (set_config() may run in one).
 */
void
TenantGuardAroundQuery(void)
{
	enforce_ceilings();
}
