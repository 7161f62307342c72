/*-------------------------------------------------------------------------
 *
 * role_password.c
 *	  Set a tenant login role's password as a SCRAM verifier computed in
 *	  this process, without the password or the verifier reaching a log.
 *
 * The worker's statements are not subject to log_statement (that applies
 * to client queries), but an error report could carry the statement,
 * pgaudit logs utility statements run through SPI, and pg_stat_statements
 * keeps the text of utility statements (track_utility, on by default) where
 * pg_read_all_stats can read it: the transaction turns those off locally
 * before it runs ALTER ROLE.  The verifier and the statement are wiped
 * afterwards, whatever happened.
 *
 *-------------------------------------------------------------------------
 */
#include "worker_xact.h"
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"

#include "password_helper.h"
#include "plan.h"
#include "platform.h"
#include "tenancy.h"

/*
 * set_quietly
 *		SET LOCAL of a setting, if it exists here (a module's setting exists
 *		only where the module is loaded).  Not GetConfigOptionFlags() == 0
 *		as the test of existence: log_statement, log_min_error_statement
 *		and pg_stat_statements.track_utility have no flags at all.
 */
static void
set_quietly(const char *name, const char *value)
{
	if (GetConfigOption(name, true, false) == NULL ||
		(GetConfigOptionFlags(name, true) & GUC_CUSTOM_PLACEHOLDER) != 0)
		return;
	(void) set_config_option(name, value, PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
}

/*
 * set_quiet_settings
 *		In the current transaction, turn off whatever could keep the text of
 *		a statement holding a secret: statement and error logging, pgaudit,
 *		pg_stat_statements and pg_stat_activity.
 */
static void
set_quiet_settings(void)
{
	set_quietly("log_statement", "none");
	set_quietly("log_min_duration_statement", "-1");
	set_quietly("log_min_error_statement", "panic");
	set_quietly("pgaudit.log", "none");
	set_quietly("pg_stat_statements.track_utility", "off");
	set_quietly("track_activities", "off");
}

/*
 * What check_tenant_login_role reads of a role: whether it is a plain
 * login role, whether tenancy created it (name and OID), whether every
 * role it is a member of, directly or through other roles, is one tenancy
 * created, and the first of those that tenancy created for another tenant
 * (NULL: none).  Through other roles too: a role granted to the tenant's
 * group reaches the login role as surely as one granted to it directly.
 */
#define LOGIN_ROLE_CHECK \
	"WITH RECURSIVE a AS (SELECT * FROM pg_catalog.pg_authid " \
	"                      WHERE rolname OPERATOR(pg_catalog.=) $1), " \
	"granted(roleid) AS ( " \
	"  SELECT m.roleid FROM pg_catalog.pg_auth_members m, a " \
	"   WHERE m.member OPERATOR(pg_catalog.=) a.oid " \
	"  UNION " \
	"  SELECT m.roleid FROM pg_catalog.pg_auth_members m, granted g " \
	"   WHERE m.member OPERATOR(pg_catalog.=) g.roleid) " \
	"SELECT a.rolcanlogin AND NOT a.rolsuper AND NOT a.rolcreaterole " \
	"AND NOT a.rolcreatedb AND NOT a.rolreplication AND NOT a.rolbypassrls, " \
	"EXISTS (SELECT FROM tenancy.created_objects o WHERE o.kind = 'role' " \
	"AND o.name OPERATOR(pg_catalog.=) a.rolname::pg_catalog.text " \
	"AND o.object_oid OPERATOR(pg_catalog.=) a.oid), " \
	"NOT EXISTS (SELECT FROM granted g WHERE NOT EXISTS " \
	"(SELECT FROM tenancy.created_objects o WHERE o.kind = 'role' " \
	"AND o.object_oid OPERATOR(pg_catalog.=) g.roleid)), " \
	"(SELECT r.rolname::pg_catalog.text FROM granted g " \
	"JOIN pg_catalog.pg_authid r ON r.oid OPERATOR(pg_catalog.=) g.roleid " \
	"WHERE NOT EXISTS " \
	"(SELECT FROM tenancy.created_objects o, tenancy.created_objects l " \
	"WHERE o.kind = 'role' AND o.object_oid OPERATOR(pg_catalog.=) g.roleid " \
	"AND l.kind = 'role' AND l.object_oid OPERATOR(pg_catalog.=) a.oid " \
	"AND o.tenant_id OPERATOR(pg_catalog.=) l.tenant_id) " \
	"ORDER BY 1 LIMIT 1) " \
	"FROM a"

/*
 * lock_role_row
 *		Lock the role's pg_authid row, waiting (at most lock_timeout) for a
 *		session that changed it and has not committed yet.  ALTER ROLE
 *		alone waits as well, but then fails with "tuple concurrently
 *		updated" once that session commits; with the row locked first, the
 *		check reads its latest version and ALTER ROLE updates that one.
 *		The caller is connected to SPI.
 */
static void
lock_role_row(const char *role)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(role)};

	SPI_EXEC_KEPT("SELECT FROM pg_catalog.pg_authid"
				  " WHERE rolname OPERATOR(pg_catalog.=) $1 FOR UPDATE",
				  1, types, values, NULL, SPI_OK_SELECT);
}

/*
 * check_tenant_login_role
 *		Refuse (ERROR) a role that is missing, cannot log in, has a
 *		privileged attribute, is not one tenancy.created_objects records (by
 *		name and OID), is a member (directly or not) of a role that tenancy
 *		did not create, or of a role tenancy created for another tenant (a
 *		login role of tenant A granted tenant B's group would hand B's data
 *		to whoever reads A's credentials: through set_password, A's
 *		administrator path).
 *		The caller is connected to SPI.
 */
static void
check_tenant_login_role(const char *role)
{
	static SPIPlanPtr plan = NULL;
	Datum		values[1] = {CStringGetTextDatum(role)};
	bool		isnull;

	/* kept for the life of the process: the worker checks three per tenant */
	if (plan == NULL)
	{
		Oid			types[1] = {TEXTOID};
		SPIPlanPtr	prepared = SPI_prepare(LOGIN_ROLE_CHECK, 1, types);

		if (prepared == NULL || SPI_keepplan(prepared) != 0)
			elog(ERROR, "could not prepare the login role check: %s",
				 SPI_result_code_string(SPI_result));
		plan = prepared;
	}
	if (SPI_execute_plan(plan, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up role \"%s\"", role);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("login role \"%s\" does not exist", role)));
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" is not a tenant login role", role),
				 errdetail("tenancy sets passwords only on roles that can log in and have no superuser, CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS attribute.")));
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("role \"%s\" was not created by tenancy", role),
				 errdetail("tenancy.created_objects does not record a role of this name and OID: it merely has the name of a tenant's login role."),
				 errhint("Drop or rename the role, then apply the tenant's spec again: tenancy creates its own.")));
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("login role \"%s\" is a member of a role tenancy did not create", role),
				 errdetail("Setting its password would hand out that role's privileges to whoever reads the tenant's credentials."),
				 errhint("Revoke the membership, granted to the role or to one of the tenant's roles it is a member of (see \\du), then retry the operation.")));
	/* another tenant's group: its credentials would reach that tenant */
	(void) SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull);
	if (!isnull)
	{
		char	   *group = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4);

		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("login role \"%s\" is a member of role \"%s\" of another tenant", role, group),
				 errdetail("Setting its password would give whoever reads this tenant's credentials the other tenant's privileges."),
				 errhint("Revoke %s from %s, or from the tenant's role it was granted to (see \\du), then retry the operation.",
						 quote_identifier(group), quote_identifier(role))));
	}
}

/*
 * wipe
 *		Overwrite a string that held a secret (NULL: nothing).
 */
static void
wipe(char *s)
{
	if (s)
		explicit_bzero(s, strlen(s));
}

/*
 * alter_role_verifier
 *		ALTER ROLE ... PASSWORD '<verifier>'; the statement is wiped
 *		whatever happens (the caller wipes the verifier).  The caller is
 *		connected to SPI and has made the transaction quiet.
 */
static void
alter_role_verifier(const char *role, const char *verifier)
{
	char	   *volatile literal = NULL;
	char	   *volatile sql = NULL;

	PG_TRY();
	{
		literal = quote_literal_cstr(verifier);
		sql = psprintf("ALTER ROLE %s PASSWORD %s", quote_identifier(role),
					   literal);
		if (SPI_execute(sql, false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not set the password of role \"%s\"", role);
	}
	PG_CATCH();
	{
		wipe(literal);
		wipe(sql);
		PG_RE_THROW();
	}
	PG_END_TRY();
	wipe(literal);
	wipe(sql);
}

/*
 * RoleSetVerifierQuietly
 *		ALTER ROLE ... PASSWORD '<verifier>' for a tenant login role, in a
 *		transaction of its own with statement logging and auditing off.
 *		Refuses what check_tenant_login_role refuses; waits at most
 *		tenancy.lock_timeout for a lock.  Run by the worker's password
 *		helper, or by the worker itself when it has none.
 */
void
RoleSetVerifierQuietly(const char *role, const char *verifier)
{
	WorkerXactBegin(NULL);
	set_quiet_settings();

	/*
	 * A session holding the role's row (an ALTER ROLE in a transaction left
	 * open) fails the attempt, retried later, instead of holding up the
	 * passwords of every tenant queued behind this one.
	 */
	(void) set_config_option("lock_timeout", psprintf("%d", tenancy_lock_timeout_ms),
							 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
	lock_role_row(role);
	check_tenant_login_role(role);
	alter_role_verifier(role, verifier);
	WorkerXactCommit();
}

/*
 * RoleSetPasswordQuietly
 *		Set a tenant login role's password to the SCRAM verifier of
 *		password, computed here: by the worker's password helper when the
 *		caller is a step's task and the helper runs, else in a transaction
 *		of the caller's own (RoleSetVerifierQuietly).
 */
void
RoleSetPasswordQuietly(const char *role, const char *password)
{
	char	   *volatile verifier = ScramVerifier(password);

	PG_TRY();
	{
		if (!PasswordHelperSet(role, verifier))
			RoleSetVerifierQuietly(role, verifier);
	}
	PG_FINALLY();
	{
		wipe(verifier);
	}
	PG_END_TRY();
}

/*
 * RoleSetPasswordHere
 *		ALTER ROLE ... PASSWORD '<SCRAM verifier>' in the caller's
 *		transaction (tenancy.set_password), with statement logging,
 *		auditing and statement tracking off until it has run: the settings
 *		are restored when it returns.  Refuses what check_tenant_login_role
 *		refuses.
 */
void
RoleSetPasswordHere(const char *role, const char *password)
{
	int			nestlevel = NewGUCNestLevel();
	char	   *volatile verifier = ScramVerifier(password);

	PG_TRY();
	{
		set_quiet_settings();
		SPI_connect();
		lock_role_row(role);
		check_tenant_login_role(role);
		alter_role_verifier(role, verifier);
		SPI_finish();
	}
	PG_FINALLY();
	{
		wipe(verifier);
	}
	PG_END_TRY();
	AtEOXact_GUC(false, nestlevel);
}
