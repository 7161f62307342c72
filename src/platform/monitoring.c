/*-------------------------------------------------------------------------
 *
 * monitoring.c
 *	  A tenant's monitoring: the ServiceMonitor through which Prometheus
 *	  scrapes its Airflow, and its Grafana dashboard.
 *
 * The dashboard has the source document's panels (DAG success rate, task
 * duration, memory) and one with the tenant's step health from the
 * tenancy exporter.  Its uid is derived from the tenant name, so uploading
 * it again replaces it instead of adding a copy; the uid, the title and
 * the "tenant:<name>" tag are distinct for distinct tenants (see
 * MonitoringDashboardUid), and the worker replaces or deletes a dashboard
 * only when it carries that tag (handler_owned.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/cryptohash.h"
#include "common/sha2.h"

#include "platform.h"

/* Grafana's limit on dashboard uids */
#define GRAFANA_UID_MAX 40

/* The two forms of a tenant dashboard's uid (see MonitoringDashboardUid) */
#define DASHBOARD_UID_NAME_PREFIX "tn_"
#define DASHBOARD_UID_HASH_PREFIX "th_"

/*
 * MonitoringServiceMonitor
 *		Scrape the metrics port of the release's services every 30 s.
 */
char *
MonitoringServiceMonitor(const TenantModel *m)
{
	JsonWriter	w;

	JwInit(&w);
	JwObjectStart(&w, NULL);
	JwString(&w, "apiVersion", "monitoring.coreos.com/v1");
	JwString(&w, "kind", "ServiceMonitor");
	JwObjectStart(&w, "metadata");
	JwString(&w, "name", psprintf("airflow-%s", m->name));
	JwString(&w, "namespace", m->namespace);
	K8sLabels(&w, m);
	JwObjectEnd(&w);
	JwObjectStart(&w, "spec");
	JwObjectStart(&w, "selector");
	JwObjectStart(&w, "matchLabels");
	JwString(&w, "release", AirflowReleaseName(m));
	JwObjectEnd(&w);
	JwObjectEnd(&w);
	JwObjectStart(&w, "namespaceSelector");
	JwArrayStart(&w, "matchNames");
	JwString(&w, NULL, m->namespace);
	JwArrayEnd(&w);
	JwObjectEnd(&w);
	JwArrayStart(&w, "endpoints");
	JwObjectStart(&w, NULL);
	JwString(&w, "port", "metrics");
	JwString(&w, "interval", "30s");
	JwString(&w, "path", "/metrics");
	JwObjectEnd(&w);
	JwArrayEnd(&w);
	JwObjectEnd(&w);
	JwObjectEnd(&w);
	return JwFinish(&w);
}

/*
 * MonitoringDashboardUid
 *		tn_<name> when it fits Grafana's 40 characters (names of up to 37),
 *		else th_ and the first 37 hex digits of the name's SHA-256.
 *
 * The two forms cannot meet: their prefixes differ, and "_" never occurs
 * in a tenant name, so neither can be any other tenant's tn_ form nor a
 * dashboard the platform ships (tenancy-platform) or a user names without
 * "_" at that place.  Names of up to 37 characters map one to one; the
 * 38 to 40 character ones share 148 hash bits, the most Grafana's 40
 * characters leave once the uid must also compare equal ignoring case
 * (MySQL-backed Grafana does): 36 case-folded symbols over 37 characters
 * cannot hold all 208 bits of a 40-character name.
 */
char *
MonitoringDashboardUid(const TenantModel *m)
{
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	pg_cryptohash_ctx *ctx;
	StringInfoData buf;

	if (strlen(DASHBOARD_UID_NAME_PREFIX) + strlen(m->name) <= GRAFANA_UID_MAX)
		return psprintf(DASHBOARD_UID_NAME_PREFIX "%s", m->name);
	ctx = pg_cryptohash_create(PG_SHA256);
	if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) m->name, strlen(m->name)) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not compute a SHA-256 digest");
	pg_cryptohash_free(ctx);
	initStringInfo(&buf);
	appendStringInfoString(&buf, DASHBOARD_UID_HASH_PREFIX);
	for (int i = 0; buf.len < GRAFANA_UID_MAX; i++)
		appendStringInfo(&buf, "%02x", digest[i]);
	buf.data[GRAFANA_UID_MAX] = '\0';
	buf.len = GRAFANA_UID_MAX;
	return buf.data;
}

/*
 * MonitoringDashboardTag
 *		The tag that marks a dashboard as the tenant's: "tenant:<name>"
 *		(at most 47 characters, within Grafana's 50).
 */
char *
MonitoringDashboardTag(const char *tenant)
{
	return psprintf("tenant:%s", tenant);
}

/*
 * panel
 *		One time-series panel with one PromQL target, at grid row y.
 */
static void
panel(JsonWriter *w, int id, const char *title, const char *expr, int x, int y)
{
	JwObjectStart(w, NULL);
	JwInt(w, "id", id);
	JwString(w, "type", "timeseries");
	JwString(w, "title", title);
	JwObjectStart(w, "gridPos");
	JwInt(w, "h", 8);
	JwInt(w, "w", 12);
	JwInt(w, "x", x);
	JwInt(w, "y", y);
	JwObjectEnd(w);
	JwArrayStart(w, "targets");
	JwObjectStart(w, NULL);
	JwString(w, "refId", "A");
	JwString(w, "expr", expr);
	JwObjectEnd(w);
	JwArrayEnd(w);
	JwObjectEnd(w);
}

/*
 * MonitoringDashboard
 *		The body of POST /api/dashboards/db: the dashboard with its fixed
 *		uid, overwrite on.
 */
char *
MonitoringDashboard(const TenantModel *m)
{
	const char *ns = m->namespace;	/* a DNS label: safe inside "..." */
	JsonWriter	w;

	JwInit(&w);
	JwObjectStart(&w, NULL);
	JwObjectStart(&w, "dashboard");
	JwString(&w, "uid", MonitoringDashboardUid(m));
	/*
	 * Grafana keys titles per folder: the name in parentheses at the end
	 * makes the title the tenant's alone, whatever its display name (a
	 * name has no "(" nor " ", so it is what follows the last " (").
	 */
	JwString(&w, "title", psprintf("Airflow - %s (%s)", m->display_name, m->name));
	JwArrayStart(&w, "tags");
	JwString(&w, NULL, "airflow");
	JwString(&w, NULL, "tenancy");
	JwString(&w, NULL, m->name);
	JwString(&w, NULL, MonitoringDashboardTag(m->name));
	JwArrayEnd(&w);
	JwString(&w, "timezone", "utc");
	JwInt(&w, "schemaVersion", 39);
	JwArrayStart(&w, "panels");
	panel(&w, 1, "DAG success rate",
		  psprintf("sum(rate(airflow_dagrun_duration_success_count{namespace=\"%s\"}[5m]))", ns), 0, 0);
	panel(&w, 2, "Task duration (p95)",
		  psprintf("histogram_quantile(0.95, sum by (le) (rate(airflow_task_duration_bucket{namespace=\"%s\"}[5m])))", ns), 12, 0);
	panel(&w, 3, "Memory (GiB)",
		  psprintf("sum(container_memory_working_set_bytes{namespace=\"%s\"}) / 1024 / 1024 / 1024", ns), 0, 8);
	panel(&w, 4, "Provisioning steps by state",
		  psprintf("sum by (state) (tenancy_steps{tenant=\"%s\"})", m->name), 12, 8);
	JwArrayEnd(&w);
	JwObjectEnd(&w);
	JwBool(&w, "overwrite", true);	/* the handler checked the uid is ours */
	JwString(&w, "message", "tenancy: applied from the tenant's spec");
	JwObjectEnd(&w);
	return JwFinish(&w);
}
