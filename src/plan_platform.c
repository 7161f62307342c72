/*-------------------------------------------------------------------------
 *
 * plan_platform.c
 *	  External actions of a tenant, enqueued as steps for the worker to
 *	  carry out after COMMIT: Kubernetes, Vault, Grafana, Airflow.
 *
 * Each action is a request in the step contract's shape (method, path,
 * query, content_type, body, ok_status) or a named handler; bodies never
 * hold a secret.  Kubernetes objects have deterministic names and are
 * written with server-side apply, so running a step again is harmless.
 * Here: the tenant's namespace.  RBAC, quotas, network policies, secrets,
 * the Airflow release and monitoring extend this file.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/json.h"

#include "plan.h"

/* Field manager of every server-side apply */
#define FIELD_MANAGER "tenancy"

/*
 * append_json_pair
 *		Append "key": "value" (both escaped), with a leading comma unless
 *		first.
 */
static void
append_json_pair(StringInfo buf, const char *key, const char *value, bool first)
{
	if (!first)
		appendStringInfoString(buf, ", ");
	escape_json(buf, key);
	appendStringInfoString(buf, ": ");
	escape_json(buf, value);
}

/*
 * namespace_body
 *		The Namespace object of the tenant as JSON: labels for selection and
 *		Pod Security admission, the display name as an annotation.
 */
static char *
namespace_body(const TenantModel *m)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"apiVersion\": \"v1\", \"kind\": \"Namespace\", "
						   "\"metadata\": {");
	append_json_pair(&buf, "name", m->namespace, true);
	appendStringInfoString(&buf, ", \"labels\": {");
	append_json_pair(&buf, "app.kubernetes.io/managed-by", "tenancy", true);
	append_json_pair(&buf, "tenancy.io/tenant", m->name, false);
	append_json_pair(&buf, "tenancy.io/tier", m->tier, false);
	append_json_pair(&buf, "tenancy.io/environment", m->environment, false);
	append_json_pair(&buf, "pod-security.kubernetes.io/enforce", "restricted", false);
	appendStringInfoString(&buf, "}, \"annotations\": {");
	append_json_pair(&buf, "tenancy.io/display-name", m->display_name, true);
	appendStringInfoString(&buf, "}}}");
	return buf.data;
}

/*
 * namespace_path
 *		The API path of the tenant's namespace.
 */
static char *
namespace_path(const TenantModel *m)
{
	return psprintf("/api/v1/namespaces/%s", m->namespace);
}

/*
 * delete_namespace_request
 *		DELETE of the namespace; 404 means it is already gone.
 */
static Jsonb *
delete_namespace_request(const TenantModel *m)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	append_json_pair(&buf, "method", "DELETE", true);
	append_json_pair(&buf, "path", namespace_path(m), false);
	appendStringInfoString(&buf, ", \"ok_status\": [404]}");
	return PlanJsonbFromText(buf.data);
}

/*
 * PlanPlatformProvision
 *		Server-side apply of the namespace, when it is new or its body
 *		changed since the spec last applied.  A new namespace is deleted by
 *		compensation if the operation fails; an existing one is not.
 */
void
PlanPlatformProvision(PlanContext *ctx)
{
	const TenantModel *m = ctx->model;
	const TenantModel *previous = ctx->state->platform;
	char	   *body = namespace_body(m);
	StringInfoData buf;

	if (previous != NULL && strcmp(namespace_body(previous), body) == 0)
		return;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	append_json_pair(&buf, "method", "PATCH", true);
	append_json_pair(&buf, "path", namespace_path(m), false);
	appendStringInfoString(&buf, ", \"query\": {");
	append_json_pair(&buf, "fieldManager", FIELD_MANAGER, true);
	append_json_pair(&buf, "force", "true", false);
	appendStringInfoChar(&buf, '}');
	append_json_pair(&buf, "content_type", "application/apply-patch+yaml", false);
	appendStringInfo(&buf, ", \"body\": %s}", body);

	PlanAddExternal(ctx, PLAN_TARGET_KUBERNETES, "apply",
					psprintf("namespace %s", m->namespace),
					psprintf("PATCH %s (server-side apply)", namespace_path(m)),
					PlanJsonbFromText(buf.data),
					previous == NULL ? delete_namespace_request(m) : NULL);
}

/*
 * PlanPlatformDeprovision
 *		Delete the namespace (Kubernetes deletes what it holds).
 */
void
PlanPlatformDeprovision(PlanContext *ctx)
{
	const TenantModel *m = ctx->model;

	PlanAddExternal(ctx, PLAN_TARGET_KUBERNETES, "delete",
					psprintf("namespace %s", m->namespace),
					psprintf("DELETE %s", namespace_path(m)),
					delete_namespace_request(m), NULL);
}
