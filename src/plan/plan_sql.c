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

#include "utils/builtins.h"

#include "plan.h"

/* Attributes every tenant role gets, whether it can log in or not */
#define ROLE_ATTRIBUTES "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"

/* What the writer and reader groups get on tables and sequences */
#define WRITER_TABLE_PRIVILEGES "SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER"
#define WRITER_SEQUENCE_PRIVILEGES "USAGE, SELECT, UPDATE"

#define qi(name) quote_identifier(name)

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
 * plan_default_privileges
 *		Tables and sequences that role creates later are reachable by the
 *		writer and reader groups.  Planned when the role or a group role is
 *		(re)created: dropping a group role drops it from default privileges.
 */
static void
plan_default_privileges(PlanContext *ctx, const RoleState *state, const char *role)
{
	const TenantModel *m = ctx->model;
	const TenantState *s = ctx->state;

	if (state->exists && s->writer.exists && s->reader.exists)
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
 *		planned again when a group role is (re)created.
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
	if (!s->schema_exists[i] || !s->writer.exists)
		PlanAddSql(ctx, "grant schema privileges", schema,
				   psprintf("GRANT %s ON SCHEMA %s TO %s",
							audit ? "USAGE" : "USAGE, CREATE", qi(schema),
							qi(m->writer_role)));
	if (!s->schema_exists[i] || !s->reader.exists)
		PlanAddSql(ctx, "grant schema privileges", schema,
				   psprintf("GRANT USAGE ON SCHEMA %s TO %s", qi(schema),
							qi(m->reader_role)));
}

/*
 * plan_audit_table
 *		<prefix>audit.pipeline_runs, the source document's run log, owned by
 *		the owner role.  Writers append and update runs but cannot delete
 *		them; readers read them.
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
	if (!s->audit_table_exists || !s->writer.exists)
		PlanAddSql(ctx, "grant table privileges", table,
				   psprintf("GRANT SELECT, INSERT, UPDATE ON %s TO %s", table,
							qi(m->writer_role)));
	if (!s->audit_table_exists || !s->reader.exists)
		PlanAddSql(ctx, "grant table privileges", table,
				   psprintf("GRANT SELECT ON %s TO %s", table, qi(m->reader_role)));
}

/*
 * plan_database_access
 *		A tenant's own database (another database or server) is open only
 *		to its groups: PostgreSQL grants CONNECT and TEMPORARY on a new
 *		database to PUBLIC, so every role of the server could connect (and
 *		see the tenant's schemas and catalogs) otherwise.  Planned again
 *		when a group role is (re)created; DROP OWNED removes the grant with
 *		the role.
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
	plan_role(ctx, &s->owner, m->owner_role, false, -1);
	plan_role(ctx, &s->writer, m->writer_role, false, -1);
	plan_role(ctx, &s->reader, m->reader_role, false, -1);
	for (int i = 0; i < TENANT_LOGIN_ROLE_COUNT; i++)
		plan_login_role(ctx, &s->logins[i], m->login_roles[i]);
	if (!m->local && (!s->writer.exists || !s->reader.exists))
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
				   psprintf("REASSIGN OWNED BY %s TO %s", qi(role), qi(m->owner_role)));
	PlanAddSql(ctx, "drop owned", role, psprintf("DROP OWNED BY %s", qi(role)));
	PlanAddSql(ctx, "drop role", role, psprintf("DROP ROLE %s", qi(role)));
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

	ctx->phase = PLAN_PHASE_DISABLE_LOGIN;
	for (int i = 0; i < TENANT_LOGIN_ROLE_COUNT; i++)
		if (s->logins[i].exists && s->logins[i].can_login)
			PlanAddSql(ctx, "disable login", m->login_roles[i],
					   psprintf("ALTER ROLE %s NOLOGIN", qi(m->login_roles[i])));

	ctx->phase = PLAN_PHASE_DROP_SCHEMAS;
	if (drop_data)
		for (int i = 0; i < TENANT_SCHEMA_COUNT; i++)
			if (s->schema_exists[i])
				PlanAddSql(ctx, "drop schema", m->schemas[i],
						   psprintf("DROP SCHEMA %s CASCADE", qi(m->schemas[i])));

	ctx->phase = PLAN_PHASE_DROP_ROLES;
	for (int i = 0; i < TENANT_LOGIN_ROLE_COUNT; i++)
		plan_drop_role(ctx, &s->logins[i], m->login_roles[i], !drop_data);
	plan_drop_role(ctx, &s->writer, m->writer_role, !drop_data);
	plan_drop_role(ctx, &s->reader, m->reader_role, !drop_data);
	if (drop_data)
		plan_drop_role(ctx, &s->owner, m->owner_role, false);
}

/*
 * PlanSqlPasswords
 *		The statement that sets the passwords of login roles on a warehouse
 *		server: a check that every role exists there, can log in and is not
 *		a superuser (42704 otherwise), then ALTER ROLE ... PASSWORD with
 *		each role's SCRAM verifier.  Built by the worker once it holds the
 *		passwords: a secret is never planned, so never in a plan or a step.
 */
char *
PlanSqlPasswords(int nroles, const char *const *roles,
				 const char *const *verifiers)
{
	StringInfoData sql;
	StringInfoData names;

	initStringInfo(&names);
	for (int i = 0; i < nroles; i++)
		appendStringInfo(&names, "%s%s", i > 0 ? ", " : "",
						 quote_literal_cstr(roles[i]));
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "DO $tenancy$ BEGIN "
					 "IF (SELECT count(*) FROM pg_catalog.pg_roles WHERE rolname IN (%s) "
					 "AND rolcanlogin AND NOT rolsuper) <> %d THEN "
					 "RAISE EXCEPTION USING ERRCODE = '42704', MESSAGE = "
					 "'a tenant login role to get a password is missing, cannot log in or is a superuser'; "
					 "END IF; END $tenancy$",
					 names.data, nroles);

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
