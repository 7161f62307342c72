/*-------------------------------------------------------------------------
 *
 * handler_apply.c
 *	  Applying an object in the tenant's namespace only if tenancy created
 *	  it for that tenant, and can prove it (README "Security model").
 *
 * Server-side apply with force creates an object that is absent and takes
 * over one that is present, whoever created it.  So an object is applied
 * only with the metadata.uid tenancy recorded when it created it
 * (tenancy.platform_objects): the API server then updates that object and
 * no other, refusing with 422 ("metadata.uid: field is immutable") when
 * what has the name now was created by someone else, and with 409 ("uid
 * mismatch ... no existing object was found") when it is gone.
 *
 * An object with no recorded uid, or one that is gone, is created with
 * POST, which answers 409 when an object of that name exists, and then
 * applied once with its new uid (so that its fields belong to the apply's
 * field manager entry, which removes what a later spec drops).  Such an
 * object is refused, and left unchanged, unless it carries the labels
 * tenancy puts on the tenant's objects (it was created by tenancy before
 * its uid was recorded: by an attempt that ended before it could record
 * it, or by a version that recorded no uids); then its uid is recorded
 * and the apply goes on as above.  The uid of an object created here is
 * recorded with the attempt's outcome, in the same transaction
 * (StepRecordCreated): an attempt that ends before that is the case of
 * the labels.
 *
 * The step's request keeps the method, path, query and body of a plain
 * server-side apply (as tenancy.plan shows it and the audit reads it),
 * plus "handler": "k8s_apply" and "recorded", the uid the planner found in
 * tenancy.platform_objects (null: none), so that the common case reads no
 * record.  A recorded uid that a later operation replaced before this step
 * ran answers 422 and is read again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "handler.h"
#include "platform.h"
#include "tenancy.h"

/*
 * collection_path
 *		The path to POST an object at path to: path without its last
 *		segment.
 */
static char *
collection_path(const char *path)
{
	const char *slash = strrchr(path, '/');

	return pnstrdup(path, slash - path);
}

/*
 * wipe_response
 *		Zero a response body: a Secret's answer holds its data.
 */
static void
wipe_response(HttpRequest *request)
{
	if (request->response)
		explicit_bzero(request->response, request->response_len);
}

/*
 * response_uid
 *		metadata.uid of the object a request answered, palloc'd, or NULL.
 */
static char *
response_uid(HttpRequest *request)
{
	json_t	   *obj = HandlerResponseJson(request);
	const char *uid = json_string_value(json_object_get(json_object_get(obj, "metadata"),
														"uid"));
	char	   *copy = uid ? pstrdup(uid) : NULL;

	if (obj != NULL)
		HandlerWipeJson(obj);
	json_decref(obj);
	wipe_response(request);
	return copy;
}

/* What an apply carrying a uid found */
typedef enum UidApply
{
	UID_APPLIED,				/* the object with that uid: *outcome says how
								 * the apply went */
	UID_GONE,					/* no object of that name */
	UID_OTHER					/* an object of that name with another uid */
} UidApply;

/*
 * apply_with_uid
 *		Server-side apply of body at path, only to the object whose uid is
 *		uid (see the file header).
 */
static UidApply
apply_with_uid(const StepContext *context, const char *path, json_t *body,
			   const char *uid, StepOutcome *outcome)
{
	HttpRequest request;
	json_t	   *metadata = json_object_get(body, "metadata");
	UidApply	result = UID_APPLIED;

	/* the body is this attempt's copy of the request's: set, then remove */
	if (!json_is_object(metadata) ||
		json_object_set_new(metadata, "uid", json_string(uid)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("malformed step request: \"body\" must be a Kubernetes object with metadata")));
	PG_TRY();
	{
		StepHttpCall(context, "kubernetes", "PATCH", path,
					 "fieldManager=" PLATFORM_FIELD_MANAGER "&force=true", body,
					 "application/apply-patch+yaml", &request, outcome);
	}
	PG_FINALLY();
	{
		json_object_del(metadata, "uid");
	}
	PG_END_TRY();
	/* with force there is no field conflict: a 409 is the uid's */
	if (request.status == 409)
		result = UID_GONE;
	else if (request.status == 422 &&
			 strstr(HttpResponseSummary(&request), "metadata.uid") != NULL)
		result = UID_OTHER;
	wipe_response(&request);
	return result;
}

/*
 * create_object
 *		POST body to create the object at path, and record its uid (with the
 *		attempt's outcome: StepRecordCreated).  Returns that uid; NULL with
 *		*exists when an object of that name exists already (409), NULL with
 *		the outcome otherwise.
 */
static char *
create_object(const StepContext *context, const char *path, json_t *body,
			  bool *exists, StepOutcome *outcome)
{
	HttpRequest request;
	char	   *uid;

	*exists = false;
	StepHttpCall(context, "kubernetes", "POST", collection_path(path),
				 "fieldManager=" PLATFORM_FIELD_MANAGER, body, "application/json",
				 &request, outcome);
	if (request.status == 409)
	{
		wipe_response(&request);
		*exists = true;
		return NULL;
	}
	if (outcome->kind != STEP_OUTCOME_SUCCEEDED)
	{
		wipe_response(&request);
		return NULL;
	}
	uid = response_uid(&request);
	if (uid == NULL)
		StepSetOutcome(outcome, STEP_OUTCOME_RETRY,
					   "creating %s answered no metadata.uid", path);
	else
		StepRecordCreated(context, path, uid);
	return uid;
}

/*
 * labels_problem
 *		NULL when obj carries the labels tenancy puts on the tenant's
 *		objects; else why not, as a phrase.  A Secret may lack the
 *		tenancy.io/tenant label: versions before 0.2.0 put none on Secrets
 *		(and it is in the tenant's namespace, whose uid is recorded).
 */
static char *
labels_problem(json_t *obj, const char *tenant, bool secret)
{
	json_t	   *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
	const char *manager = json_string_value(json_object_get(labels, "app.kubernetes.io/managed-by"));

	if (secret && json_object_get(labels, "tenancy.io/tenant") == NULL &&
		manager != NULL && strcmp(manager, PLATFORM_FIELD_MANAGER) == 0)
		return NULL;
	return OwnershipProblem(obj, tenant, NULL);
}

/*
 * read_secret_as_is
 *		The Secret at path as it is, answered by an empty merge patch in
 *		dry-run mode (see uid_of_labelled).
 */
static void
read_secret_as_is(const StepContext *context, const char *path,
				  HttpRequest *request, StepOutcome *outcome)
{
	/* not json_object(): the server exports a function of that name */
	json_t	   *empty = json_pack("{}");

	PG_TRY();
	{
		StepHttpCall(context, "kubernetes", "PATCH", path, "dryRun=All", empty,
					 "application/merge-patch+json", request, outcome);
	}
	PG_FINALLY();
	{
		json_decref(empty);
	}
	PG_END_TRY();
}

/*
 * uid_of_labelled
 *		The uid of the object at path if it carries the tenant's labels (it
 *		was created by tenancy before its uid was recorded); NULL with a
 *		failed (or retried) outcome otherwise.  A Secret is looked at with
 *		an empty merge patch in dry-run mode, which answers the object as
 *		it is: the worker may patch Secrets but not get them (it has no
 *		business reading them), and the answer is wiped at once.
 */
static char *
uid_of_labelled(const StepContext *context, const char *path,
				StepOutcome *outcome)
{
	HttpRequest request;
	json_t	   *obj;
	char	   *tenant;
	char	   *namespace_uid;
	char	   *problem;
	char	   *uid = NULL;

	if (!OwnerRecordRead(context->step->operation_id, &tenant, &namespace_uid))
	{
		StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
					   "the step's operation or tenant is no longer in the catalog");
		return NULL;
	}
	if (strstr(path, "/secrets/") != NULL)
		read_secret_as_is(context, path, &request, outcome);
	else
		StepHttpCall(context, "kubernetes", "GET", path, NULL, NULL, NULL,
					 &request, outcome);
	if (request.status == 404)
	{
		wipe_response(&request);
		StepSetOutcome(outcome, STEP_OUTCOME_RETRY,
					   "%s was deleted meanwhile: creating it again", path);
		return NULL;
	}
	if (outcome->kind != STEP_OUTCOME_SUCCEEDED)
	{
		wipe_response(&request);
		return NULL;
	}
	obj = HandlerResponseJson(&request);
	wipe_response(&request);
	problem = labels_problem(obj, tenant, strstr(path, "/secrets/") != NULL);
	if (problem == NULL)
	{
		const char *found = json_string_value(json_object_get(json_object_get(obj, "metadata"),
															  "uid"));

		if (found == NULL)
			problem = pstrdup("it has no metadata.uid");
		else
			uid = pstrdup(found);
	}
	if (obj != NULL)
		HandlerWipeJson(obj);
	json_decref(obj);
	if (problem != NULL)
		StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
					   "%s exists and was not created by tenancy for tenant \"%s\": %s; "
					   "it was left unchanged. Delete or rename it, then retry the operation",
					   path, tenant, problem);
	return uid;
}

/*
 * refuse_other
 *		The failed outcome of an apply that found, under the name, an object
 *		other than the one tenancy created (uid).
 */
static void
refuse_other(const char *path, const char *uid, StepOutcome *outcome)
{
	StepSetOutcome(outcome, STEP_OUTCOME_FAILED,
				   "%s is not the object tenancy created (uid %s): it was deleted and "
				   "created again by someone else, and was left unchanged. "
				   "Delete it, then retry the operation",
				   path, uid);
}

/*
 * apply_to_recorded
 *		apply_with_uid to the object tenancy created (uid), with the outcome
 *		of each case.
 */
static void
apply_to_recorded(const StepContext *context, const char *path, json_t *body,
				  const char *uid, StepOutcome *outcome)
{
	switch (apply_with_uid(context, path, body, uid, outcome))
	{
		case UID_APPLIED:
			break;
		case UID_GONE:
			StepSetOutcome(outcome, STEP_OUTCOME_RETRY,
						   "%s was deleted meanwhile: creating it again", path);
			break;
		case UID_OTHER:
			refuse_other(path, uid, outcome);
			break;
	}
}

/*
 * HandlerApplyOwned
 *		Server-side apply of body (a Kubernetes object) at path, to an
 *		object tenancy created for the step's tenant or to a new one (see
 *		the file header).  With planned, planned_uid is the uid the planner
 *		found recorded (NULL: none), which spares reading the record; one
 *		that a later operation replaced meanwhile is read again.
 */
void
HandlerApplyOwned(const StepContext *context, const char *path, json_t *body,
				  bool planned, const char *planned_uid, StepOutcome *outcome)
{
	int64		operation_id = context->step->operation_id;
	char	   *uid = planned ? (char *) planned_uid : OwnerRecordObjectUid(operation_id, path);
	bool		exists;

	memset(outcome, 0, sizeof(StepOutcome));
	if (uid != NULL)
	{
		UidApply	found = apply_with_uid(context, path, body, uid, outcome);

		if (found == UID_OTHER && planned)
		{
			char	   *recorded = OwnerRecordObjectUid(operation_id, path);

			if (recorded != NULL && strcmp(recorded, uid) != 0)
			{
				uid = recorded;
				found = apply_with_uid(context, path, body, uid, outcome);
			}
		}
		if (found == UID_APPLIED)
			return;
		if (found == UID_OTHER)
		{
			refuse_other(path, uid, outcome);
			return;
		}
		/* tenancy's object is gone: create it again */
	}
	uid = create_object(context, path, body, &exists, outcome);
	if (uid != NULL)
	{
		/*
		 * The POST's fields belong to the field manager's "Update" entry,
		 * which later applies never remove a field from: apply the same body
		 * once, so that they belong to its "Apply" entry like every later
		 * change (a DAG or a value dropped from the spec is then removed).
		 */
		apply_to_recorded(context, path, body, uid, outcome);
		return;
	}
	if (!exists)
		return;

	/*
	 * An object of that name exists.  Recorded by another attempt since the
	 * plan was made: it is tenancy's.  Else it is used only if it carries the
	 * tenant's labels (uid_of_labelled), and its uid recorded.
	 */
	uid = OwnerRecordObjectUid(operation_id, path);
	if (uid == NULL)
	{
		uid = uid_of_labelled(context, path, outcome);
		if (uid == NULL)
			return;
		OwnerRecordSetObjectUid(operation_id, path, uid);
	}
	apply_to_recorded(context, path, body, uid, outcome);
}

/*
 * HandleK8sApply
 *		The k8s_apply handler: arguments path (an API path of plain name
 *		segments), body, the object, and recorded, the uid the planner found
 *		recorded for it (null: none; absent in requests planned before it
 *		looked).
 */
void
HandleK8sApply(const StepContext *context, StepOutcome *outcome)
{
	const char *path = HandlerArgString(context, "path");
	json_t	   *body = json_object_get(context->request, "body");

	if ((strncmp(path, "/api/", 5) != 0 && strncmp(path, "/apis/", 6) != 0) ||
		!HandlerValidName(path + 1) || strstr(path, "/namespaces/") == NULL ||
		!json_is_object(body))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("malformed step request: \"path\" must be the API path of a namespaced object and \"body\" that object")));
	HandlerApplyOwned(context, path, body,
					  json_object_get(context->request, "recorded") != NULL,
					  json_string_value(json_object_get(context->request, "recorded")),
					  outcome);
}
