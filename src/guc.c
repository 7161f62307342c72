/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  Every tenancy.* configuration setting, defined in one place.
 *
 * Settings that name endpoints, credentials or files are superuser-only
 * (GUC_SUPERUSER_ONLY): an unprivileged role must not learn where the
 * platform lives, nor point the worker somewhere else.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "utils/guc.h"

#include "tenancy.h"

char	   *tenancy_database = NULL;
int			tenancy_poll_interval_ms = 10000;
int			tenancy_max_attempts = 8;
int			tenancy_max_catalog_relations = 200000;
int			tenancy_credential_max_age_days = 90;

/*
 * DefineTenancySettings
 *		Register the tenancy.* settings; called once from _PG_init.
 */
void
DefineTenancySettings(void)
{
	DefineCustomStringVariable("tenancy.database",
							   "Database the tenancy worker connects to.",
							   "The platform database: the one where CREATE EXTENSION tenancy was run.",
							   &tenancy_database,
							   "postgres",
							   PGC_POSTMASTER,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("tenancy.poll_interval",
							"How often the worker looks for due steps when nothing wakes it.",
							"Commits that enqueue steps wake the worker at once; this is the fallback.",
							&tenancy_poll_interval_ms,
							10000,
							100,
							3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("tenancy.max_attempts",
							"Attempts of a step before its operation fails.",
							NULL,
							&tenancy_max_attempts,
							8,
							1,
							1000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("tenancy.max_catalog_relations",
							"Refuse to provision a tenant that would push pg_class past this many rows.",
							"Servers with many thousands of schemas degrade through per-backend relation cache growth.",
							&tenancy_max_catalog_relations,
							200000,
							0,
							INT_MAX,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("tenancy.credential_max_age",
							"Age after which the audit reports a tenant's database credentials as due for rotation.",
							NULL,
							&tenancy_credential_max_age_days,
							90,
							1,
							3650,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("tenancy");
}
