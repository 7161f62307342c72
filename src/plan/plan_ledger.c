/*-------------------------------------------------------------------------
 *
 * plan_ledger.c
 *	  The record, on a warehouse database, of the roles and schemas tenancy
 *	  created there for a tenant (tenancy_remote.created_objects), and the
 *	  SQL that checks it before every statement the worker runs there.
 *
 * A tenant placed in another database or on another server has no row in
 * this database's tenancy.created_objects that could prove a role or schema
 * of the warehouse is its own: OIDs are per cluster (roles) and per
 * database (schemas).  So the proof lives next to the objects, in the
 * ledger schema the worker owns and checks before use (see remote.c,
 * REMOTE_JOURNAL_CHECK):
 *
 *	- every CREATE ROLE or CREATE SCHEMA of a step is followed, in the
 *	  step's transaction, by the insert of the new object's name and OID
 *	  (the uncommitted CREATE holds the name, so the OID is the one just
 *	  created);
 *	- every step, and every compensation, starts with a guard: each role
 *	  and schema with a name it may act on that exists must be recorded with
 *	  its OID, or the step fails with 42710 before running anything (an
 *	  object that merely has the name is someone else's: never granted to,
 *	  given a password, dropped or handed objects);
 *	- every step ends by forgetting records whose object is gone (dropped
 *	  by the step: the guard proved them the tenant's before).
 *
 * Every operator and function is qualified: the warehouse database's owner
 * may have set its search_path (the sessions pin it as well).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "plan.h"

/*
 * name_array
 *		ARRAY['a', 'b']::pg_catalog.name[] of a list of names ('{}' when empty).
 */
static char *
name_array(List *names)
{
	StringInfoData buf;
	ListCell   *lc;

	if (names == NIL)
		return pstrdup("'{}'::pg_catalog.name[]");
	initStringInfo(&buf);
	appendStringInfoString(&buf, "ARRAY[");
	foreach(lc, names)
		appendStringInfo(&buf, "%s%s", foreach_current_index(lc) > 0 ? ", " : "",
						 quote_literal_cstr(lfirst(lc)));
	appendStringInfoString(&buf, "]::pg_catalog.name[]");
	return buf.data;
}

/*
 * PlanLedgerNames
 *		Every role and schema name the model derives; the backup role is
 *		*optional_role when the spec does not want backups (it is then
 *		checked only if recorded: a tenant without backups does not care
 *		about someone else's role of that name).
 */
void
PlanLedgerNames(const TenantModel *m, List **roles, List **schemas,
				const char **optional_role)
{
	*roles = list_make3(m->owner_role, m->writer_role, m->reader_role);
	for (int i = 0; i < TENANT_LOGIN_ROLE_COUNT; i++)
		*roles = lappend(*roles, m->login_roles[i]);
	*roles = lappend(*roles, m->backup_role);
	*optional_role = m->backup_enabled ? NULL : m->backup_role;
	*schemas = NIL;
	for (int i = 0; i < TENANT_SCHEMA_COUNT; i++)
		*schemas = lappend(*schemas, m->schemas[i]);
}

/*
 * PlanLedgerGuard
 *		A DO block that fails with 42710 when a role of roles or a schema of
 *		schemas exists and tenancy_remote.created_objects does not record it
 *		with its OID (optional_role, if not NULL: only when recorded).  The
 *		DETAIL names the object and both OIDs, the HINT what the DBA does.
 *		tenant: for the message (NULL: "the tenant").
 */
char *
PlanLedgerGuard(const char *tenant, List *roles, List *schemas,
				const char *optional_role)
{
	const char *for_whom = tenant ? psprintf("tenant \"%s\"", tenant) : "the tenant";

	return psprintf("DO $tenancy$ DECLARE f record; BEGIN "
					"SELECT k.kind, k.name, k.oid, c.object_oid AS recorded INTO f FROM ("
					"SELECT 'role'::pg_catalog.text AS kind, r.rolname AS name, r.oid FROM pg_catalog.pg_roles r "
					"WHERE r.rolname OPERATOR(pg_catalog.=) ANY (%s) "
					"UNION ALL SELECT 'schema', n.nspname, n.oid FROM pg_catalog.pg_namespace n "
					"WHERE n.nspname OPERATOR(pg_catalog.=) ANY (%s)) k "
					"LEFT JOIN tenancy_remote.created_objects c ON c.kind OPERATOR(pg_catalog.=) k.kind "
					"AND c.name OPERATOR(pg_catalog.=) k.name "
					"WHERE CASE WHEN c.object_oid IS NULL THEN k.name OPERATOR(pg_catalog.<>) %s "
					"ELSE c.object_oid OPERATOR(pg_catalog.<>) k.oid END "
					"ORDER BY k.kind, k.name LIMIT 1; "
					"IF FOUND THEN RAISE EXCEPTION USING ERRCODE = '42710', "
					"MESSAGE = pg_catalog.format('%%s \"%%s\" was not created by tenancy for %%s', f.kind, f.name, %s), "
					"DETAIL = CASE WHEN f.recorded IS NULL THEN pg_catalog.format("
					"'The %%s has the name tenancy derives for the tenant, but tenancy_remote.created_objects of database %%s does not record it as created for the tenant (OID %%s).', "
					"f.kind, pg_catalog.current_database(), f.oid) ELSE pg_catalog.format("
					"'The %%s has the name tenancy derives for the tenant, but its OID is %%s and tenancy_remote.created_objects of database %%s records %%s: it was dropped and created again by someone else.', "
					"f.kind, f.oid, pg_catalog.current_database(), f.recorded) END, "
					"HINT = pg_catalog.format('tenancy does not adopt what it did not create.  Find out what the %%s is on the warehouse server, then drop or rename it there and retry the operation (tenancy.retry): tenancy creates its own.', f.kind); "
					"END IF; END $tenancy$",
					name_array(roles), name_array(schemas),
					quote_literal_cstr(optional_role ? optional_role : ""),
					quote_literal_cstr(for_whom));
}

/*
 * PlanLedgerRecord
 *		The statement that records a role or schema the statement before
 *		it created (same transaction, so the name is still held).
 */
char *
PlanLedgerRecord(const TenantModel *m, const char *kind, const char *name)
{
	bool		role = strcmp(kind, "role") == 0;

	return psprintf("INSERT INTO tenancy_remote.created_objects AS c (kind, name, object_oid, tenant) "
					"SELECT %s, o.%s, o.oid, %s FROM pg_catalog.%s o WHERE o.%s OPERATOR(pg_catalog.=) %s "
					"ON CONFLICT (kind, name) DO UPDATE SET object_oid = excluded.object_oid, "
					"tenant = excluded.tenant, created_at = pg_catalog.now()",
					quote_literal_cstr(kind), role ? "rolname" : "nspname",
					quote_literal_cstr(m->name), role ? "pg_roles" : "pg_namespace",
					role ? "rolname" : "nspname", quote_literal_cstr(name));
}

/*
 * PlanLedgerForget
 *		The statement that forgets the records of the tenant's names whose
 *		object (that name with that OID) is gone.
 */
char *
PlanLedgerForget(const TenantModel *m)
{
	List	   *roles;
	List	   *schemas;
	const char *optional;

	PlanLedgerNames(m, &roles, &schemas, &optional);
	return psprintf("DELETE FROM tenancy_remote.created_objects c WHERE "
					"(c.kind OPERATOR(pg_catalog.=) 'role' AND c.name OPERATOR(pg_catalog.=) ANY (%s) "
					"AND NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) c.object_oid "
					"AND r.rolname OPERATOR(pg_catalog.=) c.name)) "
					"OR (c.kind OPERATOR(pg_catalog.=) 'schema' AND c.name OPERATOR(pg_catalog.=) ANY (%s) "
					"AND NOT EXISTS (SELECT FROM pg_catalog.pg_namespace n WHERE n.oid OPERATOR(pg_catalog.=) c.object_oid "
					"AND n.nspname OPERATOR(pg_catalog.=) c.name))",
					name_array(roles), name_array(schemas));
}
