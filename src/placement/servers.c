/*-------------------------------------------------------------------------
 *
 * servers.c
 *	  The registry of warehouse servers: tenancy.register_server and
 *	  tenancy.drop_server with the checks of a connection string, the
 *	  worker's lookup of a server, and placement (see servers.h for the
 *	  rule).
 *
 * A registered conninfo never holds a password or any other secret (every
 * keyword libpq marks as one, dispchar '*': password, sslpassword, ...):
 * tenancy tables must not hold secrets, and tenancy.server_load shows
 * conninfos masked all the same (tenancy.conninfo_masked).  The worker authenticates with a password file
 * (tenancy.remote_passfile, or passfile= in the conninfo), a service file
 * (service=) or client certificates (sslcert=, sslkey=).
 *
 * Registering and dropping are superuser-only: a conninfo decides which of
 * the server's files the worker reads (passfile, service, sslkey, sslcert)
 * and to which address the passwords of the password file are sent, and
 * connection errors reach tenancy_admin through the steps.  A conninfo that
 * gives both host and hostaddr must verify the server's certificate: libpq
 * picks the password file entry by host but connects to hostaddr.
 *
 * Databases: a tenant is placed only in a database the worker created
 * (tenancy.databases records it with its OID) or one a superuser listed in
 * the server's existing_databases; see ServerCheckNewDatabase.
 *
 * Placement (and drop_server) serialize on the row 'placement' of
 * tenancy.locks, a table nobody else may lock: an advisory lock could be
 * taken by any role to block every provision.
 *
 *-------------------------------------------------------------------------
 */
#include "worker_xact.h"
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"

#include "servers.h"
#include "spec.h"
#include "tenancy.h"

PG_FUNCTION_INFO_V1(tenancy_register_server);
PG_FUNCTION_INFO_V1(tenancy_drop_server);
PG_FUNCTION_INFO_V1(tenancy_conninfo_masked);

/* What tenancy.conninfo_masked shows instead of a secret */
#define SECRET_MASK "********"

/* Longest name and conninfo of a registered server */
#define SERVER_NAME_MAX 63
#define SERVER_CONNINFO_MAX 2048
#define SERVER_MAX_CONNECTIONS 64

/*
 * check_server_name
 *		A server name is a DNS-1123 label (it may appear where a host name
 *		does, in warehouse.database.host); 22023 otherwise.
 */
static void
check_server_name(const char *name)
{
	if (!SpecIsName(name, SERVER_NAME_MAX))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid warehouse server name \"%s\"", name),
				 errdetail("A server name is 1 to %d characters: lower-case letters, digits and hyphens, starting with a letter and not ending with a hyphen.",
						   SERVER_NAME_MAX),
				 errhint("The name is only a label: a spec whose warehouse.database.host is a host name with dots (warehouse-db.internal) finds the server whose connection string has that host and port, e.g. tenancy.register_server('warehouse-db', 'host=warehouse-db.internal port=5432 dbname=postgres').")));
}

/*
 * keyword_is_secret
 *		Whether libpq marks a conninfo keyword as secret-bearing (dispchar
 *		'*': password, sslpassword, and whatever a later libpq adds).
 *		PQconninfoParse fills dispchar too, but asking libpq's own defaults
 *		does not depend on that.
 */
static bool
keyword_is_secret(const char *keyword)
{
	static PQconninfoOption *defaults = NULL;

	if (defaults == NULL)
	{
		defaults = PQconndefaults();
		if (defaults == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
	}
	for (PQconninfoOption *d = defaults; d->keyword; d++)
		if (strcmp(d->keyword, keyword) == 0)
			return d->dispchar && strchr(d->dispchar, '*') != NULL;
	/* a keyword this libpq does not know cannot be parsed anyway */
	return false;
}

/*
 * check_conninfo
 *		Parse a connection string with libpq and refuse what the registry
 *		must not hold: unknown keywords, a secret (22023).
 */
static void
check_conninfo(const char *conninfo)
{
	char	   *error = NULL;
	PQconninfoOption *options;
	const char *refused = NULL;
	bool		has_host = false;
	bool		has_hostaddr = false;
	bool		verifies_host = false;

	if (strlen(conninfo) > SERVER_CONNINFO_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("connection string of a warehouse server is too long"),
				 errdetail("It is %zu bytes long; the limit is %d.",
						   strlen(conninfo), SERVER_CONNINFO_MAX)));

	options = PQconninfoParse(conninfo, &error);
	if (options == NULL)
	{
		char	   *message = pstrdup(error ? error : "out of memory");
		size_t		len = strlen(message);

		while (len > 0 && message[len - 1] == '\n')
			message[--len] = '\0';
		if (error)
			PQfreemem(error);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid connection string for a warehouse server"),
				 errdetail_internal("%s", message),
				 errhint("Use libpq keywords (host, port, user, dbname, sslmode, passfile, service, ...); see the libpq documentation on connection strings.")));
	}
	for (PQconninfoOption *o = options; o->keyword; o++)
	{
		if (o->val == NULL)
			continue;
		if (keyword_is_secret(o->keyword) ||
			(o->dispchar && strchr(o->dispchar, '*') != NULL))
		{
			if (refused == NULL || strcmp(refused, "replication") == 0)
				refused = pstrdup(o->keyword);
		}
		else if (strcmp(o->keyword, "replication") == 0)
			refused = "replication";
		else if (strcmp(o->keyword, "host") == 0)
			has_host = o->val[0] != '\0';
		else if (strcmp(o->keyword, "hostaddr") == 0)
			has_hostaddr = o->val[0] != '\0';
		else if (strcmp(o->keyword, "sslmode") == 0)
			verifies_host = strcmp(o->val, "verify-full") == 0;
	}
	PQconninfoFree(options);

	if (refused && strcmp(refused, "password") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the connection string of a warehouse server must not hold a password"),
				 errdetail("tenancy tables never hold secrets, and the registry is readable by tenancy_admin."),
				 errhint("Give the password in a password file (tenancy.remote_passfile, or passfile= in the connection string), in a service file (service=), or use client certificates (sslcert=, sslkey=).")));
	if (refused && strcmp(refused, "replication") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the connection string of a warehouse server must not hold a secret"),
				 errdetail("libpq marks \"%s\" as secret-bearing; tenancy tables never hold secrets, and the registry is readable by tenancy_admin.",
						   refused),
				 errhint("Give it in a service file (service=), or use a client key that needs no passphrase, readable only by the server's operating system user.")));
	if (refused)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the connection string of a warehouse server must not set \"%s\"", refused),
				 errdetail("The worker runs SQL statements on warehouse servers, which a replication connection cannot.")));
	if (has_host && has_hostaddr && !verifies_host)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the connection string of a warehouse server gives both \"host\" and \"hostaddr\" without sslmode=verify-full"),
				 errdetail("libpq picks the password file entry by host but connects to hostaddr: without certificate verification, the password for host would be sent to whatever listens at hostaddr."),
				 errhint("Give only host, or add sslmode=verify-full (and sslrootcert) so that the server at hostaddr must prove it is host.")));
}

/*
 * check_superuser
 *		Refuse a caller who is not a superuser (42501).  The functions are
 *		SECURITY DEFINER, so the caller is the outer user, not the current
 *		one; the check holds even if EXECUTE is granted to someone.
 */
static void
check_superuser(const char *action)
{
	if (!superuser_arg(GetOuterUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s a warehouse server", action),
				 errdetail("Only superusers may change the registry: a connection string decides which of the server's files the worker reads and where it sends the passwords of its password file.")));
}

/*
 * ServerLockRow
 *		Lock the row key of tenancy.locks until the end of the transaction,
 *		creating it on first use.  Only tenancy's SECURITY DEFINER functions
 *		can: nobody else has a privilege on the table, so no role can hold
 *		the lock to block provisions (an advisory lock's keys are guessable
 *		and anyone may take one).  INSERT ... ON CONFLICT DO UPDATE locks
 *		the row whether it inserted or found it, and a second session
 *		inserting the same new key waits for the first.
 */
void
ServerLockRow(const char *key)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(key)};

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	(void) SpiExecuteKept(&plan, "INSERT INTO tenancy.locks AS l (lock_key) VALUES ($1) "
						  "ON CONFLICT (lock_key) DO UPDATE SET lock_key = excluded.lock_key",
						  1, types, values, NULL, SPI_OK_INSERT);
	SPI_finish();
}

/*
 * lock_placement
 *		Serialize placement (and drop_server) until the end of the
 *		transaction.
 */
static void
lock_placement(void)
{
	ServerLockRow("placement");
}

/*
 * tenancy_register_server
 *		SQL: tenancy.register_server(name, conninfo, max_connections,
 *		accepting_tenants): add a warehouse server, or change a registered
 *		one (the worker reconnects with the new conninfo).
 */
Datum
tenancy_register_server(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *conninfo;
	int32		max_connections;
	bool		accepting;
	ArrayType  *existing;
	Oid			types[5] = {TEXTOID, TEXTOID, INT4OID, BOOLOID, TEXTARRAYOID};
	Datum		values[5];
	Datum	   *names;
	bool	   *nulls;
	int			nnames;

	RequireArguments(fcinfo);
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	conninfo = text_to_cstring(PG_GETARG_TEXT_PP(1));
	max_connections = PG_GETARG_INT32(2);
	accepting = PG_GETARG_BOOL(3);
	existing = PG_GETARG_ARRAYTYPE_P(4);
	check_superuser("register");
	check_server_name(name);
	check_conninfo(conninfo);
	if (max_connections < 1 || max_connections > SERVER_MAX_CONNECTIONS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_connections of a warehouse server must be between 1 and %d",
						SERVER_MAX_CONNECTIONS),
				 errdetail("%d was given.", max_connections)));
	if (ARR_NDIM(existing) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("existing_databases must be a one-dimensional array of database names")));
	deconstruct_array(existing, TEXTOID, -1, false, TYPALIGN_INT, &names, &nulls,
					  &nnames);
	for (int i = 0; i < nnames; i++)
	{
		const char *problem = nulls[i] ? "is NULL" :
		SpecDatabaseProblem(TextDatumGetCString(names[i]), false);

		if (problem)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid database name in existing_databases"),
					 errdetail("Element %d %s.", i + 1, problem)));
	}

	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetTextDatum(conninfo);
	values[2] = Int32GetDatum(max_connections);
	values[3] = BoolGetDatum(accepting);
	values[4] = PointerGetDatum(existing);
	SPI_connect();
	if (SPI_execute_with_args("INSERT INTO tenancy.servers AS s "
							  "(name, conninfo, max_connections, accepting_tenants, "
							  "existing_databases) "
							  "VALUES ($1, $2, $3, $4, $5) "
							  "ON CONFLICT (name) DO UPDATE SET conninfo = $2, "
							  "max_connections = $3, accepting_tenants = $4, "
							  "existing_databases = $5, "
							  "updated_at = pg_catalog.now()",
							  5, types, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not register warehouse server \"%s\"", name);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * tenancy_drop_server
 *		SQL: tenancy.drop_server(name): remove a server from the registry;
 *		42704 when it is not registered, 2BP01 while tenants live on it.
 */
Datum
tenancy_drop_server(PG_FUNCTION_ARGS)
{
	char	   *name;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	bool		isnull;
	int64		tenants;

	RequireArguments(fcinfo);
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	values[0] = CStringGetTextDatum(name);
	check_superuser("drop");
	lock_placement();
	SPI_connect();
	if (SPI_execute_with_args("SELECT count(t.tenant_id) FROM tenancy.servers s "
							  "LEFT JOIN tenancy.tenants t ON t.server = s.name "
							  "AND t.state <> 'deprovisioned' "
							  "WHERE s.name = $1 GROUP BY s.name",
							  1, types, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read tenancy.servers");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("warehouse server \"%s\" does not exist", name)));
	tenants = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1, &isnull));
	if (tenants > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot drop warehouse server \"%s\" because tenants live on it", name),
				 errdetail_plural("%lld tenant is placed on the server.",
								  "%lld tenants are placed on the server.",
								  (unsigned long) tenants, (long long) tenants),
				 errhint("Deprovision them first; to stop placing new tenants there, register it again with accepting_tenants => false.")));
	if (SPI_execute_with_args("DELETE FROM tenancy.servers WHERE name = $1",
							  1, types, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not drop warehouse server \"%s\"", name);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * conninfo_value
 *		value as a single-quoted conninfo value: libpq reads a backslash as
 *		an escape there, so backslashes and quotes are escaped.
 */
static char *
conninfo_value(const char *value)
{
	StringInfoData quoted;

	initStringInfo(&quoted);
	appendStringInfoChar(&quoted, '\'');
	for (const char *c = value; *c; c++)
	{
		if (*c == '\'' || *c == '\\')
			appendStringInfoChar(&quoted, '\\');
		appendStringInfoChar(&quoted, *c);
	}
	appendStringInfoChar(&quoted, '\'');
	return quoted.data;
}

/*
 * tenancy_conninfo_masked
 *		SQL: tenancy.conninfo_masked(conninfo text) returns text: the
 *		conninfo as given when no keyword holds a secret, else rebuilt with
 *		each secret-bearing value replaced by ********.  A conninfo libpq
 *		cannot parse is shown as a whole mask: it could be anything.
 *		tenancy.server_load shows the registry through it, so that a row
 *		registered before secrets were refused is not readable by
 *		tenancy_admin.
 */
Datum
tenancy_conninfo_masked(PG_FUNCTION_ARGS)
{
	char	   *conninfo = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *error = NULL;
	PQconninfoOption *options = PQconninfoParse(conninfo, &error);
	bool		secret = false;
	StringInfoData masked;

	if (error)
		PQfreemem(error);
	if (options == NULL)
		PG_RETURN_TEXT_P(cstring_to_text(SECRET_MASK));
	for (PQconninfoOption *o = options; o->keyword; o++)
		if (o->val && keyword_is_secret(o->keyword))
			secret = true;
	if (!secret)
	{
		PQconninfoFree(options);
		PG_RETURN_TEXT_P(cstring_to_text(conninfo));
	}
	initStringInfo(&masked);
	for (PQconninfoOption *o = options; o->keyword; o++)
	{
		if (o->val == NULL)
			continue;
		appendStringInfo(&masked, "%s%s=%s", masked.len > 0 ? " " : "",
						 o->keyword,
						 keyword_is_secret(o->keyword) ? SECRET_MASK :
						 conninfo_value(o->val));
	}
	PQconninfoFree(options);
	PG_RETURN_TEXT_P(cstring_to_text(masked.data));
}

/*
 * ServerDatabaseRecord
 *		What tenancy.databases says of database on server ("": this
 *		server), in a transaction of its own (worker only): false when
 *		nothing is recorded; else *database_oid is the OID recorded, or
 *		InvalidOid when the worker recorded its intent to create it but not
 *		the result (it crashed in between).
 */
bool
ServerDatabaseRecord(const char *server, const char *database, Oid *database_oid)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(server), CStringGetTextDatum(database)};
	bool		found;

	WorkerXactBegin(NULL);
	if (SPI_execute_with_args("SELECT database_oid FROM tenancy.databases "
							  "WHERE server = $1 AND name = $2",
							  2, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read tenancy.databases");
	found = SPI_processed == 1;
	if (found)
	{
		bool		isnull;

		*database_oid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
													   SPI_tuptable->tupdesc, 1,
													   &isnull));
	}
	WorkerXactCommit();
	return found;
}

/*
 * ServerRecordDatabase
 *		Record that the worker creates (database_oid InvalidOid: is about
 *		to create) or created database on server, in a transaction of its
 *		own (worker only).
 */
void
ServerRecordDatabase(const char *server, const char *database, Oid database_oid)
{
	Oid			types[3] = {TEXTOID, TEXTOID, OIDOID};
	Datum		values[3] = {CStringGetTextDatum(server), CStringGetTextDatum(database),
	ObjectIdGetDatum(database_oid)};

	WorkerXactBegin(NULL);
	if (SPI_execute_with_args("INSERT INTO tenancy.databases (server, name, database_oid) "
							  "VALUES ($1, $2, $3) ON CONFLICT (server, name) DO UPDATE "
							  "SET database_oid = excluded.database_oid, "
							  "created_at = pg_catalog.now()",
							  3, types, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record database \"%s\" in tenancy.databases", database);
	WorkerXactCommit();
}

/*
 * check_new_database
 *		A tenant new on server database: when the server is this one, the
 *		planner sees pg_database, so a database that exists and that the
 *		worker did not create (tenancy.databases, same OID) is refused at
 *		once (55000) rather than by the worker's step after COMMIT.  On
 *		another server the worker's create database step makes the same
 *		check.  dry_run: tenancy.plan refuses the same way.
 */
static void
check_new_database(const TenantModel *m)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(m->remote_database)};
	bool		foreign;

	if (m->server == NULL || strcmp(m->server, SERVER_THIS_SERVER) != 0 ||
		m->existing_database)
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT 1 FROM pg_catalog.pg_database d "
							  "WHERE d.datname OPERATOR(pg_catalog.=) $1 "
							  "AND NOT EXISTS (SELECT FROM tenancy.databases r "
							  "WHERE r.server = '' AND r.name = $1 "
							  "AND r.database_oid OPERATOR(pg_catalog.=) d.oid)",
							  1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_database");
	foreign = SPI_processed > 0;
	SPI_finish();
	if (foreign)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("database \"%s\" was not created by tenancy", m->remote_database),
				 errdetail("Tenant \"%s\" would be placed in database \"%s\" of this server, which exists and is not one the worker created (tenancy.databases).  Its owner could run code as the worker there.",
						   m->name, m->remote_database),
				 errhint("Choose a warehouse.database.name that does not exist yet, or have a superuser register this server with tenancy.register_server(..., existing_databases => ARRAY['%s']) and place the tenant there with warehouse.database.host.",
						 m->remote_database)));
}

/*
 * ServerLookup
 *		The registry's entry of a server, in a transaction of its own; ""
 *		is this server over its Unix socket, as the bootstrap superuser.
 */
bool
ServerLookup(const char *server, ServerEntry *entry)
{
	MemoryContext caller = CurrentMemoryContext;
	bool		found = false;

	WorkerXactBegin(NULL);
	if (strcmp(server, SERVER_THIS_SERVER) == 0)
	{
		const char *sockets = GetConfigOption("unix_socket_directories", true, false);
		char	   *host = pstrdup(sockets && sockets[0] ? sockets : "localhost");
		char	   *comma = strchr(host, ',');
		char	   *user = GetUserNameFromId(BOOTSTRAP_SUPERUSERID, false);

		if (comma)
			*comma = '\0';
		MemoryContextSwitchTo(caller);
		entry->conninfo = psprintf("host=%s port=%d user=%s",
								   conninfo_value(host), PostPortNumber,
								   conninfo_value(user));
		entry->maintenance_db = pstrdup("postgres");
		entry->max_connections = 4;
		found = true;
	}
	else
	{
		Oid			types[1] = {TEXTOID};
		Datum		values[1] = {CStringGetTextDatum(server)};

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute_with_args("SELECT conninfo, max_connections FROM tenancy.servers "
								  "WHERE name = $1",
								  1, types, values, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read tenancy.servers");
		if (SPI_processed == 1)
		{
			bool		isnull;
			char	   *conninfo = SPI_getvalue(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 1);
			int			max = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
														  SPI_tuptable->tupdesc,
														  2, &isnull));
			PQconninfoOption *options = PQconninfoParse(conninfo, NULL);

			MemoryContextSwitchTo(caller);
			entry->conninfo = pstrdup(conninfo);
			entry->max_connections = max;
			entry->maintenance_db = pstrdup("postgres");
			for (PQconninfoOption *o = options; o && o->keyword; o++)
				if (strcmp(o->keyword, "dbname") == 0 && o->val && o->val[0])
					entry->maintenance_db = pstrdup(o->val);
			if (options)
				PQconninfoFree(options);
			found = true;
		}
		SPI_finish();
	}
	WorkerXactCommit();
	MemoryContextSwitchTo(caller);
	return found;
}

/*
 * ServerOfTenant
 *		The server a tenant placed elsewhere lives on (tenancy.tenants.server,
 *		"" for another database of this server), in a transaction of its
 *		own; false when the catalog has no such tenant.
 */
bool
ServerOfTenant(const char *tenant, char **server)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	bool		found;

	WorkerXactBegin(NULL);
	values[0] = CStringGetTextDatum(tenant);
	if (SPI_execute_with_args("SELECT coalesce(server, '') FROM tenancy.tenants "
							  "WHERE name = $1",
							  1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read tenancy.tenants");
	found = SPI_processed == 1;
	if (found)
	{
		char	   *value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		*server = MemoryContextStrdup(caller, value);
	}
	WorkerXactCommit();
	MemoryContextSwitchTo(caller);
	return found;
}

/*
 * conninfo_host_port
 *		Host and port of a conninfo (port 5432 when absent), or false.
 */
static bool
conninfo_host_port(const char *conninfo, char **host, int *port)
{
	PQconninfoOption *options = PQconninfoParse(conninfo, NULL);

	*host = NULL;
	*port = 5432;
	if (options == NULL)
		return false;
	for (PQconninfoOption *o = options; o->keyword; o++)
	{
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (strcmp(o->keyword, "host") == 0 || (strcmp(o->keyword, "hostaddr") == 0 &&
												*host == NULL))
			*host = pstrdup(o->val);
		else if (strcmp(o->keyword, "port") == 0)
			*port = atoi(o->val);
	}
	PQconninfoFree(options);
	return *host != NULL;
}

/*
 * server_for_host
 *		The registered server that warehouse.database.host (and port)
 *		names: by its name, else by its conninfo's host and port.  NULL if
 *		none.  The caller is connected to SPI.
 */
static char *
server_for_host(const char *host, int port)
{
	char	   *found = NULL;

	if (SPI_execute("SELECT name, conninfo FROM tenancy.servers ORDER BY name",
					false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read tenancy.servers");
	for (uint64 i = 0; i < SPI_processed && found == NULL; i++)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *conninfo = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		char	   *chost;
		int			cport;

		if (strcmp(name, host) == 0 ||
			(conninfo_host_port(conninfo, &chost, &cport) &&
			 strcmp(chost, host) == 0 && cport == port))
			found = name;
	}
	return found;
}

/*
 * least_loaded_server
 *		The accepting server with the fewest tenants (not counting
 *		deprovisioned ones), ties broken by name; NULL if none accepts.
 *		The caller is connected to SPI and holds the placement lock.
 *
 * Not read-only: the query must take a snapshot of its own, after the lock
 * was granted, so that it counts the tenants that the provisions before
 * this one committed (and those this transaction placed already).  Its plan
 * is kept: every provision without a host runs it.
 */
static char *
least_loaded_server(void)
{
	static SPIPlanPtr plan = NULL;

	(void) SpiExecuteKept(&plan, "SELECT s.name FROM tenancy.servers s "
						  "WHERE s.accepting_tenants "
						  "ORDER BY (SELECT count(*) FROM tenancy.tenants t "
						  "WHERE t.server = s.name AND t.state <> 'deprovisioned'), s.name "
						  "LIMIT 1", 0, NULL, NULL, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * server_allows_database
 *		Whether a superuser listed database in the existing_databases of
 *		registered server: tenancy then uses it as it is (no CREATE
 *		DATABASE, no database-level grants).
 */
static bool
server_allows_database(const char *server, const char *database)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	bool		allowed;

	if (server[0] == '\0')
		return false;
	values[0] = CStringGetTextDatum(server);
	values[1] = CStringGetTextDatum(database);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT 1 FROM tenancy.servers "
							  "WHERE name = $1 AND $2 = ANY (existing_databases)",
							  2, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read tenancy.servers");
	allowed = SPI_processed > 0;
	SPI_finish();
	return allowed;
}

/*
 * place_on
 *		Make the model remote, on server (its database: the spec's, else one
 *		named like the platform database).
 */
static void
place_on(TenantModel *m, const char *server)
{
	if (m->local)
	{
		m->local = false;
		m->remote_host = pstrdup("");
		m->remote_port = 5432;
		m->remote_database = get_database_name(MyDatabaseId);
		if (SpecDatabaseProblem(m->remote_database, false))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("tenant \"%s\" needs a database name to be placed on warehouse server \"%s\"",
							m->name, server),
					 errdetail("A tenant placed without warehouse.database.name gets a database named like the platform database, and \"%s\" %s.",
							   m->remote_database,
							   SpecDatabaseProblem(m->remote_database, false)),
					 errhint("Set warehouse.database.name in the spec.")));
	}
	m->server = pstrdup(server);
	m->existing_database = server_allows_database(server, m->remote_database);
}

/*
 * ServerPlaceTenant
 *		Decide where a tenant's warehouse lives; see servers.h.
 */
void
ServerPlaceTenant(TenantModel *m, const char *stored_server, bool row_found,
				  bool dry_run)
{
	MemoryContext caller = CurrentMemoryContext;
	bool		named_host = !m->local && m->remote_host[0] != '\0';
	char	   *chosen = NULL;

	/* an existing tenant stays where it is */
	if (row_found && stored_server != NULL)
	{
		place_on(m, stored_server);
		return;
	}
	if (row_found && !named_host)
	{
		if (!m->local)
			m->server = pstrdup(SERVER_THIS_SERVER);
		return;
	}

	if (!dry_run)
		lock_placement();
	SPI_connect();
	if (named_host)
		chosen = server_for_host(m->remote_host, m->remote_port);
	else
		chosen = least_loaded_server();
	if (chosen)
	{
		MemoryContext spi = MemoryContextSwitchTo(caller);

		chosen = pstrdup(chosen);
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();

	if (chosen)
		place_on(m, chosen);
	else if (!named_host)
	{
		/* nothing registered: here, or another database of this server */
		if (!m->local)
		{
			m->server = pstrdup(SERVER_THIS_SERVER);
			if (!row_found)
				check_new_database(m);
		}
	}
	else if (!dry_run)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("warehouse server \"%s\" is not registered", m->remote_host),
				 errdetail("The spec's warehouse.database.host names %s:%d, and no registered server has that name or that host and port.",
						   m->remote_host, m->remote_port),
				 errhint("Register it under any name with that host and port in its connection string, e.g. tenancy.register_server('wh-1', 'host=%s port=%d dbname=postgres') as a superuser, or leave warehouse.database.host empty to let provision place the tenant.",
						 m->remote_host, m->remote_port)));
}
