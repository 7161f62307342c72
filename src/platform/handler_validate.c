/*-------------------------------------------------------------------------
 *
 * handler_validate.c
 *	  The last step of a provision or apply, and the wait of a deprovision:
 *	  look at what the other steps made, without blocking the worker.
 *
 * validate checks, and reports each by name in the step's last_error
 * (tenancy.status): the HelmRelease is Ready for its current generation
 * (Ready=False there fails at once); then, once it is, the namespace is
 * Active, the pods in the namespace are Running, the warehouse schemas
 * exist (tenants in this database), and Airflow answers /health when
 * tenancy.airflow_url_template is set.  While something is not there yet
 * the step returns a poll (RETRY that uses no attempt), at growing
 * intervals, and fails once tenancy.release_ready_timeout has passed since
 * it first started.  A read that gets no usable answer (5xx, 429, no
 * answer) says nothing about readiness: the attempt is retried as any
 * failed request is (backoff, or an outage waited out), and never decides
 * the outcome.
 *
 * wait_absent succeeds once GET of its path returns 404 (a namespace being
 * deleted), under the same timeout; with "delete" it deletes the path
 * first (the compensation of a new namespace), as k8s_delete does: only
 * the tenant's (handler_owned.c).  With namespace_uid it also succeeds once
 * what is there is not the namespace tenancy created for the tenant.
 *
 *-------------------------------------------------------------------------
 */
#include "worker_xact.h"
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/snapmgr.h"

#include "endpoint.h"
#include "handler.h"
#include "platform.h"
#include "tenancy.h"

/* How one check ended */
typedef enum CheckResult
{
	CHECK_OK,
	CHECK_PENDING,				/* not yet: poll again */
	CHECK_FAILED				/* cannot get better: fail the step */
} CheckResult;

/* The checks of one attempt */
typedef struct Checks
{
	StringInfoData report;
	bool		pending;
	bool		failed;
	bool		skipped;		/* no Kubernetes endpoint */
	bool		transient;		/* a read got no usable answer (5xx, 429, no
								 * answer): says nothing about readiness */
	StepOutcome transient_outcome;	/* the first such read's outcome */
} Checks;

/*
 * record
 *		Add a check's result to the report.
 */
static void
record(Checks *c, const char *name, CheckResult result, const char *detail)
{
	if (c->report.len > 0)
		appendStringInfoString(&c->report, "; ");
	appendStringInfo(&c->report, "%s: %s", name,
					 result == CHECK_OK ? "ok" : detail);
	c->pending |= result == CHECK_PENDING;
	c->failed |= result == CHECK_FAILED;
}

/*
 * get_json
 *		GET a Kubernetes path; the response as JSON (new reference), NULL
 *		with *status set otherwise.
 */
static json_t *
get_json(const StepContext *context, const char *path, int *status, Checks *c)
{
	HttpRequest request;
	StepOutcome outcome;

	StepHttpCall(context, "kubernetes", "GET", path, NULL, NULL, NULL, &request, &outcome);
	*status = request.status;
	if (outcome.kind == STEP_OUTCOME_SKIPPED)
		c->skipped = true;
	if (outcome.kind == STEP_OUTCOME_RETRY && !c->transient)
	{
		c->transient = true;
		c->transient_outcome = outcome;
	}
	if (outcome.kind != STEP_OUTCOME_SUCCEEDED)
		return NULL;
	return HandlerResponseJson(&request);
}

/*
 * check_namespace
 *		The namespace exists and is Active.
 */
static void
check_namespace(const StepContext *context, const char *ns, Checks *c)
{
	int			status;
	json_t	   *obj = get_json(context, psprintf("/api/v1/namespaces/%s", ns), &status, c);
	const char *phase = json_string_value(json_object_get(json_object_get(obj, "status"), "phase"));

	if (phase != NULL && strcmp(phase, "Active") == 0)
		record(c, "namespace Active", CHECK_OK, NULL);
	else
		record(c, "namespace Active", CHECK_PENDING,
			   phase ? psprintf("phase %.40s", phase) : psprintf("not found (HTTP %d)", status));
	json_decref(obj);
}

/*
 * check_release
 *		The HelmRelease is Ready for its current generation.
 */
static void
check_release(const StepContext *context, const char *ns, const char *name, Checks *c)
{
	int			status;
	json_t	   *obj = get_json(context,
							   psprintf("/apis/helm.toolkit.fluxcd.io/v2/namespaces/%s/helmreleases/%s",
										ns, name), &status, c);
	json_int_t	generation = json_integer_value(json_object_get(json_object_get(obj, "metadata"),
																"generation"));
	json_t	   *conditions = json_object_get(json_object_get(obj, "status"), "conditions");
	json_t	   *cond;
	size_t		i;
	CheckResult result = CHECK_PENDING;
	char	   *detail = obj ? "reconciling" : psprintf("not found (HTTP %d)", status);

	json_array_foreach(conditions, i, cond)
	{
		const char *type = json_string_value(json_object_get(cond, "type"));
		const char *cstatus = json_string_value(json_object_get(cond, "status"));
		const char *message = json_string_value(json_object_get(cond, "message"));
		json_int_t	observed = json_integer_value(json_object_get(cond, "observedGeneration"));

		if (type == NULL || strcmp(type, "Ready") != 0 || cstatus == NULL ||
			observed != generation)
			continue;
		if (strcmp(cstatus, "True") == 0)
			result = CHECK_OK;
		else if (strcmp(cstatus, "False") == 0)
		{
			result = CHECK_FAILED;
			detail = psprintf("Ready=False: %.200s", message ? message : "no message");
		}
	}
	record(c, "release Ready", result, detail);
	json_decref(obj);
}

/*
 * check_pods
 *		Every pod of the namespace that has not completed is Running, and
 *		there is at least one.
 */
static void
check_pods(const StepContext *context, const char *ns, Checks *c)
{
	int			status;
	json_t	   *list = get_json(context, psprintf("/api/v1/namespaces/%s/pods", ns), &status, c);
	json_t	   *pod;
	size_t		i;
	int			total = 0;
	int			running = 0;

	json_array_foreach(json_object_get(list, "items"), i, pod)
	{
		const char *phase = json_string_value(json_object_get(json_object_get(pod, "status"), "phase"));

		if (phase != NULL && strcmp(phase, "Succeeded") == 0)
			continue;
		total++;
		running += phase != NULL && strcmp(phase, "Running") == 0;
	}
	if (total > 0 && running == total)
		record(c, "pods Running", CHECK_OK, NULL);
	else
		record(c, "pods Running", CHECK_PENDING,
			   psprintf("%d of %d running", running, total));
	json_decref(list);
}

/*
 * check_schemas
 *		The warehouse schemas exist here.  Their names come from the planner
 *		and are plain identifiers; anything else is refused.
 */
static void
check_schemas(json_t *schemas, Checks *c)
{
	json_t	   *item;
	size_t		i;
	size_t		expected = json_array_size(schemas);
	uint64		found = 0;
	Datum	   *names;
	Oid			types[1] = {NAMEARRAYOID};
	Datum		values[1];

	if (expected == 0)
		return;
	names = palloc(sizeof(Datum) * expected);
	json_array_foreach(schemas, i, item)
	{
		const char *name = json_string_value(item);

		if (name == NULL || name[0] == '\0' || strlen(name) >= NAMEDATALEN ||
			strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(name))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("malformed step request: \"schemas\" must list plain schema names")));
		names[i] = PointerGetDatum(palloc0(NAMEDATALEN));
		strlcpy(NameStr(*(Name) DatumGetPointer(names[i])), name, NAMEDATALEN);
	}

	WorkerXactBegin(NULL);
	/* the names are a parameter: never part of the statement's text */
	values[0] = PointerGetDatum(construct_array(names, (int) expected, NAMEOID,
												NAMEDATALEN, false, TYPALIGN_CHAR));
	if (SPI_execute_with_args("SELECT FROM pg_catalog.pg_namespace "
							  "WHERE nspname OPERATOR(pg_catalog.=) ANY ($1)",
							  1, types, values, NULL, true, 0) == SPI_OK_SELECT)
		found = SPI_processed;
	WorkerXactCommit();

	if (found == expected)
		record(c, "schemas present", CHECK_OK, NULL);
	else
		record(c, "schemas present", CHECK_FAILED,
			   psprintf("%d of %d found", (int) found, (int) expected));
}

/*
 * check_airflow
 *		GET <airflow_url>/health returns 200.
 */
static void
check_airflow(const char *url, Checks *c)
{
	Endpoint	endpoint;
	HttpRequest request;

	memset(&endpoint, 0, sizeof(endpoint));
	endpoint.target = "airflow";
	endpoint.base_url = (char *) url;
	memset(&request, 0, sizeof(request));
	request.endpoint = &endpoint;
	request.method = "GET";
	request.url = psprintf("%s/health", url);
	HttpPerform(&request);
	if (request.status == 200)
		record(c, "airflow /health", CHECK_OK, NULL);
	else
		record(c, "airflow /health", CHECK_PENDING,
			   request.error ? psprintf("%.200s", request.error)
			   : psprintf("HTTP %d", request.status));
}

/*
 * finish_polling
 *		The outcome of an attempt that found something not ready yet: a
 *		poll (RETRY that uses no attempt) until tenancy.release_ready_timeout
 *		has passed since the step first started, then FAILED.  Only answers
 *		that say "not ready" come here: a read that got no usable answer is
 *		retried as such (finish_transient) and never decides the outcome.
 */
static void
finish_polling(const StepContext *context, const char *report, StepOutcome *outcome)
{
	int64		timeout_ms = (int64) tenancy_release_ready_timeout_s * 1000;
	int64		age_ms = HandlerStepAgeMs(context);

	if (age_ms >= timeout_ms)
	{
		StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
					   "not ready after %d s (tenancy.release_ready_timeout): %s",
					   (int) (age_ms / 1000), report);
		return;
	}
	StepSetOutcome(outcome, STEP_OUTCOME_RETRY, "waiting: %s", report);
	outcome->retry_after_ms = HandlerPollDelayMs(age_ms, timeout_ms - age_ms);
	outcome->poll = true;
}

/*
 * finish_transient
 *		The outcome of an attempt whose reads got no usable answer (5xx,
 *		429, no answer at all): it says nothing about readiness, so it is a
 *		poll too (no attempt used), after the delay the service asked for
 *		or a poll's delay, and it does not fail the step at the deadline.
 *		Only when the reads have had no usable answer for
 *		tenancy.unreachable_timeout past the deadline does the step fail,
 *		with that read's error.
 */
static void
finish_transient(const StepContext *context, Checks *c, StepOutcome *outcome)
{
	int64		timeout_ms = (int64) tenancy_release_ready_timeout_s * 1000;
	int64		age_ms = HandlerStepAgeMs(context);
	const char *why = c->transient_outcome.message ? c->transient_outcome.message
	: "no answer";

	*outcome = c->transient_outcome;
	if (age_ms >= timeout_ms + (int64) tenancy_unreachable_timeout_s * 1000)
	{
		StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
					   "no usable answer for %d s (tenancy.release_ready_timeout and tenancy.unreachable_timeout): %s",
					   (int) (age_ms / 1000), why);
		return;
	}
	StepSetOutcome(outcome, STEP_OUTCOME_RETRY, "%s (checks: %s)", why,
				   c->report.data);
	outcome->retry_after_ms = Max(c->transient_outcome.retry_after_ms,
								  HandlerPollDelayMs(age_ms, PG_INT64_MAX));
	outcome->poll = true;
	outcome->unreachable = false;
}

/*
 * HandleValidate
 *		The validate handler (see the file header).
 */
void
HandleValidate(const StepContext *context, StepOutcome *outcome)
{
	const char *ns = HandlerArgString(context, "namespace");
	json_t	   *release = json_object_get(context->request, "helmrelease");
	json_t	   *url = json_object_get(context->request, "airflow_url");
	Checks		c;

	memset(&c, 0, sizeof(c));
	memset(outcome, 0, sizeof(StepOutcome));
	initStringInfo(&c.report);
	if (!HandlerValidName(ns) || strchr(ns, '/') != NULL ||
		(release != NULL && (!json_is_string(release) ||
							 !HandlerValidName(json_string_value(release)) ||
							 strchr(json_string_value(release), '/') != NULL)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("malformed step request: invalid namespace or release name")));

	/*
	 * The release first: until it is Ready the other checks could not pass
	 * (its pods are not there) and polling them would triple the requests of
	 * every poll.
	 */
	if (release != NULL)
		check_release(context, ns, json_string_value(release), &c);
	if (!c.skipped && !c.pending && !c.failed && !c.transient)
	{
		check_namespace(context, ns, &c);
		check_pods(context, ns, &c);
		check_schemas(json_object_get(context->request, "schemas"), &c);
		if (json_is_string(url))
			check_airflow(json_string_value(url), &c);
	}
	if (c.skipped)
	{
		StepSetOutcome(outcome, STEP_OUTCOME_SKIPPED,
					   "no endpoint configured for kubernetes: nothing to validate");
		return;
	}

	if (c.failed)
		StepSetOutcome(outcome, STEP_OUTCOME_FAILED, "validation failed: %s", c.report.data);
	else if (c.transient)
		finish_transient(context, &c, outcome);
	else if (c.pending)
		finish_polling(context, c.report.data, outcome);
	else
		outcome->kind = STEP_OUTCOME_SUCCEEDED;
}

/*
 * HandleWaitAbsent
 *		Succeed once GET path returns 404.  With "delete": true, DELETE
 *		path first (404: gone already): the compensation of a new
 *		namespace, which ends only once the namespace is gone, so that a
 *		retry does not meet it Terminating.
 */
void
HandleWaitAbsent(const StepContext *context, StepOutcome *outcome)
{
	const char *path = HandlerArgString(context, "path");
	bool		delete = json_is_true(json_object_get(context->request, "delete"));
	bool		namespace_uid = json_is_true(json_object_get(context->request, "namespace_uid"));
	HttpRequest request;

	if (path[0] != '/' || !HandlerValidName(path + 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("malformed step request: invalid \"path\"")));
	if (delete)
	{
		/* deletes only the tenant's; anything else is left alone (skipped) */
		HandlerDeleteOwned(context, path, namespace_uid, outcome);
		if (outcome->kind != STEP_OUTCOME_SUCCEEDED)
			return;
	}
	StepHttpCall(context, "kubernetes", "GET", path, NULL, NULL, NULL, &request, outcome);
	if (request.status == 404)
	{
		memset(outcome, 0, sizeof(StepOutcome));
		outcome->kind = STEP_OUTCOME_SUCCEEDED;
	}
	else if (outcome->kind == STEP_OUTCOME_SUCCEEDED)
	{
		/* with namespace_uid: what is there now is not the tenant's */
		json_t	   *obj = namespace_uid ? HandlerResponseJson(&request) : NULL;

		if (obj != NULL && HandlerNamespaceGoneForTenant(context, obj))
			outcome->kind = STEP_OUTCOME_SUCCEEDED;
		else
			finish_polling(context, psprintf("%s still exists", path), outcome);
		json_decref(obj);
	}
}
