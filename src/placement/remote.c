/*-------------------------------------------------------------------------
 *
 * remote.c
 *	  Run a tenant's planned SQL on a warehouse server through libpq, from
 *	  the worker: a cache of connections (one per server and database, at
 *	  most tenancy.servers.max_connections per server), interruptible
 *	  connects and queries, idempotent steps, and the classification of
 *	  errors into RETRY and FAILED (see remote.h).
 *
 * Connections are opened with PQconnectStartParams and driven with
 * PQconnectPoll, queries sent with PQsendQueryParams, and both wait on
 * WaitLatchOrSocket, so that a SIGTERM or a postmaster death ends the wait
 * (postgres_fdw's connection.c does the same).  A connect or query that
 * takes longer than tenancy.connect_timeout or tenancy.request_timeout is
 * abandoned (the query is cancelled first) and the step retried.
 *
 * Trust: the worker connects as a superuser or a role with CREATEROLE, into
 * databases whose owners may be less trusted.  Every session pins
 * search_path to pg_catalog (libpq options, which outrank ALTER DATABASE
 * and ALTER ROLE settings) and every statement tenancy writes qualifies
 * its operators and functions as well.  The step journal
 * tenancy_remote.applied_steps is used only when its schema and table are
 * owned by the connecting role and carry no trigger, rule or policy (a
 * database owner could otherwise plant a trigger that runs as the worker);
 * a session whose current role is not its session role (ALTER DATABASE
 * ... SET role) is refused.  A database that exists is used for a new
 * tenant only when tenancy.databases records that the worker created it
 * (same OID); see handle_create_database.
 *
 * A server that could not be reached is remembered as down for a while
 * (doubling up to tenancy.retry_max_delay), so that the steps of a stopped
 * server come back as RETRY at once instead of each waiting for a connect
 * timeout; the journal gives each step its own backoff as well.
 *
 * libpq allocates with malloc: every PGresult is cleared and every PGconn
 * finished on all paths, errors included (PG_TRY/PG_FINALLY).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "platform.h"
#include "remote.h"
#include "servers.h"
#include "tenancy.h"

/* Connections cached at most, over all servers */
#define REMOTE_CACHE_SIZE 64
/* Servers whose health is remembered */
#define REMOTE_HEALTH_SIZE 64
/* Longest error text kept in an outcome */
#define REMOTE_MAX_MESSAGE 300

/*
 * The schema on each warehouse database that records done steps, and the
 * roles and schemas tenancy created there with their OIDs (the ledger that
 * proves them the tenant's: see plan_ledger.c)
 */
#define REMOTE_JOURNAL_SETUP \
	"CREATE SCHEMA IF NOT EXISTS tenancy_remote; " \
	"REVOKE ALL ON SCHEMA tenancy_remote FROM PUBLIC; " \
	"CREATE TABLE IF NOT EXISTS tenancy_remote.applied_steps (" \
	"step_key text PRIMARY KEY, " \
	"applied_at timestamptz NOT NULL DEFAULT pg_catalog.now()); " \
	"CREATE TABLE IF NOT EXISTS tenancy_remote.created_objects (" \
	"kind text NOT NULL, name name NOT NULL, object_oid oid NOT NULL, " \
	"tenant text NOT NULL, " \
	"created_at timestamptz NOT NULL DEFAULT pg_catalog.now(), " \
	"PRIMARY KEY (kind, name))"

/*
 * A database whose step journal predates the ledger (tenancy 0.1.0 placed
 * tenants there): true when the journal exists and the ledger does not.
 */
#define REMOTE_LEDGER_MISSING \
	"SELECT pg_catalog.to_regclass('tenancy_remote.applied_steps') IS NOT NULL " \
	"AND pg_catalog.to_regclass('tenancy_remote.created_objects') IS NULL"

/*
 * The one-time record of such a database's existing tenant roles and
 * schemas (by the names tenancy derives, not superusers; schemas owned by
 * a tenant owner role), as the upgrade to 0.2.0 records a local tenant's
 * (sql/tenancy--0.1.0--0.2.0.sql): 0.1.0 created them without recording
 * their OIDs, and refused a role or schema that existed at provision.  From
 * then on only what the worker creates is recorded.
 */
#define REMOTE_LEDGER_SEED \
	"; INSERT INTO tenancy_remote.created_objects (kind, name, object_oid, tenant) " \
	"SELECT 'role', r.rolname, r.oid, '(0.1.0)' FROM pg_catalog.pg_roles r " \
	"WHERE r.rolname OPERATOR(pg_catalog.~) " \
	"'^(tenant_[a-z0-9_]+_(owner|writer|reader)|(etl|airflow|backup)_[a-z0-9_]+)$' " \
	"AND NOT r.rolsuper " \
	"UNION ALL SELECT 'schema', n.nspname, n.oid, '(0.1.0)' FROM pg_catalog.pg_namespace n " \
	"JOIN pg_catalog.pg_roles o ON o.oid OPERATOR(pg_catalog.=) n.nspowner " \
	"WHERE o.rolname OPERATOR(pg_catalog.~) '^tenant_[a-z0-9_]+_owner$' AND NOT o.rolsuper " \
	"ON CONFLICT DO NOTHING"

/*
 * Why the journal cannot be trusted, or NULL: run before REMOTE_JOURNAL_SETUP
 * and again after it.  The schema, if it exists, must be owned by the
 * connecting role and hold nothing but the two tables and their indexes (and
 * no function, type or operator); each table must be a plain table of that
 * role with no trigger, rule, policy, row-level security or child.
 */
#define REMOTE_JOURNAL_CHECK \
	"WITH me AS (SELECT r.oid FROM pg_catalog.pg_roles r " \
	"WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER), " \
	"nsp AS (SELECT n.oid, n.nspowner FROM pg_catalog.pg_namespace n " \
	"WHERE n.nspname OPERATOR(pg_catalog.=) 'tenancy_remote'), " \
	"tbl AS (SELECT c.* FROM pg_catalog.pg_class c, nsp " \
	"WHERE c.relnamespace OPERATOR(pg_catalog.=) nsp.oid " \
	"AND c.relname OPERATOR(pg_catalog.=) ANY (ARRAY['applied_steps', 'created_objects']::pg_catalog.name[])), " \
	"bad AS (SELECT tbl.relname, tbl.relowner FROM tbl " \
	"WHERE tbl.relowner OPERATOR(pg_catalog.<>) (SELECT me.oid FROM me) " \
	"OR tbl.relkind OPERATOR(pg_catalog.<>) 'r' OR tbl.relrowsecurity OR tbl.relhassubclass " \
	"OR tbl.relhasrules " \
	"OR EXISTS (SELECT FROM pg_catalog.pg_trigger g WHERE g.tgrelid OPERATOR(pg_catalog.=) tbl.oid) " \
	"OR EXISTS (SELECT FROM pg_catalog.pg_rewrite w WHERE w.ev_class OPERATOR(pg_catalog.=) tbl.oid) " \
	"OR EXISTS (SELECT FROM pg_catalog.pg_policy y WHERE y.polrelid OPERATOR(pg_catalog.=) tbl.oid) " \
	"ORDER BY tbl.relname LIMIT 1) " \
	"SELECT CASE " \
	"WHEN CURRENT_USER OPERATOR(pg_catalog.<>) SESSION_USER THEN " \
	"pg_catalog.format('the session runs as role %I instead of %I (a setting of role on the database or role)', " \
	"CURRENT_USER, SESSION_USER) " \
	"WHEN NOT EXISTS (SELECT FROM nsp) THEN NULL " \
	"WHEN (SELECT nsp.nspowner FROM nsp) OPERATOR(pg_catalog.<>) (SELECT me.oid FROM me) THEN " \
	"pg_catalog.format('schema tenancy_remote is owned by role %I, not by the worker''s role %I', " \
	"pg_catalog.pg_get_userbyid((SELECT nsp.nspowner FROM nsp)), CURRENT_USER) " \
	"WHEN EXISTS (SELECT FROM pg_catalog.pg_class c, nsp WHERE c.relnamespace OPERATOR(pg_catalog.=) nsp.oid " \
	"AND c.relname OPERATOR(pg_catalog.<>) ALL (ARRAY['applied_steps', 'applied_steps_pkey', " \
	"'created_objects', 'created_objects_pkey']::pg_catalog.name[])) " \
	"OR EXISTS (SELECT FROM pg_catalog.pg_proc p, nsp WHERE p.pronamespace OPERATOR(pg_catalog.=) nsp.oid) " \
	"OR EXISTS (SELECT FROM pg_catalog.pg_operator o, nsp WHERE o.oprnamespace OPERATOR(pg_catalog.=) nsp.oid) " \
	"OR EXISTS (SELECT FROM pg_catalog.pg_type t, nsp WHERE t.typnamespace OPERATOR(pg_catalog.=) nsp.oid " \
	"AND t.typrelid OPERATOR(pg_catalog.=) 0::pg_catalog.oid AND NOT EXISTS (SELECT FROM pg_catalog.pg_type e " \
	"WHERE e.oid OPERATOR(pg_catalog.=) t.typelem AND e.typrelid OPERATOR(pg_catalog.<>) 0::pg_catalog.oid)) THEN " \
	"'schema tenancy_remote holds objects tenancy did not create' " \
	"WHEN EXISTS (SELECT FROM bad) THEN " \
	"(SELECT pg_catalog.format('table tenancy_remote.%I (owner %I) is not the plain table tenancy creates: " \
	"another owner, a trigger, a rule, a policy, row-level security or a child table', " \
	"bad.relname, pg_catalog.pg_get_userbyid(bad.relowner)) FROM bad) " \
	"END"

/* A database's OID, and whether the connecting role owns it */
#define REMOTE_DATABASE_LOOKUP \
	"SELECT d.oid, d.datdba OPERATOR(pg_catalog.=) (SELECT r.oid FROM pg_catalog.pg_roles r " \
	"WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER) " \
	"FROM pg_catalog.pg_database d WHERE d.datname OPERATOR(pg_catalog.=) $1"

/* The search_path every session of the worker pins (libpq options) */
#define REMOTE_PINNED_OPTIONS "-c search_path=pg_catalog"

typedef struct RemoteConnection
{
	bool		in_use;
	char		server[NAMEDATALEN];
	char		database[NAMEDATALEN];
	char	   *conninfo;		/* malloc'd: the registry's conninfo it used */
	PGconn	   *conn;
	TimestampTz last_used;
	bool		journal_ready;	/* tenancy_remote.applied_steps exists */
} RemoteConnection;

typedef struct ServerHealth
{
	bool		in_use;
	char		server[NAMEDATALEN];
	int			failures;		/* consecutive connection failures */
	TimestampTz down_until;
	char		last_error[REMOTE_MAX_MESSAGE];
} ServerHealth;

/* Registry entries are read again after this long */
#define REMOTE_REGISTRY_TTL_MS 1000

typedef struct CachedServer
{
	bool		in_use;
	char		server[NAMEDATALEN];
	ServerEntry entry;			/* strings in TopMemoryContext */
	TimestampTz read_at;
} CachedServer;

static CachedServer registry[REMOTE_HEALTH_SIZE];
static RemoteConnection cache[REMOTE_CACHE_SIZE];
static ServerHealth health[REMOTE_HEALTH_SIZE];
static bool exit_callback_registered = false;

static PGconn *get_connection(const char *server, const char *database,
							  const ServerEntry *entry, RemoteConnection **slot,
							  char **error);
static pg_noinline PGconn *connect_to(const char *conninfo,
									  const char *database, char **error);
static void release_slot(RemoteConnection *slot);
static ServerHealth *server_health(const char *server, bool create);
static void mark_down(const char *server, const char *error);
static bool wait_for_socket(PGconn *conn, bool write, TimestampTz deadline);
static PGresult *exec_wait(PGconn *conn, const char *sql, int nparams,
						   const char *const *params, bool *timed_out);
static void set_error_outcome(StepOutcome *outcome, const char *server,
							  const char *database, PGresult *res,
							  PGconn *conn, bool quiet);
static bool sqlstate_is_transient(const char *sqlstate);
static char *printable(const char *text);
static void remote_at_exit(int code, Datum arg);

/*
 * printable
 *		A copy of a libpq message that is one short printable line.
 */
static char *
printable(const char *text)
{
	char	   *copy = pnstrdup(text ? text : "", REMOTE_MAX_MESSAGE);
	int			len = strlen(copy);

	while (len > 0 && (copy[len - 1] == '\n' || copy[len - 1] == ' '))
		copy[--len] = '\0';
	for (char *p = copy; *p; p++)
		if ((unsigned char) *p < 0x20)
			*p = ' ';
	return copy;
}

/*
 * lookup_server
 *		The registry's entry of a server, read again when the copy kept here
 *		is older than REMOTE_REGISTRY_TTL_MS (a registry read is a
 *		transaction; a step is a few milliseconds).
 */
static bool
lookup_server(const char *server, ServerEntry *entry)
{
	TimestampTz now = GetCurrentTimestamp();
	CachedServer *slot = NULL;

	for (int i = 0; i < REMOTE_HEALTH_SIZE; i++)
	{
		CachedServer *c = &registry[i];

		if (c->in_use && strcmp(c->server, server) == 0)
		{
			if (!TimestampDifferenceExceeds(c->read_at, now, REMOTE_REGISTRY_TTL_MS))
			{
				*entry = c->entry;
				return true;
			}
			slot = c;
			break;
		}
		/* else: a free slot, or the one read longest ago */
		if (slot == NULL || (slot->in_use &&
							 (!c->in_use || c->read_at < slot->read_at)))
			slot = c;
	}

	if (slot->in_use)
	{
		pfree(slot->entry.conninfo);
		pfree(slot->entry.maintenance_db);
	}
	slot->in_use = false;
	if (!ServerLookup(server, entry))
		return false;
	slot->entry.conninfo = MemoryContextStrdup(TopMemoryContext, entry->conninfo);
	slot->entry.maintenance_db = MemoryContextStrdup(TopMemoryContext,
													 entry->maintenance_db);
	slot->entry.max_connections = entry->max_connections;
	strlcpy(slot->server, server, NAMEDATALEN);
	slot->read_at = now;
	slot->in_use = true;
	return true;
}

/*
 * server_health
 *		The health record of a server (create: take a free or the oldest
 *		slot when there is none yet), or NULL.
 */
static ServerHealth *
server_health(const char *server, bool create)
{
	ServerHealth *oldest = NULL;

	for (int i = 0; i < REMOTE_HEALTH_SIZE; i++)
	{
		ServerHealth *h = &health[i];

		if (h->in_use && strcmp(h->server, server) == 0)
			return h;
		if (!h->in_use || oldest == NULL ||
			(oldest->in_use && h->down_until < oldest->down_until))
			oldest = h;
	}
	if (!create)
		return NULL;
	memset(oldest, 0, sizeof(ServerHealth));
	oldest->in_use = true;
	strlcpy(oldest->server, server, NAMEDATALEN);
	return oldest;
}

/*
 * mark_down
 *		Remember that server could not be reached: no new attempt before a
 *		delay that doubles with each consecutive failure.
 */
static void
mark_down(const char *server, const char *error)
{
	ServerHealth *h = server_health(server, true);
	int64		delay = tenancy_retry_base_delay_ms;

	for (int i = 0; i < h->failures && delay < tenancy_retry_max_delay_ms; i++)
		delay *= 2;
	delay = Min(delay, (int64) tenancy_retry_max_delay_ms);
	h->failures++;
	h->down_until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), delay);
	strlcpy(h->last_error, error, sizeof(h->last_error));
}

/*
 * remote_at_exit
 *		Close the cached connections when the worker exits.
 */
static void
remote_at_exit(int code, Datum arg)
{
	(void) code;
	(void) arg;
	RemoteDisconnectAll();
}

/*
 * release_slot
 *		Finish a cached connection and free its slot.
 */
static void
release_slot(RemoteConnection *slot)
{
	if (slot->conn)
		PQfinish(slot->conn);
	if (slot->conninfo)
		free(slot->conninfo);
	memset(slot, 0, sizeof(RemoteConnection));
}

/*
 * RemoteDisconnectAll
 *		Close every cached connection.
 */
void
RemoteDisconnectAll(void)
{
	for (int i = 0; i < REMOTE_CACHE_SIZE; i++)
		if (cache[i].in_use)
			release_slot(&cache[i]);
}

/*
 * wait_for_socket
 *		Wait until the connection's socket is readable (or writable), the
 *		latch is set (interrupts are then processed) or the deadline
 *		passes; false on timeout.
 */
static bool
wait_for_socket(PGconn *conn, bool write, TimestampTz deadline)
{
	for (;;)
	{
		long		timeout;
		int			rc;
		TimestampTz now = GetCurrentTimestamp();

		if (now >= deadline)
			return false;
		timeout = (long) Max((deadline - now) / 1000, 1);
		rc = WaitLatchOrSocket(MyLatch,
							   WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH |
							   (write ? WL_SOCKET_WRITEABLE : WL_SOCKET_READABLE),
							   PQsocket(conn), timeout, PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
		{
			/* the worker loop claims again after every step anyway */
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
		if (rc & (WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE))
			return true;
	}
}

/*
 * connect_to
 *		Open a connection to database with the registry's conninfo (its
 *		dbname replaced), interruptibly and within tenancy.connect_timeout.
 *		NULL with *error set when it fails.
 */
static pg_noinline PGconn *
connect_to(const char *conninfo, const char *database, char **error)
{
	PQconninfoOption *options;
	const char **keywords;
	const char **values;
	int			n = 0;
	char	   *parse_error = NULL;
	bool		has_passfile = false;
	bool		has_options = false;
	PGconn	   *volatile conn = NULL;
	TimestampTz deadline;

	options = PQconninfoParse(conninfo, &parse_error);
	if (options == NULL)
	{
		*error = printable(parse_error ? parse_error : "out of memory");
		if (parse_error)
			PQfreemem(parse_error);
		return NULL;
	}
	keywords = palloc0(sizeof(char *) * 64);
	values = palloc0(sizeof(char *) * 64);
	for (PQconninfoOption *o = options; o->keyword && n < 60; o++)
	{
		if (o->val == NULL || o->val[0] == '\0' || strcmp(o->keyword, "dbname") == 0 ||
			strcmp(o->keyword, "options") == 0)
			continue;
		has_passfile |= strcmp(o->keyword, "passfile") == 0;
		keywords[n] = pstrdup(o->keyword);
		if (strcmp(o->keyword, "options") == 0)
		{
			/* the last -c of a setting wins */
			has_options = true;
			values[n++] = psprintf("%s " REMOTE_PINNED_OPTIONS, o->val);
		}
		else
			values[n++] = pstrdup(o->val);
	}

	/*
	 * The warehouse's tenants can lock their own tables: the worker's
	 * statements there wait at most tenancy.lock_timeout (the step is retried
	 * later) instead of stalling every step behind them.
	 */
	for (PQconninfoOption *o = options; o->keyword; o++)
		if (strcmp(o->keyword, "options") == 0)
		{
			keywords[n] = "options";
			values[n++] = psprintf("%s%s-c lock_timeout=%d",
								   o->val ? o->val : "", o->val && o->val[0] ? " " : "",
								   tenancy_lock_timeout_ms);
		}
	PQconninfoFree(options);
	keywords[n] = "dbname";
	values[n++] = database;
	keywords[n] = "fallback_application_name";
	values[n++] = "tenancy worker";
	if (!has_options)
	{
		keywords[n] = "options";
		values[n++] = REMOTE_PINNED_OPTIONS;
	}
	if (!has_passfile && tenancy_remote_passfile && tenancy_remote_passfile[0])
	{
		keywords[n] = "passfile";
		values[n++] = tenancy_remote_passfile;
	}
	keywords[n] = NULL;
	values[n] = NULL;

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										   tenancy_connect_timeout_ms);
	PG_TRY();
	{
		PostgresPollingStatusType status = PGRES_POLLING_WRITING;

		conn = PQconnectStartParams(keywords, values, false);
		if (conn == NULL)
			elog(ERROR, "out of memory opening a connection");
		if (PQstatus(conn) == CONNECTION_BAD)
			status = PGRES_POLLING_FAILED;
		while (status != PGRES_POLLING_OK && status != PGRES_POLLING_FAILED)
		{
			if (!wait_for_socket(conn, status == PGRES_POLLING_WRITING, deadline))
			{
				*error = psprintf("could not connect within %d ms",
								  tenancy_connect_timeout_ms);
				break;
			}
			status = PQconnectPoll(conn);
		}
		if (status == PGRES_POLLING_FAILED)
			*error = printable(PQerrorMessage(conn));
		if (status != PGRES_POLLING_OK)
		{
			PQfinish(conn);
			conn = NULL;
		}
	}
	PG_CATCH();
	{
		if (conn)
			PQfinish(conn);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return conn;
}

/*
 * get_connection
 *		A connection to database on server: the cached one when it is still
 *		good and was opened with the current conninfo, else a new one.  A
 *		server at its max_connections gives up its least recently used
 *		connection first.  NULL with *error set when it cannot connect.
 */
static PGconn *
get_connection(const char *server, const char *database,
			   const ServerEntry *entry, RemoteConnection **slot, char **error)
{
	RemoteConnection *free_slot = NULL;
	RemoteConnection *lru_server = NULL;
	RemoteConnection *lru_any = NULL;
	int			open_to_server = 0;
	PGconn	   *conn;

	for (int i = 0; i < REMOTE_CACHE_SIZE; i++)
	{
		RemoteConnection *c = &cache[i];

		if (!c->in_use)
		{
			if (free_slot == NULL)
				free_slot = c;
			continue;
		}
		if (strcmp(c->server, server) == 0 && strcmp(c->database, database) == 0)
		{
			if (strcmp(c->conninfo, entry->conninfo) == 0 &&
				PQstatus(c->conn) == CONNECTION_OK &&
				PQtransactionStatus(c->conn) == PQTRANS_IDLE)
			{
				c->last_used = GetCurrentTimestamp();
				*slot = c;
				return c->conn;
			}
			release_slot(c);	/* stale: reconnect below */
			if (free_slot == NULL)
				free_slot = c;
			continue;
		}
		if (strcmp(c->server, server) == 0)
		{
			open_to_server++;
			if (lru_server == NULL || c->last_used < lru_server->last_used)
				lru_server = c;
		}
		if (lru_any == NULL || c->last_used < lru_any->last_used)
			lru_any = c;
	}

	/* the bound per server, then the size of the cache */
	if (open_to_server >= entry->max_connections && lru_server != NULL)
	{
		release_slot(lru_server);
		free_slot = lru_server;
	}
	if (free_slot == NULL)
	{
		release_slot(lru_any);
		free_slot = lru_any;
	}

	conn = connect_to(entry->conninfo, database, error);
	if (conn == NULL)
		return NULL;
	if (!exit_callback_registered)
	{
		on_proc_exit(remote_at_exit, (Datum) 0);
		exit_callback_registered = true;
	}
	free_slot->conninfo = strdup(entry->conninfo);
	if (free_slot->conninfo == NULL)
	{
		PQfinish(conn);
		elog(ERROR, "out of memory");
	}
	free_slot->in_use = true;
	strlcpy(free_slot->server, server, NAMEDATALEN);
	strlcpy(free_slot->database, database, NAMEDATALEN);
	free_slot->conn = conn;
	free_slot->last_used = GetCurrentTimestamp();
	free_slot->journal_ready = false;
	*slot = free_slot;
	return conn;
}

/*
 * exec_wait
 *		Send a statement and wait for its results, interruptibly and within
 *		tenancy.request_timeout (then the query is cancelled and
 *		*timed_out set).  Returns the last result (the caller clears it),
 *		or NULL when the connection broke or timed out.
 */
static PGresult *
exec_wait(PGconn *conn, const char *sql, int nparams, const char *const *params,
		  bool *timed_out)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   tenancy_request_timeout_ms);
	PGresult   *volatile last = NULL;

	*timed_out = false;
	/* the extended protocol takes one statement: plain SQL goes as is */
	if (!(nparams == 0 ? PQsendQuery(conn, sql) :
		  PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0)))
		return NULL;

	PG_TRY();
	{
		for (;;)
		{
			PGresult   *res;

			while (PQisBusy(conn))
			{
				if (!wait_for_socket(conn, false, deadline))
				{
					PGcancel   *cancel = PQgetCancel(conn);
					char		errbuf[256];

					if (cancel)
					{
						(void) PQcancel(cancel, errbuf, sizeof(errbuf));
						PQfreeCancel(cancel);
					}
					*timed_out = true;
					break;
				}
				if (!PQconsumeInput(conn))
					break;
			}
			if (*timed_out || (PQisBusy(conn) && PQstatus(conn) == CONNECTION_BAD))
			{
				if (last)
					PQclear(last);
				last = NULL;
				break;
			}
			res = PQgetResult(conn);
			if (res == NULL)
				break;
			if (last)
				PQclear(last);
			last = res;
		}
	}
	PG_CATCH();
	{
		if (last)
			PQclear(last);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return last;
}

/*
 * sqlstate_is_transient
 *		Whether an error of this SQLSTATE may go away by itself (see
 *		remote.h); NULL (no SQLSTATE: the connection broke) is transient.
 */
static bool
sqlstate_is_transient(const char *sqlstate)
{
	static const char *const transient[] = {
		"40001",				/* serialization_failure */
		"40P01",				/* deadlock_detected */
		"55P03",				/* lock_not_available */
		"57014",				/* query_canceled (our timeout) */
		"57P01",				/* admin_shutdown */
		"57P02",				/* crash_shutdown */
		"57P03",				/* cannot_connect_now */
		"57P04"					/* database_dropped */
	};

	if (sqlstate == NULL || strlen(sqlstate) != 5)
		return true;
	if (strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "53", 2) == 0 ||
		strncmp(sqlstate, "58", 2) == 0)
		return true;
	for (size_t i = 0; i < lengthof(transient); i++)
		if (strcmp(sqlstate, transient[i]) == 0)
			return true;
	return false;
}

/*
 * error_field
 *		" LABEL: text" of one field of an error (printable), or "".
 */
static char *
error_field(PGresult *res, int field, const char *label)
{
	const char *text = res ? PQresultErrorField(res, field) : NULL;

	return text ? psprintf(" %s: %s", label, printable(text)) : "";
}

/*
 * set_error_outcome
 *		RETRY or FAILED for a statement that did not succeed, with the
 *		server's message (never the statement); with its DETAIL and HINT
 *		when it is the ledger's refusal of a foreign role or schema
 *		(42710, raised by tenancy's guard before anything else ran: they
 *		name the object and its OIDs and say what the DBA does), or a role
 *		or object that others depend on (2BP01: DETAIL names them), or a
 *		server that lacks what the tenant needs (55000: pgaudit, HINT says
 *		what to do).
 */
static void
set_error_outcome(StepOutcome *outcome, const char *server, const char *database,
				  PGresult *res, PGconn *conn, bool quiet)
{
	const char *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *message = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	bool		transient = sqlstate_is_transient(sqlstate);
	bool		explain = sqlstate && (strcmp(sqlstate, "42710") == 0 ||
									   strcmp(sqlstate, "2BP01") == 0 ||
									   strcmp(sqlstate, "55000") == 0);

	if (message == NULL)
		message = PQerrorMessage(conn);
	StepSetOutcome(outcome, transient ? STEP_OUTCOME_RETRY : STEP_OUTCOME_FAILED,
				   "server \"%s\", database \"%s\": %s%s%s%s%s%s",
				   server, database,
				   quiet && !transient ? "a statement holding a secret failed: " : "",
				   printable(message),
				   sqlstate ? " (SQLSTATE " : "",
				   sqlstate ? psprintf("%s)", sqlstate) : "",
				   explain ? error_field(res, PG_DIAG_MESSAGE_DETAIL, "DETAIL") : "",
				   explain ? error_field(res, PG_DIAG_MESSAGE_HINT, "HINT") : "");
}

/*
 * run_step
 *		One statement of an attempt: clear the previous result, run sql and
 *		check that its result has the expected status.
 */
static bool
run_step(PGconn *conn, PGresult **res, const char *sql, int nparams,
		 const char *const *params, ExecStatusType expected, bool *timed_out)
{
	if (*res)
		PQclear(*res);
	*res = exec_wait(conn, sql, nparams, params, timed_out);
	return *res != NULL && PQresultStatus(*res) == expected;
}

/*
 * run_with_commit
 *		run_step of sql (if not NULL) followed by COMMIT, in one round trip.
 *		The copy of a quiet statement (it holds a secret) is wiped, whatever
 *		happens.
 */
static bool
run_with_commit(PGconn *conn, PGresult **res, const char *sql, bool quiet,
				bool *timed_out)
{
	char	   *with_commit = psprintf("%s%sCOMMIT", sql ? sql : "",
									   sql ? ";\n" : "");
	volatile bool ok = false;

	PG_TRY();
	{
		ok = run_step(conn, res, with_commit, 0, NULL, PGRES_COMMAND_OK,
					  timed_out);
	}
	PG_FINALLY();
	{
		if (quiet)
			explicit_bzero(with_commit, strlen(with_commit));
		pfree(with_commit);
	}
	PG_END_TRY();
	return ok;
}

/*
 * journal_setup
 *		Make sure the step journal of this database is tenancy's own (see
 *		REMOTE_JOURNAL_CHECK), create what is missing of it, and check
 *		again.  false with *unsafe set (a FAILED step) when it is not.
 */
static bool
journal_setup(PGconn *conn, PGresult **res, char **unsafe, bool *timed_out)
{
	bool		seed;

	for (int pass = 0; pass < 2; pass++)
	{
		if (!run_step(conn, res, REMOTE_JOURNAL_CHECK, 0, NULL, PGRES_TUPLES_OK,
					  timed_out))
			return false;
		if (PQntuples(*res) != 1 || PQnfields(*res) != 1)
			return false;
		if (!PQgetisnull(*res, 0, 0))
		{
			*unsafe = printable(PQgetvalue(*res, 0, 0));
			return false;
		}
		if (pass > 0)
			break;
		/* checked: the journal (if any) is tenancy's own */
		if (!run_step(conn, res, REMOTE_LEDGER_MISSING, 0, NULL, PGRES_TUPLES_OK,
					  timed_out) || PQntuples(*res) != 1)
			return false;
		seed = strcmp(PQgetvalue(*res, 0, 0), "t") == 0;
		if (!run_step(conn, res, seed ? REMOTE_JOURNAL_SETUP REMOTE_LEDGER_SEED :
					  REMOTE_JOURNAL_SETUP, 0, NULL, PGRES_COMMAND_OK, timed_out))
			return false;
	}
	return true;
}

/*
 * run_statements
 *		The statements of one attempt on an open connection; see
 *		RemoteExecute.  unless_database: succeed without running sql when
 *		pg_database lists it and tenancy.databases records that the worker
 *		created it (same OID; or only the intent to, and the connecting role
 *		owns it: the worker crashed between CREATE and the record), fail
 *		when it lists it otherwise; the intent is recorded before sql
 *		(CREATE DATABASE) runs, the OID after.  Returns false when the
 *		connection is no longer usable (the caller drops it from the cache).
 */
static bool
run_statements(PGconn *conn, RemoteConnection *slot, const char *server,
			   const char *database, const char *sql, const char *step_key,
			   const char *unless_database, int flags, StepOutcome *outcome)
{
	bool		quiet = (flags & REMOTE_QUIET) != 0;
	bool		timed_out = false;
	PGresult   *res = NULL;
	volatile bool usable = true;

	PG_TRY();
	{
		char	   *unsafe = NULL;
		const char *datname[1] = {unless_database};
		bool		ok = true;
		bool		done_before = false;

		if (flags & REMOTE_NO_TRANSACTION)
		{
			if (unless_database)
			{
				ok = run_step(conn, &res, REMOTE_DATABASE_LOOKUP, 1, datname,
							  PGRES_TUPLES_OK, &timed_out);
				if (ok && PQntuples(res) > 0)
				{
					Oid			found = atooid(PQgetvalue(res, 0, 0));
					bool		owned = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
					Oid			recorded = InvalidOid;

					if (!ServerDatabaseRecord(server, unless_database, &recorded) ||
						(OidIsValid(recorded) ? recorded != found : !owned))
						unsafe = psprintf("database \"%s\" exists and was not created by tenancy (tenancy.databases does not record it). "
										  "Choose a warehouse.database.name that does not exist yet, or have a superuser list it in the server's existing_databases (tenancy.register_server) and apply the spec again",
										  unless_database);
					else
					{
						done_before = true;
						if (!OidIsValid(recorded))
							ServerRecordDatabase(server, unless_database, found);
					}
				}
				else if (ok)
					ServerRecordDatabase(server, unless_database, InvalidOid);
			}
			if (ok && !done_before && unsafe == NULL)
				ok = run_step(conn, &res, sql, 0, NULL, PGRES_COMMAND_OK, &timed_out);
			if (ok && !done_before && unsafe == NULL && unless_database)
			{
				ok = run_step(conn, &res, REMOTE_DATABASE_LOOKUP, 1, datname,
							  PGRES_TUPLES_OK, &timed_out) && PQntuples(res) == 1;
				if (ok)
					ServerRecordDatabase(server, unless_database,
										 atooid(PQgetvalue(res, 0, 0)));
			}
			if (unsafe)
				ok = false;
		}
		else
		{
			StringInfoData first;

			/*
			 * Two round trips: BEGIN and the claim of the step's key (a row
			 * that exists already means the step ran), then the statement and
			 * COMMIT.  A failed statement leaves the transaction aborted, and
			 * the claim goes with it at ROLLBACK.  The journal is checked
			 * before any statement, a step's or not: tenancy's statements
			 * read its ledger (plan_ledger.c).
			 */
			if (!(flags & REMOTE_NO_JOURNAL) && !slot->journal_ready)
				ok = slot->journal_ready =
					journal_setup(conn, &res, &unsafe, &timed_out);
			initStringInfo(&first);
			appendStringInfoString(&first, "BEGIN");
			if (quiet)
				appendStringInfoString(&first,
									   "; SET LOCAL log_statement = 'none'"
									   "; SET LOCAL log_min_duration_statement = -1"
									   "; SET LOCAL log_min_error_statement = 'panic'"
									   "; SET LOCAL pgaudit.log = 'none'"
									   "; SET LOCAL pg_stat_statements.track_utility = off"
									   "; SET LOCAL track_activities = off");
			if (step_key)
			{
				char	   *literal = PQescapeLiteral(conn, step_key, strlen(step_key));

				if (literal == NULL)
					elog(ERROR, "out of memory quoting a step key");
				appendStringInfo(&first, "; INSERT INTO tenancy_remote.applied_steps (step_key) "
								 "VALUES (%s) ON CONFLICT (step_key) DO NOTHING RETURNING 1",
								 literal);
				PQfreemem(literal);
			}
			if (ok)
				ok = run_step(conn, &res, first.data, 0, NULL,
							  step_key ? PGRES_TUPLES_OK : PGRES_COMMAND_OK,
							  &timed_out);
			done_before = ok && step_key && PQntuples(res) == 0;
			if (ok)
				ok = run_with_commit(conn, &res, done_before ? NULL : sql, quiet,
									 &timed_out);
			/* a failed COMMIT (deferred constraint) reports ROLLBACK: no */
			if (ok && strcmp(PQcmdStatus(res), "COMMIT") != 0)
				ok = false;
		}

		if (ok && done_before)
			StepSetOutcome(outcome, STEP_OUTCOME_SUCCEEDED, "%s",
						   unless_database ? "the database exists already"
						   : "already applied on the warehouse server");
		else if (ok)
		{
			outcome->kind = STEP_OUTCOME_SUCCEEDED;
			outcome->message = NULL;
		}
		else if (timed_out)
			StepSetOutcome(outcome, STEP_OUTCOME_RETRY,
						   "server \"%s\", database \"%s\": no answer within %d ms (tenancy.request_timeout)",
						   server, database, tenancy_request_timeout_ms);
		else if (unsafe && unless_database)
			StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
						   "server \"%s\": refused: %s.", server, unsafe);
		else if (unsafe)
			StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
						   "server \"%s\", database \"%s\": refused: %s; nothing was run there. "
						   "A superuser of that server must drop schema tenancy_remote (or what it names) and retry the operation (tenancy.retry).",
						   server, database, unsafe);
		else
			set_error_outcome(outcome, server, database, res, conn, quiet);

		if (!ok)
		{
			usable = !timed_out && PQstatus(conn) == CONNECTION_OK;
			if (usable && PQtransactionStatus(conn) != PQTRANS_IDLE)
				usable = run_step(conn, &res, "ROLLBACK", 0, NULL, PGRES_COMMAND_OK,
								  &timed_out);
		}
	}
	PG_CATCH();
	{
		/* not PG_FINALLY: gcc then finds its state clobbered (-Wclobbered) */
		if (res)
			PQclear(res);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (res)
		PQclear(res);
	return usable;
}

/*
 * run_on_slot
 *		run_statements on a cached connection; the connection is dropped
 *		when it is no longer usable, or when an interrupt ended the attempt
 *		mid-statement (its state is then unknown).
 */
static pg_noinline void
run_on_slot(PGconn *conn, RemoteConnection *slot, const char *server,
			const char *database, const char *sql, const char *step_key,
			const char *unless_database, int flags, StepOutcome *outcome)
{
	PG_TRY();
	{
		if (!run_statements(conn, slot, server, database, sql, step_key,
							unless_database, flags, outcome))
			release_slot(slot);
	}
	PG_CATCH();
	{
		release_slot(slot);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/*
 * open_server
 *		Look the server up and get a connection to database there (the
 *		cached one, or a new one), honouring the server's down time; NULL
 *		with *outcome set when there is none.  maintenance_db: connect to
 *		the server's maintenance database instead.
 */
static PGconn *
open_server(const char *server, const char *database, bool maintenance_db,
			RemoteConnection **slot, StepOutcome *outcome)
{
	ServerEntry entry;
	ServerHealth *h;
	PGconn	   *conn;
	char	   *error = NULL;

	memset(outcome, 0, sizeof(StepOutcome));
	if (!lookup_server(server, &entry))
	{
		StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
					   "warehouse server \"%s\" is not registered (tenancy.register_server)",
					   server);
		return NULL;
	}
	if (maintenance_db)
		database = entry.maintenance_db;

	h = server_health(server, false);
	if (h && h->down_until > GetCurrentTimestamp())
	{
		StepSetOutcome(outcome, STEP_OUTCOME_RETRY,
					   "server \"%s\" is unreachable, not retried before %s: %s",
					   server, timestamptz_to_str(h->down_until),
					   h->last_error);
		return NULL;
	}

	conn = get_connection(server, database, &entry, slot, &error);
	if (conn == NULL)
	{
		mark_down(server, error);
		StepSetOutcome(outcome, STEP_OUTCOME_RETRY,
					   "could not connect to server \"%s\", database \"%s\": %s",
					   server, database, error);
		return NULL;
	}
	if (h)
	{
		h->failures = 0;
		h->down_until = 0;
	}
	return conn;
}

/*
 * remote_run
 *		Look the server up, connect (or reuse the cached connection) and run
 *		one attempt; see RemoteExecute.
 */
static void
remote_run(const char *server, const char *database, const char *sql,
		   const char *step_key, const char *unless_database, int flags,
		   StepOutcome *outcome)
{
	RemoteConnection *slot = NULL;
	PGconn	   *conn = open_server(server, database, unless_database != NULL,
								   &slot, outcome);

	if (conn == NULL)
		return;
	if (unless_database)
		database = pstrdup(PQdb(conn));
	run_on_slot(conn, slot, server, database, sql, step_key, unless_database,
				flags, outcome);
}

/*
 * RemoteExecute
 *		Run sql on database of server; see remote.h.
 */
void
RemoteExecute(const char *server, const char *database, const char *sql,
			  const char *step_key, int flags, StepOutcome *outcome)
{
	remote_run(server, database, sql, step_key, NULL, flags, outcome);
}

/*
 * RemoteQuery
 *		Run one read-only query on database of server and return its rows;
 *		see remote.h.
 */
void
RemoteQuery(const char *server, const char *database, const char *sql,
			int ncols, List **rows, StepOutcome *outcome)
{
	RemoteConnection *slot = NULL;
	PGconn	   *conn;
	PGresult   *volatile res = NULL;
	bool		timed_out = false;

	*rows = NIL;
	conn = open_server(server, database, false, &slot, outcome);
	if (conn == NULL)
		return;
	PG_TRY();
	{
		char	   *unsafe = NULL;

		/* the query reads the ledger: checked (and made) first, as for a step */
		if (!slot->journal_ready)
		{
			PGresult   *setup = NULL;

			slot->journal_ready = journal_setup(conn, &setup, &unsafe, &timed_out);
			res = setup;
		}
		if (slot->journal_ready)
		{
			if (res)
				PQclear(res);
			res = exec_wait(conn, sql, 0, NULL, &timed_out);
		}
		if (unsafe)
			StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
						   "server \"%s\", database \"%s\": refused: %s; nothing was run there. "
						   "A superuser of that server must drop schema tenancy_remote (or what it names) and retry the operation (tenancy.retry).",
						   server, database, unsafe);
		else if (slot->journal_ready && res != NULL &&
				 PQresultStatus(res) == PGRES_TUPLES_OK && PQnfields(res) == ncols)
		{
			for (int r = 0; r < PQntuples(res); r++)
			{
				char	  **row = palloc(sizeof(char *) * ncols);

				for (int c = 0; c < ncols; c++)
					row[c] = PQgetisnull(res, r, c) ? NULL : pstrdup(PQgetvalue(res, r, c));
				*rows = lappend(*rows, row);
			}
			outcome->kind = STEP_OUTCOME_SUCCEEDED;
			outcome->message = NULL;
		}
		else if (slot->journal_ready && res != NULL &&
				 PQresultStatus(res) == PGRES_TUPLES_OK)
			StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
						   "server \"%s\", database \"%s\": the query returned %d columns, not %d",
						   server, database, PQnfields(res), ncols);
		else if (timed_out)
			StepSetOutcome(outcome, STEP_OUTCOME_RETRY,
						   "server \"%s\", database \"%s\": the query ran past tenancy.request_timeout",
						   server, database);
		else
			set_error_outcome(outcome, server, database, res, conn, false);
	}
	PG_FINALLY();
	{
		if (res)
			PQclear(res);
	}
	PG_END_TRY();
	if (timed_out || PQstatus(conn) != CONNECTION_OK ||
		PQtransactionStatus(conn) != PQTRANS_IDLE)
		release_slot(slot);
}

/*
 * RemoteSetPasswords
 *		Set the login roles' passwords on a warehouse server; see remote.h.
 *		The statement (PlanSqlPasswords) holds verifiers, so it runs
 *		REMOTE_QUIET and is wiped afterwards, as are the verifiers.
 */
void
RemoteSetPasswords(const char *server, const char *database, int nroles,
				   const char *const *roles, const char *const *passwords,
				   StepOutcome *outcome)
{
	char	  **verifiers = palloc0(sizeof(char *) * Max(nroles, 1));
	char	   *volatile sql = NULL;

	PG_TRY();
	{
		for (int i = 0; i < nroles; i++)
			verifiers[i] = ScramVerifier(passwords[i]);
		sql = PlanSqlPasswords(nroles, roles, (const char *const *) verifiers);
		RemoteExecute(server, database, sql, NULL, REMOTE_QUIET, outcome);
	}
	PG_FINALLY();
	{
		for (int i = 0; i < nroles; i++)
			if (verifiers[i])
				explicit_bzero(verifiers[i], strlen(verifiers[i]));
		if (sql)
			explicit_bzero(sql, strlen(sql));
	}
	PG_END_TRY();
}

/*
 * request_name
 *		A string member of a step request that is a plain, non-empty name
 *		shorter than NAMEDATALEN (allow_empty: "" too); NULL otherwise.
 */
static const char *
request_name(json_t *request, const char *key, bool allow_empty)
{
	json_t	   *value = json_object_get(request, key);
	const char *s;

	if (!json_is_string(value))
		return NULL;
	s = json_string_value(value);
	if ((!allow_empty && s[0] == '\0') || strlen(s) >= NAMEDATALEN)
		return NULL;
	return s;
}

/*
 * HandleRemoteDatabase
 *		A remote_database step (or its compensation): decode the request
 *		strictly and run it.  The step's idempotency key, qualified by this
 *		platform database's system identifier and name, keeps a statement
 *		from running twice on the warehouse.
 */
void
HandleRemoteDatabase(const StepContext *context, StepOutcome *outcome)
{
	static const char *const known_keys[] = {"server", "database", "sql",
	"create_database", "journal"};
	json_t	   *request = context->request;
	const char *key;
	json_t	   *value;
	const char *server = request_name(request, "server", true);
	const char *database = request_name(request, "database", false);
	json_t	   *sql = json_object_get(request, "sql");
	json_t	   *create = json_object_get(request, "create_database");
	json_t	   *journal = json_object_get(request, "journal");

	memset(outcome, 0, sizeof(StepOutcome));
	json_object_foreach(request, key, value)
	{
		bool		known = false;

		for (size_t i = 0; i < lengthof(known_keys); i++)
			known |= strcmp(key, known_keys[i]) == 0;
		if (!known)
		{
			StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
						   "malformed step request: unknown key \"%.64s\"", key);
			return;
		}
	}
	if (server == NULL || database == NULL || !json_is_string(sql) ||
		json_string_value(sql)[0] == '\0' ||
		(create != NULL && !json_is_boolean(create)) ||
		(journal != NULL && !json_is_boolean(journal)))
	{
		StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
					   "%s", pstrdup("malformed step request: a remote_database step needs \"server\", \"database\" (names) and \"sql\" (a statement)"));
		return;
	}

	if (json_is_true(create))
	{
		/*
		 * CREATE DATABASE cannot run in a transaction block: it runs from the
		 * maintenance database, after a look at pg_database.
		 */
		remote_run(server, database, json_string_value(sql), NULL, database,
				   REMOTE_NO_TRANSACTION, outcome);

		/*
		 * created since the look (by another tenant's step, or by someone
		 * else): the next attempt looks again and tells which
		 */
		if (outcome->kind == STEP_OUTCOME_FAILED && outcome->message &&
			strstr(outcome->message, "(SQLSTATE 42P04)") != NULL)
			outcome->kind = STEP_OUTCOME_RETRY;
		return;
	}

	/*
	 * "journal": false: statements that may run any number of times, in a
	 * database that is not the tenant's (deprovision's clean-up of what the
	 * tenant's roles hold in other databases): nothing of tenancy's is
	 * created there.
	 */
	if (json_is_false(journal))
	{
		RemoteExecute(server, database, json_string_value(sql), NULL,
					  REMOTE_NO_JOURNAL, outcome);
		return;
	}
	RemoteExecute(server, database, json_string_value(sql),
				  psprintf(UINT64_FORMAT "/%s/%s", GetSystemIdentifier(),
						   tenancy_database, context->idempotency_key),
				  0, outcome);
}

/*
 * RegisterRemoteStepHandlers
 *		remote_database steps are dispatched by target to this handler.
 */
void
RegisterRemoteStepHandlers(void)
{
	RegisterStepHandler("remote_database", HandleRemoteDatabase);
}
