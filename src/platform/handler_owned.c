/*-------------------------------------------------------------------------
 *
 * handler_owned.c
 *	  The platform steps that act only on what tenancy created for the
 *	  tenant, and can prove it (README "Security model"): the namespace,
 *	  deletes of Kubernetes objects, the Grafana dashboard.
 *
 * k8s_namespace: GET the namespace.  Absent: create it (POST, so that a
 * namespace someone creates meanwhile answers 409 instead of being taken
 * over) and record its metadata.uid in tenancy.tenants.namespace_uid.
 * Present: it must carry app.kubernetes.io/managed-by=tenancy and
 * tenancy.io/tenant=<tenant>, and, once a uid is recorded, that uid;
 * otherwise the step fails for good, naming the namespace and what is
 * wrong, and nothing is written (a namespace is never relabelled nor
 * adopted).  Then the namespace body is applied (server-side apply),
 * unless verify_only.  A namespace being deleted is waited for, polled as
 * validation polls, up to tenancy.release_ready_timeout.
 *
 * k8s_delete: GET the object (a Secret, which the worker never reads, is
 * deleted by a deletecollection selecting its name and the tenant's
 * labels instead).  Absent: done.  Not labelled as the
 * tenant's, or not the object (tenancy.platform_objects) or namespace
 * (namespace_uid) whose uid is recorded: left alone, the step skipped with
 * the reason.  Deleted or absent: its recorded uid is forgotten.  Otherwise DELETE with
 * DeleteOptions preconditions.uid set to the uid just read, so that an
 * object recreated in between by someone else is never deleted (the API
 * server answers 409; the next attempt looks again).
 *
 * dashboard: GET the dashboard by uid.  Present without the tenant's tag
 * ("tenant:<name>", MonitoringDashboardTag): the step fails (upload) or is
 * skipped (delete), naming its title.  Upload: POST with overwrite only
 * when the dashboard there is the tenant's, so that a same-titled
 * dashboard of someone else in the folder is refused (412) rather than
 * replaced.  Delete: DELETE only the tenant's.
 *
 * The tenant is the one of the step's operation (tenancy.operations), not
 * a name the request carries.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "handler.h"
#include "platform.h"
#include "spec.h"
#include "tenancy.h"

/* What the catalog says of the step's tenant */
typedef struct OwnerRecord
{
	char	   *tenant;			/* tenancy.tenants.name */
	char	   *namespace_uid;	/* tenancy.tenants.namespace_uid, or NULL */
} OwnerRecord;

/*
 * read_owner
 *		The tenant of the step's operation and its recorded namespace uid.
 *		False when the extension or the operation is gone.
 */
static bool
read_owner(const StepContext *context, OwnerRecord *owner)
{
	memset(owner, 0, sizeof(OwnerRecord));
	return OwnerRecordRead(context->step->operation_id, &owner->tenant,
						   &owner->namespace_uid);
}

/*
 * record_namespace_uid
 *		Set (or, with uid NULL, clear) the recorded namespace uid of the
 *		step's tenant.
 */
static void
record_namespace_uid(const StepContext *context, const char *uid)
{
	OwnerRecordSetNamespaceUid(context->step->operation_id, uid);
}

/*
 * object_uid
 *		metadata.uid of a Kubernetes object (borrowed), or NULL.
 */
static const char *
object_uid(json_t *obj)
{
	return json_string_value(json_object_get(json_object_get(obj, "metadata"), "uid"));
}

/*
 * OwnershipProblem
 *		NULL when obj (a Kubernetes object) carries the labels tenancy puts
 *		on the tenant's objects and, when recorded_uid is given, has that
 *		uid; else why not, as a phrase ("it is labelled ...").
 */
char *
OwnershipProblem(json_t *obj, const char *tenant, const char *recorded_uid)
{
	json_t	   *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
	const char *manager = json_string_value(json_object_get(labels, "app.kubernetes.io/managed-by"));
	const char *owner = json_string_value(json_object_get(labels, "tenancy.io/tenant"));
	const char *uid = object_uid(obj);

	if (manager == NULL || strcmp(manager, PLATFORM_FIELD_MANAGER) != 0)
		return psprintf("it is not labelled app.kubernetes.io/managed-by=%s (found %s%.63s%s)",
						PLATFORM_FIELD_MANAGER, manager ? "\"" : "", manager ? manager : "no such label",
						manager ? "\"" : "");
	if (owner == NULL || strcmp(owner, tenant) != 0)
		return psprintf("it is not labelled tenancy.io/tenant=%s (found %s%.63s%s)",
						tenant, owner ? "\"" : "", owner ? owner : "no such label",
						owner ? "\"" : "");
	if (recorded_uid != NULL && (uid == NULL || strcmp(uid, recorded_uid) != 0))
		return psprintf("its uid %.64s is not %.64s, the uid of the namespace tenancy created: it was deleted and created again by someone else",
						uid ? uid : "(none)", recorded_uid);
	return NULL;
}

/*
 * get_object
 *		GET path from a target; the response as JSON (a new reference) when
 *		it answers 200.  NULL with *outcome SUCCEEDED and *absent when it
 *		answers 404; NULL with the failed outcome otherwise.
 */
static json_t *
get_object(const StepContext *context, const char *target, const char *path,
		   bool *absent, StepOutcome *outcome)
{
	HttpRequest request;
	json_t	   *obj;

	*absent = false;
	StepHttpCall(context, target, "GET", path, NULL, NULL, NULL, &request, outcome);
	if (request.status == 404)
	{
		memset(outcome, 0, sizeof(StepOutcome));
		outcome->kind = STEP_OUTCOME_SUCCEEDED;
		*absent = true;
		return NULL;
	}
	if (outcome->kind != STEP_OUTCOME_SUCCEEDED)
		return NULL;
	obj = HandlerResponseJson(&request);
	if (!json_is_object(obj))
	{
		json_decref(obj);
		StepSetOutcome(outcome, STEP_OUTCOME_RETRY,
					   "GET %.200s answered %d without a JSON object", path, request.status);
		return NULL;
	}
	return obj;
}

/*
 * k8s_path_arg
 *		The "path" argument: a Kubernetes API path of plain name segments.
 */
static const char *
k8s_path_arg(const StepContext *context)
{
	const char *path = HandlerArgString(context, "path");

	if ((strncmp(path, "/api/", 5) != 0 && strncmp(path, "/apis/", 6) != 0) ||
		!HandlerValidName(path + 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("malformed step request: \"path\" must be a Kubernetes API path")));
	return path;
}

/*
 * flag_arg
 *		An optional boolean argument (false when absent).
 */
static bool
flag_arg(const StepContext *context, const char *key)
{
	return json_is_true(json_object_get(context->request, key));
}

/*
 * owner_or_fail
 *		read_owner, or a failed outcome when the step's tenant cannot be
 *		read (the operation was purged, the extension dropped).
 */
static bool
owner_or_fail(const StepContext *context, OwnerRecord *owner, StepOutcome *outcome)
{
	if (read_owner(context, owner))
		return true;
	StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
				   "the step's operation or tenant is no longer in the catalog");
	return false;
}

/*
 * create_namespace
 *		POST the namespace and record its uid.  409: someone created it
 *		meanwhile; the next attempt looks at it (and refuses it unless it
 *		is the tenant's).
 */
static void
create_namespace(const StepContext *context, const char *ns, json_t *body,
				 StepOutcome *outcome)
{
	HttpRequest request;
	json_t	   *created;

	StepHttpCall(context, "kubernetes", "POST", "/api/v1/namespaces",
				 "fieldManager=" PLATFORM_FIELD_MANAGER, body, "application/json",
				 &request, outcome);
	if (request.status == 409)
	{
		StepSetOutcome(outcome, STEP_OUTCOME_RETRY,
					   "namespace \"%s\" was created by someone else meanwhile: looking at it again",
					   ns);
		outcome->http_status = 409;
		return;
	}
	if (outcome->kind != STEP_OUTCOME_SUCCEEDED)
		return;
	created = HandlerResponseJson(&request);
	if (object_uid(created) == NULL)
		StepSetOutcome(outcome, STEP_OUTCOME_RETRY,
					   "creating namespace \"%s\" answered no metadata.uid", ns);
	else
		record_namespace_uid(context, object_uid(created));
	json_decref(created);
}

/*
 * HandleK8sNamespace
 *		The k8s_namespace handler (see the file header).  Arguments:
 *		namespace, body (the Namespace), verify_only.
 */
void
HandleK8sNamespace(const StepContext *context, StepOutcome *outcome)
{
	const char *ns = HandlerArgString(context, "namespace");
	json_t	   *body = json_object_get(context->request, "body");
	const char *body_name = json_string_value(json_object_get(json_object_get(body, "metadata"),
															  "name"));
	char	   *path;
	OwnerRecord owner;
	json_t	   *obj;
	bool		absent;
	char	   *problem;

	memset(outcome, 0, sizeof(StepOutcome));
	if (!SpecIsDnsLabel(ns, 63) || !json_is_object(body) || body_name == NULL ||
		strcmp(body_name, ns) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("malformed step request: \"namespace\" must be a DNS label and \"body\" a Namespace of that name")));
	if (!owner_or_fail(context, &owner, outcome))
		return;
	path = psprintf("/api/v1/namespaces/%s", ns);

	obj = get_object(context, "kubernetes", path, &absent, outcome);
	if (absent)
	{
		/* a uid recorded earlier is of a namespace that is gone */
		if (owner.namespace_uid != NULL)
			record_namespace_uid(context, NULL);
		create_namespace(context, ns, body, outcome);
		return;
	}
	if (obj == NULL)
		return;

	problem = OwnershipProblem(obj, owner.tenant, owner.namespace_uid);
	if (problem != NULL)
	{
		json_decref(obj);
		StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
					   "namespace \"%s\" exists and was not created by tenancy for tenant \"%s\": %s; "
					   "it was left unchanged. Delete or rename that namespace, or give the tenant "
					   "another resources.kubernetes.namespace",
					   ns, owner.tenant, problem);
		return;
	}
	if (json_object_get(json_object_get(obj, "metadata"), "deletionTimestamp") != NULL)
	{
		int64		timeout_ms = (int64) tenancy_release_ready_timeout_s * 1000;
		int64		age_ms = HandlerStepAgeMs(context);

		json_decref(obj);
		if (age_ms >= timeout_ms)
		{
			StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
						   "namespace \"%s\" is still being deleted after %d s (tenancy.release_ready_timeout)",
						   ns, (int) (age_ms / 1000));
			return;
		}
		StepSetOutcome(outcome, STEP_OUTCOME_RETRY,
					   "namespace \"%s\" is being deleted: waiting until it is gone", ns);
		outcome->retry_after_ms = HandlerPollDelayMs(age_ms, timeout_ms - age_ms);
		outcome->poll = true;
		return;
	}
	/* created by tenancy, uid not recorded yet (a crash after the POST) */
	if (owner.namespace_uid == NULL)
		record_namespace_uid(context, object_uid(obj));
	json_decref(obj);

	if (flag_arg(context, "verify_only"))
	{
		outcome->kind = STEP_OUTCOME_SUCCEEDED;
		return;
	}
	{
		HttpRequest request;

		StepHttpCall(context, "kubernetes", "PATCH", path,
					 "fieldManager=" PLATFORM_FIELD_MANAGER "&force=true", body,
					 "application/apply-patch+yaml", &request, outcome);
	}
}

/*
 * delete_secret_if_labelled
 *		Delete the Secret name in namespace ns only if it carries the
 *		tenant's labels, without reading it (the worker never reads
 *		Secrets): a deletecollection whose label selector is the tenant's
 *		labels and whose field selector is the name, so that the API server
 *		decides atomically.  Nothing matched: the Secret is absent or not
 *		the tenant's, and is left alone.
 */
static void
delete_secret_if_labelled(const StepContext *context, const char *ns,
						  const char *name, const char *tenant,
						  StepOutcome *outcome)
{
	HttpRequest request;
	json_t	   *answer;
	size_t		deleted;

	StepHttpCall(context, "kubernetes", "DELETE",
				 psprintf("/api/v1/namespaces/%s/secrets", ns),
				 psprintf("labelSelector=app.kubernetes.io%%2Fmanaged-by%%3D%s%%2Ctenancy.io%%2Ftenant%%3D%s"
						  "&fieldSelector=metadata.name%%3D%s",
						  PLATFORM_FIELD_MANAGER, tenant, name),
				 NULL, NULL, &request, outcome);
	if (outcome->kind != STEP_OUTCOME_SUCCEEDED)
		return;
	answer = HandlerResponseJson(&request);
	deleted = json_array_size(json_object_get(answer, "items"));
	json_decref(answer);
	if (deleted == 0)
		StepSetOutcome(outcome, STEP_OUTCOME_SKIPPED,
					   "left alone: no Secret %s/%s labelled as tenant \"%s\"'s (absent, or not the tenant's)",
					   ns, name, tenant);
}

/*
 * secret_path
 *		Whether path is /api/v1/namespaces/<ns>/secrets/<name>; *ns and
 *		*name then point into a copy.
 */
static bool
secret_path(const char *path, char **ns, char **name)
{
	const char *prefix = "/api/v1/namespaces/";
	char	   *copy;
	char	   *slash;

	if (strncmp(path, prefix, strlen(prefix)) != 0)
		return false;
	copy = pstrdup(path + strlen(prefix));
	slash = strchr(copy, '/');
	if (slash == NULL || strncmp(slash, "/secrets/", 9) != 0 ||
		strchr(slash + 9, '/') != NULL || slash[9] == '\0')
		return false;
	*slash = '\0';
	*ns = copy;
	*name = slash + 9;
	return true;
}

/*
 * HandleK8sDelete
 *		The k8s_delete handler (see the file header).  Arguments: path,
 *		namespace_uid (the object is the tenant's namespace: its uid must be
 *		the recorded one, when one is).
 */
void
HandleK8sDelete(const StepContext *context, StepOutcome *outcome)
{
	HandlerDeleteOwned(context, k8s_path_arg(context),
					   flag_arg(context, "namespace_uid"), outcome);
}

/*
 * forget_object_uid
 *		Forget the recorded uid of an object tenancy deleted (or found
 *		gone), so that one someone else creates under the name later is
 *		refused as foreign (handler_apply.c), not as a replacement of
 *		tenancy's.  Namespaces keep theirs in tenancy.tenants.
 */
static void
forget_object_uid(const StepContext *context, const char *path, bool namespace_uid)
{
	if (!namespace_uid && strstr(path, "/namespaces/") != NULL &&
		strchr(strstr(path, "/namespaces/") + strlen("/namespaces/"), '/') != NULL)
		OwnerRecordSetObjectUid(context->step->operation_id, path, NULL);
}

/*
 * HandlerDeleteOwned
 *		Delete the Kubernetes object at path if it is the step's tenant's
 *		(k8s_delete; wait_absent with "delete"): SUCCEEDED when deleted, being
 *		deleted or absent; SKIPPED, with the reason, when it is not the
 *		tenant's and was left alone.
 */
void
HandlerDeleteOwned(const StepContext *context, const char *path,
				   bool namespace_uid, StepOutcome *outcome)
{
	OwnerRecord owner;
	json_t	   *obj;
	json_t	   *options;
	bool		absent;
	char	   *problem;
	char	   *secret_ns;
	char	   *secret_name;
	HttpRequest request;

	memset(outcome, 0, sizeof(StepOutcome));
	if (!owner_or_fail(context, &owner, outcome))
		return;
	if (secret_path(path, &secret_ns, &secret_name))
	{
		delete_secret_if_labelled(context, secret_ns, secret_name, owner.tenant, outcome);
		if (outcome->kind == STEP_OUTCOME_SUCCEEDED)
			forget_object_uid(context, path, namespace_uid);
		return;
	}
	obj = get_object(context, "kubernetes", path, &absent, outcome);
	if (obj == NULL)
	{
		/* gone already, or the GET failed */
		if (absent)
			forget_object_uid(context, path, namespace_uid);
		return;
	}

	problem = OwnershipProblem(obj, owner.tenant, namespace_uid ? owner.namespace_uid : NULL);
	if (problem == NULL && !namespace_uid)
	{
		char	   *recorded = OwnerRecordObjectUid(context->step->operation_id, path);
		const char *uid = object_uid(obj);

		if (recorded != NULL && (uid == NULL || strcmp(uid, recorded) != 0))
			problem = psprintf("its uid %.64s is not %.64s, the uid of the object tenancy created: "
							   "it was deleted and created again by someone else",
							   uid ? uid : "(none)", recorded);
	}
	if (problem != NULL)
	{
		json_decref(obj);
		StepSetOutcome(outcome, STEP_OUTCOME_SKIPPED,
					   "left alone: %s is not tenant \"%s\"'s: %s", path, owner.tenant, problem);
		return;
	}
	if (json_object_get(json_object_get(obj, "metadata"), "deletionTimestamp") != NULL)
	{
		json_decref(obj);
		outcome->kind = STEP_OUTCOME_SUCCEEDED;
		return;
	}

	options = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "DeleteOptions",
						"preconditions", "uid", object_uid(obj));
	json_decref(obj);
	if (options == NULL)
	{
		StepSetOutcome(outcome, STEP_OUTCOME_RETRY, "%s has no metadata.uid", path);
		return;
	}
	PG_TRY();
	{
		StepHttpCall(context, "kubernetes", "DELETE", path, NULL, options,
					 "application/json", &request, outcome);
	}
	PG_FINALLY();
	{
		json_decref(options);
	}
	PG_END_TRY();
	if (request.status == 404)
	{
		memset(outcome, 0, sizeof(StepOutcome));
		outcome->kind = STEP_OUTCOME_SUCCEEDED;
	}
	if (outcome->kind == STEP_OUTCOME_SUCCEEDED)
		forget_object_uid(context, path, namespace_uid);
	else if (request.status == 409)
		StepSetOutcome(outcome, STEP_OUTCOME_RETRY,
					   "%s changed between reading and deleting it (409): looking again", path);
}

/*
 * HandlerNamespaceGoneForTenant
 *		For wait_absent with namespace_uid: whether obj, which still exists
 *		at the namespace's path, is not the tenant's namespace (so that
 *		k8s_delete left it alone, and waiting for it to go is pointless).
 */
bool
HandlerNamespaceGoneForTenant(const StepContext *context, json_t *obj)
{
	OwnerRecord owner;

	if (!read_owner(context, &owner))
		return false;
	return OwnershipProblem(obj, owner.tenant, owner.namespace_uid) != NULL;
}

/*
 * dashboard_is_tenants
 *		Whether a Grafana GET /api/dashboards/uid answer is a dashboard
 *		carrying the tenant's tag.
 */
static bool
dashboard_is_tenants(json_t *answer, const char *tenant)
{
	json_t	   *tags = json_object_get(json_object_get(answer, "dashboard"), "tags");
	char	   *tag = MonitoringDashboardTag(tenant);
	json_t	   *item;
	size_t		i;

	json_array_foreach(tags, i, item)
	{
		if (json_is_string(item) && strcmp(json_string_value(item), tag) == 0)
			return true;
	}
	return false;
}

/*
 * HandleDashboard
 *		The dashboard handler (see the file header).  Arguments: uid,
 *		method (POST with body: upload; DELETE).
 */
void
HandleDashboard(const StepContext *context, StepOutcome *outcome)
{
	const char *uid = HandlerArgString(context, "uid");
	const char *method = HandlerArgString(context, "method");
	json_t	   *body = json_object_get(context->request, "body");
	bool		upload = strcmp(method, "POST") == 0;
	char	   *path;
	OwnerRecord owner;
	json_t	   *answer;
	bool		absent;
	HttpRequest request;

	memset(outcome, 0, sizeof(StepOutcome));
	if (strlen(uid) == 0 || strlen(uid) > 40 ||
		strspn(uid, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != strlen(uid) ||
		(!upload && strcmp(method, "DELETE") != 0) ||
		(upload && (!json_is_object(body) ||
					!json_equal(json_object_get(json_object_get(body, "dashboard"), "uid"),
								json_object_get(context->request, "uid")))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("malformed step request: a dashboard step needs a Grafana \"uid\", and \"method\" POST with a \"body\" of that uid, or DELETE")));
	if (!owner_or_fail(context, &owner, outcome))
		return;
	path = psprintf("/api/dashboards/uid/%s", uid);
	answer = get_object(context, "grafana", path, &absent, outcome);
	if (answer == NULL && !absent)
		return;
	if (answer != NULL && !dashboard_is_tenants(answer, owner.tenant))
	{
		const char *title = json_string_value(json_object_get(json_object_get(answer, "dashboard"),
															  "title"));

		StepSetOutcome(outcome, upload ? STEP_OUTCOME_FAILED : STEP_OUTCOME_SKIPPED,
					   "%sdashboard %s (\"%.100s\") is not tenant \"%s\"'s: it has no tag \"%s\"%s",
					   upload ? "" : "left alone: ", uid, title ? title : "", owner.tenant,
					   MonitoringDashboardTag(owner.tenant),
					   upload ? "; it was left unchanged. Delete it or give it another uid" : "");
		json_decref(answer);
		return;
	}
	json_decref(answer);

	if (!upload)
	{
		if (absent)
			return;				/* SUCCEEDED: gone already */
		StepHttpCall(context, "grafana", "DELETE", path, NULL, NULL, NULL, &request, outcome);
		if (request.status == 404)
		{
			memset(outcome, 0, sizeof(StepOutcome));
			outcome->kind = STEP_OUTCOME_SUCCEEDED;
		}
		return;
	}

	/* overwrite only our own dashboard: a same-titled one is refused (412) */
	json_object_set_new(body, "overwrite", json_boolean(!absent));
	StepHttpCall(context, "grafana", "POST", "/api/dashboards/db", NULL, body,
				 "application/json", &request, outcome);
	if (request.status == 412)
	{
		json_t	   *err = HandlerResponseJson(&request);
		const char *status = json_string_value(json_object_get(err, "status"));

		if (absent && status != NULL && strcmp(status, "name-exists") == 0)
			StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
						   "Grafana already has a dashboard titled like tenant \"%s\"'s in its folder, and it is not the tenant's; it was left unchanged. Rename or delete it",
						   owner.tenant);
		else
			StepSetOutcome(outcome, STEP_OUTCOME_RETRY,
						   "dashboard %s changed meanwhile (412 %.40s): looking again",
						   uid, status ? status : "");
		outcome->http_status = 412;
		json_decref(err);
	}
}
