/*-------------------------------------------------------------------------
 *
 * credentials.c
 *	  SQL entry points tenancy.set_password and tenancy.connection_info:
 *	  how a DBA without Vault gets a tenant's login credentials, and where
 *	  a tenant connects.
 *
 * With Vault configured the worker generates the login roles' passwords,
 * writes them to Vault and sets them (tenancy.rotate_credentials renews
 * them).  Without Vault nobody sets a password: the login roles exist but
 * nobody can log in as them.  set_password generates a password, sets it as
 * a SCRAM verifier (statement logging and auditing off meanwhile) and
 * returns it once: it is stored nowhere else.  It acts only on the login
 * roles of a live tenant of this database, and only on the role tenancy
 * created (tenancy.created_objects, by name and OID) while it still has
 * the attributes and memberships tenancy gave it (RoleSetPasswordHere), so
 * that it cannot hand out a way into any other role.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "plan.h"
#include "platform.h"
#include "servers.h"
#include "tenancy.h"

PG_FUNCTION_INFO_V1(tenancy_set_password);
PG_FUNCTION_INFO_V1(tenancy_connection_info);

/* Random bytes of a generated password: 192 bits, 32 base64url characters */
#define PASSWORD_RANDOM_BYTES 24

/* Purposes of the login roles, in the order of TenantModel.login_roles */
static const char *const login_purposes[TENANT_LOGIN_ROLE_COUNT] = {"etl", "airflow"};

/* A live tenant, read from tenancy.tenants */
typedef struct TenantEntry
{
	char	   *state;
	TenantModel *model;
} TenantEntry;

/*
 * read_tenant_entry
 *		The tenant of that name (state and placed model), copied into the
 *		caller's memory; false if there is none.
 */
static bool
read_tenant_entry(const char *name, TenantEntry *entry)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	bool		found = false;

	SPI_connect();
	if (SPI_execute_with_args("SELECT state, spec, server FROM tenancy.tenants WHERE name = $1",
							  1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read tenancy.tenants");
	if (SPI_processed == 1)
	{
		bool		isnull;
		HeapTuple	tuple = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *state = SPI_getvalue(tuple, desc, 1);
		Jsonb	   *spec = DatumGetJsonbP(SPI_getbinval(tuple, desc, 2, &isnull));
		char	   *server = SPI_getvalue(tuple, desc, 3);
		MemoryContext spi = MemoryContextSwitchTo(caller);

		entry->state = pstrdup(state);
		entry->model = TenantModelFromSpec(name, spec);
		ServerPlaceTenant(entry->model, server ? pstrdup(server) : NULL, true, true);
		MemoryContextSwitchTo(spi);
		found = true;
	}
	SPI_finish();
	return found;
}

/*
 * tenant_of_login_role
 *		The name of the live tenant one of whose login roles is role, or
 *		NULL.  Login roles are etl_<slug> and airflow_<slug>: the slug
 *		names the candidates, and the tenant's own model must derive the
 *		same role name.
 */
static char *
tenant_of_login_role(const char *role)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(role)};
	char	   *found = NULL;

	SPI_connect();
	if (SPI_execute_with_args("SELECT name, spec FROM tenancy.tenants "
							  "WHERE state NOT IN ('deprovisioning', 'deprovisioned') "
							  "AND $1 IN ('etl_' || slug, 'airflow_' || slug)",
							  1, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read tenancy.tenants");
	for (uint64 i = 0; i < SPI_processed && found == NULL; i++)
	{
		bool		isnull;
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		Jsonb	   *spec = DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[i],
														SPI_tuptable->tupdesc, 2, &isnull));
		TenantModel *m = TenantModelFromSpec(name, spec);

		for (int r = 0; r < TENANT_LOGIN_ROLE_COUNT; r++)
			if (strcmp(m->login_roles[r], role) == 0)
				found = MemoryContextStrdup(caller, name);
	}
	SPI_finish();
	return found;
}

/*
 * generate_password
 *		A password of PASSWORD_RANDOM_BYTES strong random bytes in base64url
 *		without padding (no character that needs quoting in a connection
 *		string or a URI).  Encoded here: the server's base64 API differs
 *		between major versions.
 */
static char *
generate_password(void)
{
	static const char alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint8		raw[PASSWORD_RANDOM_BYTES];
	char	   *out = palloc0(PASSWORD_RANDOM_BYTES / 3 * 4 + 1);
	char	   *p = out;

	StaticAssertStmt(PASSWORD_RANDOM_BYTES % 3 == 0,
					 "whole base64 groups, no padding");
	if (!pg_strong_random(raw, sizeof(raw)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random bytes for a password")));
	for (int i = 0; i < PASSWORD_RANDOM_BYTES; i += 3)
	{
		uint32		group = (raw[i] << 16) | (raw[i + 1] << 8) | raw[i + 2];

		*p++ = alphabet[(group >> 18) & 63];
		*p++ = alphabet[(group >> 12) & 63];
		*p++ = alphabet[(group >> 6) & 63];
		*p++ = alphabet[group & 63];
	}
	explicit_bzero(raw, sizeof(raw));
	return out;
}

/*
 * record_password_set
 *		Keep on the tenant when set_password last set this login role's
 *		password (tenancy.tenants.passwords_set_at): the audit's
 *		credential_age check reads it, as it reads credentials_set_at for
 *		the passwords the worker sets.
 */
static void
record_password_set(const char *tenant, const char *role)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(tenant), CStringGetTextDatum(role)};

	SPI_connect();
	if (SPI_execute_with_args("UPDATE tenancy.tenants t "
							  "SET passwords_set_at = t.passwords_set_at "
							  "OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object($2, pg_catalog.now()) "
							  "WHERE t.name OPERATOR(pg_catalog.=) $1",
							  2, types, values, NULL, false, 0) != SPI_OK_UPDATE ||
		SPI_processed != 1)
		elog(ERROR, "could not record the password of role \"%s\" on tenant \"%s\"", role, tenant);
	SPI_finish();
}

/*
 * tenancy_set_password
 *		SQL: tenancy.set_password(role text) returns text: set a generated
 *		password on a tenant's login role and return it.  It is stored
 *		nowhere: calling it again replaces it.  For installations without
 *		Vault; tenants of this database only.
 */
Datum
tenancy_set_password(PG_FUNCTION_ARGS)
{
	char	   *role;
	char	   *tenant;
	TenantEntry entry;
	char	   *password;
	text	   *result;

	RequireArguments(fcinfo);
	role = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (tenancy_vault_url != NULL && tenancy_vault_url[0] != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tenant passwords are managed through Vault here"),
				 errdetail("tenancy.vault_url is set: the worker generates the login roles' passwords and keeps them in Vault, which a password set here would contradict."),
				 errhint("Use tenancy.rotate_credentials(tenant) for a new password, and read it from Vault.")));

	if (!tenancy_allow_set_password)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tenancy.set_password is turned off"),
				 errdetail("It lets whoever may call it (tenancy_admin) log in as any login role of a tenant of this database; tenancy.allow_set_password is off."),
				 errhint("A superuser turns it on: tenancy.allow_set_password = on in postgresql.conf, or ALTER ROLE <administrator> SET tenancy.allow_set_password = on for one administrator. Or configure Vault (tenancy.vault_url).")));

	tenant = tenant_of_login_role(role);
	if (tenant == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" is not a login role of a tenant", role),
				 errdetail("tenancy.set_password sets passwords only on the login roles (etl_<slug>, airflow_<slug>) of tenants that are not deprovisioned."),
				 errhint("tenancy.connection_info(tenant) lists a tenant's login roles.")));
	if (!read_tenant_entry(tenant, &entry))
		elog(ERROR, "tenant \"%s\" disappeared", tenant);
	if (!entry.model->local)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("tenant \"%s\" lives in database \"%s\" on %s",
						tenant, entry.model->remote_database,
						entry.model->server && entry.model->server[0] ?
						psprintf("warehouse server \"%s\"", entry.model->server) :
						"this server"),
				 errdetail("tenancy.set_password sets passwords of tenants in this database only."),
				 errhint("Configure Vault (tenancy.vault_url) so that the worker sets them there, or set it on that server as its superuser.")));

	password = generate_password();
	RoleSetPasswordHere(role, password);
	result = cstring_to_text(password);
	explicit_bzero(password, strlen(password));
	record_password_set(tenant, role);

	/*
	 * Whoever calls it can log in as the tenant: the server log says who did
	 * (never the password).  session_user: the login that is accountable,
	 * whatever role it has SET.
	 */
	ereport(LOG,
			(errmsg("tenancy.set_password: password of login role \"%s\" of tenant \"%s\" set by \"%s\"",
					role, tenant, GetUserNameFromId(GetSessionUserId(), false)),
			 errhidestmt(true)));
	PG_RETURN_TEXT_P(result);
}

/*
 * conninfo_host_port
 *		Host and port of a registered server's connection string.
 */
static void
conninfo_host_port(const char *conninfo, char **host, int *port)
{
	PQconninfoOption *options = PQconninfoParse(conninfo, NULL);

	*host = NULL;
	*port = 5432;
	if (options == NULL)
		return;
	for (PQconninfoOption *o = options; o->keyword; o++)
	{
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (strcmp(o->keyword, "host") == 0)
			*host = pstrdup(o->val);
		else if (strcmp(o->keyword, "hostaddr") == 0 && *host == NULL)
			*host = pstrdup(o->val);
		else if (strcmp(o->keyword, "port") == 0)
			*port = atoi(o->val);
	}
	PQconninfoFree(options);
}

/*
 * this_server_host
 *		How a client reaches this server: the address the caller's session
 *		came in on, else (a Unix-socket session) the first socket directory.
 */
static char *
this_server_host(void)
{
	char	   *host = NULL;

	SPI_connect();
	if (SPI_execute("SELECT pg_catalog.host(pg_catalog.inet_server_addr())",
					true, 1) == SPI_OK_SELECT && SPI_processed == 1)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (v != NULL)
			host = MemoryContextStrdup(TopTransactionContext, v);
	}
	SPI_finish();
	if (host == NULL)
	{
		const char *dirs = GetConfigOption("unix_socket_directories", false, false);
		char	   *copy = pstrdup(dirs ? dirs : "");
		char	   *comma = strchr(copy, ',');

		if (comma)
			*comma = '\0';
		host = pstrdup(copy);
	}
	return host;
}

/*
 * tenancy_connection_info
 *		SQL: tenancy.connection_info(tenant text) returns table(role,
 *		purpose, host, port, database, password_source): where each login
 *		role of the tenant connects; never a secret.
 */
Datum
tenancy_connection_info(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *tenant = text_to_cstring(PG_GETARG_TEXT_PP(0));
	TenantEntry entry;
	TenantModel *m;
	char	   *host;
	int			port;
	char	   *database;
	bool		vault = tenancy_vault_url != NULL && tenancy_vault_url[0] != '\0';

	TenantCheckName(tenant);
	InitMaterializedSRF(fcinfo, 0);
	if (!read_tenant_entry(tenant, &entry))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("tenant \"%s\" does not exist", tenant)));
	if (strcmp(entry.state, "deprovisioned") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tenant \"%s\" is deprovisioned", tenant),
				 errdetail("Its login roles were removed.")));
	m = entry.model;

	if (m->local || m->server == NULL || m->server[0] == '\0')
	{
		host = this_server_host();
		port = PostPortNumber;
		database = m->local ? get_database_name(MyDatabaseId) : m->remote_database;
	}
	else
	{
		ServerEntry server;
		bool		found;

		SPI_connect();
		{
			Oid			types[1] = {TEXTOID};
			Datum		values[1] = {CStringGetTextDatum(m->server)};

			if (SPI_execute_with_args("SELECT conninfo FROM tenancy.servers WHERE name = $1",
									  1, types, values, NULL, true, 1) != SPI_OK_SELECT)
				elog(ERROR, "could not read tenancy.servers");
			found = SPI_processed == 1;
			server.conninfo = found ?
				MemoryContextStrdup(TopTransactionContext,
									SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)) :
				NULL;
		}
		SPI_finish();
		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("warehouse server \"%s\" of tenant \"%s\" is not registered",
							m->server, tenant)));
		conninfo_host_port(server.conninfo, &host, &port);
		database = m->remote_database;
	}

	for (int r = 0; r < TENANT_LOGIN_ROLE_COUNT; r++)
	{
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};

		values[0] = CStringGetTextDatum(m->login_roles[r]);
		values[1] = CStringGetTextDatum(login_purposes[r]);
		values[2] = CStringGetTextDatum(host ? host : "");
		nulls[2] = host == NULL;
		values[3] = Int32GetDatum(port);
		values[4] = CStringGetTextDatum(database);
		values[5] = CStringGetTextDatum(vault ?
										psprintf("Vault, %s/data/tenants/%s/database",
												 tenancy_vault_kv_mount, tenant) :
										psprintf("tenancy.set_password('%s')",
												 m->login_roles[r]));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_VOID();
}
