/*-------------------------------------------------------------------------
 *
 * remote.h
 *	  The worker's libpq path to warehouse servers: run a tenant's planned
 *	  SQL on the server and database it was placed on.
 *
 * Steps of target remote_database carry
 *	 {"server": "b", "database": "acme_analytics", "sql": "CREATE ROLE ...;\n..."}
 * (the statements of one phase of the plan, see PlanSteps), where server
 * is a name registered with tenancy.register_server ("" is
 * this PostgreSQL server, reached over its Unix socket).  The step that
 * creates the database adds "create_database": true: it runs outside a
 * transaction block, from the server's maintenance database, and only
 * when pg_database does not list the database yet.
 *
 * Every other statement runs in a transaction on the warehouse that first
 * looks up the step's idempotency key in tenancy_remote.applied_steps and
 * records it before COMMIT: a step that already ran (the worker crashed
 * before recording its success) is not run twice.
 *
 * Outcomes: a server that cannot be reached, or an error of SQLSTATE class
 * 08 (connection), 53 (resources), 57P0x (shutdown, starting up), 40001,
 * 40P01, 55P03, 57014 or 58 is RETRY (the journal backs off); any other
 * SQL error (42xxx syntax or privileges, 23xxx, 22xxx, ...) is FAILED.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENANCY_REMOTE_H
#define TENANCY_REMOTE_H

#include "postgres.h"

#include "nodes/pg_list.h"

#include "journal.h"
#include "step_exec.h"

/* Flags of RemoteExecute */
#define REMOTE_NO_TRANSACTION	0x01	/* autocommit: CREATE DATABASE */
#define REMOTE_QUIET			0x02	/* the SQL holds a secret (a SCRAM
										 * verifier): statement logging and
										 * pgaudit off, no SQL in messages */
#define REMOTE_NO_JOURNAL		0x04	/* idempotent SQL in a database that
										 * is not the tenant's: no step
										 * journal, no ledger created there */

/*
 * Run sql on database of a registered server (worker only, no transaction
 * open).  step_key, when not NULL, makes the statement run at most once
 * per key on that database.  *outcome is SUCCEEDED, RETRY or FAILED.
 * Other handlers use it for remote tenants, e.g. to set a SCRAM verifier:
 *	 RemoteExecute(server, database, "ALTER ROLE ... PASSWORD '...'", NULL,
 *				   REMOTE_QUIET, &outcome);
 */
extern void RemoteExecute(const char *server, const char *database,
						  const char *sql, const char *step_key, int flags,
						  StepOutcome *outcome);

/*
 * Run one read-only query (autocommit) on database of a registered server
 * (worker only, no transaction open) and return its rows, each a char *[ncols]
 * (NULL for SQL NULL) in the current memory context.  *outcome as for
 * RemoteExecute; FAILED when the result does not have ncols columns.
 */
extern void RemoteQuery(const char *server, const char *database,
						const char *sql, int ncols, List **rows,
						StepOutcome *outcome);

/*
 * Set the passwords of a tenant's login roles on database of a registered
 * server, as SCRAM verifiers computed here, in one quiet transaction that
 * first checks that every role exists there, can log in and is not a
 * superuser (else FAILED).  Neither passwords nor verifiers reach a message.
 */
extern void RemoteSetPasswords(const char *server, const char *database,
							   int nroles, const char *const *roles,
							   const char *const *passwords,
							   StepOutcome *outcome);

/* The executor of remote_database steps (a step handler). */
extern void HandleRemoteDatabase(const StepContext *context, StepOutcome *outcome);

/* Register it; from RegisterBuiltinStepHandlers. */
extern void RegisterRemoteStepHandlers(void);

/* Close every cached connection (worker exit, tests). */
extern void RemoteDisconnectAll(void);

#endif							/* TENANCY_REMOTE_H */
