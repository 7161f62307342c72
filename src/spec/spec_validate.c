/*-------------------------------------------------------------------------
 *
 * spec_validate.c
 *	  tenancy.validate(jsonb): every problem of a tenant spec at once, each
 *	  addressed by its JSON path; SpecCheck, which provision and apply call.
 *
 * Validation is strict: an unknown key is an error (with the nearest known
 * key suggested), a value of the wrong type is an error, and so is anything
 * a derived name (namespace, schema, role) could not carry without quoting.
 * A null value counts as absent, since YAML writes "key:" for it.
 *
 * This file holds the entry points, which walk the top-level sections;
 * spec_tenant.c, spec_warehouse.c and spec_resources.c check the sections
 * with the toolkit of spec_check.c (paths, problems, one check per field,
 * common formats).  Nothing throws for a bad spec: problems are collected,
 * never raised.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "spec.h"
#include "spec_validate.h"

PG_FUNCTION_INFO_V1(tenancy_validate);

/* Problems listed in SpecCheck's DETAIL before "and N more". */
#define SPEC_CHECK_MAX_DETAIL 50

/*
 * check_workers_fit
 *		The workers that run must fit in the quota beside the scheduler and
 *		webserver (spec_capacity.c): workers.max with autoscaling (KEDA
 *		scales to it), else workers.min.  Checked across sections, on a spec
 *		with no other problem, with its defaults (the tier's quota, the
 *		scheduler's and webserver's resources) filled in.
 */
static void
check_workers_fit(SpecValidator *v, Jsonb *given)
{
	Jsonb	   *spec = SpecNormalize(given);
	bool		autoscaling = SpecFlag(spec, "resources.airflow.workers.autoscaling", false);
	const char *key = autoscaling ? "max" : "min";
	char	   *limited_by;
	int			fit = SpecWorkersThatFit(spec, &limited_by);
	int			workers;
	int			mark;

	workers = atoi(SpecText(spec, psprintf("resources.airflow.workers.%s", key),
							SpecText(spec, "resources.airflow.workers.min", "1")));
	if (workers <= fit)
		return;
	mark = SpecPathPushKey(v, "resources");
	SpecPathPushKey(v, "airflow");
	SpecPathPushKey(v, "workers");
	SpecReportAt(v, key,
				 "%d workers (each requests %s CPU and %s of memory, limited to %s CPU and %s) do not fit beside the scheduler and webserver in resources.kubernetes.%s: %d do%s",
				 workers, SPEC_WORKER_REQUEST_CPU, SPEC_WORKER_REQUEST_MEMORY,
				 SPEC_WORKER_LIMIT_CPU, SPEC_WORKER_LIMIT_MEMORY, limited_by, fit,
				 autoscaling ? " (KEDA would scale to max; the quota would refuse the pods past it)" : "");
	SpecPathPop(v, mark);
}

/*
 * check_backup_volume_fits
 *		With backups, the volume of storage_gb GiB must pass the namespace's
 *		LimitRange and storage quota (spec_capacity.c); reported at
 *		resources.database.storage_gb.
 */
static void
check_backup_volume_fits(SpecValidator *v, Jsonb *given)
{
	char	   *problem = SpecBackupVolumeProblem(SpecNormalize(given));
	int			mark;

	if (problem == NULL)
		return;
	mark = SpecPathPushKey(v, "resources");
	SpecPathPushKey(v, "database");
	SpecReportAt(v, "storage_gb", "%s: Kubernetes would refuse the claim", problem);
	SpecPathPop(v, mark);
}

/*
 * SpecValidate
 *		Every problem of a spec (see spec.h).
 */
List *
SpecValidate(Jsonb *spec)
{
	static const char *const known[] = {"tenant", "warehouse", "resources",
	"features", "sla", "billing", NULL};
	SpecValidator v;
	JsonbContainer *root = &spec->root;

	v.problems = NIL;
	initStringInfo(&v.path);
	appendStringInfoChar(&v.path, '$');

	if (!JB_ROOT_IS_OBJECT(spec))
	{
		SpecReport(&v, "must be a mapping with tenant, warehouse and resources");
		return v.problems;
	}
	SpecCheckKeys(&v, root, known);
	SpecVisitObject(&v, root, "tenant", true, SpecValidateTenant);
	SpecVisitObject(&v, root, "warehouse", true, SpecValidateWarehouse);
	SpecVisitObject(&v, root, "resources", true, SpecValidateResources);
	SpecVisitObject(&v, root, "features", false, SpecValidateFeatures);
	SpecVisitObject(&v, root, "sla", false, SpecValidateSla);
	SpecVisitObject(&v, root, "billing", false, SpecValidateBilling);
	if (v.problems == NIL)
	{
		check_workers_fit(&v, spec);
		check_backup_volume_fits(&v, spec);
	}
	return v.problems;
}

/*
 * SpecCheck
 *		Raise 22023 listing every problem, if there is any (see spec.h).
 */
void
SpecCheck(Jsonb *spec)
{
	List	   *problems = SpecValidate(spec);
	StringInfoData detail;
	ListCell   *lc;
	int			shown = 0;

	if (problems == NIL)
		return;

	initStringInfo(&detail);
	foreach(lc, problems)
	{
		SpecProblem *problem = lfirst(lc);

		if (shown == SPEC_CHECK_MAX_DETAIL)
		{
			appendStringInfo(&detail, "\n... and %d more (tenancy.validate lists them all).",
							 list_length(problems) - shown);
			break;
		}
		appendStringInfo(&detail, "%s%s: %s.", shown ? "\n" : "",
						 problem->path, problem->message);
		shown++;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid tenant spec"),
			 errdetail_internal("%s", detail.data),
			 errhint("Run tenancy.validate(spec) to list every problem with its JSON path.")));
}

/*
 * tenancy_validate
 *		SQL: tenancy.validate(spec jsonb) RETURNS TABLE(path text, message text).
 */
Datum
tenancy_validate(PG_FUNCTION_ARGS)
{
	Jsonb	   *spec = PG_GETARG_JSONB_P(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, SpecValidate(spec))
	{
		SpecProblem *problem = lfirst(lc);
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(problem->path);
		values[1] = CStringGetTextDatum(problem->message);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
