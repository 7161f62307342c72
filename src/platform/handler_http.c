/*-------------------------------------------------------------------------
 *
 * handler_http.c
 *	  Shared helpers of the platform steps' handlers: handler arguments,
 *	  responses as JSON, Vault KV v2, Kubernetes Secrets, polling delays;
 *	  and the registration of the handlers.  Their requests go through
 *	  StepHttpCall (step_exec.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/timestamp.h"

#include "endpoint.h"
#include "handler.h"
#include "journal.h"
#include "platform.h"
#include "spec.h"
#include "tenancy.h"

/* Shortest and longest wait between two polls of a handler */
#define POLL_MIN_MS 100
#define POLL_MAX_MS 10000

/* A poll waits this fraction of the time waited so far (backoff). */
#define POLL_AGE_DIVISOR 10

/*
 * RegisterPlatformStepHandlers
 *		The handlers of the platform steps (called from
 *		RegisterBuiltinStepHandlers).
 */
void
RegisterPlatformStepHandlers(void)
{
	RegisterStepHandler("database_credentials", HandleDatabaseCredentials);
	RegisterStepHandler("vault_secret", HandleVaultSecret);
	RegisterStepHandler("helm_release", HandleHelmRelease);
	/* helm children that ended are reaped, polled by their step or not */
	RegisterStepHousekeeping(HelmReapChildren);
	RegisterStepHandler("validate", HandleValidate);
	RegisterStepHandler("wait_absent", HandleWaitAbsent);
	RegisterStepHandler("k8s_namespace", HandleK8sNamespace);
	RegisterStepHandler("k8s_apply", HandleK8sApply);
	RegisterStepHandler("k8s_delete", HandleK8sDelete);
	RegisterStepHandler("dashboard", HandleDashboard);
	RegisterStepHandler("audit_object", HandleAuditObject);
	RegisterStepHandler("audit_vault", HandleAuditVault);
	RegisterStepHandler("pod_requests", HandlePodRequests);
	RegisterStepHandler("audit_remote", HandleAuditRemote);
}

/*
 * HandlerArgString
 *		A required string argument of the step's request; an ERROR (which
 *		fails the step) when it is missing.
 */
const char *
HandlerArgString(const StepContext *context, const char *key)
{
	json_t	   *value = json_object_get(context->request, key);

	if (!json_is_string(value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("malformed step request: \"%s\" must be a string", key)));
	return json_string_value(value);
}

/*
 * HandlerValidName
 *		A Kubernetes name or Vault path segment list: letters, digits, "-",
 *		"_", "." and "/", no dot segments, not starting with "/" or "-".
 *		Keeps handler arguments out of URL syntax, and out of option
 *		syntax on a command line (helm).
 */
bool
HandlerValidName(const char *name)
{
	size_t		len = strlen(name);

	return len > 0 && len <= 253 &&
		strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./") == len &&
		strstr(name, "..") == NULL && name[0] != '/' && name[0] != '-';
}

/*
 * HandlerResponseJson
 *		The response body as JSON (a new reference; NULL if not JSON).
 */
json_t *
HandlerResponseJson(const HttpRequest *request)
{
	json_error_t jerr;

	if (request->response == NULL || request->response_len == 0)
		return NULL;
	return json_loadb(request->response, request->response_len, 0, &jerr);
}

/*
 * HandlerWipeJson
 *		Overwrite every string in value (secrets read from Vault or
 *		generated) before it is freed.
 */
void
HandlerWipeJson(json_t *value)
{
	const char *key;
	json_t	   *item;
	size_t		i;

	if (json_is_string(value))
		explicit_bzero((char *) json_string_value(value), json_string_length(value));
	else if (json_is_object(value))
	{
		json_object_foreach(value, key, item)
			HandlerWipeJson(item);
	}
	else if (json_is_array(value))
	{
		json_array_foreach(value, i, item)
			HandlerWipeJson(item);
	}
}

/*
 * HandlerVaultDataPath
 *		The API path of a KV v2 secret under tenancy.vault_kv_mount.
 */
char *
HandlerVaultDataPath(const char *path)
{
	return psprintf("/v1/%s/data/%s",
					tenancy_vault_kv_mount ? tenancy_vault_kv_mount : "secret", path);
}

/*
 * HandlerVaultRead
 *		The data of a KV v2 secret (a new reference the caller wipes and
 *		frees), and its version.  NULL with outcome SUCCEEDED when there is
 *		no such secret (404); NULL with another outcome when the read
 *		failed.
 */
json_t *
HandlerVaultRead(const StepContext *context, const char *path, int *version,
				 StepOutcome *outcome)
{
	HttpRequest request;
	json_t	   *root;
	json_t	   *data;

	if (!SpecVaultPathValid(path, strlen(path)))
	{
		StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
					   "invalid Vault path \"%.100s\"", path);
		return NULL;
	}
	StepHttpCall(context, "vault", "GET", HandlerVaultDataPath(path), NULL, NULL,
				 NULL, &request, outcome);
	if (request.status == 404)
	{
		memset(outcome, 0, sizeof(StepOutcome));
		outcome->kind = STEP_OUTCOME_SUCCEEDED;
		return NULL;
	}
	if (outcome->kind != STEP_OUTCOME_SUCCEEDED)
		return NULL;

	root = HandlerResponseJson(&request);
	if (request.response)
		explicit_bzero(request.response, request.response_len);
	data = json_object_get(json_object_get(root, "data"), "data");
	if (!json_is_object(data))
	{
		HandlerWipeJson(root);
		json_decref(root);
		StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
					   "Vault returned no KV v2 data for \"%.100s\"", path);
		return NULL;
	}
	if (version)
		*version = (int) json_integer_value(json_object_get(json_object_get(json_object_get(root, "data"),
																			"metadata"),
															"version"));
	json_incref(data);
	json_decref(root);
	return data;
}

/*
 * HandlerTenantLabel
 *		The request's "tenant" when it is a tenant name, for the
 *		tenancy.io/tenant label of what the handler writes; NULL when absent
 *		(steps enqueued by 0.1.0).
 */
const char *
HandlerTenantLabel(const StepContext *context)
{
	const char *tenant = json_string_value(json_object_get(context->request, "tenant"));

	if (tenant != NULL && !SpecIsName(tenant, 63))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("malformed step request: \"tenant\" must be a tenant name")));
	return tenant;
}

/*
 * HandlerApplySecret
 *		Server-side apply of an Opaque Secret with string_data (borrowed),
 *		labelled as tenancy's and the step's tenant's (HandlerTenantLabel),
 *		only to a Secret tenancy created (HandlerApplyOwned).
 */
void
HandlerApplySecret(const StepContext *context, const char *ns, const char *name,
				   json_t *string_data, StepOutcome *outcome)
{
	json_t	   *secret;

	if (!HandlerValidName(ns) || !HandlerValidName(name) || strchr(ns, '/') || strchr(name, '/'))
	{
		StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
					   "invalid secret name \"%.100s/%.100s\"", ns, name);
		return;
	}
	secret = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:s, s:O}",
					   "apiVersion", "v1", "kind", "Secret",
					   "metadata", "name", name, "namespace", ns,
					   "labels", "app.kubernetes.io/managed-by", "tenancy",
					   "type", "Opaque", "stringData", string_data);
	if (secret == NULL)
		elog(ERROR, "out of memory building a Secret");
	if (HandlerTenantLabel(context) != NULL)
		json_object_set_new(json_object_get(json_object_get(secret, "metadata"), "labels"),
							"tenancy.io/tenant", json_string(HandlerTenantLabel(context)));
	PG_TRY();
	{
		HandlerApplyOwned(context, psprintf("/api/v1/namespaces/%s/secrets/%s", ns, name),
						  secret, false, NULL, outcome);
	}
	PG_FINALLY();
	{
		json_decref(secret);
	}
	PG_END_TRY();
}

/*
 * HandlerStepAgeMs
 *		How long ago the step first started (its started_at), in ms, as
 *		the claim returned it: every step a handler runs was claimed.  0
 *		when it has no start (a compensation whose step never ran).
 */
int64
HandlerStepAgeMs(const StepContext *context)
{
	if (context->step->started_at == 0)
		return 0;
	return Max((GetCurrentTimestamp() - context->step->started_at) / 1000, 0);
}

/*
 * HandlerPollDelayMs
 *		When to poll again for something that is not ready yet, age_ms
 *		after the step first started and remaining_ms before its deadline:
 *		a tenth of the age (quick polls at first, fewer as the wait goes
 *		on), between 100 ms and 10 s, and no later than the deadline.  So
 *		a release that becomes Ready is noticed within 100 ms, or 10% of
 *		the wait, whichever is longer (a HelmRelease Ready 1.5 s after it
 *		was applied: within 150 ms), at about 25 polls in the first minute.
 *		A poll is not an attempt (StepOutcome.poll), so how many polls fit
 *		does not depend on tenancy.max_attempts.
 */
int64
HandlerPollDelayMs(int64 age_ms, int64 remaining_ms)
{
	int64		delay = Min(Max(age_ms / POLL_AGE_DIVISOR, POLL_MIN_MS), POLL_MAX_MS);

	return Max(Min(delay, remaining_ms), POLL_MIN_MS);
}
