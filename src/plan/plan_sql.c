/*-------------------------------------------------------------------------
 *
 * plan_sql.c
 *	  The SQL actions of a tenant: group and login roles, memberships,
 *	  per-tier role settings, default privileges, the six schemas and their
 *	  grants, the audit table; and, to deprovision, their removal.
 *
 * Each builder compares the model with the current state and plans only
 * what differs.  Every identifier goes through quote_identifier and every
 * literal through quote_literal_cstr, although the model's names are
 * already restricted to plain lower-case identifiers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"

#include "plan.h"

/* Attributes every tenant role gets, whether it can log in or not */
#define ROLE_ATTRIBUTES "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"

/* What the writer and reader groups get on tables and sequences */
#define WRITER_TABLE_PRIVILEGES "SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER"
#define WRITER_SEQUENCE_PRIVILEGES "USAGE, SELECT, UPDATE"

#define qi(name) quote_identifier(name)

static void plan_drop_role(PlanContext *ctx, const RoleState *state,
						   const char *role, bool reassign);

/*
 * plan_role
 *		Create the role, or correct its attributes when they drifted.
 */
static void
plan_role(PlanContext *ctx, const RoleState *state, const char *role,
		  bool login, int limit)
{
	const char *login_kw = login ? "LOGIN" : "NOLOGIN";

	if (!state->exists)
	{
		if (login)
			PlanAddSql(ctx, "create role", role,
					   psprintf("CREATE ROLE %s LOGIN " ROLE_ATTRIBUTES " CONNECTION LIMIT %d",
								qi(role), limit));
		else
			PlanAddSql(ctx, "create role", role,
					   psprintf("CREATE ROLE %s NOLOGIN " ROLE_ATTRIBUTES, qi(role)));
	}
	else if (state->can_login != login || state->privileged ||
			 state->connection_limit != limit)
		PlanAddSql(ctx, "alter role", role,
				   psprintf("ALTER ROLE %s WITH %s " ROLE_ATTRIBUTES " CONNECTION LIMIT %d",
							qi(role), login_kw, limit));
}

/*
 * has_setting
 *		Whether a role's settings hold "name=value" (value NULL: any value).
 */
static bool
has_setting(List *settings, const char *name, const char *value)
{
	ListCell   *lc;
	size_t		len = strlen(name);

	foreach(lc, settings)
	{
		const char *s = lfirst(lc);

		if (strncmp(s, name, len) == 0 && s[len] == '=' &&
			(value == NULL || strcmp(s + len + 1, value) == 0))
			return true;
	}
	return false;
}

/*
 * plan_setting
 *		Set one role setting when it differs (value NULL: reset it if set).
 */
static void
plan_setting(PlanContext *ctx, const RoleState *state, const char *role,
			 const char *name, const char *value)
{
	if (value == NULL)
	{
		if (has_setting(state->settings, name, NULL))
			PlanAddSql(ctx, "reset role setting", role,
					   psprintf("ALTER ROLE %s RESET %s", qi(role), name));
	}
	else if (!has_setting(state->settings, name, value))
		PlanAddSql(ctx, "set role setting", role,
				   psprintf("ALTER ROLE %s SET %s = %s", qi(role), name,
							quote_literal_cstr(value)));
}

/*
 * plan_login_role
 *		A login role: created NOSUPERUSER ... with the connection limit,
 *		member of the writer group, with the per-tier settings and, when
 *		audit logging is asked for and pgaudit is loaded, pgaudit.log.
 *
 * Login roles get no password here: the worker sets a SCRAM verifier
 * later, so until then password authentication cannot succeed.
 */
static void
plan_login_role(PlanContext *ctx, const RoleState *state, const char *role)
{
	const TenantModel *m = ctx->model;
	bool		audit = m->audit_logging && ctx->state->pgaudit_loaded;

	plan_role(ctx, state, role, true, m->connection_limit);
	if (!state->is_member)
		PlanAddSql(ctx, "grant role", role,
				   psprintf("GRANT %s TO %s", qi(m->writer_role), qi(role)));
	for (int i = 0; i < TENANT_TIER_SETTING_COUNT; i++)
		plan_setting(ctx, state, role, m->setting_names[i], m->setting_values[i]);
	plan_setting(ctx, state, role, "pgaudit.log", audit ? TENANT_PGAUDIT_LOG : NULL);
}

/*
 * plan_pgaudit_check
 *		On another server, before pgaudit.log is first set on the login
 *		roles: fail the step (55000, with the HINT) unless pgaudit is loaded
 *		there.  The planner cannot see that server, and there a superuser's
 *		ALTER ROLE ... SET pgaudit.log succeeds as a placeholder that logs
 *		nothing: features.audit_logging would pass silently.  A real
 *		pgaudit.log is superuser-context; a placeholder is user-context (or
 *		absent from pg_settings).
 */
static void
plan_pgaudit_check(PlanContext *ctx)
{
	const TenantModel *m = ctx->model;
	const TenantState *s = ctx->state;
	bool		needed = false;

	if (m->local || !m->audit_logging)
		return;
	for (int i = 0; i < TENANT_LOGIN_ROLE_COUNT; i++)
		needed |= !has_setting(s->logins[i].settings, "pgaudit.log", TENANT_PGAUDIT_LOG);
	if (!needed)
		return;
	PlanAddSql(ctx, "check pgaudit", m->remote_database,
			   psprintf("DO $tenancy$ BEGIN IF NOT EXISTS (SELECT FROM pg_catalog.pg_settings s "
						"WHERE s.name OPERATOR(pg_catalog.=) 'pgaudit.log' "
						"AND s.context OPERATOR(pg_catalog.=) 'superuser') THEN "
						"RAISE EXCEPTION 'features.audit_logging needs pgaudit, which is not loaded on this server' "
						"USING ERRCODE = '55000', "
						"DETAIL = %s, "
						"HINT = 'Add pgaudit to shared_preload_libraries of the warehouse server and restart it, then tenancy.retry the operation; or set features.audit_logging to false and apply the spec.'; "
						"END IF; END $tenancy$",
						quote_literal_cstr(psprintf("Tenant \"%s\" asks for audit logging of its login roles (pgaudit.log = '%s'): without pgaudit the setting would be a placeholder that logs nothing.",
													m->name, TENANT_PGAUDIT_LOG))));
}

/*
 * plan_backup_role
 *		The role the backup CronJob logs in as: LOGIN, member of the reader
 *		group only (it reads the tenant's schemas and nothing it could
 *		write), with the tier's settings like the login roles: it is a
 *		tenant role, and whoever holds its password must not get more of
 *		the server than the tenant's own roles.  (pg_dump sets
 *		statement_timeout and idle_in_transaction_session_timeout to 0 in
 *		its session: tenant_guard.c lets the backup role lower those two
 *		below the tier's; work_mem and temp_file_limit remain ceilings.)
 *		Its password is generated by the worker like the other login
 *		roles'.
 */
static void
plan_backup_role(PlanContext *ctx, const RoleState *state)
{
	const TenantModel *m = ctx->model;

	plan_role(ctx, state, m->backup_role, true, TENANT_BACKUP_CONNECTION_LIMIT);
	if (!state->is_member)
		PlanAddSql(ctx, "grant role", m->backup_role,
				   psprintf("GRANT %s TO %s", qi(m->reader_role), qi(m->backup_role)));
	for (int i = 0; i < TENANT_TIER_SETTING_COUNT; i++)
		plan_setting(ctx, state, m->backup_role, m->setting_names[i], m->setting_values[i]);
}

/*
 * plan_default_privileges
 *		Tables and sequences that role creates later are reachable by the
 *		writer and reader groups.  Planned when the role or a group role is
 *		(re)created (dropping a group role drops it from default
 *		privileges), or when one of them was revoked.
 */
static void
plan_default_privileges(PlanContext *ctx, const RoleState *state, const char *role)
{
	const TenantModel *m = ctx->model;
	const TenantState *s = ctx->state;

	if (state->exists && s->writer.exists && s->reader.exists &&
		!state->default_privileges_missing)
		return;
	PlanAddSql(ctx, "alter default privileges", role,
			   psprintf("ALTER DEFAULT PRIVILEGES FOR ROLE %s GRANT " WRITER_TABLE_PRIVILEGES " ON TABLES TO %s",
						qi(role), qi(m->writer_role)));
	PlanAddSql(ctx, "alter default privileges", role,
			   psprintf("ALTER DEFAULT PRIVILEGES FOR ROLE %s GRANT SELECT ON TABLES TO %s",
						qi(role), qi(m->reader_role)));
	PlanAddSql(ctx, "alter default privileges", role,
			   psprintf("ALTER DEFAULT PRIVILEGES FOR ROLE %s GRANT " WRITER_SEQUENCE_PRIVILEGES " ON SEQUENCES TO %s",
						qi(role), qi(m->writer_role)));
	PlanAddSql(ctx, "alter default privileges", role,
			   psprintf("ALTER DEFAULT PRIVILEGES FOR ROLE %s GRANT SELECT ON SEQUENCES TO %s",
						qi(role), qi(m->reader_role)));
}

/*
 * plan_schema
 *		One schema, owned by the owner role; writers may use it and create
 *		in it (except in the audit schema), readers may use it.  Grants are
 *		planned again when a group role is (re)created, or when one was
 *		revoked.
 */
static void
plan_schema(PlanContext *ctx, int i)
{
	const TenantModel *m = ctx->model;
	const TenantState *s = ctx->state;
	const char *schema = m->schemas[i];
	bool		audit = i == TENANT_AUDIT_SCHEMA_INDEX;

	if (!s->schema_exists[i])
		PlanAddSql(ctx, "create schema", schema,
				   psprintf("CREATE SCHEMA %s AUTHORIZATION %s", qi(schema),
							qi(m->owner_role)));
	if (!s->schema_exists[i] || !s->writer.exists ||
		s->schema_writer_grant_missing[i])
		PlanAddSql(ctx, "grant schema privileges", schema,
				   psprintf("GRANT %s ON SCHEMA %s TO %s",
							audit ? "USAGE" : "USAGE, CREATE", qi(schema),
							qi(m->writer_role)));
	if (!s->schema_exists[i] || !s->reader.exists ||
		s->schema_reader_grant_missing[i])
		PlanAddSql(ctx, "grant schema privileges", schema,
				   psprintf("GRANT USAGE ON SCHEMA %s TO %s", qi(schema),
							qi(m->reader_role)));

	/*
	 * Kept data (a deprovision without drop_data, then provision or apply
	 * again): the relations in the schema belong to the owner role now
	 * (REASSIGN OWNED), and their grants went with the dropped groups.  The
	 * new groups get what default privileges gave the old ones.  The audit
	 * schema's table has grants of its own (plan_audit_table).
	 */
	if (s->schema_exists[i] && !audit && !s->writer.exists)
	{
		PlanAddSql(ctx, "grant table privileges", schema,
				   psprintf("GRANT " WRITER_TABLE_PRIVILEGES " ON ALL TABLES IN SCHEMA %s TO %s",
							qi(schema), qi(m->writer_role)));
		PlanAddSql(ctx, "grant sequence privileges", schema,
				   psprintf("GRANT " WRITER_SEQUENCE_PRIVILEGES " ON ALL SEQUENCES IN SCHEMA %s TO %s",
							qi(schema), qi(m->writer_role)));
	}
	if (s->schema_exists[i] && !audit && !s->reader.exists)
	{
		PlanAddSql(ctx, "grant table privileges", schema,
				   psprintf("GRANT SELECT ON ALL TABLES IN SCHEMA %s TO %s",
							qi(schema), qi(m->reader_role)));
		PlanAddSql(ctx, "grant sequence privileges", schema,
				   psprintf("GRANT SELECT ON ALL SEQUENCES IN SCHEMA %s TO %s",
							qi(schema), qi(m->reader_role)));
	}
}

/*
 * plan_audit_table
 *		<prefix>audit.pipeline_runs, the source document's run log, owned by
 *		the owner role.  Writers append runs and complete each once, but
 *		cannot delete them or change a completed one; readers read them.
 */
static void
plan_audit_table(PlanContext *ctx)
{
	const TenantModel *m = ctx->model;
	const TenantState *s = ctx->state;
	char	   *table = psprintf("%s.%s", qi(m->schemas[TENANT_AUDIT_SCHEMA_INDEX]),
								 qi("pipeline_runs"));

	if (!s->audit_table_exists)
	{
		PlanAddSql(ctx, "create table", table,
				   psprintf("CREATE TABLE %s ("
							"run_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
							"dag_id varchar(255), "
							"task_id varchar(255), "
							"execution_date timestamptz, "
							"start_time timestamptz, "
							"end_time timestamptz, "
							"status varchar(50), "
							"rows_processed bigint, "
							"error_message text, "
							"created_at timestamptz NOT NULL DEFAULT pg_catalog.now())",
							table));
		PlanAddSql(ctx, "alter table owner", table,
				   psprintf("ALTER TABLE %s OWNER TO %s", table, qi(m->owner_role)));
	}
	if (!s->audit_table_exists || !s->writer.exists ||
		s->audit_table_writer_grant_missing)
		PlanAddSql(ctx, "grant table privileges", table,
				   psprintf("GRANT SELECT, INSERT, UPDATE ON %s TO %s", table,
							qi(m->writer_role)));
	if (!s->audit_table_exists || !s->reader.exists ||
		s->audit_table_reader_grant_missing)
		PlanAddSql(ctx, "grant table privileges", table,
				   psprintf("GRANT SELECT ON %s TO %s", table, qi(m->reader_role)));

	/*
	 * Billing counts completed runs: the table is append-only for everyone
	 * (no DELETE or TRUNCATE, a completed run is frozen) and each completion
	 * is recorded in tenancy.run_completions when it happens.  Only here:
	 * another database has no schema tenancy.
	 */
	if (m->local && (!s->audit_table_exists || !s->audit_table_guarded))
	{
		char	   *guard = psprintf("%s.%s", qi(m->schemas[TENANT_AUDIT_SCHEMA_INDEX]),
									 qi(AUDIT_TABLE_GUARD_FUNCTION));

		PlanAddSql(ctx, "guard audit table", table,
				   psprintf("CREATE OR REPLACE FUNCTION %s() RETURNS trigger "
							"LANGUAGE c AS '$libdir/tenancy', 'tenancy_pipeline_runs_guard'; "
							"REVOKE ALL ON FUNCTION %s() FROM PUBLIC; "
							"CREATE OR REPLACE TRIGGER " AUDIT_TABLE_GUARD_TRIGGER
							" BEFORE INSERT OR UPDATE OR DELETE ON %s"
							" FOR EACH ROW EXECUTE FUNCTION %s(); "
							"CREATE OR REPLACE TRIGGER " AUDIT_TABLE_TRUNCATE_TRIGGER
							" BEFORE TRUNCATE ON %s"
							" FOR EACH STATEMENT EXECUTE FUNCTION %s()",
							guard, guard, table, guard, table, guard));
	}

	/*
	 * Its identity sequence, which pg_dump reads as the reader group's backup
	 * role (planned with the backup role too: tenants provisioned before
	 * backups lacked it; and when it was revoked).
	 */
	if (!s->audit_table_exists || !s->reader.exists ||
		(m->backup_enabled && !s->backup.exists) ||
		s->audit_sequence_grant_missing)
		PlanAddSql(ctx, "grant sequence privileges",
				   psprintf("%s.%s", qi(m->schemas[TENANT_AUDIT_SCHEMA_INDEX]),
							qi("pipeline_runs_run_id_seq")),
				   psprintf("GRANT SELECT ON SEQUENCE %s.%s TO %s",
							qi(m->schemas[TENANT_AUDIT_SCHEMA_INDEX]),
							qi("pipeline_runs_run_id_seq"), qi(m->reader_role)));
}

/*
 * plan_database_access
 *		A tenant's own database (another database or server) is open only
 *		to its groups: PostgreSQL grants CONNECT and TEMPORARY on a new
 *		database to PUBLIC, so every role of the server could connect (and
 *		see the tenant's schemas and catalogs) otherwise.  Planned again
 *		when a group role is (re)created; DROP OWNED removes the grant with
 *		the role.  Never in a database tenancy did not create (a server's
 *		existing_databases): its grants are its owner's business.
 */
static void
plan_database_access(PlanContext *ctx)
{
	const TenantModel *m = ctx->model;
	const char *database = qi(m->remote_database);

	PlanAddSql(ctx, "revoke database access", m->remote_database,
			   psprintf("REVOKE CONNECT, TEMPORARY ON DATABASE %s FROM PUBLIC",
						database));
	PlanAddSql(ctx, "grant database access", m->remote_database,
			   psprintf("GRANT CONNECT ON DATABASE %s TO %s, %s", database,
						qi(m->writer_role), qi(m->reader_role)));
}

/*
 * PlanSqlProvision
 *		The SQL that takes the tenant from its current state to the model:
 *		roles first (schemas need their owner), then default privileges,
 *		schemas and the audit table; each of the four a phase (one step).
 */
void
PlanSqlProvision(PlanContext *ctx)
{
	const TenantModel *m = ctx->model;
	const TenantState *s = ctx->state;

	/*
	 * features.audit_logging promises pgaudit's session log of the login
	 * roles: without pgaudit loaded pgaudit.log would be a placeholder that
	 * logs nothing, so refuse rather than provision a weaker tenant.
	 */
	if (m->audit_logging && !s->pgaudit_loaded)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("features.audit_logging needs pgaudit, which is not loaded"),
				 errdetail("Tenant \"%s\" asks for audit logging of its login roles (pgaudit.log = '%s'), and this server does not have pgaudit in shared_preload_libraries.",
						   m->name, TENANT_PGAUDIT_LOG),
				 errhint("Add pgaudit to shared_preload_libraries and restart the server, or set features.audit_logging to false.")));

	ctx->phase = PLAN_PHASE_ROLES;
	plan_pgaudit_check(ctx);
	plan_role(ctx, &s->owner, m->owner_role, false, -1);
	plan_role(ctx, &s->writer, m->writer_role, false, -1);
	plan_role(ctx, &s->reader, m->reader_role, false, -1);
	for (int i = 0; i < TENANT_LOGIN_ROLE_COUNT; i++)
		plan_login_role(ctx, &s->logins[i], m->login_roles[i]);

	/*
	 * The backup role when backups are on; dropped when they are turned off,
	 * but only if the spec last applied had them on: then tenancy created it.
	 */
	if (m->backup_enabled)
		plan_backup_role(ctx, &s->backup);
	else if (s->platform != NULL && s->platform->backup_enabled)
		plan_drop_role(ctx, &s->backup, m->backup_role, true);
	if (!m->local && !m->existing_database &&
		(!s->writer.exists || !s->reader.exists))
		plan_database_access(ctx);

	ctx->phase = PLAN_PHASE_DEFAULT_PRIVILEGES;
	plan_default_privileges(ctx, &s->owner, m->owner_role);
	for (int i = 0; i < TENANT_LOGIN_ROLE_COUNT; i++)
		plan_default_privileges(ctx, &s->logins[i], m->login_roles[i]);

	ctx->phase = PLAN_PHASE_SCHEMAS;
	for (int i = 0; i < TENANT_SCHEMA_COUNT; i++)
		plan_schema(ctx, i);
	ctx->phase = PLAN_PHASE_AUDIT_TABLE;
	plan_audit_table(ctx);
}

/*
 * if_role_exists
 *		A statement on a role that deprovision removes.  On another server,
 *		whose state the planner infers from the spec last applied, it runs
 *		only if the role is there: after the ledger's guard refused a
 *		foreign role of that name and a DBA removed it, tenancy.retry
 *		finishes the rest instead of failing on the missing role.  Here, as
 *		is (the planner read the catalogs).
 */
static char *
if_role_exists(const TenantModel *m, const char *role, char *sql)
{
	if (m->local)
		return sql;
	return psprintf("DO $tenancy$ BEGIN IF EXISTS (SELECT FROM pg_catalog.pg_roles r "
					"WHERE r.rolname OPERATOR(pg_catalog.=) %s) THEN %s; END IF; END $tenancy$",
					quote_literal_cstr(role), sql);
}

/*
 * plan_drop_role
 *		Remove a role that exists: what it owns is reassigned to the owner
 *		role when the data is kept (and dropped with it otherwise), its
 *		privileges and default privileges are dropped, then the role.
 */
static void
plan_drop_role(PlanContext *ctx, const RoleState *state, const char *role,
			   bool reassign)
{
	const TenantModel *m = ctx->model;

	if (!state->exists)
		return;
	if (reassign && ctx->state->owner.exists)
		PlanAddSql(ctx, "reassign owned", role,
				   if_role_exists(m, role,
								  psprintf("REASSIGN OWNED BY %s TO %s", qi(role),
										   qi(m->owner_role))));
	PlanAddSql(ctx, "drop owned", role,
			   if_role_exists(m, role, psprintf("DROP OWNED BY %s", qi(role))));
	PlanAddSql(ctx, "drop role", role,
			   if_role_exists(m, role, psprintf("DROP ROLE %s", qi(role))));
}

/*
 * A role of a local tenant that deprovision drops, and whether it holds
 * something (owns objects, has privileges or default privileges) in another
 * database of this server
 */
typedef struct DroppedRole
{
	const char *name;
	const RoleState *state;
	Oid			oid;
	bool		elsewhere;
} DroppedRole;

/*
 * held_elsewhere
 *		Mark the roles that pg_shdepend lists in databases other than this
 *		one, and return those databases' names, sorted.
 */
static List *
held_elsewhere(DroppedRole *roles, int nroles)
{
	MemoryContext caller = CurrentMemoryContext;
	Datum	   *oids = palloc(sizeof(Datum) * Max(nroles, 1));
	Oid			types[2] = {OIDARRAYOID, OIDOID};
	Datum		values[2];
	List	   *databases = NIL;

	for (int i = 0; i < nroles; i++)
		oids[i] = ObjectIdGetDatum(roles[i].oid);
	values[0] = PointerGetDatum(construct_array(oids, nroles, OIDOID, sizeof(Oid),
												true, TYPALIGN_INT));
	values[1] = ObjectIdGetDatum(MyDatabaseId);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT s.refobjid, d.datname::pg_catalog.text "
							  "FROM pg_catalog.pg_shdepend s JOIN pg_catalog.pg_database d "
							  "ON d.oid OPERATOR(pg_catalog.=) s.dbid "
							  "WHERE s.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_authid'::pg_catalog.regclass "
							  "AND s.refobjid OPERATOR(pg_catalog.=) ANY ($1) "
							  "AND s.dbid OPERATOR(pg_catalog.<>) $2 "
							  "GROUP BY 1, 2 ORDER BY 2",
							  2, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_shdepend");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		Oid			role = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[r],
														  SPI_tuptable->tupdesc, 1, &isnull));
		char	   *datname = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2);
		MemoryContext spi = MemoryContextSwitchTo(caller);

		for (int i = 0; i < nroles; i++)
			roles[i].elsewhere |= roles[i].oid == role;
		if (databases == NIL || strcmp(llast(databases), datname) != 0)
			databases = lappend(databases, pstrdup(datname));
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	return databases;
}

/*
 * role_cleanup_sql
 *		One statement for one database: each role held elsewhere, if it is
 *		still the one tenancy created (same OID; a role of that name with
 *		another OID is refused, 42710), hands what it owns to the owner role
 *		(reassign: the data is kept; never to the database's owner, who
 *		would then run the tenant's code) and loses what it was granted
 *		(DROP OWNED, which also drops what it still owns: with drop_data, the
 *		tenant's objects there).  DROP OWNED is RESTRICT: an object another
 *		role's objects depend on stops the step, named in its error.
 *		drop_roles: then drop the roles (the last step, in this database).
 */
static char *
role_cleanup_sql(const TenantModel *m, DroppedRole *roles, int nroles,
				 const DroppedRole *owner, bool reassign, bool drop_roles)
{
	StringInfoData sql;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "DO $tenancy$ BEGIN ");
	for (int i = 0; i <= nroles; i++)
	{
		const DroppedRole *r = i < nroles ? &roles[i] : owner;

		if (i == nroles && !reassign)
			break;
		if (i < nroles && !r->elsewhere)
			continue;
		appendStringInfo(&sql,
						 "IF EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) %s "
						 "AND r.oid OPERATOR(pg_catalog.<>) %u::pg_catalog.oid) THEN "
						 "RAISE EXCEPTION USING ERRCODE = '42710', "
						 "MESSAGE = %s, "
						 "DETAIL = pg_catalog.format('The role has the name tenancy derives for the tenant, but its OID is %%s and tenancy.created_objects records %%s: it was dropped and created again by someone else.', "
						 "(SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) %s), %u), "
						 "HINT = 'tenancy does not drop what it did not create.  Find out what the role is, then drop or rename it and retry the operation (tenancy.retry).'; "
						 "END IF; ",
						 quote_literal_cstr(r->name), r->oid,
						 quote_literal_cstr(psprintf("role \"%s\" was not created by tenancy for tenant \"%s\"",
													 r->name, m->name)),
						 quote_literal_cstr(r->name), r->oid);
	}
	for (int i = 0; i < nroles; i++)
	{
		if (!roles[i].elsewhere)
			continue;
		appendStringInfo(&sql,
						 "IF EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) %u::pg_catalog.oid) THEN ",
						 roles[i].oid);
		if (reassign)
			appendStringInfo(&sql,
							 "IF EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) %u::pg_catalog.oid) THEN "
							 "REASSIGN OWNED BY %s TO %s; END IF; ",
							 owner->oid, qi(roles[i].name), qi(owner->name));
		appendStringInfo(&sql, "DROP OWNED BY %s; ", qi(roles[i].name));
		if (drop_roles)
			appendStringInfo(&sql, "DROP ROLE %s; ", qi(roles[i].name));
		appendStringInfoString(&sql, "END IF; ");
	}
	appendStringInfoString(&sql, "END $tenancy$");
	return sql.data;
}

/*
 * cleanup_request
 *		The request of a remote_database step on this server (over its Unix
 *		socket, as the bootstrap superuser) without the step journal: the
 *		statements may run again, and the database is not the tenant's.
 */
static Jsonb *
cleanup_request(const char *database, const char *sql)
{
	StringInfoData json;

	initStringInfo(&json);
	appendStringInfoString(&json, "{\"server\": \"\", \"database\": ");
	escape_json(&json, database);
	appendStringInfoString(&json, ", \"sql\": ");
	escape_json(&json, sql);
	appendStringInfoString(&json, ", \"journal\": false}");
	return PlanJsonbFromText(json.data);
}

/*
 * plan_cleanup_elsewhere
 *		The roles of a local tenant that hold something in other databases
 *		cannot be dropped from here (REASSIGN OWNED and DROP OWNED reach the
 *		current database only), and a failed DROP ROLE would leave them
 *		behind.  They are left to the worker: one step per such database
 *		(see role_cleanup_sql), then one here that cleans this database and
 *		drops them.  NOLOGIN and the end of their sessions still happen in
 *		the caller's transaction.
 */
static void
plan_cleanup_elsewhere(PlanContext *ctx, DroppedRole *roles, int nroles,
					   const DroppedRole *owner, List *databases, bool drop_data)
{
	const TenantModel *m = ctx->model;
	bool		reassign = !drop_data && OidIsValid(owner->oid);
	char	   *here = get_database_name(MyDatabaseId);
	List	   *cleaned = NIL;
	StringInfoData names;
	ListCell   *lc;
	char	   *sql;
	PlanAction *a;

	foreach(lc, databases)
	{
		const char *database = lfirst(lc);

		sql = role_cleanup_sql(m, roles, nroles, owner, reassign, false);
		a = PlanAddExternal(ctx, PLAN_TARGET_REMOTE_DATABASE, "clean database", database,
							psprintf("on this server/%s through the worker: %s", database, sql),
							cleanup_request(database, sql), NULL);
		cleaned = lappend_int(cleaned, a->ordinal);
	}
	initStringInfo(&names);
	for (int i = 0; i < nroles; i++)
		if (roles[i].elsewhere)
			appendStringInfo(&names, "%s%s", names.len > 0 ? ", " : "", roles[i].name);
	sql = role_cleanup_sql(m, roles, nroles, owner, reassign, true);
	a = PlanAddExternal(ctx, PLAN_TARGET_REMOTE_DATABASE, "drop roles", names.data,
						psprintf("on this server/%s through the worker: %s", here, sql),
						cleanup_request(here, sql), NULL);
	a->depends_on = cleaned;
}

/*
 * add_dropped
 *		Add a role deprovision drops, if it exists; with its OID when it is
 *		here (a local tenant's: TenantStateFromCatalogs checked it is the
 *		one tenancy.created_objects records).
 */
static void
add_dropped(const TenantModel *m, DroppedRole *dropped, int *n,
			const char *name, const RoleState *state)
{
	if (!state->exists)
		return;
	dropped[*n].name = name;
	dropped[*n].state = state;
	dropped[*n].oid = m->local ? get_role_oid(name, true) : InvalidOid;
	dropped[*n].elsewhere = false;
	(*n)++;
}

/*
 * PlanSqlDeprovision
 *		Disable login at once, then remove the roles.  Without drop_data the
 *		schemas, their data and the owner role that owns them are kept
 *		(NOLOGIN, so nobody can use them until an apply brings the tenant
 *		back); with it, the schemas go and the owner role with them.  Three
 *		phases: logins, schemas, roles.
 */
void
PlanSqlDeprovision(PlanContext *ctx, bool drop_data)
{
	const TenantModel *m = ctx->model;
	const TenantState *s = ctx->state;
	DroppedRole dropped[4 + TENANT_LOGIN_ROLE_COUNT];
	DroppedRole owner;
	int			nroles = 0;
	List	   *databases = NIL;

	ctx->phase = PLAN_PHASE_DISABLE_LOGIN;
	for (int i = 0; i < TENANT_LOGIN_ROLE_COUNT; i++)
		if (s->logins[i].exists && s->logins[i].can_login)
			PlanAddSql(ctx, "disable login", m->login_roles[i],
					   if_role_exists(m, m->login_roles[i],
									  psprintf("ALTER ROLE %s NOLOGIN", qi(m->login_roles[i]))));
	if (s->backup.exists && s->backup.can_login)
		PlanAddSql(ctx, "disable login", m->backup_role,
				   if_role_exists(m, m->backup_role,
								  psprintf("ALTER ROLE %s NOLOGIN", qi(m->backup_role))));

	/*
	 * On a warehouse server, the open sessions of the tenant's login roles
	 * are ended in the transaction that disables them (in this database the
	 * caller's COMMIT does it: see tenancy_deprovision).
	 */
	if (!m->local && (s->logins[0].exists || s->logins[1].exists || s->backup.exists))
		PlanAddSql(ctx, "end sessions", m->name,
				   psprintf("SELECT pg_catalog.pg_terminate_backend(a.pid) "
							"FROM pg_catalog.pg_stat_activity a "
							"WHERE a.usename OPERATOR(pg_catalog.=) ANY (ARRAY[%s, %s, %s]::pg_catalog.name[])",
							quote_literal_cstr(m->login_roles[0]),
							quote_literal_cstr(m->login_roles[1]),
							quote_literal_cstr(m->backup_role)));

	ctx->phase = PLAN_PHASE_DROP_SCHEMAS;
	if (drop_data)
		for (int i = 0; i < TENANT_SCHEMA_COUNT; i++)
			if (s->schema_exists[i])
				PlanAddSql(ctx, "drop schema", m->schemas[i],
						   psprintf("DROP SCHEMA %s CASCADE", qi(m->schemas[i])));

	/*
	 * The roles, in the order they are dropped: login roles, groups, and the
	 * owner with the data.  Those that hold something in another database of
	 * this server are left to the worker (a local tenant's only: a warehouse
	 * server's other databases are not looked at).
	 */
	ctx->phase = PLAN_PHASE_DROP_ROLES;
	for (int i = 0; i < TENANT_LOGIN_ROLE_COUNT; i++)
		add_dropped(m, dropped, &nroles, m->login_roles[i], &s->logins[i]);
	add_dropped(m, dropped, &nroles, m->backup_role, &s->backup);
	add_dropped(m, dropped, &nroles, m->writer_role, &s->writer);
	add_dropped(m, dropped, &nroles, m->reader_role, &s->reader);
	if (drop_data)
		add_dropped(m, dropped, &nroles, m->owner_role, &s->owner);
	owner.name = m->owner_role;
	owner.state = &s->owner;
	owner.oid = s->owner.exists ? get_role_oid(m->owner_role, true) : InvalidOid;
	owner.elsewhere = false;
	if (m->local && nroles > 0)
		databases = held_elsewhere(dropped, nroles);
	for (int i = 0; i < nroles; i++)
		if (!dropped[i].elsewhere)
			plan_drop_role(ctx, dropped[i].state, dropped[i].name, !drop_data);
	if (databases != NIL)
		plan_cleanup_elsewhere(ctx, dropped, nroles, &owner, databases, drop_data);
}

/*
 * PlanSqlPasswords
 *		The statement that sets the passwords of login roles on a warehouse
 *		server: a check that every role and its groups are the ones the
 *		ledger records (42710 otherwise), that every role exists there, can
 *		log in and is not a superuser (42704 otherwise), then ALTER ROLE ...
 *		PASSWORD with each role's SCRAM verifier.  Built by the worker once
 *		it holds the passwords: a secret is never planned, so never in a
 *		plan or a step.
 */
char *
PlanSqlPasswords(int nroles, const char *const *roles,
				 const char *const *verifiers)
{
	StringInfoData sql;
	StringInfoData names;
	StringInfoData groups;
	List	   *recorded = NIL;

	initStringInfo(&names);
	for (int i = 0; i < nroles; i++)
		appendStringInfo(&names, "%s%s", i > 0 ? ", " : "",
						 quote_literal_cstr(roles[i]));

	/*
	 * The groups a login role may be a member of: its tenant's writer and
	 * reader (etl_<slug>, airflow_<slug>, backup_<slug>: tenant_<slug>_...).
	 */
	initStringInfo(&groups);
	for (int i = 0; i < nroles; i++)
	{
		const char *slug = strchr(roles[i], '_');

		if (slug == NULL)
			elog(ERROR, "\"%s\" is not a tenant login role name", roles[i]);
		appendStringInfo(&groups, "%s%s, %s", i > 0 ? ", " : "",
						 quote_literal_cstr(psprintf("tenant_%s_writer", slug + 1)),
						 quote_literal_cstr(psprintf("tenant_%s_reader", slug + 1)));
		recorded = lappend(recorded, (char *) roles[i]);
		recorded = lappend(recorded, psprintf("tenant_%s_writer", slug + 1));
		recorded = lappend(recorded, psprintf("tenant_%s_reader", slug + 1));
	}

	/*
	 * Operators and functions qualified: see remote_undo_sql.  A login role
	 * that is a member of any other role, or whose groups are members of
	 * anything or privileged, does not get a password: whoever reads the
	 * tenant's credentials would hold those privileges (a role of that name
	 * created by someone else on the warehouse after a deprovision, say a
	 * member of pg_execute_server_program).
	 */
	initStringInfo(&sql);

	/*
	 * First the ledger (plan_ledger.c): each login role and its groups must
	 * be the ones tenancy created for the tenant there, by OID (42710).
	 */
	appendStringInfo(&sql, "%s;\n", PlanLedgerGuard(NULL, recorded, NIL, NULL));
	appendStringInfo(&sql,
					 "DO $tenancy$ BEGIN "
					 "IF (SELECT pg_catalog.count(*) FROM pg_catalog.pg_roles "
					 "WHERE rolname OPERATOR(pg_catalog.=) ANY (ARRAY[%s]::pg_catalog.name[]) "
					 "AND rolcanlogin AND NOT rolsuper AND NOT rolcreaterole "
					 "AND NOT rolcreatedb AND NOT rolreplication AND NOT rolbypassrls) "
					 "OPERATOR(pg_catalog.<>) %d THEN "
					 "RAISE EXCEPTION USING ERRCODE = '42704', MESSAGE = "
					 "'a tenant login role to get a password is missing, cannot log in or is privileged'; "
					 "END IF; "
					 "IF EXISTS (SELECT FROM pg_catalog.pg_auth_members m "
					 "JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) m.member "
					 "JOIN pg_catalog.pg_roles g ON g.oid OPERATOR(pg_catalog.=) m.roleid "
					 "WHERE r.rolname OPERATOR(pg_catalog.=) ANY (ARRAY[%s]::pg_catalog.name[]) "
					 "AND g.rolname OPERATOR(pg_catalog.<>) ALL (ARRAY[%s]::pg_catalog.name[])) "
					 "OR EXISTS (SELECT FROM pg_catalog.pg_auth_members m "
					 "JOIN pg_catalog.pg_roles g ON g.oid OPERATOR(pg_catalog.=) m.member "
					 "WHERE g.rolname OPERATOR(pg_catalog.=) ANY (ARRAY[%s]::pg_catalog.name[])) "
					 "OR EXISTS (SELECT FROM pg_catalog.pg_roles g "
					 "WHERE g.rolname OPERATOR(pg_catalog.=) ANY (ARRAY[%s]::pg_catalog.name[]) "
					 "AND (g.rolsuper OR g.rolcreaterole OR g.rolcreatedb OR g.rolreplication "
					 "OR g.rolbypassrls OR g.rolcanlogin)) THEN "
					 "RAISE EXCEPTION USING ERRCODE = '55000', MESSAGE = "
					 "'a tenant login role to get a password is a member of a role tenancy did not create'; "
					 "END IF; END $tenancy$",
					 names.data, nroles, names.data, groups.data, groups.data, groups.data);

	/*
	 * The verifiers go straight into a buffer made large enough first: no
	 * quoted copy of them, and no buffer outgrown and freed with a copy in
	 * it, stays behind (the caller wipes the result).  A SCRAM verifier is
	 * base64, '$' and ':' only, so quoting it is putting it between quotes.
	 */
	{
		size_t		needed = 0;

		for (int i = 0; i < nroles; i++)
		{
			if (strpbrk(verifiers[i], "'\\") != NULL)
				elog(ERROR, "unexpected character in a SCRAM verifier");
			needed += strlen(";\nALTER ROLE  PASSWORD ''") +
				strlen(qi(roles[i])) + strlen(verifiers[i]);
		}
		enlargeStringInfo(&sql, (int) needed);
	}
	for (int i = 0; i < nroles; i++)
	{
		appendStringInfo(&sql, ";\nALTER ROLE %s PASSWORD '", qi(roles[i]));
		appendStringInfoString(&sql, verifiers[i]);
		appendStringInfoChar(&sql, '\'');
	}
	return sql.data;
}
