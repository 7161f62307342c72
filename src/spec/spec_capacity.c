/*-------------------------------------------------------------------------
 *
 * spec_capacity.c
 *	  How many Airflow workers fit in the namespace's quota: the one rule
 *	  the validator, the release's values and the planner's warning share.
 *
 * A ResourceQuota with requests.cpu, requests.memory, limits.cpu or
 * limits.memory refuses every pod that would take the namespace past it,
 * so workers past what fits are never scheduled: KEDA would keep asking for
 * them and the events would fill with "exceeded quota".  What fits is
 * counted from what the release sets itself: each worker's resources
 * (SPEC_WORKER_*) and the scheduler's and webserver's replicas times the
 * resources the spec gives them.  The release's other pods (triggerer,
 * Redis, StatsD, the backup job) also count against the quota, so this is
 * an upper bound: fewer may fit, never more.
 *
 * The validator refuses a spec whose workers do not fit: workers.max with
 * autoscaling (KEDA would scale to it), else workers.min (what runs).
 *
 * The backup volume (PersistentVolumeClaim tenant-backups, storage_gb GiB,
 * at least 1Gi) must pass the namespace's LimitRange (its largest claim is
 * quotas.limits.storage when given: see K8sLimitRange) and its storage
 * quota (quotas.requests.storage, the claims' total): a claim past either
 * is refused by Kubernetes, and the provision would fail in the worker
 * instead of at validation.  Without a storage quota the LimitRange admits
 * the backup volume whatever its size.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "spec.h"

/* One of the quota's resources that bounds pods: where, and per worker */
typedef struct CapacityResource
{
	const char *section;		/* requests or limits */
	const char *resource;		/* cpu or memory */
	const char *per_worker;
} CapacityResource;

static const CapacityResource capacity_resources[] = {
	{"requests", "cpu", SPEC_WORKER_REQUEST_CPU},
	{"requests", "memory", SPEC_WORKER_REQUEST_MEMORY},
	{"limits", "cpu", SPEC_WORKER_LIMIT_CPU},
	{"limits", "memory", SPEC_WORKER_LIMIT_MEMORY},
};

/*
 * component_amount
 *		replicas x resources.<section>.<resource> of resources.airflow.<name>
 *		(0 when the spec gives it no such resource or it does not parse).
 */
static double
component_amount(Jsonb *spec, const char *name, const char *section,
				 const char *resource)
{
	char	   *replicas = SpecText(spec, psprintf("resources.airflow.%s.replicas", name), "1");
	char	   *amount = SpecText(spec, psprintf("resources.airflow.%s.resources.%s.%s",
												 name, section, resource), NULL);
	double		value;

	if (amount == NULL || !SpecParseQuantity(amount, &value))
		return 0;
	return atoi(replicas) * value;
}

/*
 * SpecWorkersThatFit
 *		How many workers fit in the quota beside the scheduler and webserver
 *		(INT_MAX without a quota on cpu or memory).  When some do not,
 *		*limited_by (if not NULL) names the quota that bounds them, e.g.
 *		"quotas.limits.cpu (16)".
 */
int
SpecWorkersThatFit(Jsonb *spec, char **limited_by)
{
	int			fit = INT_MAX;

	if (limited_by)
		*limited_by = NULL;
	for (int i = 0; i < (int) lengthof(capacity_resources); i++)
	{
		const CapacityResource *r = &capacity_resources[i];
		char	   *quota = SpecText(spec, psprintf("resources.kubernetes.quotas.%s.%s",
													r->section, r->resource), NULL);
		double		quota_value;
		double		per_worker;
		double		room;
		int			n;

		if (quota == NULL || !SpecParseQuantity(quota, &quota_value) ||
			!SpecParseQuantity(r->per_worker, &per_worker))
			continue;
		room = quota_value -
			component_amount(spec, "scheduler", r->section, r->resource) -
			component_amount(spec, "webserver", r->section, r->resource);
		n = room <= 0 ? 0 : (int) Min(floor(room / per_worker), (double) INT_MAX - 1);
		if (n < fit)
		{
			fit = n;
			if (limited_by)
				*limited_by = psprintf("quotas.%s.%s (%s)", r->section, r->resource, quota);
		}
	}
	return fit;
}

/*
 * SpecBackupVolumeProblem
 *		Why the backup volume of a spec (with its defaults) would be refused
 *		by the namespace's LimitRange or storage quota, or NULL when it
 *		would not (or the spec has no backups).
 */
char *
SpecBackupVolumeProblem(Jsonb *spec)
{
	char	   *size = SpecText(spec, "resources.database.storage_gb", "20");
	char	   *quota = SpecText(spec, "resources.kubernetes.quotas.requests.storage", NULL);
	char	   *largest = SpecText(spec, "resources.kubernetes.quotas.limits.storage", NULL);
	double		bytes;
	double		value;

	if (!SpecFlag(spec, "resources.database.backup.enabled", true) ||
		!SpecParseQuantity(psprintf("%sGi", size), &bytes))
		return NULL;
	if (largest != NULL && SpecParseQuantity(largest, &value) && bytes > value)
		return psprintf("the backup volume of %s GiB exceeds the largest claim the namespace's LimitRange allows, resources.kubernetes.quotas.limits.storage (%s)",
						size, largest);
	if (quota != NULL && SpecParseQuantity(quota, &value) && bytes > value)
		return psprintf("the backup volume of %s GiB exceeds the namespace's storage quota, resources.kubernetes.quotas.requests.storage (%s)",
						size, quota);
	return NULL;
}
