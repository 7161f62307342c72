/*-------------------------------------------------------------------------
 *
 * plan_platform.c
 *	  External actions of a tenant, enqueued as steps for the worker to
 *	  carry out after COMMIT: Kubernetes, Vault, Helm, Grafana, validation.
 *
 * Each action is a request in the step contract's shape (method, path,
 * query, content_type, body, ok_status) or a named handler; bodies never
 * hold a secret.  Kubernetes objects have deterministic names and are
 * written with server-side apply, so running a step again is harmless, and
 * an apply of a changed spec patches only the objects whose body changed
 * (the body built from the previous spec is compared with the new one).
 *
 * Order (depends_on): namespace; then service account, role binding (to
 * the ClusterRole tenancy.tenant_cluster_role), quota, limit range,
 * network policies, secrets, DAGs, the backup CronJob with its script and
 * volume (backup.c), ServiceMonitor and PrometheusRule (when
 * the spec has an SLA or advanced monitoring); then the Airflow release;
 * the dashboard on its own; validation last.  An object only some specs
 * have (the PrometheusRule, the backup objects) is deleted by an apply
 * whose spec no longer has it.
 *
 * Ownership (README "Security model"): the namespace step creates the
 * namespace or uses it only if tenancy created it for this tenant (its
 * labels, and the metadata.uid recorded in tenancy.tenants.namespace_uid);
 * every other object lives in that namespace.  Deletes go through the
 * k8s_delete handler (tenant labels checked, DeleteOptions
 * preconditions.uid sent) and the dashboard handler (tenant tag checked):
 * an object that merely has the expected name is left alone.
 *
 * Compensation (a failed provision) deletes what the operation created, in
 * reverse order: a new namespace (with everything in it; the compensation
 * ends once it is gone) and a new dashboard.  When the platform side may
 * differ from the spec last applied (the last provision or apply failed,
 * or has not ended), an apply plans every object again (replan): server-
 * side apply makes that harmless, and nothing is skipped because an
 * earlier step said it was done.  It keeps the warehouse schemas (SQL steps are not undone) and
 * the generated credentials in Vault, which the login roles still use and
 * which a later apply reuses.  Deprovision deletes the release, the
 * namespace (waiting until it is gone), the credentials in Vault and the
 * dashboard.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "platform.h"
#include "spec.h"
#include "tenancy.h"

#define TARGET_VAULT "vault"
#define TARGET_GRAFANA "grafana"
#define TARGET_HELM "helm"

/* The platform plan being built */
typedef struct PlatformPlan
{
	PlanContext *ctx;
	const TenantModel *m;
	const TenantModel *prev;	/* spec last applied, or NULL */
	bool		replan;			/* plan every object, even those whose body
								 * prev gave (TenantState.platform_unknown) */
	List	   *planned;		/* ordinals of the platform steps planned */
	PlanAction *last;			/* the action added last */
	int			after_sql;		/* last remote SQL step, or 0 */
	bool		recorded_loaded;	/* recorded_paths/uids read */
	List	   *recorded_paths; /* tenancy.platform_objects of the tenant */
	List	   *recorded_uids;
} PlatformPlan;

static char *wait_absent_request(const TenantModel *m, const char *path, bool delete);

/*
 * deps
 *		An int list of the non-zero ordinals given (terminated by -1).
 */
static List *
deps(int first,...)
{
	List	   *result = NIL;
	va_list		args;
	int			o = first;

	va_start(args, first);
	while (o >= 0)
	{
		if (o > 0)
			result = lappend_int(result, o);
		o = va_arg(args, int);
	}
	va_end(args);
	return result;
}

/*
 * value_container
 *		The container of an object or array value, NULL for a scalar.
 */
static JsonbContainer *
value_container(JsonbValue *v)
{
	return v->type == jbvBinary ? v->val.binary.data : NULL;
}

/*
 * same_value
 *		Whether two jsonb values are equal.
 */
static bool
same_value(JsonbValue *a, JsonbValue *b)
{
	return compareJsonbContainers(&JsonbValueToJsonb(a)->root,
								  &JsonbValueToJsonb(b)->root) == 0;
}

/*
 * diff_paths
 *		Append to out (a JSON array being written) the path of every leaf
 *		where container a (the previous request) and b (the new one)
 *		differ: keys added, removed or changed, "spec.hard.requests\.cpu"
 *		style (dots in keys escaped), array elements as [i]; an array whose
 *		length changed is one path.
 */
static void
diff_paths(JsonbContainer *a, JsonbContainer *b, const char *path, JsonWriter *out)
{
	bool		objects = JsonContainerIsObject(a) && JsonContainerIsObject(b);
	bool		arrays = JsonContainerIsArray(a) && JsonContainerIsArray(b);

	if (arrays && JsonContainerSize(a) == JsonContainerSize(b))
	{
		for (uint32 i = 0; i < JsonContainerSize(a); i++)
		{
			JsonbValue *va = getIthJsonbValueFromContainer(a, i);
			JsonbValue *vb = getIthJsonbValueFromContainer(b, i);
			char	   *sub = psprintf("%s[%u]", path, i);

			if (same_value(va, vb))
				continue;
			if (value_container(va) && value_container(vb))
				diff_paths(value_container(va), value_container(vb), sub, out);
			else
				JwString(out, NULL, sub);
		}
		return;
	}
	if (!objects)
	{
		JwString(out, NULL, path[0] ? path : "$");
		return;
	}
	for (int side = 0; side < 2; side++)
	{
		JsonbContainer *from = side == 0 ? a : b;
		JsonbContainer *other = side == 0 ? b : a;
		JsonbIterator *it = JsonbIteratorInit(from);
		JsonbValue	key;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
		{
			JsonbValue	val;
			JsonbValue *va;
			JsonbValue *vb;
			StringInfoData sub;

			if (tok != WJB_KEY)
				continue;
			(void) JsonbIteratorNext(&it, &val, true);
			initStringInfo(&sub);
			appendStringInfo(&sub, "%s%s", path, path[0] ? "." : "");
			for (int i = 0; i < key.val.string.len; i++)
			{
				if (key.val.string.val[i] == '.')
					appendStringInfoChar(&sub, '\\');
				appendStringInfoChar(&sub, key.val.string.val[i]);
			}
			va = getKeyJsonValueFromContainer(a, key.val.string.val, key.val.string.len, NULL);
			vb = getKeyJsonValueFromContainer(b, key.val.string.val, key.val.string.len, NULL);
			(void) other;
			if (va == NULL || vb == NULL)
			{
				/* added or removed: reported once, from the side that has it */
				JwString(out, NULL, sub.data);
				continue;
			}
			if (side == 1 || same_value(va, vb))
				continue;
			if (value_container(va) && value_container(vb))
				diff_paths(value_container(va), value_container(vb), sub.data, out);
			else
				JwString(out, NULL, sub.data);
		}
	}
}

/*
 * request_changes
 *		What differs between the previous request and the new one, as a
 *		JSON array of paths; NULL when there is no previous request.
 */
static char *
request_changes(const char *prev_request, const char *request)
{
	JsonWriter	w;

	if (prev_request == NULL)
		return NULL;
	JwInit(&w);
	JwArrayStart(&w, NULL);
	diff_paths(&PlanJsonbFromText(prev_request)->root,
			   &PlanJsonbFromText(request)->root, "", &w);
	JwArrayEnd(&w);
	return JwFinish(&w);
}

/*
 * add_step
 *		Append an external action with its dependencies; returns its ordinal.
 */
static int
add_step(PlatformPlan *pp, const char *target, const char *action,
		 char *object, char *detail, char *request, char *compensation,
		 List *depends_on)
{
	PlanAction *a;

	if (pp->after_sql > 0)
		depends_on = lappend_int(depends_on, pp->after_sql);
	a = PlanAddExternal(pp->ctx, target, action, object, detail,
						PlanJsonbFromText(request),
						compensation ? PlanJsonbFromText(compensation) : NULL);
	a->depends_on = depends_on;
	pp->planned = lappend_int(pp->planned, a->ordinal);
	pp->last = a;
	return a->ordinal;
}

/*
 * set_object
 *		Say which Kubernetes object the action just added acts on (kind,
 *		namespace, name: tenancy.steps.object_*), so that rotation and the
 *		audit find earlier steps by these columns rather than by their
 *		request's path.
 */
static void
set_object(PlatformPlan *pp, int ordinal, const char *kind,
		   const char *namespace, const char *name)
{
	if (ordinal > 0 && pp->last != NULL && pp->last->ordinal == ordinal)
	{
		pp->last->object_kind = kind;
		pp->last->object_namespace = namespace;
		pp->last->object_name = name;
	}
}

/*
 * note_changes
 *		Record on the action just added what changed since the previous
 *		request (tenancy.plan's "changes").
 */
static void
note_changes(PlatformPlan *pp, int ordinal, const char *prev_request,
			 const char *request)
{
	char	   *changes = request_changes(prev_request, request);

	if (ordinal > 0 && changes != NULL && pp->last != NULL &&
		pp->last->ordinal == ordinal)
		pp->last->changes = PlanJsonbFromText(changes);
}

/*
 * delete_request
 *		DELETE of path; 404 means it is gone already.  Only for services
 *		without ownership labels (Vault); Kubernetes objects are deleted by
 *		k8s_delete_request.
 */
static char *
delete_request(const char *path)
{
	JsonWriter	w;

	JwInit(&w);
	JwObjectStart(&w, NULL);
	JwString(&w, "method", "DELETE");
	JwString(&w, "path", path);
	JwArrayStart(&w, "ok_status");
	JwInt(&w, NULL, 404);
	JwArrayEnd(&w);
	JwObjectEnd(&w);
	return JwFinish(&w);
}

/*
 * k8s_delete_request
 *		The k8s_delete handler's request (handler_owned.c): delete the
 *		Kubernetes object at path only if it carries the tenant's labels
 *		(and, with namespace_uid, only if it is the namespace whose uid
 *		tenancy recorded), with DeleteOptions preconditions.uid so that an
 *		object recreated meanwhile by someone else is never deleted.
 */
static char *
k8s_delete_request(const TenantModel *m, const char *path, bool namespace_uid)
{
	JsonWriter	w;

	JwInit(&w);
	JwObjectStart(&w, NULL);
	JwString(&w, "handler", "k8s_delete");
	JwString(&w, "tenant", m->name);
	JwString(&w, "path", path);
	if (namespace_uid)
		JwBool(&w, "namespace_uid", true);
	JwObjectEnd(&w);
	return JwFinish(&w);
}

/*
 * grafana_request
 *		The dashboard handler's request (handler_owned.c): upload (body) or
 *		delete the dashboard uid, only if it is absent or carries the
 *		tenant's tags.
 */
static char *
grafana_request(const TenantModel *m, const char *body)
{
	JsonWriter	w;

	JwInit(&w);
	JwObjectStart(&w, NULL);
	JwString(&w, "handler", "dashboard");
	JwString(&w, "tenant", m->name);
	JwString(&w, "uid", MonitoringDashboardUid(m));
	if (body != NULL)
	{
		JwString(&w, "method", "POST");
		JwString(&w, "path", "/api/dashboards/db");
		JwRaw(&w, "body", body);
	}
	else
		JwString(&w, "method", "DELETE");
	JwObjectEnd(&w);
	return JwFinish(&w);
}

/*
 * recorded_uid
 *		The metadata.uid recorded when tenancy created the object at path
 *		for the tenant (tenancy.platform_objects), or NULL.  The tenant's
 *		records are read once per plan.
 */
static const char *
recorded_uid(PlatformPlan *pp, const char *path)
{
	ListCell   *p;
	ListCell   *u;

	if (!pp->recorded_loaded)
	{
		Oid			types[1] = {TEXTOID};
		Datum		values[1] = {CStringGetTextDatum(pp->m->name)};
		MemoryContext caller = CurrentMemoryContext;
		uint64		i;

		SPI_connect();
		if (SPI_execute_with_args("SELECT p.path, p.uid FROM tenancy.platform_objects p "
								  "JOIN tenancy.tenants t "
								  "ON t.tenant_id OPERATOR(pg_catalog.=) p.tenant_id "
								  "WHERE t.name OPERATOR(pg_catalog.=) $1",
								  1, types, values, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read tenancy.platform_objects");
		for (i = 0; i < SPI_processed; i++)
		{
			MemoryContext spi = MemoryContextSwitchTo(caller);

			pp->recorded_paths = lappend(pp->recorded_paths,
										 SPI_getvalue(SPI_tuptable->vals[i],
													  SPI_tuptable->tupdesc, 1));
			pp->recorded_uids = lappend(pp->recorded_uids,
										SPI_getvalue(SPI_tuptable->vals[i],
													 SPI_tuptable->tupdesc, 2));
			MemoryContextSwitchTo(spi);
		}
		SPI_finish();
		pp->recorded_loaded = true;
	}
	forboth(p, pp->recorded_paths, u, pp->recorded_uids)
		if (strcmp(lfirst(p), path) == 0)
		return lfirst(u);
	return NULL;
}

/*
 * apply_request
 *		Server-side apply of body at path, by the k8s_apply handler: only to
 *		an object tenancy created for the tenant (handler_apply.c), whose
 *		uid the plan carries when it is recorded.
 */
static char *
apply_request(PlatformPlan *pp, const char *path, const char *body)
{
	JsonWriter	w;
	const char *uid = recorded_uid(pp, path);

	JwInit(&w);
	JwObjectStart(&w, NULL);
	JwString(&w, "handler", "k8s_apply");
	if (uid != NULL)
		JwString(&w, "recorded", uid);
	else
		JwRaw(&w, "recorded", "null");
	JwString(&w, "method", "PATCH");
	JwString(&w, "path", path);
	JwObjectStart(&w, "query");
	JwString(&w, "fieldManager", PLATFORM_FIELD_MANAGER);
	JwString(&w, "force", "true");
	JwObjectEnd(&w);
	JwString(&w, "content_type", "application/apply-patch+yaml");
	JwRaw(&w, "body", body);
	JwObjectEnd(&w);
	return JwFinish(&w);
}

/*
 * namespaced_path
 *		The API path of an object in the tenant's namespace.  api is
 *		"/api/v1" or "/apis/<group>/<version>".
 */
static char *
namespaced_path(const TenantModel *m, const char *api, const char *plural,
				const char *name)
{
	return psprintf("%s/namespaces/%s/%s/%s", api, m->namespace, plural, name);
}

/*
 * apply_object
 *		Plan the server-side apply of an object unless its body is the one
 *		the previous spec gave (prev_body).  A namespaced object that is new
 *		in an existing namespace is deleted by compensation; in a new
 *		namespace, deleting the namespace does that.  Returns the ordinal,
 *		or 0 when nothing is planned.
 */
static int
apply_object(PlatformPlan *pp, const char *kind, const char *path,
			 const char *name, char *body, char *prev_body, List *depends_on)
{
	bool		compensate = pp->prev != NULL && prev_body == NULL;

	int			ordinal;

	if (!pp->replan && prev_body != NULL && strcmp(prev_body, body) == 0)
		return 0;
	ordinal = add_step(pp, PLAN_TARGET_KUBERNETES, "apply",
					   psprintf("%s %s/%s", kind, pp->m->namespace, name),
					   psprintf("PATCH %s (server-side apply)", path),
					   apply_request(pp, path, body),
					   compensate ? k8s_delete_request(pp->m, path, false) : NULL,
					   depends_on);
	set_object(pp, ordinal, kind, pp->m->namespace, name);
	note_changes(pp, ordinal, prev_body, body);
	return ordinal;
}

/* A builder of one object from a model */
typedef char *(*ObjectBuilder) (const TenantModel *m);

/*
 * apply_built
 *		apply_object of what builder makes of the model and of the
 *		previous model.
 */
static int
apply_built(PlatformPlan *pp, const char *kind, const char *api,
			const char *plural, const char *name, ObjectBuilder builder,
			List *depends_on)
{
	return apply_object(pp, kind, namespaced_path(pp->m, api, plural, name), name,
						builder(pp->m), pp->prev ? builder(pp->prev) : NULL,
						depends_on);
}

/*
 * namespace_request
 *		The k8s_namespace handler's request (handler_owned.c): create the
 *		namespace, or use it only if tenancy created it for this tenant
 *		(labels, and the uid recorded in tenancy.tenants), then apply body
 *		to it unless verify_only.  method, path and body are those of the
 *		apply, as the audit reads them.
 */
static char *
namespace_request(const TenantModel *m, const char *path, const char *body,
				  bool verify_only)
{
	JsonWriter	w;

	JwInit(&w);
	JwObjectStart(&w, NULL);
	JwString(&w, "handler", "k8s_namespace");
	JwString(&w, "tenant", m->name);
	JwString(&w, "namespace", m->namespace);
	if (verify_only)
		JwBool(&w, "verify_only", true);
	JwString(&w, "method", "PATCH");
	JwString(&w, "path", path);
	JwRaw(&w, "body", body);
	JwObjectEnd(&w);
	return JwFinish(&w);
}

/*
 * apply_optional
 *		An object that only some specs have (builder returns NULL for the
 *		others): applied like apply_built when the spec has it, deleted
 *		(404 counts as done) when the previous spec had it and this one has
 *		not.  Returns the ordinal, or 0.
 */
static int
apply_optional(PlatformPlan *pp, const char *kind, const char *api,
			   const char *plural, const char *name, ObjectBuilder builder,
			   List *depends_on)
{
	char	   *path = namespaced_path(pp->m, api, plural, name);
	char	   *body = builder(pp->m);
	char	   *prev_body = pp->prev ? builder(pp->prev) : NULL;
	int			ordinal;

	if (body != NULL)
		return apply_object(pp, kind, path, name, body, prev_body, depends_on);
	if (prev_body == NULL)
		return 0;
	ordinal = add_step(pp, PLAN_TARGET_KUBERNETES, "delete",
					   psprintf("%s %s/%s", kind, pp->m->namespace, name),
					   psprintf("DELETE %s", path), k8s_delete_request(pp->m, path, false), NULL,
					   depends_on);
	set_object(pp, ordinal, kind, pp->m->namespace, name);
	return ordinal;
}

/*
 * plan_namespace
 *		The namespace: created, or checked to be the one tenancy created
 *		for the tenant and applied; deleted by compensation when it is new.
 *		An apply whose namespace body is unchanged still checks it first
 *		when it writes anything else in it (verify), so that nothing is
 *		written into a namespace someone else recreated under that name.
 */
static int
plan_namespace(PlatformPlan *pp, bool verify)
{
	const TenantModel *m = pp->m;
	char	   *path = psprintf("/api/v1/namespaces/%s", m->namespace);
	char	   *body = K8sNamespace(m);
	bool		unchanged = !pp->replan && pp->prev != NULL &&
	strcmp(K8sNamespace(pp->prev), body) == 0;

	int			ordinal;

	if (unchanged && !verify)
		return 0;
	ordinal = add_step(pp, PLAN_TARGET_KUBERNETES, unchanged ? "verify" : "apply",
					   psprintf("namespace %s", m->namespace),
					   unchanged ? psprintf("GET %s: created by tenancy for tenant %s", path, m->name)
					   : psprintf("PATCH %s (server-side apply, if created by tenancy for tenant %s)",
								  path, m->name),
					   namespace_request(m, path, body, unchanged),
					   pp->prev == NULL ? wait_absent_request(m, path, true) : NULL, NIL);
	set_object(pp, ordinal, "namespace", NULL, m->namespace);
	if (!unchanged)
		note_changes(pp, ordinal, pp->prev ? K8sNamespace(pp->prev) : NULL, body);
	return ordinal;
}

/*
 * vault_reference
 *		The Vault path of a {{ vault.get('path') }} reference, or NULL when
 *		value is not one.  The rule is the validator's (spec.h); a value
 *		that attempts a reference and is not one, or one into another
 *		tenant's tenants/<name>/ (where the worker keeps that tenant's
 *		generated credentials), is refused: the validator reports it too,
 *		this guards the worker's requests against stored specs.
 */
static char *
vault_reference(const char *value, const char *spec_path, const char *tenant)
{
	char	   *path = SpecVaultReference(value);

	if (path == NULL && SpecMentionsVault(value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid Vault reference in the tenant spec"),
				 errdetail("The value at %s is not of the form {{ vault.get('path') }} with a relative path of letters, digits, \"_\", \"-\" and \".\" segments (none \".\" or \"..\") separated by \"/\", at most %d bytes.",
						   spec_path, SPEC_VAULT_PATH_MAX)));
	if (path && SpecVaultPathOfOtherTenant(path, tenant))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("a tenant spec cannot reference Vault path \"%s\"", path),
				 errdetail("The value at %s points into tenants/ outside tenants/%s/, where tenancy keeps other tenants' generated credentials.",
						   spec_path, tenant)));
	return path;
}

/*
 * env_key
 *		A Secret data key from a config key: PREFIX_KEY in upper case, every
 *		character outside [A-Z0-9_] as "_".
 */
static char *
env_key(const char *prefix, const char *key)
{
	char	   *result = psprintf("%s%s", prefix, key);

	for (char *c = result; *c; c++)
	{
		*c = pg_ascii_toupper((unsigned char) *c);
		if (!((*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')))
			*c = '_';
	}
	return result;
}

/*
 * vault_secret_request
 *		The vault_secret handler's request: a Kubernetes Secret whose keys
 *		come from Vault references ({"vault": path}) or plain values.
 *		NULL when the secret has no key.
 */
static char *
oauth_secret_request(const TenantModel *m)
{
	Jsonb	   *spec = PlatformSpec(m);
	ListCell   *lc;
	JsonWriter	w;
	int			keys = 0;

	if (strcmp(SpecText(spec, "tenant.authentication.type", "basic"), "oauth2") != 0)
		return NULL;
	JwInit(&w);
	JwObjectStart(&w, NULL);
	JwString(&w, "handler", "vault_secret");
	JwString(&w, "tenant", m->name);
	JwString(&w, "namespace", m->namespace);
	JwString(&w, "secret", PLATFORM_OAUTH_SECRET);
	JwObjectStart(&w, "data");
	foreach(lc, SpecObjectKeys(spec, "tenant.authentication.config"))
	{
		char	   *key = lfirst(lc);
		char	   *spec_path = psprintf("tenant.authentication.config.%s", key);
		char	   *value = SpecText(spec, spec_path, NULL);
		char	   *ref;

		if (value == NULL)
			continue;
		ref = vault_reference(value, spec_path, m->name);
		if (ref == NULL && SpecLooksSecret(key))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("credential in the tenant spec"),
					 errdetail("The value at %s looks like a credential and is given in clear.", spec_path),
					 errhint("Store it in Vault and write {{ vault.get('path') }} instead.")));
		JwObjectStart(&w, env_key("OAUTH_", key));
		JwString(&w, ref ? "vault" : "value", ref ? ref : value);
		JwObjectEnd(&w);
		keys++;
	}
	if (strcmp(SpecText(spec, "tenant.authentication.provider", ""), "") != 0)
	{
		JwObjectStart(&w, "OAUTH_PROVIDER");
		JwString(&w, "value", SpecText(spec, "tenant.authentication.provider", ""));
		JwObjectEnd(&w);
		keys++;
	}
	JwObjectEnd(&w);
	JwObjectEnd(&w);
	return keys > 0 ? JwFinish(&w) : NULL;
}

/*
 * api_sources
 *		The distinct api_* sources of the bronze jobs, in order.
 */
static List *
api_sources(const TenantModel *m)
{
	List	   *sources = NIL;
	ListCell   *lc;

	foreach(lc, SpecArray(PlatformSpec(m), "warehouse.bronze_jobs"))
	{
		char	   *source = SpecText(lfirst(lc), "source", "");

		if (strncmp(source, "api_", 4) == 0 && !list_member(sources, makeString(source)))
			sources = lappend(sources, makeString(source));
	}
	return sources;
}

/*
 * api_secret_name
 *		api-<source>, with "_" as "-" (a Secret name is a DNS subdomain).
 */
static char *
api_secret_name(const char *source)
{
	char	   *name = psprintf("api-%s", source);

	for (char *c = name; *c; c++)
		if (*c == '_')
			*c = '-';
	return name;
}

/*
 * api_secret_request
 *		The vault_secret request of one API source: API_KEY and API_SECRET
 *		from apis/<source>/key and apis/<source>/secret.
 */
static char *
api_secret_request(const TenantModel *m, const char *source)
{
	JsonWriter	w;

	JwInit(&w);
	JwObjectStart(&w, NULL);
	JwString(&w, "handler", "vault_secret");
	JwString(&w, "tenant", m->name);
	JwString(&w, "namespace", m->namespace);
	JwString(&w, "secret", api_secret_name(source));
	JwObjectStart(&w, "data");
	JwObjectStart(&w, "API_KEY");
	JwString(&w, "vault", psprintf("apis/%s/key", source));
	JwObjectEnd(&w);
	JwObjectStart(&w, "API_SECRET");
	JwString(&w, "vault", psprintf("apis/%s/secret", source));
	JwObjectEnd(&w);
	JwObjectEnd(&w);
	JwObjectEnd(&w);
	return JwFinish(&w);
}

/*
 * credentials_request
 *		The database_credentials handler's request: where the credentials
 *		live in Vault, which login roles get them, how pods reach the
 *		warehouse (K8sDatabaseEndpoint).  No password: the worker generates
 *		it.
 */
static char *
credentials_request(const TenantModel *m)
{
	char	   *host;
	int			port;
	JsonWriter	w;

	JwInit(&w);
	JwObjectStart(&w, NULL);
	JwString(&w, "handler", "database_credentials");
	JwString(&w, "tenant", m->name);
	JwString(&w, "namespace", m->namespace);
	JwString(&w, "vault_path", psprintf("tenants/%s/database", m->name));
	JwArrayStart(&w, "roles");
	for (int i = 0; i < TENANT_LOGIN_ROLE_COUNT; i++)
		JwString(&w, NULL, m->login_roles[i]);
	if (m->backup_enabled)
		JwString(&w, NULL, m->backup_role);
	JwArrayEnd(&w);
	JwBool(&w, "local", m->local);
	K8sDatabaseEndpoint(m, &host, &port);
	if (host != NULL)
		JwString(&w, "host", host);
	else
		JwRaw(&w, "host", "null");	/* refused when sent: see
									 * PlanPlatformCheckSteps */
	JwInt(&w, "port", port);
	JwString(&w, "database", m->local ? get_database_name(MyDatabaseId) : m->remote_database);
	JwObjectEnd(&w);
	return JwFinish(&w);
}

/*
 * handler_step
 *		Plan a handler step unless its request equals the previous one.
 */
static int
handler_step(PlatformPlan *pp, const char *target, const char *action,
			 char *object, char *request, char *prev_request, char *compensation,
			 List *depends_on)
{
	int			ordinal;

	if (request == NULL)
		return 0;
	if (!pp->replan && prev_request != NULL && strcmp(prev_request, request) == 0)
		return 0;
	ordinal = add_step(pp, target, action, object,
					   psprintf("%s (worker handler)", action), request,
					   pp->prev != NULL && prev_request == NULL ? compensation : NULL,
					   depends_on);
	note_changes(pp, ordinal, prev_request, request);
	return ordinal;
}

/*
 * plan_secrets
 *		database-credentials and airflow-metadata, oauth-credentials,
 *		api-<source>.  Returns the ordinal of the database credentials.
 *		The Secrets from Vault references are Kubernetes steps: the worker
 *		sends a step's plain requests, its compensation included, to its
 *		target's endpoint, and their compensation deletes the Secret.
 */
static int
plan_secrets(PlatformPlan *pp, int ns)
{
	const TenantModel *m = pp->m;
	const TenantModel *prev = pp->prev;
	int			creds;
	ListCell   *lc;

	creds = handler_step(pp, TARGET_VAULT, "database credentials",
						 psprintf("secret %s/%s", m->namespace, PLATFORM_DB_SECRET),
						 credentials_request(m), prev ? credentials_request(prev) : NULL,
						 NULL, deps(ns, -1));
	set_object(pp, creds, "secret", m->namespace, PLATFORM_DB_SECRET);
	set_object(pp, handler_step(pp, PLAN_TARGET_KUBERNETES, "secret from vault",
								psprintf("secret %s/%s", m->namespace, PLATFORM_OAUTH_SECRET),
								oauth_secret_request(m), prev ? oauth_secret_request(prev) : NULL,
								k8s_delete_request(m, namespaced_path(m, "/api/v1", "secrets",
																	  PLATFORM_OAUTH_SECRET), false),
								deps(ns, -1)),
			   "secret", m->namespace, PLATFORM_OAUTH_SECRET);
	/* authentication no longer oauth2: its Secret goes */
	if (prev && oauth_secret_request(prev) != NULL && oauth_secret_request(m) == NULL)
	{
		char	   *path = namespaced_path(m, "/api/v1", "secrets", PLATFORM_OAUTH_SECRET);

		set_object(pp, add_step(pp, PLAN_TARGET_KUBERNETES, "delete",
								psprintf("secret %s/%s", m->namespace, PLATFORM_OAUTH_SECRET),
								psprintf("DELETE %s", path), k8s_delete_request(m, path, false),
								NULL, deps(ns, -1)),
				   "secret", m->namespace, PLATFORM_OAUTH_SECRET);
	}
	foreach(lc, api_sources(m))
	{
		char	   *source = strVal(lfirst(lc));
		bool		existed = prev && list_member(api_sources(prev), lfirst(lc));

		set_object(pp, handler_step(pp, PLAN_TARGET_KUBERNETES, "secret from vault",
									psprintf("secret %s/%s", m->namespace, api_secret_name(source)),
									api_secret_request(m, source),
									existed ? api_secret_request(prev, source) : NULL,
									k8s_delete_request(m, namespaced_path(m, "/api/v1", "secrets",
																		  api_secret_name(source)), false),
									deps(ns, -1)),
				   "secret", m->namespace, api_secret_name(source));
	}
	return creds;
}

/*
 * helm_cli_request
 *		The helm_release handler's request (tenancy.helm_mode = 'cli').
 */
static char *
helm_cli_request(const TenantModel *m)
{
	JsonWriter	w;

	JwInit(&w);
	JwObjectStart(&w, NULL);
	JwString(&w, "handler", "helm_release");
	JwString(&w, "release", AirflowReleaseName(m));
	JwString(&w, "namespace", m->namespace);
	JwString(&w, "chart", "airflow");
	JwString(&w, "repository", tenancy_airflow_chart_repository);
	JwString(&w, "version", tenancy_airflow_chart_version);
	JwRaw(&w, "values", AirflowValues(m));
	JwObjectEnd(&w);
	return JwFinish(&w);
}

/*
 * plan_release
 *		The Airflow release: HelmRepository and HelmRelease (flux), or the
 *		helm CLI.  Returns the ordinal of the release step, or 0.
 */
static int
plan_release(PlatformPlan *pp, List *depends_on)
{
	const TenantModel *m = pp->m;
	int			repo;

	if (tenancy_helm_mode == HELM_MODE_CLI)
		return handler_step(pp, TARGET_HELM, "helm upgrade --install",
							psprintf("helm release %s/%s", m->namespace, AirflowReleaseName(m)),
							helm_cli_request(m), pp->prev ? helm_cli_request(pp->prev) : NULL,
							NULL, depends_on);
	repo = apply_built(pp, "helmrepository", "/apis/source.toolkit.fluxcd.io/v1",
					   "helmrepositories", PLATFORM_HELM_REPOSITORY,
					   AirflowHelmRepository, list_copy(depends_on));
	if (repo > 0)
		depends_on = lappend_int(depends_on, repo);
	return apply_built(pp, "helmrelease", "/apis/helm.toolkit.fluxcd.io/v2",
					   "helmreleases", PLATFORM_HELM_RELEASE, AirflowHelmRelease,
					   depends_on);
}

/*
 * plan_backup
 *		The backup objects (backup.c): the script's ConfigMap, the volume and
 *		the CronJob, which waits for them, the credentials and the quota.
 *		Turning backups off deletes the CronJob, the script and the
 *		backup-credentials Secret; the volume stays (it holds the backups),
 *		and no compensation deletes it either.  A claim cannot shrink: an
 *		apply lowering storage_gb leaves the volume at its size.
 */
static void
plan_backup(PlatformPlan *pp, int ns, int creds, int quota, int limits)
{
	const TenantModel *m = pp->m;
	const TenantModel *prev = pp->prev;
	char	   *pvc_path = namespaced_path(m, "/api/v1", "persistentvolumeclaims",
										   PLATFORM_BACKUP_PVC);
	char	   *pvc = BackupVolumeClaim(m);
	char	   *prev_pvc = prev ? BackupVolumeClaim(prev) : NULL;
	int			script,
				volume = 0;

	/* a claim cannot shrink: a lower storage_gb leaves it as it is */
	if (pvc != NULL && prev_pvc != NULL &&
		strtod(SpecText(PlatformSpec(m), "resources.database.storage_gb", "0"), NULL) <
		strtod(SpecText(PlatformSpec(prev), "resources.database.storage_gb", "0"), NULL))
		pvc = prev_pvc;

	script = apply_optional(pp, "configmap", "/api/v1", "configmaps",
							PLATFORM_BACKUP_CONFIGMAP, BackupScriptConfigMap,
							deps(ns, -1));
	if (pvc != NULL && (prev_pvc == NULL || strcmp(pvc, prev_pvc) != 0))
	{
		volume = add_step(pp, PLAN_TARGET_KUBERNETES, "apply",
						  psprintf("persistentvolumeclaim %s/%s", m->namespace, PLATFORM_BACKUP_PVC),
						  psprintf("PATCH %s (server-side apply)", pvc_path),
						  apply_request(pp, pvc_path, pvc), NULL, deps(ns, -1));
		set_object(pp, volume, "persistentvolumeclaim", m->namespace, PLATFORM_BACKUP_PVC);
		note_changes(pp, volume, prev_pvc, pvc);
	}
	apply_optional(pp, "cronjob", "/apis/batch/v1", "cronjobs",
				   PLATFORM_BACKUP_CRONJOB, BackupCronJob,
				   deps(ns, creds, script, volume, quota, limits, -1));
	if (pvc == NULL && prev_pvc != NULL)
	{
		char	   *path = namespaced_path(m, "/api/v1", "secrets", PLATFORM_BACKUP_SECRET);

		set_object(pp, add_step(pp, PLAN_TARGET_KUBERNETES, "delete",
								psprintf("secret %s/%s", m->namespace, PLATFORM_BACKUP_SECRET),
								psprintf("DELETE %s", path), k8s_delete_request(m, path, false), NULL,
								deps(creds, -1)),
				   "secret", m->namespace, PLATFORM_BACKUP_SECRET);
	}
}

/*
 * plan_dashboard
 *		Upload the dashboard: created, or replaced only when the dashboard
 *		with its uid is the tenant's (handler_owned.c).
 */
static void
plan_dashboard(PlatformPlan *pp)
{
	const TenantModel *m = pp->m;
	char	   *body = MonitoringDashboard(m);
	char	   *prev_body = pp->prev ? MonitoringDashboard(pp->prev) : NULL;
	int			ordinal;

	if (!pp->replan && prev_body != NULL && strcmp(prev_body, body) == 0)
		return;
	ordinal = add_step(pp, TARGET_GRAFANA, "upload",
					   psprintf("dashboard %s", MonitoringDashboardUid(m)),
					   psprintf("POST /api/dashboards/db (if uid %s is absent or tenant %s's)",
								MonitoringDashboardUid(m), m->name),
					   grafana_request(m, body),
					   pp->prev == NULL ? grafana_request(m, NULL) : NULL, NIL);
	note_changes(pp, ordinal, prev_body, body);
}

/*
 * plan_validation
 *		Check the result once everything else is done.
 */
static void
plan_validation(PlatformPlan *pp)
{
	const TenantModel *m = pp->m;
	char	   *url = AirflowUrl(m);
	JsonWriter	w;

	JwInit(&w);
	JwObjectStart(&w, NULL);
	JwString(&w, "handler", "validate");
	JwString(&w, "namespace", m->namespace);
	if (tenancy_helm_mode == HELM_MODE_FLUX)
		JwString(&w, "helmrelease", PLATFORM_HELM_RELEASE);
	JwArrayStart(&w, "schemas");
	if (m->local)
		for (int i = 0; i < TENANT_SCHEMA_COUNT; i++)
			JwString(&w, NULL, m->schemas[i]);
	JwArrayEnd(&w);
	if (url != NULL)
		JwString(&w, "airflow_url", url);
	JwObjectEnd(&w);
	add_step(pp, PLAN_TARGET_KUBERNETES, "validate",
			 psprintf("tenant %s", m->name),
			 "namespace Active, release Ready, pods Running, schemas present",
			 JwFinish(&w), NULL, list_copy(pp->planned));
}

/*
 * last_remote_sql
 *		The ordinal of the last remote SQL action planned, or 0: the
 *		platform steps wait for it (the login roles must exist).
 */
static int
last_remote_sql(PlanContext *ctx)
{
	ListCell   *lc;
	int			last = 0;

	foreach(lc, ctx->actions)
	{
		PlanAction *a = lfirst(lc);

		if (strcmp(a->target, PLAN_TARGET_REMOTE_DATABASE) == 0)
			last = a->ordinal;
	}
	return last;
}

/*
 * check_namespace_free
 *		Refuse (22023) a namespace that another tenant, not deprovisioned,
 *		has: one namespace holds one tenant.  provision and apply lock the
 *		namespace's row of tenancy.locks first, and the query takes a
 *		snapshot of its own (not read-only), so a concurrent provision that
 *		committed while this one waited is seen and named here;
 *		tenancy.tenants_namespace_idx remains the last word.
 */
static void
check_namespace_free(const TenantModel *m)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(m->name),
	CStringGetTextDatum(m->namespace)};
	char	   *owner = NULL;

	SPI_connect();
	if (SPI_execute_with_args("SELECT name FROM tenancy.tenants "
							  "WHERE state OPERATOR(pg_catalog.<>) 'deprovisioned' "
							  "AND name OPERATOR(pg_catalog.<>) $1 "
							  "AND (spec OPERATOR(pg_catalog.#>>) '{resources,kubernetes,namespace}') "
							  "OPERATOR(pg_catalog.=) $2 LIMIT 1",
							  2, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read tenancy.tenants");
	if (SPI_processed > 0)
		owner = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (owner != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("namespace \"%s\" belongs to tenant \"%s\"", m->namespace, owner),
				 errdetail("resources.kubernetes.namespace of tenant \"%s\" names the namespace of another tenant; a namespace holds one tenant.",
						   m->name),
				 errhint("Choose another resources.kubernetes.namespace, or leave it out for \"airflow-%s\".",
						 m->name)));
	SPI_finish();
}

/*
 * plan_objects
 *		Everything of the platform side but the namespace, each depending
 *		on the namespace step ns (0 when none is planned).
 */
static void
plan_objects(PlatformPlan *pp, int ns)
{
	const char *v1 = "/api/v1";
	const char *rbac = "/apis/rbac.authorization.k8s.io/v1";
	const char *netpol = "/apis/networking.k8s.io/v1";
	int			sa,
				binding,
				quota,
				limits,
				deny,
				allow,
				creds,
				dags;

	sa = apply_built(pp, "serviceaccount", v1, "serviceaccounts",
					 PLATFORM_SERVICE_ACCOUNT, K8sServiceAccount, deps(ns, -1));
	binding = apply_built(pp, "rolebinding", rbac, "rolebindings",
						  PLATFORM_ROLE_BINDING, K8sRoleBinding, deps(ns, sa, -1));
	quota = apply_built(pp, "resourcequota", v1, "resourcequotas", PLATFORM_QUOTA,
						K8sResourceQuota, deps(ns, -1));
	limits = apply_built(pp, "limitrange", v1, "limitranges", PLATFORM_LIMIT_RANGE,
						 K8sLimitRange, deps(ns, -1));
	deny = apply_built(pp, "networkpolicy", netpol, "networkpolicies",
					   PLATFORM_POLICY_DENY, K8sDefaultDenyPolicy, deps(ns, -1));
	allow = apply_built(pp, "networkpolicy", netpol, "networkpolicies",
						PLATFORM_POLICY_ALLOW, K8sIsolationPolicy, deps(ns, -1));
	creds = plan_secrets(pp, ns);
	dags = apply_built(pp, "configmap", v1, "configmaps", PLATFORM_DAG_CONFIGMAP,
					   DagConfigMap, deps(ns, -1));
	plan_backup(pp, ns, creds, quota, limits);
	plan_release(pp, deps(ns, binding, quota, limits, deny, allow, creds, dags, -1));
	apply_object(pp, "servicemonitor",
				 namespaced_path(pp->m, "/apis/monitoring.coreos.com/v1", "servicemonitors",
								 psprintf("airflow-%s", pp->m->name)),
				 psprintf("airflow-%s", pp->m->name),
				 MonitoringServiceMonitor(pp->m),
				 pp->prev ? MonitoringServiceMonitor(pp->prev) : NULL, deps(ns, -1));
	apply_optional(pp, "prometheusrule", "/apis/monitoring.coreos.com/v1",
				   "prometheusrules", PLATFORM_PROMETHEUS_RULE,
				   MonitoringPrometheusRule, deps(ns, -1));
}

/*
 * writes_in_namespace
 *		Whether an apply writes anything in the tenant's namespace: plan
 *		its objects into a scratch copy of the plan and look.
 */
static bool
writes_in_namespace(PlatformPlan *pp)
{
	PlanContext scratch = *pp->ctx;
	PlatformPlan probe = *pp;
	ListCell   *lc;

	scratch.actions = list_copy(pp->ctx->actions);
	probe.ctx = &scratch;
	probe.planned = NIL;
	plan_objects(&probe, 0);
	foreach(lc, probe.planned)
	{
		PlanAction *a = list_nth(scratch.actions, lfirst_int(lc) - 1);

		if (strcmp(a->target, TARGET_GRAFANA) != 0)
			return true;
	}
	return false;
}

/*
 * PlanPlatformProvision
 *		The platform side of a new tenant, or what changed of it.
 */
void
PlanPlatformProvision(PlanContext *ctx)
{
	PlatformPlan pp = {ctx, ctx->model, ctx->state->platform,
	ctx->state->platform_unknown, NIL, NULL, 0, false, NIL, NIL};
	int			ns;

	check_namespace_free(pp.m);
	pp.after_sql = last_remote_sql(ctx);
	ns = plan_namespace(&pp, pp.prev != NULL && writes_in_namespace(&pp));
	plan_objects(&pp, ns);
	plan_dashboard(&pp);
	if (pp.planned != NIL)
		plan_validation(&pp);
}

/*
 * wait_absent_request
 *		The wait_absent handler's request: succeed once GET path is 404, or
 *		answers an object that is not the namespace tenancy created for the
 *		tenant (which k8s_delete left alone); with delete, delete path
 *		first as k8s_delete does (the compensation of a new namespace,
 *		which then ends only once the namespace is gone, so that a retry
 *		does not meet it Terminating).
 */
static char *
wait_absent_request(const TenantModel *m, const char *path, bool delete)
{
	JsonWriter	w;

	JwInit(&w);
	JwObjectStart(&w, NULL);
	JwString(&w, "handler", "wait_absent");
	JwString(&w, "path", path);
	JwString(&w, "tenant", m->name);
	JwBool(&w, "namespace_uid", true);
	if (delete)
		JwBool(&w, "delete", true);
	JwObjectEnd(&w);
	return JwFinish(&w);
}

/*
 * PlanPlatformDeprovision
 *		Delete the release (so Flux uninstalls it while the namespace still
 *		exists), the namespace (Kubernetes deletes what it holds) and wait
 *		until it is gone; delete the credentials in Vault (every version and
 *		the metadata: the login roles are dropped) and the dashboard.
 */
void
PlanPlatformDeprovision(PlanContext *ctx)
{
	PlatformPlan pp = {ctx, ctx->model, NULL, false, NIL, NULL, 0, false, NIL, NIL};
	const TenantModel *m = ctx->model;
	char	   *ns_path = psprintf("/api/v1/namespaces/%s", m->namespace);
	char	   *release = namespaced_path(m, "/apis/helm.toolkit.fluxcd.io/v2",
										  "helmreleases", PLATFORM_HELM_RELEASE);
	char	   *vault = psprintf("/v1/%s/metadata/tenants/%s/database",
								 tenancy_vault_kv_mount ? tenancy_vault_kv_mount : "secret",
								 m->name);
	int			hr,
				ns;

	pp.after_sql = last_remote_sql(ctx);
	hr = add_step(&pp, PLAN_TARGET_KUBERNETES, "delete",
				  psprintf("helmrelease %s/%s", m->namespace, PLATFORM_HELM_RELEASE),
				  psprintf("DELETE %s (if tenant %s's)", release, m->name),
				  k8s_delete_request(m, release, false), NULL, NIL);
	set_object(&pp, hr, "helmrelease", m->namespace, PLATFORM_HELM_RELEASE);
	ns = add_step(&pp, PLAN_TARGET_KUBERNETES, "delete",
				  psprintf("namespace %s", m->namespace),
				  psprintf("DELETE %s (if the one tenancy created for tenant %s)",
						   ns_path, m->name),
				  k8s_delete_request(m, ns_path, true), NULL, deps(hr, -1));
	set_object(&pp, ns, "namespace", NULL, m->namespace);
	add_step(&pp, PLAN_TARGET_KUBERNETES, "wait until gone",
			 psprintf("namespace %s", m->namespace),
			 psprintf("GET %s until 404", ns_path), wait_absent_request(m, ns_path, false),
			 NULL, deps(ns, -1));
	add_step(&pp, TARGET_VAULT, "delete",
			 psprintf("vault tenants/%s/database", m->name),
			 psprintf("DELETE %s", vault), delete_request(vault), NULL, NIL);
	add_step(&pp, TARGET_GRAFANA, "delete",
			 psprintf("dashboard %s", MonitoringDashboardUid(m)),
			 psprintf("DELETE /api/dashboards/uid/%s (if tenant %s's)",
					  MonitoringDashboardUid(m), m->name),
			 grafana_request(m, NULL), NULL, NIL);
}

/*
 * PlanPlatformCheckSteps
 *		What must hold before a plan's steps are recorded (provision and
 *		apply, not the dry run or the audit): credentials for pods that
 *		would reach this server need tenancy.database_host, and the
 *		tenant's namespace may be neither tenancy.monitoring_namespace nor
 *		tenancy.ingress_namespace.  Checked here and not when the spec is
 *		read: these are settings, and a reload that names an existing
 *		tenant's namespace must not break every command that reads that
 *		tenant's spec (its deprovision, the audit of all tenants, the guard
 *		of its sessions).
 */
void
PlanPlatformCheckSteps(const TenantModel *m, List *actions)
{
	ListCell   *lc;

	foreach(lc, actions)
	{
		PlanAction *a = lfirst(lc);
		bool		namespace_kept;

		if (a->request != NULL && strcmp(a->action, "database credentials") == 0)
			K8sCheckDatabaseHost(m);

		/*
		 * The namespace checks below hold for a plan that creates or keeps
		 * the tenant's namespace, not one that only deletes it (deprovision).
		 */
		namespace_kept = a->object_kind != NULL &&
			strcmp(a->object_kind, "namespace") == 0 &&
			strcmp(a->action, "delete") != 0;

		/*
		 * Every tenant's network policy admits the Prometheus pods of
		 * tenancy.monitoring_namespace to its pods' metrics port: a tenant
		 * whose namespace that is could scrape every other tenant.
		 */
		if (namespace_kept && tenancy_monitoring_namespace != NULL &&
			strcmp(m->namespace, tenancy_monitoring_namespace) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("namespace \"%s\" is the monitoring namespace", m->namespace),
					 errdetail("tenancy.monitoring_namespace names it, and every tenant's network policy lets its Prometheus pods scrape the tenant's metrics port; a tenant there would reach every other tenant's."),
					 errhint("Choose another resources.kubernetes.namespace, or leave it out for \"airflow-%s\".",
							 m->name)));

		/*
		 * Likewise the ingress controller's namespace, admitted to every
		 * tenant's webserver port (with the chart's admission policy off).
		 */
		if (namespace_kept &&
			strcmp(m->namespace, tenancy_ingress_namespace ? tenancy_ingress_namespace : "ingress-nginx") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("namespace \"%s\" is the ingress controller's namespace", m->namespace),
					 errdetail("tenancy.ingress_namespace names it, and every tenant's network policy admits its pods to the tenant's webserver port; a tenant there would reach every other tenant's."),
					 errhint("Choose another resources.kubernetes.namespace, or leave it out for \"airflow-%s\".",
							 m->name)));
	}
}
