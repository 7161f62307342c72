/*-------------------------------------------------------------------------
 *
 * servers.h
 *	  The registry of warehouse servers (tenancy.servers) and placement:
 *	  on which server a tenant's warehouse lives.
 *
 * Placement rule (provision of a tenant that does not exist yet; a tenant
 * that exists, or was deprovisioned with its data kept, stays where it is):
 *	 - warehouse.database.host given: the registered server of that name, or
 *	   whose conninfo has that host and port; 42704 when none is registered;
 *	 - host empty, and no server registered that accepts tenants: this
 *	   PostgreSQL server (the platform database itself, or the database the
 *	   spec names, reached over the Unix socket);
 *	 - host empty otherwise: the accepting server with the fewest tenants
 *	   (deprovisioned ones not counted), ties broken by server name.
 * Choosing takes a transaction-level lock, so that concurrent provisions
 * choose one after the other and each sees the tenants placed before it
 * (READ COMMITTED: each statement takes a new snapshot).
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENANCY_SERVERS_H
#define TENANCY_SERVERS_H

#include "postgres.h"

#include "plan.h"

/* A registered server, as the registry says now */
typedef struct ServerEntry
{
	char	   *conninfo;
	char	   *maintenance_db; /* dbname of the conninfo, or postgres */
	int			max_connections;
} ServerEntry;

/* "" in a step request: this server, over its Unix socket */
#define SERVER_THIS_SERVER ""

/*
 * The registry's entry of a server, read in a transaction of its own
 * (worker only, no transaction open); false when it is not registered.
 */
extern bool ServerLookup(const char *server, ServerEntry *entry);

/*
 * The server a tenant placed elsewhere lives on ("": this server), read in
 * a transaction of its own (worker only); false when there is no tenant of
 * that name.
 */
extern bool ServerOfTenant(const char *tenant, char **server);

/*
 * Place a tenant's model: set model->local and model->server.
 * stored_server is tenancy.tenants.server of an existing row (NULL: none,
 * or this server); row_found says whether the tenant has a row at all.
 * dry_run (tenancy.plan): take no lock, and show an unregistered host
 * instead of refusing it.
 */
extern void ServerPlaceTenant(TenantModel *model, const char *stored_server,
							  bool row_found, bool dry_run);

/*
 * What tenancy.databases records of database on server (worker only): false
 * when nothing; *database_oid InvalidOid when only the intent to create it.
 */
extern bool ServerDatabaseRecord(const char *server, const char *database,
								 Oid *database_oid);

/* Record a database the worker creates (InvalidOid) or created (worker only). */
extern void ServerRecordDatabase(const char *server, const char *database,
								 Oid database_oid);

/*
 * Lock row key of tenancy.locks until the end of the transaction (created on
 * first use): what serializes placement and the work on one tenant.
 */
extern void ServerLockRow(const char *key);

#endif							/* TENANCY_SERVERS_H */
