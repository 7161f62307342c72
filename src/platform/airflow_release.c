/*-------------------------------------------------------------------------
 *
 * airflow_release.c
 *	  A tenant's Airflow: the Flux HelmRepository of the chart and the
 *	  HelmRelease whose values come from the spec.  With tenancy.helm_mode
 *	  = 'cli' the same values go to `helm upgrade --install` instead
 *	  (handler_helm.c).
 *
 * Values (README "Airflow release"): the CeleryExecutor, its workers run as
 * the tenant's airflow-worker service account, min replicas and KEDA
 * scaling up to max (resources.airflow.workers); scheduler and webserver
 * replicas and resources from resources.airflow; node selector and
 * tolerations from resources.kubernetes; parallelism from the workers that
 * can run (max with autoscaling, else min) and the tier's worker
 * concurrency; the metadata
 * database reached through the airflow-metadata secret (no bundled
 * PostgreSQL subchart, no password in the values), its SQLAlchemy pool
 * sized from resources.database.connections; the warehouse as the Airflow
 * connection warehouse.name; custom plugins and OpenLineage when the
 * features ask for them; the DAG ConfigMap
 * mounted at /opt/airflow/dags; an ingress when tenancy.airflow_url_template
 * is set.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "platform.h"
#include "spec.h"
#include "tenancy.h"

/*
 * Tasks one Celery worker runs at once, and tasks per DAG, by tier.  The
 * release's parallelism is the worker concurrency times the workers that
 * can run: workers.max with autoscaling (the largest pool KEDA may scale
 * to), else workers.min (max then changes nothing that runs).
 */
typedef struct TierParallelism
{
	const char *tier;
	int			worker_concurrency;
	const char *max_active_tasks_per_dag;
} TierParallelism;

static const TierParallelism tier_parallelism[] = {
	{"basic", 4, "4"},
	{"standard", 8, "8"},
	{"enterprise", 16, "16"},
};

/* Where custom plugins are mounted (features.custom_plugins) */
#define PLUGINS_PATH "/opt/airflow/plugins"


/*
 * AirflowReleaseName
 *		The Helm release: airflow-<name> (at most 47 characters, within
 *		Helm's 53).
 */
char *
AirflowReleaseName(const TenantModel *m)
{
	return psprintf("airflow-%s", m->name);
}

/*
 * AirflowUrl
 *		tenancy.airflow_url_template with {tenant} replaced by the tenant
 *		name, without a trailing slash; NULL when the template is empty.
 */
char *
AirflowUrl(const TenantModel *m)
{
	const char *t = tenancy_airflow_url_template;
	StringInfoData buf;

	if (t == NULL || t[0] == '\0')
		return NULL;
	initStringInfo(&buf);
	while (*t)
	{
		if (strncmp(t, "{tenant}", 8) == 0)
		{
			appendStringInfoString(&buf, m->name);
			t += 8;
		}
		else
			appendStringInfoChar(&buf, *t++);
	}
	while (buf.len > 0 && buf.data[buf.len - 1] == '/')
		buf.data[--buf.len] = '\0';
	return buf.data;
}

/*
 * url_host
 *		The host part of an http(s) URL.
 */
static char *
url_host(const char *url)
{
	const char *start = strstr(url, "://");
	size_t		len;

	start = start ? start + 3 : url;
	len = strcspn(start, ":/?#");
	return pnstrdup(start, len);
}

/*
 * component
 *		"name": {"replicas": n, "resources": {...}} of the scheduler or
 *		webserver, from resources.airflow.<name>.
 */
static void
component(JsonWriter *w, Jsonb *spec, const char *name)
{
	char	   *replicas = SpecText(spec, psprintf("resources.airflow.%s.replicas", name), "1");
	char	   *resources = SpecJson(spec, psprintf("resources.airflow.%s.resources", name));

	JwObjectStart(w, name);
	JwRaw(w, "replicas", replicas);
	if (resources != NULL)
		JwRaw(w, "resources", resources);
	JwObjectEnd(w);
}

/*
 * connection_env_name
 *		AIRFLOW_CONN_<ID>: the environment variable through which Airflow
 *		finds the connection id (warehouse.name, an SQL identifier: only
 *		[a-z0-9_], upper-cased here).
 */
static char *
connection_env_name(const char *conn_id)
{
	char	   *name = psprintf("AIRFLOW_CONN_%s", conn_id);

	for (char *c = name; *c; c++)
		*c = pg_ascii_toupper((unsigned char) *c);
	return name;
}

/*
 * AirflowWarehouseConnId
 *		The Airflow connection id of the tenant's warehouse: warehouse.name
 *		(default <slug>).  The release defines it from the database-
 *		credentials Secret, the DAGs name it.
 */
char *
AirflowWarehouseConnId(const TenantModel *m)
{
	return SpecText(PlatformSpec(m), "warehouse.name", m->slug);
}

/*
 * workers
 *		"workers": the CeleryExecutor's workers, run as the airflow-worker
 *		service account.  resources.airflow.workers.min is the StatefulSet's
 *		replicas; with autoscaling, KEDA scales it between min and max on
 *		the queued and running tasks (the chart's ScaledObject); without, min
 *		workers run, and the parallelism (config.core) is theirs.  The
 *		validator refuses workers that do not fit in the quota
 *		(spec_capacity.c).  No
 *		persistent volume per worker:
 *		task logs stay in the pods, and a 100Gi claim per worker (the
 *		chart's default) would eat the tenant's storage quota.
 */
static void
workers(JsonWriter *w, Jsonb *spec)
{
	char	   *min = SpecText(spec, "resources.airflow.workers.min", "1");
	char	   *max = SpecText(spec, "resources.airflow.workers.max", min);
	bool		autoscaling = SpecFlag(spec, "resources.airflow.workers.autoscaling", false);

	JwObjectStart(w, "workers");
	JwRaw(w, "replicas", min);
	JwObjectStart(w, "resources");
	JwObjectStart(w, "limits");
	JwString(w, "cpu", SPEC_WORKER_LIMIT_CPU);
	JwString(w, "memory", SPEC_WORKER_LIMIT_MEMORY);
	JwObjectEnd(w);
	JwObjectStart(w, "requests");
	JwString(w, "cpu", SPEC_WORKER_REQUEST_CPU);
	JwString(w, "memory", SPEC_WORKER_REQUEST_MEMORY);
	JwObjectEnd(w);
	JwObjectEnd(w);
	JwObjectStart(w, "serviceAccount");
	JwBool(w, "create", false);
	JwString(w, "name", PLATFORM_SERVICE_ACCOUNT);
	JwObjectEnd(w);
	JwObjectStart(w, "persistence");
	JwBool(w, "enabled", false);
	JwObjectEnd(w);
	JwObjectStart(w, "keda");
	JwBool(w, "enabled", autoscaling);
	if (autoscaling)
	{
		JwRaw(w, "minReplicaCount", min);
		JwRaw(w, "maxReplicaCount", max);
		JwBool(w, "usePgbouncer", false);
	}
	JwObjectEnd(w);
	JwObjectEnd(w);
}

/*
 * openlineage
 *		config.openlineage of a tenant with features.data_lineage: events
 *		under the tenant's name as namespace, sent to tenancy.openlineage_url
 *		(HTTP transport) or, when that is empty, to the task logs (console).
 */
static void
openlineage(JsonWriter *w, const TenantModel *m)
{
	const char *url = tenancy_openlineage_url;
	JsonWriter	t;

	JwInit(&t);
	JwObjectStart(&t, NULL);
	if (url != NULL && url[0] != '\0')
	{
		JwString(&t, "type", "http");
		JwString(&t, "url", url);
	}
	else
		JwString(&t, "type", "console");
	JwObjectEnd(&t);

	JwObjectStart(w, "openlineage");
	JwString(w, "disabled", "False");
	JwString(w, "namespace", m->name);
	JwString(w, "transport", JwFinish(&t));
	JwObjectEnd(w);
}

/*
 * volume
 *		A volume of the ConfigMap of that name; an optional one may be
 *		absent (the pods start without it).
 */
static void
volume(JsonWriter *w, const char *name, bool optional)
{
	JwObjectStart(w, NULL);
	JwString(w, "name", name);
	JwObjectStart(w, "configMap");
	JwString(w, "name", name);
	if (optional)
		JwBool(w, "optional", true);
	JwObjectEnd(w);
	JwObjectEnd(w);
}

/*
 * mount
 *		The volume name mounted read-only at path in every Airflow container.
 */
static void
mount(JsonWriter *w, const char *name, const char *path)
{
	JwObjectStart(w, NULL);
	JwString(w, "name", name);
	JwString(w, "mountPath", path);
	JwBool(w, "readOnly", true);
	JwObjectEnd(w);
}

/*
 * AirflowValues
 *		The chart values of the tenant's release, as JSON.
 */
char *
AirflowValues(const TenantModel *m)
{
	Jsonb	   *spec = PlatformSpec(m);
	const TierParallelism *tp = &tier_parallelism[1];
	char	   *url = AirflowUrl(m);
	char	   *node_selector = SpecJson(spec, "resources.kubernetes.node_selector");
	char	   *tolerations = SpecJson(spec, "resources.kubernetes.tolerations");
	bool		plugins = SpecFlag(spec, "features.custom_plugins", false);
	bool		lineage = SpecFlag(spec, "features.data_lineage", false);
	char	   *pool_min = SpecText(spec, "resources.database.connections.min", "1");
	int			pool_overflow = m->connection_limit - atoi(pool_min);
	bool		autoscaling = SpecFlag(spec, "resources.airflow.workers.autoscaling", false);
	char	   *workers_min = SpecText(spec, "resources.airflow.workers.min", "1");
	int			workers_most = atoi(autoscaling
									? SpecText(spec, "resources.airflow.workers.max", workers_min)
									: workers_min);
	JsonWriter	w;

	for (int i = 0; i < (int) lengthof(tier_parallelism); i++)
		if (strcmp(tier_parallelism[i].tier, m->tier) == 0)
			tp = &tier_parallelism[i];

	JwInit(&w);
	JwObjectStart(&w, NULL);
	JwString(&w, "executor", "CeleryExecutor");
	JwObjectStart(&w, "labels");
	JwString(&w, "tenancy.io/tenant", m->name);
	JwObjectEnd(&w);

	JwObjectStart(&w, "postgresql");
	JwBool(&w, "enabled", false);
	JwObjectEnd(&w);
	JwObjectStart(&w, "data");
	JwString(&w, "metadataSecretName", PLATFORM_METADATA_SECRET);
	JwString(&w, "resultBackendSecretName", PLATFORM_RESULT_BACKEND_SECRET);
	JwObjectEnd(&w);
	/* the warehouse as an Airflow connection named warehouse.name */
	JwArrayStart(&w, "secret");
	JwObjectStart(&w, NULL);
	JwString(&w, "envName", connection_env_name(AirflowWarehouseConnId(m)));
	JwString(&w, "secretName", PLATFORM_DB_SECRET);
	JwString(&w, "secretKey", "WAREHOUSE_DB_URL");
	JwObjectEnd(&w);
	JwArrayEnd(&w);

	component(&w, spec, "scheduler");
	component(&w, spec, "webserver");
	workers(&w, spec);

	/*
	 * The Celery broker keeps no volume: the namespace's storage quota is for
	 * the backups (a claim of storage_gb), and a message lost with a
	 * restarted Redis is queued again by the scheduler (task_queued_timeout).
	 */
	JwObjectStart(&w, "redis");
	JwObjectStart(&w, "persistence");
	JwBool(&w, "enabled", false);
	JwObjectEnd(&w);
	JwObjectEnd(&w);
	if (node_selector != NULL)
		JwRaw(&w, "nodeSelector", node_selector);
	if (tolerations != NULL)
		JwRaw(&w, "tolerations", tolerations);

	JwObjectStart(&w, "config");
	JwObjectStart(&w, "core");
	JwString(&w, "parallelism", psprintf("%d", workers_most * tp->worker_concurrency));
	JwString(&w, "max_active_tasks_per_dag", tp->max_active_tasks_per_dag);
	JwString(&w, "load_examples", "False");
	if (plugins)
		JwString(&w, "plugins_folder", PLUGINS_PATH);
	JwObjectEnd(&w);
	JwObjectStart(&w, "celery");
	JwString(&w, "worker_concurrency", psprintf("%d", tp->worker_concurrency));
	JwObjectEnd(&w);
	/* resources.database.connections: min pooled, overflow up to max */
	JwObjectStart(&w, "database");
	JwString(&w, "sql_alchemy_pool_enabled", "True");
	JwString(&w, "sql_alchemy_pool_size", pool_min);
	JwString(&w, "sql_alchemy_max_overflow", psprintf("%d", Max(pool_overflow, 0)));
	JwObjectEnd(&w);
	if (lineage)
		openlineage(&w, m);
	if (url != NULL)
	{
		JwObjectStart(&w, "webserver");
		JwString(&w, "base_url", url);
		JwString(&w, "enable_proxy_fix", "True");
		JwObjectEnd(&w);
	}
	JwObjectEnd(&w);

	JwObjectStart(&w, "dags");
	JwObjectStart(&w, "persistence");
	JwBool(&w, "enabled", false);
	JwObjectEnd(&w);
	JwObjectStart(&w, "gitSync");
	JwBool(&w, "enabled", false);
	JwObjectEnd(&w);
	JwObjectEnd(&w);
	JwArrayStart(&w, "volumes");
	volume(&w, PLATFORM_DAG_CONFIGMAP, false);
	if (plugins)
		volume(&w, PLATFORM_PLUGINS_CONFIGMAP, true);
	JwArrayEnd(&w);
	JwArrayStart(&w, "volumeMounts");
	mount(&w, PLATFORM_DAG_CONFIGMAP, "/opt/airflow/dags");
	if (plugins)
		mount(&w, PLATFORM_PLUGINS_CONFIGMAP, PLUGINS_PATH);
	JwArrayEnd(&w);

	JwObjectStart(&w, "ingress");
	JwObjectStart(&w, "web");
	JwBool(&w, "enabled", url != NULL);
	if (url != NULL)
	{
		JwString(&w, "ingressClassName", tenancy_ingress_class ? tenancy_ingress_class : "nginx");
		JwArrayStart(&w, "hosts");
		JwObjectStart(&w, NULL);
		JwString(&w, "name", url_host(url));
		JwObjectEnd(&w);
		JwArrayEnd(&w);
	}
	JwObjectEnd(&w);
	JwObjectEnd(&w);

	JwObjectEnd(&w);
	return JwFinish(&w);
}

/*
 * AirflowHelmRepository
 *		Where Flux finds the chart (tenancy.airflow_chart_repository).
 */
char *
AirflowHelmRepository(const TenantModel *m)
{
	JsonWriter	w;

	K8sObjectStart(&w, m, "source.toolkit.fluxcd.io/v1", "HelmRepository",
				   PLATFORM_HELM_REPOSITORY);
	JwObjectStart(&w, "spec");
	JwString(&w, "interval", "1h");
	JwString(&w, "url", tenancy_airflow_chart_repository);
	JwObjectEnd(&w);
	JwObjectEnd(&w);
	return JwFinish(&w);
}

/*
 * AirflowHelmRelease
 *		The Flux HelmRelease: chart, version, values; no automatic retries
 *		of a failed install, so that Ready=False is final and the
 *		operation's compensation cleans up.
 */
char *
AirflowHelmRelease(const TenantModel *m)
{
	JsonWriter	w;

	K8sObjectStart(&w, m, "helm.toolkit.fluxcd.io/v2", "HelmRelease",
				   PLATFORM_HELM_RELEASE);
	JwObjectStart(&w, "spec");
	JwString(&w, "interval", "10m");
	JwString(&w, "releaseName", AirflowReleaseName(m));
	JwString(&w, "timeout", "10m");
	JwObjectStart(&w, "chart");
	JwObjectStart(&w, "spec");
	JwString(&w, "chart", "airflow");
	JwString(&w, "version", tenancy_airflow_chart_version);
	JwObjectStart(&w, "sourceRef");
	JwString(&w, "kind", "HelmRepository");
	JwString(&w, "name", PLATFORM_HELM_REPOSITORY);
	JwObjectEnd(&w);
	JwObjectEnd(&w);
	JwObjectEnd(&w);
	JwObjectStart(&w, "install");
	JwObjectStart(&w, "remediation");
	JwInt(&w, "retries", 0);
	JwObjectEnd(&w);
	JwObjectEnd(&w);
	JwRaw(&w, "values", AirflowValues(m));
	JwObjectEnd(&w);
	JwObjectEnd(&w);
	return JwFinish(&w);
}
