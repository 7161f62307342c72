/*-------------------------------------------------------------------------
 *
 * spec.h
 *	  The tenant spec: parse (YAML or JSON text to jsonb), validate (every
 *	  problem at once, by JSON path) and normalize (defaults filled in).
 *
 * spec_parse.c, spec_validate.c (with spec_check.c, spec_quantity.c and
 * spec_cron.c) and spec_normalize.c implement these; the planner and
 * provision/apply call them.  The YAML converter itself is spec_yaml.h (no server dependency).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SPEC_H
#define SPEC_H

#include "postgres.h"

#include "nodes/pg_list.h"
#include "utils/jsonb.h"

/* One problem found by SpecValidate. */
typedef struct SpecProblem
{
	char	   *path;			/* JSON path, e.g. $.tenant.tier */
	char	   *message;		/* lower-case, no trailing period */
} SpecProblem;

/* spec_path.c: values by dotted path ("tenant.tier") */
typedef enum SpecPathResult
{
	SPEC_PATH_FOUND,
	SPEC_PATH_ABSENT,			/* missing, or JSON null */
	SPEC_PATH_BLOCKED			/* a value on the way is not an object */
} SpecPathResult;

extern SpecPathResult SpecLookup(Jsonb *spec, const char *path, JsonbValue *out,
								 int *blocked_len);
extern JsonbValue *SpecFind(Jsonb *spec, const char *path);
extern char *SpecText(Jsonb *spec, const char *path, const char *dflt);
extern char *SpecJson(Jsonb *spec, const char *path);
extern bool SpecFlag(Jsonb *spec, const char *path, bool dflt);
extern List *SpecArray(Jsonb *spec, const char *path);
extern char *SpecScalarText(Jsonb *value);
extern List *SpecObjectKeys(Jsonb *spec, const char *path);

/* YAML or JSON text to jsonb; ereport(ERROR, 22P02) naming line and column */
extern Jsonb *SpecParseText(const char *text, int len);

/* List of SpecProblem *, empty when valid; never throws for a bad spec */
extern List *SpecValidate(Jsonb *spec);

/*
 * ereport(ERROR, 22023, "invalid tenant spec") with every "path: message"
 * line in DETAIL when SpecValidate finds problems
 */
extern void SpecCheck(Jsonb *spec);

/* defaults filled in; the input must be valid */
extern Jsonb *SpecNormalize(Jsonb *spec);

/*
 * spec_capacity.c: each Celery worker's resources (the release sets them),
 * and how many workers fit in the namespace's quota.
 */
/*
 * The fastest burn rate of the SLA's availability alerts (monitoring.c):
 * the alert fires when errors exceed this many times the error budget
 * (1 - uptime_percent / 100), so the budget must stay below 1/14.4 for the
 * alert to be able to fire at all (validated in spec_tenant.c).
 */
#define SPEC_SLA_FASTEST_BURN_RATE 14.4

#define SPEC_WORKER_REQUEST_CPU "500m"
#define SPEC_WORKER_REQUEST_MEMORY "1Gi"
#define SPEC_WORKER_LIMIT_CPU "1"
#define SPEC_WORKER_LIMIT_MEMORY "2Gi"
extern int	SpecWorkersThatFit(Jsonb *spec, char **limited_by);
extern char *SpecBackupVolumeProblem(Jsonb *spec);

/* Limits of derived names (doc/design.md, "Derived names"). */
#define SPEC_TENANT_NAME_MAX 40
#define SPEC_IDENTIFIER_MAX 63	/* NAMEDATALEN - 1 */

/*
 * spec_warehouse.c: NULL when prefix gives plain, fitting schema names
 * (<prefix>gold_reporting), else why not.  The validator and the planner
 * (which re-checks stored specs) share this one rule.
 */
extern const char *SpecSchemaPrefixProblem(const char *prefix);

/*
 * spec_warehouse.c: NULL when database may hold a tenant's warehouse, else
 * why not (a phrase after the name: "is a template database ...").
 * template0, template1 and postgres are refused; postgres is fine only as
 * the platform database itself (local: no host, this database's name).
 * The validator, the planner and placement share this one rule.
 */
extern const char *SpecDatabaseProblem(const char *database, bool local);

/*
 * spec_tenant.c: Vault references, the one rule of the validator, the
 * planner and the worker.  A reference is exactly {{ vault.get('path') }}
 * (or with double quotes; spaces optional inside the braces); its path is
 * segments of [A-Za-z0-9_.-] separated by '/', none empty, "." or "..", at
 * most SPEC_VAULT_PATH_MAX bytes.  SpecVaultReference returns the path
 * (palloc'd) or NULL; a value that SpecMentionsVault but is no reference is
 * malformed.  A spec may not reference tenants/<other tenant>/, where the
 * worker keeps generated credentials.  Keys that SpecLooksSecret
 * (secret, password, token, private_key, api_key) must hold references.
 */
#define SPEC_VAULT_PATH_MAX 253
extern bool SpecVaultPathValid(const char *path, size_t len);
extern char *SpecVaultReference(const char *value);
extern bool SpecMentionsVault(const char *value);
extern bool SpecVaultPathOfOtherTenant(const char *path, const char *tenant);
extern bool SpecLooksSecret(const char *key);

/*
 * spec_check.c: names.  SpecIsDnsLabel: an RFC 1123 label of at most
 * max_length characters (lower-case letters, digits, '-', alphanumeric at
 * both ends), as Kubernetes names namespaces.  SpecIsName: such a label
 * starting with a letter, the one rule of tenant and server names.
 */
extern bool SpecIsDnsLabel(const char *s, int max_length);
extern bool SpecIsName(const char *s, int max_length);
extern bool SpecNamespaceReserved(const char *ns);

/* spec_quantity.c: Kubernetes resource quantities */
extern bool SpecParseQuantity(const char *text, double *value);

/* spec_cron.c: 5-field cron schedules; NULL when valid, else why not */
extern const char *SpecCronProblem(const char *schedule);

#endif							/* SPEC_H */
