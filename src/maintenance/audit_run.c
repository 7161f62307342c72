/*-------------------------------------------------------------------------
 *
 * audit_run.c
 *	  What every part of an audit run writes to: its findings (returned as
 *	  rows and recorded in tenancy.audit_findings) and the map from each
 *	  tenant role to its tenant.
 *
 * A leaf of the audit: audit.c, audit_acl.c and audit_setup.c call it;
 * it calls none of them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/tuplestore.h"

#include "audit.h"

/* role name -> tenant name */
typedef struct RoleTenant
{
	char		rolname[NAMEDATALEN];	/* hash key */
	char	   *tenant;
} RoleTenant;

/*
 * AuditRolesInit
 *		Start the run's empty role -> tenant map.
 */
void
AuditRolesInit(AuditRun *run)
{
	HASHCTL		ctl;

	ctl.keysize = NAMEDATALEN;
	ctl.entrysize = sizeof(RoleTenant);
	ctl.hcxt = CurrentMemoryContext;
	run->role_tenants = hash_create("tenancy audit roles", 1024, &ctl,
									HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
}

/*
 * AuditReport
 *		Record one finding of the run and return it as a row.
 */
void
AuditReport(AuditRun *run, const char *tenant, const char *check_name,
			const char *severity, const char *object, const char *fmt,...)
{
	StringInfoData detail;
	Datum		values[5];
	bool		nulls[5] = {tenant == NULL, false, false, false, false};
	Datum		args[6];
	char		argnulls[6] = {' ', tenant == NULL ? 'n' : ' ', ' ', ' ', ' ', ' '};

	initStringInfo(&detail);
	for (;;)
	{
		va_list		ap;
		int			needed;

		va_start(ap, fmt);
		needed = appendStringInfoVA(&detail, fmt, ap);
		va_end(ap);
		if (needed == 0)
			break;
		enlargeStringInfo(&detail, needed);
	}

	values[0] = tenant ? CStringGetTextDatum(tenant) : (Datum) 0;
	values[1] = CStringGetTextDatum(check_name);
	values[2] = CStringGetTextDatum(severity);
	values[3] = CStringGetTextDatum(object);
	values[4] = CStringGetTextDatum(detail.data);
	tuplestore_putvalues(run->store, run->desc, values, nulls);

	args[0] = Int64GetDatum(run->run_id);
	memcpy(&args[1], values, sizeof(values));
	if (SPI_execute_plan(run->insert_finding, args, argnulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record an audit finding");
	run->findings++;
}

/*
 * AuditTenantOfRole
 *		The registered tenant one of whose roles rolname is, or NULL.
 */
const char *
AuditTenantOfRole(AuditRun *run, const char *rolname)
{
	char		key[NAMEDATALEN] = {0};
	RoleTenant *entry;

	strlcpy(key, rolname, NAMEDATALEN);
	entry = hash_search(run->role_tenants, key, HASH_FIND, NULL);
	return entry ? entry->tenant : NULL;
}

/*
 * AuditRememberRole
 *		Add a tenant role to the run's role -> tenant map.
 */
void
AuditRememberRole(AuditRun *run, const char *rolname, const char *tenant)
{
	char		key[NAMEDATALEN] = {0};
	RoleTenant *entry;

	strlcpy(key, rolname, NAMEDATALEN);
	entry = hash_search(run->role_tenants, key, HASH_ENTER, NULL);
	entry->tenant = (char *) tenant;
}
