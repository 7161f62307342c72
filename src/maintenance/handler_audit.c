/*-------------------------------------------------------------------------
 *
 * handler_audit.c
 *	  Read-only platform steps of maintenance: the platform checks of an
 *	  audit operation, and the pod requests of a usage sample.
 *
 * audit_object: GET one object the planner applies (its path and the body
 * it applies are the step's arguments, taken from the plan, never
 * written down again) and compare: missing is a critical finding, every
 * field of the planned body that differs in the live object is a drift
 * finding, and a HelmRelease whose Ready condition is not True is one too,
 * as is a backup CronJob whose last successful run (status.
 * lastSuccessfulTime) is older than its daily schedule allows.
 * audit_vault: the tenant's generated credentials are present in Vault
 * (the values read are wiped at once, never compared or recorded).
 * Findings go to tenancy.audit_findings of the run that enqueued the step,
 * source 'platform'.  Drift is reported, never fixed: tenancy.apply with
 * the stored spec is the repair.
 *
 * pod_requests: sum the CPU and memory requests of the Running pods of the
 * tenant's namespace (what the source document's metrics collector
 * measured) into the usage sample that enqueued the step.
 *
 *-------------------------------------------------------------------------
 */
#include "worker_xact.h"
#include "postgres.h"

#include "access/xact.h"
#include "utils/snapmgr.h"

#include "handler.h"
#include "journal.h"
#include "maintenance.h"
#include "platform.h"
#include "spec.h"

/* At most this many drift findings per object: the first ones say enough */
#define MAX_DRIFT_PER_OBJECT 10

/* A finding found by a platform step, recorded after the request */
typedef struct PlatformFinding
{
	const char *check_name;
	const char *severity;
	char	   *detail;
} PlatformFinding;

/*
 * arg_int64
 *		An integer argument of the step's request.
 */
static int64
arg_int64(const StepContext *context, const char *key)
{
	json_t	   *value = json_object_get(context->request, key);

	if (!json_is_integer(value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("malformed step request: \"%s\" must be an integer", key)));
	return (int64) json_integer_value(value);
}

/*
 * record_findings
 *		Insert the findings of one object into the audit run, in a
 *		transaction of their own.
 */
static void
record_findings(int64 run_id, const char *tenant, const char *object,
				List *findings)
{
	ListCell   *lc;

	if (findings == NIL)
		return;
	WorkerXactBegin(NULL);
	/* two tables (findings and their run): queue behind DROP EXTENSION */
	(void) WorkerLockExtension();
	foreach(lc, findings)
	{
		PlatformFinding *f = lfirst(lc);

		AuditRecordPlatformFinding(run_id, tenant, f->check_name, f->severity,
								   object, f->detail);
	}
	WorkerXactCommit();
}

/*
 * add_finding
 *		Append a finding to a list.
 */
static List *
add_finding(List *findings, const char *check_name, const char *severity,
			char *detail)
{
	PlatformFinding *f = palloc(sizeof(PlatformFinding));

	f->check_name = check_name;
	f->severity = severity;
	f->detail = detail;
	return lappend(findings, f);
}

/*
 * json_text
 *		A short JSON rendering of a value for a finding's detail.
 */
static char *
json_text(json_t *value)
{
	char	   *dumped;
	char	   *copy;

	if (value == NULL)
		return pstrdup("(absent)");
	dumped = json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	if (dumped == NULL)
		return pstrdup("(unprintable)");
	copy = strlen(dumped) > 200 ? psprintf("%.200s...", dumped) : pstrdup(dumped);
	free(dumped);
	return copy;
}

/*
 * same_quantity
 *		Two Kubernetes quantities that differ in spelling only ("1Gi" and
 *		"1024Mi", 8 and "8"), as the API server normalizes them.
 */
static bool
same_quantity(json_t *planned, json_t *live)
{
	double		a;
	double		b;
	char	   *pa = json_is_string(planned) ? pstrdup(json_string_value(planned)) :
	json_is_integer(planned) ? psprintf("%lld", (long long) json_integer_value(planned)) : NULL;
	char	   *pb = json_is_string(live) ? pstrdup(json_string_value(live)) :
	json_is_integer(live) ? psprintf("%lld", (long long) json_integer_value(live)) : NULL;

	return pa && pb && SpecParseQuantity(pa, &a) && SpecParseQuantity(pb, &b) && a == b;
}

/*
 * compare_planned
 *		Every field of the planned value that the live value lacks or holds
 *		differently, as drift findings named by JSON path.  Objects are
 *		compared key by key (the live object may hold more: defaults,
 *		status, other managers' fields); anything else must be equal.
 */
static List *
compare_planned(List *findings, const char *path, json_t *planned, json_t *live)
{
	if (list_length(findings) >= MAX_DRIFT_PER_OBJECT)
		return findings;
	if (json_is_object(planned))
	{
		const char *key;
		json_t	   *value;

		if (!json_is_object(live))
			return add_finding(findings, "platform_drift", "high",
							   psprintf("%s is %s, the plan has an object there.",
										path, json_text(live)));
		json_object_foreach(planned, key, value)
			findings = compare_planned(findings, psprintf("%s.%s", path, key),
									   value, json_object_get(live, key));
		return findings;
	}
	if (live != NULL && (json_equal(planned, live) || same_quantity(planned, live)))
		return findings;
	return add_finding(findings, "platform_drift", "high",
					   psprintf("%s is %s, the plan has %s.", path, json_text(live),
								json_text(planned)));
}

/*
 * release_readiness
 *		A HelmRelease whose Ready condition is not True.
 */
static List *
release_readiness(List *findings, json_t *live)
{
	json_t	   *conditions = json_object_get(json_object_get(live, "status"), "conditions");
	size_t		i;
	json_t	   *condition;

	json_array_foreach(conditions, i, condition)
	{
		const char *type = json_string_value(json_object_get(condition, "type"));
		const char *status = json_string_value(json_object_get(condition, "status"));

		if (type == NULL || strcmp(type, "Ready") != 0)
			continue;
		if (status != NULL && strcmp(status, "True") == 0)
			return findings;
		return add_finding(findings, "release_not_ready", "high",
						   psprintf("The release is not Ready: %s.",
									json_text(json_object_get(condition, "message"))));
	}
	return add_finding(findings, "release_not_ready", "high",
					   pstrdup("The release has no Ready condition."));
}

/*
 * rfc3339_seconds
 *		Seconds since the epoch of a Kubernetes timestamp
 *		("2026-12-03T01:33:00Z"), or -1 when it is not one.
 */
static int64
rfc3339_seconds(const char *text)
{
	int			year,
				mon,
				mday,
				hour,
				min,
				sec,
				end = 0;

	if (text == NULL ||
		sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &year, &mon, &mday, &hour,
			   &min, &sec, &end) != 6 ||
		end == 0 || text[end] != '\0' || mon < 1 || mon > 12)
		return -1;
	/* days since 1970-01-01 of the civil date (proleptic Gregorian) */
	{
		int			y = year - (mon <= 2);
		int			era = (y >= 0 ? y : y - 399) / 400;
		int			yoe = y - era * 400;
		int			doy = (153 * (mon + (mon > 2 ? -3 : 9)) + 2) / 5 + mday - 1;
		int			doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
		int64		days = (int64) era * 146097 + doe - 719468;

		return days * 86400 + hour * 3600 + min * 60 + sec;
	}
}

/*
 * backup_freshness
 *		The backup CronJob: its last successful run (status.
 *		lastSuccessfulTime) must be more recent than its daily schedule
 *		allows (PLATFORM_BACKUP_MAX_AGE_S); a CronJob older than that which
 *		never succeeded is reported too.
 */
static List *
backup_freshness(List *findings, json_t *live)
{
	const char *last = json_string_value(json_object_get(json_object_get(live, "status"),
														 "lastSuccessfulTime"));
	const char *created = json_string_value(json_object_get(json_object_get(live, "metadata"),
															"creationTimestamp"));
	int64		now = (int64) time(NULL);
	int64		last_s = rfc3339_seconds(last);
	int64		created_s = rfc3339_seconds(created);

	if (last_s >= 0 && now - last_s > PLATFORM_BACKUP_MAX_AGE_S)
		return add_finding(findings, "backup_too_old", "high",
						   psprintf("The last successful backup ran at %s, more than %d hours ago.",
									last, PLATFORM_BACKUP_MAX_AGE_S / 3600));
	if (last_s < 0 && created_s >= 0 && now - created_s > PLATFORM_BACKUP_MAX_AGE_S)
		return add_finding(findings, "backup_too_old", "high",
						   psprintf("No backup has succeeded since the CronJob was created at %s, more than %d hours ago.",
									created, PLATFORM_BACKUP_MAX_AGE_S / 3600));
	return findings;
}

/*
 * compare_live
 *		The findings of a live object (the response of a GET) against the
 *		planned body: labels, spec, ConfigMap data, HelmRelease readiness.
 *		Fields the server owns (status, defaults, other managers') are not
 *		compared.
 */
static List *
compare_live(const HttpRequest *request, json_t *expect, StepOutcome *outcome)
{
	const char *kind = json_string_value(json_object_get(expect, "kind"));
	json_t	   *volatile live = NULL;
	List	   *volatile findings = NIL;

	PG_TRY();
	{
		live = HandlerResponseJson(request);
		if (live == NULL)
			StepSetOutcome(outcome, STEP_OUTCOME_RETRY,
						   "the Kubernetes API did not answer with JSON");
		else
		{
			json_t	   *labels = json_object_get(json_object_get(expect, "metadata"), "labels");

			if (labels)
				findings = compare_planned(findings, "metadata.labels", labels,
										   json_object_get(json_object_get(live, "metadata"), "labels"));
			if (json_object_get(expect, "spec"))
				findings = compare_planned(findings, "spec", json_object_get(expect, "spec"),
										   json_object_get(live, "spec"));
			if (kind && strcmp(kind, "ConfigMap") == 0 && json_object_get(expect, "data"))
				findings = compare_planned(findings, "data", json_object_get(expect, "data"),
										   json_object_get(live, "data"));
			if (kind && strcmp(kind, "HelmRelease") == 0)
				findings = release_readiness(findings, live);
			if (kind && strcmp(kind, "CronJob") == 0)
				findings = backup_freshness(findings, live);
		}
	}
	PG_FINALLY();
	{
		if (live != NULL)
			json_decref(live);
	}
	PG_END_TRY();
	return findings;
}

/*
 * HandleAuditObject
 *		The audit_object handler (see the file header).  Arguments: run_id,
 *		tenant, path, expect (the planned body).
 */
void
HandleAuditObject(const StepContext *context, StepOutcome *outcome)
{
	int64		run_id = arg_int64(context, "run_id");
	const char *tenant = HandlerArgString(context, "tenant");
	const char *path = HandlerArgString(context, "path");
	json_t	   *expect = json_object_get(context->request, "expect");
	const char *kind = json_string_value(json_object_get(expect, "kind"));
	HttpRequest request;
	List	   *findings = NIL;

	StepHttpCall(context, "kubernetes", "GET", path, NULL, NULL, NULL, &request, outcome);
	if (request.status == 404)
	{
		findings = add_finding(findings, "platform_object_missing", "critical",
							   psprintf("%s %s does not exist.", kind ? kind : "The object", path));
		StepSetOutcome(outcome, STEP_OUTCOME_SUCCEEDED, "missing: reported");
	}
	else if (outcome->kind == STEP_OUTCOME_SUCCEEDED)
		findings = compare_live(&request, expect, outcome);
	if (outcome->kind == STEP_OUTCOME_SUCCEEDED)
	{
		record_findings(run_id, tenant, path, findings);
		outcome->message = psprintf("%d finding(s)", list_length(findings));
	}
}

/*
 * HandleAuditVault
 *		The audit_vault handler: the tenant's credentials are in Vault.
 *		Arguments: run_id, tenant, vault_path.
 */
void
HandleAuditVault(const StepContext *context, StepOutcome *outcome)
{
	int64		run_id = arg_int64(context, "run_id");
	const char *tenant = HandlerArgString(context, "tenant");
	const char *path = HandlerArgString(context, "vault_path");
	json_t	   *secret = HandlerVaultRead(context, path, NULL, outcome);
	List	   *findings = NIL;

	if (secret != NULL)
	{
		HandlerWipeJson(secret);
		json_decref(secret);
	}
	else if (outcome->kind == STEP_OUTCOME_SUCCEEDED)
		findings = add_finding(findings, "vault_secret_missing", "critical",
							   psprintf("Vault holds no secret at %s: the tenant's database credentials are gone.",
										path));
	if (outcome->kind == STEP_OUTCOME_SUCCEEDED)
	{
		record_findings(run_id, tenant, psprintf("vault %s", path), findings);
		outcome->message = psprintf("%d finding(s)", list_length(findings));
	}
}

/*
 * container_requests
 *		Add one container's CPU (cores) and memory (bytes) requests.
 */
static void
container_requests(json_t *container, double *cpu, double *memory)
{
	json_t	   *requests = json_object_get(json_object_get(container, "resources"), "requests");
	const char *c = json_string_value(json_object_get(requests, "cpu"));
	const char *m = json_string_value(json_object_get(requests, "memory"));
	double		value;

	if (c && SpecParseQuantity(c, &value))
		*cpu += value;
	if (m && SpecParseQuantity(m, &value))
		*memory += value;
}

/*
 * HandlePodRequests
 *		The pod_requests handler: the requests of the Running pods of a
 *		namespace into a usage sample.  Arguments: namespace, sample_id.
 */
void
HandlePodRequests(const StepContext *context, StepOutcome *outcome)
{
	const char *ns = HandlerArgString(context, "namespace");
	int64		sample_id = arg_int64(context, "sample_id");
	HttpRequest request;
	json_t	   *volatile list = NULL;
	double		cpu = 0;
	double		memory = 0;
	int			running = 0;

	if (!HandlerValidName(ns))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("malformed step request: invalid namespace")));
	StepHttpCall(context, "kubernetes", "GET", psprintf("/api/v1/namespaces/%s/pods", ns),
				 NULL, NULL, NULL, &request, outcome);
	if (outcome->kind != STEP_OUTCOME_SUCCEEDED)
		return;
	PG_TRY();
	{
		size_t		i;
		json_t	   *pod;

		list = HandlerResponseJson(&request);
		json_array_foreach(json_object_get(list, "items"), i, pod)
		{
			const char *phase = json_string_value(json_object_get(json_object_get(pod, "status"), "phase"));
			size_t		j;
			json_t	   *container;

			if (phase == NULL || strcmp(phase, "Running") != 0)
				continue;
			running++;
			json_array_foreach(json_object_get(json_object_get(pod, "spec"), "containers"), j, container)
				container_requests(container, &cpu, &memory);
		}
	}
	PG_FINALLY();
	{
		if (list != NULL)
			json_decref(list);
	}
	PG_END_TRY();

	WorkerXactBegin(NULL);
	(void) WorkerLockExtension();
	MeteringRecordPodRequests(sample_id, cpu, memory, running);
	WorkerXactCommit();
	outcome->message = psprintf("%d running pods: %.3f cores, %.0f bytes requested",
								running, cpu, memory);
}
