/*-------------------------------------------------------------------------
 *
 * audit_remote.c
 *	  The audit of a tenant whose database objects live in another
 *	  database (of this server or of a registered warehouse server): the
 *	  audit_remote step handler, run by the worker through its libpq
 *	  connections (remote.c).
 *
 * tenancy.audit reads this database's catalogs; for a tenant placed
 * elsewhere it enqueues one audit_remote step.  The worker runs one
 * read-only query on the tenant's database that reports what the local
 * audit reports first: a role or schema gone, a tenant role with an
 * attribute no tenant role may have, a group role that can log in, a schema
 * owned by another role, a schema that grants anything to PUBLIC, a
 * database that lets every role connect, and a role or schema with a
 * tenant's name that the warehouse's ledger does not record with its OID
 * (tenancy_remote.created_objects, see plan_ledger.c).  The findings (source 'database')
 * join the audit run that enqueued the step.  The names come from the
 * planner's model, as literals; the query reads catalogs only.
 *
 *-------------------------------------------------------------------------
 */
#include "worker_xact.h"
#include "postgres.h"

#include "access/xact.h"
#include "lib/stringinfo.h"
#include "utils/snapmgr.h"

#include "handler.h"
#include "journal.h"
#include "maintenance.h"
#include "remote.h"

/*
 * From utils/builtins.h, which cannot be included beside jansson.h (both
 * declare json_object).
 */
extern char *quote_literal_cstr(const char *rawstr);

/* Columns of the query: check_name, severity, object, detail */
#define AUDIT_REMOTE_COLUMNS 4

/*
 * values_list
 *		"('a', 'kind'), ('b', 'kind')" of a JSON array of names (each
 *		checked to be a plain name); NULL when the argument is malformed.
 */
static char *
values_list(const StepContext *context, const char *key, const char *kind)
{
	json_t	   *array = json_object_get(context->request, key);
	StringInfoData buf;
	size_t		i;
	json_t	   *item;

	if (!json_is_array(array) || json_array_size(array) == 0)
		return NULL;
	initStringInfo(&buf);
	json_array_foreach(array, i, item)
	{
		const char *name = json_string_value(item);

		if (name == NULL || !HandlerValidName(name))
			return NULL;
		appendStringInfo(&buf, "%s(%s, %s)", i > 0 ? ", " : "",
						 quote_literal_cstr(name), quote_literal_cstr(kind));
	}
	return buf.data;
}

/*
 * audit_query
 *		The query that reports the findings; see the file header.
 */
static char *
audit_query(const char *roles, const char *schemas, const char *owner)
{
	return psprintf("WITH r(role, kind) AS (VALUES %s), "
					"s(nspname, kind) AS (VALUES %s) "
					"SELECT 'role_missing', 'critical', r.role, "
					"'Role ' || r.role || ' does not exist in database ' || pg_catalog.current_database() || '.' "
					"FROM r WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles a WHERE a.rolname = r.role) "
					"UNION ALL "
					"SELECT 'role_attributes', 'critical', a.rolname, "
					"'Role ' || a.rolname || ' has ' || pg_catalog.concat_ws(', ', "
					"CASE WHEN a.rolsuper THEN 'SUPERUSER' END, CASE WHEN a.rolcreaterole THEN 'CREATEROLE' END, "
					"CASE WHEN a.rolcreatedb THEN 'CREATEDB' END, CASE WHEN a.rolreplication THEN 'REPLICATION' END, "
					"CASE WHEN a.rolbypassrls THEN 'BYPASSRLS' END) || ', which no tenant role may have.' "
					"FROM r JOIN pg_catalog.pg_roles a ON a.rolname = r.role "
					"WHERE a.rolsuper OR a.rolcreaterole OR a.rolcreatedb OR a.rolreplication OR a.rolbypassrls "
					"UNION ALL "
					"SELECT 'role_attributes', 'high', a.rolname, "
					"'Group role ' || a.rolname || ' can log in.' "
					"FROM r JOIN pg_catalog.pg_roles a ON a.rolname = r.role "
					"WHERE r.kind = 'group' AND a.rolcanlogin "
					"UNION ALL "
					"SELECT 'schema_missing', 'critical', s.nspname, "
					"'Schema ' || s.nspname || ' does not exist in database ' || pg_catalog.current_database() || '.' "
					"FROM s WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_namespace n WHERE n.nspname = s.nspname) "
					"UNION ALL "
					"SELECT 'schema_owner', 'critical', n.nspname, "
					"'Schema ' || n.nspname || ' is owned by ' || pg_catalog.pg_get_userbyid(n.nspowner) || ', not by ' || %s || '.' "
					"FROM s JOIN pg_catalog.pg_namespace n ON n.nspname = s.nspname "
					"WHERE pg_catalog.pg_get_userbyid(n.nspowner) OPERATOR(pg_catalog.<>) %s "
					"UNION ALL "
					"SELECT 'public_privileges', 'critical', n.nspname, "
					"'Schema ' || n.nspname || ' grants ' || x.privilege_type || ' to PUBLIC, that is to every role of the server.' "
					"FROM s JOIN pg_catalog.pg_namespace n ON n.nspname = s.nspname, "
					"pg_catalog.aclexplode(n.nspacl) x WHERE x.grantee OPERATOR(pg_catalog.=) 0 "
					"UNION ALL "
					"SELECT 'public_connect', 'warning', d.datname::text, "
					"'Database ' || d.datname || ' lets every role of the server connect (CONNECT granted to PUBLIC).' "
					"FROM pg_catalog.pg_database d, "
					"pg_catalog.aclexplode(COALESCE(d.datacl, pg_catalog.acldefault('d', d.datdba))) x "
					"WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database() "
					"AND x.grantee OPERATOR(pg_catalog.=) 0 AND x.privilege_type OPERATOR(pg_catalog.=) 'CONNECT' "
					"UNION ALL "
					"SELECT 'foreign_object', 'critical', k.kind || ' ' || k.name || ' (OID ' || k.oid || ')', "
					"pg_catalog.format('The %%s %%s has a name tenancy derives for the tenant, but tenancy_remote.created_objects of database %%s %%s; "
					"tenancy will not adopt, change or drop it. Find out what it is, then drop or rename it.', "
					"k.kind, k.name, pg_catalog.current_database(), CASE WHEN c.object_oid IS NULL "
					"THEN 'does not record it' ELSE 'records OID ' || c.object_oid || ' for that name' END) "
					"FROM (SELECT 'role'::pg_catalog.text AS kind, a.rolname AS name, a.oid FROM r "
					"JOIN pg_catalog.pg_roles a ON a.rolname OPERATOR(pg_catalog.=) r.role "
					"UNION ALL SELECT 'schema', n.nspname, n.oid FROM s "
					"JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) s.nspname) k "
					"LEFT JOIN tenancy_remote.created_objects c ON c.kind OPERATOR(pg_catalog.=) k.kind "
					"AND c.name OPERATOR(pg_catalog.=) k.name "
					"WHERE c.object_oid IS NULL OR c.object_oid OPERATOR(pg_catalog.<>) k.oid "
					"ORDER BY 1, 3",
					roles, schemas, quote_literal_cstr(owner), quote_literal_cstr(owner));
}

/*
 * record_remote_findings
 *		Insert the rows of the query into the audit run, in a transaction of
 *		their own.
 */
static void
record_remote_findings(int64 run_id, const char *tenant, List *rows)
{
	ListCell   *lc;

	if (rows == NIL)
		return;
	WorkerXactBegin(NULL);
	/* two tables (findings and their run): queue behind DROP EXTENSION */
	(void) WorkerLockExtension();
	foreach(lc, rows)
	{
		char	  **row = lfirst(lc);

		AuditRecordFinding(run_id, tenant, "database", row[0], row[1],
						   row[2] ? row[2] : "", row[3] ? row[3] : "");
	}
	WorkerXactCommit();
}

/*
 * HandleAuditRemote
 *		The audit_remote handler.  Arguments: run_id, tenant, server ("":
 *		this server), database, owner, groups and logins (role names),
 *		schemas.
 */
void
HandleAuditRemote(const StepContext *context, StepOutcome *outcome)
{
	json_t	   *run = json_object_get(context->request, "run_id");
	const char *tenant = HandlerArgString(context, "tenant");
	json_t	   *server = json_object_get(context->request, "server");
	const char *database = HandlerArgString(context, "database");
	const char *owner = HandlerArgString(context, "owner");
	char	   *groups = values_list(context, "groups", "group");
	char	   *logins = values_list(context, "logins", "login");
	char	   *schemas = values_list(context, "schemas", "schema");
	List	   *rows = NIL;

	memset(outcome, 0, sizeof(StepOutcome));
	if (!json_is_integer(run) || tenant == NULL || !json_is_string(server) ||
		!HandlerValidName(owner) || groups == NULL || logins == NULL ||
		schemas == NULL)
	{
		StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
					   "malformed step request: audit_remote needs run_id, tenant, server, database, owner, groups, logins and schemas");
		return;
	}
	RemoteQuery(json_string_value(server), database,
				audit_query(psprintf("(%s, 'owner'), %s, %s",
									 quote_literal_cstr(owner), groups, logins),
							schemas, owner),
				AUDIT_REMOTE_COLUMNS, &rows, outcome);
	if (outcome->kind != STEP_OUTCOME_SUCCEEDED)
		return;
	record_remote_findings((int64) json_integer_value(run), tenant, rows);
	outcome->message = psprintf("%d finding(s) in database %s", list_length(rows),
								database);
}
