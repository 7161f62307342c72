/*-------------------------------------------------------------------------
 *
 * airflow_release.c
 *	  A tenant's Airflow: the Flux HelmRepository of the chart and the
 *	  HelmRelease whose values come from the spec.  With tenancy.helm_mode
 *	  = 'cli' the same values go to `helm upgrade --install` instead
 *	  (handler_helm.c).
 *
 * Values (README "Airflow release"): the KubernetesExecutor running pods as
 * the tenant's airflow-worker service account; scheduler and webserver
 * replicas and resources from resources.airflow; node selector and
 * tolerations from resources.kubernetes; parallelism by tier; the metadata
 * database reached through the airflow-metadata secret (no bundled
 * PostgreSQL subchart, no password in the values); the DAG ConfigMap
 * mounted at /opt/airflow/dags; an ingress when tenancy.airflow_url_template
 * is set.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "platform.h"
#include "tenancy.h"

/* Parallelism and tasks per DAG, by tier */
typedef struct TierParallelism
{
	const char *tier;
	const char *parallelism;
	const char *max_active_tasks_per_dag;
} TierParallelism;

static const TierParallelism tier_parallelism[] = {
	{"basic", "8", "4"},
	{"standard", "16", "8"},
	{"enterprise", "32", "16"},
};

/* Resources of each task pod the KubernetesExecutor starts */
#define WORKER_RESOURCES \
	"{\"limits\": {\"cpu\": \"2\", \"memory\": \"4Gi\"}, " \
	"\"requests\": {\"cpu\": \"500m\", \"memory\": \"1Gi\"}}"

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
	JsonWriter	w;

	for (int i = 0; i < (int) lengthof(tier_parallelism); i++)
		if (strcmp(tier_parallelism[i].tier, m->tier) == 0)
			tp = &tier_parallelism[i];

	JwInit(&w);
	JwObjectStart(&w, NULL);
	JwString(&w, "executor", "KubernetesExecutor");
	JwObjectStart(&w, "labels");
	JwString(&w, "tenancy.io/tenant", m->name);
	JwObjectEnd(&w);

	JwObjectStart(&w, "postgresql");
	JwBool(&w, "enabled", false);
	JwObjectEnd(&w);
	JwObjectStart(&w, "data");
	JwString(&w, "metadataSecretName", PLATFORM_METADATA_SECRET);
	JwObjectEnd(&w);

	component(&w, spec, "scheduler");
	component(&w, spec, "webserver");
	JwObjectStart(&w, "workers");
	JwRaw(&w, "resources", WORKER_RESOURCES);
	JwObjectStart(&w, "serviceAccount");
	JwBool(&w, "create", false);
	JwString(&w, "name", PLATFORM_SERVICE_ACCOUNT);
	JwObjectEnd(&w);
	JwObjectEnd(&w);
	if (node_selector != NULL)
		JwRaw(&w, "nodeSelector", node_selector);
	if (tolerations != NULL)
		JwRaw(&w, "tolerations", tolerations);

	JwObjectStart(&w, "config");
	JwObjectStart(&w, "core");
	JwString(&w, "parallelism", tp->parallelism);
	JwString(&w, "max_active_tasks_per_dag", tp->max_active_tasks_per_dag);
	JwString(&w, "load_examples", "False");
	JwObjectEnd(&w);
	JwObjectStart(&w, "kubernetes_executor");
	JwString(&w, "namespace", m->namespace);
	JwObjectEnd(&w);
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
	JwObjectStart(&w, NULL);
	JwString(&w, "name", "tenant-dags");
	JwObjectStart(&w, "configMap");
	JwString(&w, "name", PLATFORM_DAG_CONFIGMAP);
	JwObjectEnd(&w);
	JwObjectEnd(&w);
	JwArrayEnd(&w);
	JwArrayStart(&w, "volumeMounts");
	JwObjectStart(&w, NULL);
	JwString(&w, "name", "tenant-dags");
	JwString(&w, "mountPath", "/opt/airflow/dags");
	JwBool(&w, "readOnly", true);
	JwObjectEnd(&w);
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
 * metadata
 *		metadata of an object of the release in the tenant's namespace.
 */
static void
metadata(JsonWriter *w, const TenantModel *m, const char *name)
{
	JwObjectStart(w, "metadata");
	JwString(w, "name", name);
	JwString(w, "namespace", m->namespace);
	K8sLabels(w, m);
	JwObjectEnd(w);
}

/*
 * AirflowHelmRepository
 *		Where Flux finds the chart (tenancy.airflow_chart_repository).
 */
char *
AirflowHelmRepository(const TenantModel *m)
{
	JsonWriter	w;

	JwInit(&w);
	JwObjectStart(&w, NULL);
	JwString(&w, "apiVersion", "source.toolkit.fluxcd.io/v1");
	JwString(&w, "kind", "HelmRepository");
	metadata(&w, m, PLATFORM_HELM_REPOSITORY);
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

	JwInit(&w);
	JwObjectStart(&w, NULL);
	JwString(&w, "apiVersion", "helm.toolkit.fluxcd.io/v2");
	JwString(&w, "kind", "HelmRelease");
	metadata(&w, m, PLATFORM_HELM_RELEASE);
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
