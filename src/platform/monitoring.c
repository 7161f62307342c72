/*-------------------------------------------------------------------------
 *
 * monitoring.c
 *	  A tenant's monitoring: the ServiceMonitor through which Prometheus
 *	  scrapes its Airflow, and its Grafana dashboard.
 *
 * The dashboard has the source document's panels (DAG success rate, task
 * duration, memory) and one with the tenant's step health from the
 * tenancy exporter; features.advanced_monitoring adds panels (scheduler
 * heartbeat, task failures, quota use, backup age).  Its uid is derived from
 * the tenant name, so uploading it again replaces it instead of adding a
 * copy; the uid, the title and the "tenant:<name>" tag are distinct for
 * distinct tenants (see MonitoringDashboardUid), and the worker replaces or
 * deletes a dashboard only when it carries that tag (handler_owned.c).
 *
 * The PrometheusRule tenant-alerts holds the tenant's alerts: from the sla
 * section, availability alerts as error-budget burn rates (the multiwindow,
 * multi-burn-rate alerts: a fast and a slow window per rate) derived from
 * sla.uptime_percent; from features.advanced_monitoring, operational
 * alerts.  Every alert carries labels for routing: tenant, tier,
 * support_tier, priority and the SLA's response_time for that priority,
 * and the tenant's contacts.  No sla and no advanced_monitoring: no rule.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/cryptohash.h"
#include "common/sha2.h"

#include "platform.h"
#include "spec.h"

/* Grafana's limit on dashboard uids */
#define GRAFANA_UID_MAX 40

/* The two forms of a tenant dashboard's uid (see MonitoringDashboardUid) */
#define DASHBOARD_UID_NAME_PREFIX "tn_"
#define DASHBOARD_UID_HASH_PREFIX "th_"

/*
 * MonitoringServiceMonitor
 *		Scrape the release's statsd exporter every 30 s: the official
 *		chart's statsd Service names its port "statsd-scrape" (9102, which
 *		the tenant's network policy opens to Prometheus).
 */
char *
MonitoringServiceMonitor(const TenantModel *m)
{
	JsonWriter	w;

	K8sObjectStart(&w, m, "monitoring.coreos.com/v1", "ServiceMonitor",
				   psprintf("airflow-%s", m->name));
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
	JwString(&w, "port", AIRFLOW_STATSD_SCRAPE_PORT_NAME);
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
	 * makes the title the tenant's alone, whatever its display name (a name
	 * has no "(" nor " ", so it is what follows the last " (").
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
	if (SpecFlag(PlatformSpec(m), "features.advanced_monitoring", false))
	{
		panel(&w, 5, "Scheduler heartbeats per minute",
			  psprintf("sum(rate(airflow_scheduler_heartbeat{namespace=\"%s\"}[5m])) * 60", ns), 0, 16);
		panel(&w, 6, "Task failures per hour",
			  psprintf("sum(increase(airflow_ti_failures{namespace=\"%s\"}[1h]))", ns), 12, 16);
		panel(&w, 7, "Quota used (fraction of hard)",
			  psprintf("max by (resource) (kube_resourcequota{namespace=\"%s\", type=\"used\"} / ignoring(type) kube_resourcequota{namespace=\"%s\", type=\"hard\"})", ns, ns), 0, 24);
		if (SpecFlag(PlatformSpec(m), "resources.database.backup.enabled", false))
			panel(&w, 8, "Hours since the last successful backup",
				  psprintf("(time() - kube_cronjob_status_last_successful_time{namespace=\"%s\", cronjob=\"%s\"}) / 3600", ns, PLATFORM_BACKUP_CRONJOB), 12, 24);
	}
	JwArrayEnd(&w);
	JwObjectEnd(&w);
	JwBool(&w, "overwrite", true);	/* the handler checked the uid is ours */
	JwString(&w, "message", "tenancy: applied from the tenant's spec");
	JwObjectEnd(&w);
	return JwFinish(&w);
}

/* A burn-rate alert: the budget burnt this many times faster than allowed
 * over both windows (the short one makes the alert stop soon after the
 * problem does) */
typedef struct BurnRate
{
	const char *priority;		/* sla.response_time key, and the label */
	const char *severity;		/* page (critical) or ticket (warning) */
	double		factor;
	const char *long_window;
	const char *short_window;
	const char *for_duration;
} BurnRate;

/* 2% and 5% of a 30-day budget in 1 h and 6 h, 10% in 1 and 3 days */
static const BurnRate burn_rates[] = {
	{"critical", "critical", SPEC_SLA_FASTEST_BURN_RATE, "1h", "5m", "2m"},
	{"high", "critical", 6, "6h", "30m", "15m"},
	{"medium", "warning", 3, "1d", "2h", "1h"},
	{"low", "warning", 1, "3d", "6h", "3h"},
};

/*
 * alert_labels
 *		The routing labels of every alert of the tenant: tenant, tier,
 *		priority and severity, the SLA's support tier and the response
 *		time of that priority, the contacts.
 */
static void
alert_labels(JsonWriter *w, const TenantModel *m, const char *priority,
			 const char *severity)
{
	Jsonb	   *spec = PlatformSpec(m);
	char	   *support_tier = SpecText(spec, "sla.support_tier", NULL);
	char	   *response = SpecText(spec, psprintf("sla.response_time.%s", priority), NULL);
	char	   *technical = K8sContacts(spec, "technical");
	char	   *business = K8sContacts(spec, "business");

	JwObjectStart(w, "labels");
	JwString(w, "tenant", m->name);
	JwString(w, "tier", m->tier);
	JwString(w, "environment", m->environment);
	JwString(w, "priority", priority);
	JwString(w, "severity", severity);
	if (support_tier != NULL)
		JwString(w, "support_tier", support_tier);
	if (response != NULL)
		JwString(w, "response_time", response);
	if (technical != NULL)
		JwString(w, "technical_contacts", technical);
	if (business != NULL)
		JwString(w, "business_contacts", business);
	JwObjectEnd(w);
}

/*
 * alert
 *		One alerting rule.
 */
static void
alert(JsonWriter *w, const TenantModel *m, const char *name, const char *expr,
	  const char *for_duration, const char *priority, const char *severity,
	  const char *summary)
{
	JwObjectStart(w, NULL);
	JwString(w, "alert", name);
	JwString(w, "expr", expr);
	JwString(w, "for", for_duration);
	alert_labels(w, m, priority, severity);
	JwObjectStart(w, "annotations");
	JwString(w, "summary", summary);
	JwString(w, "tenant_display_name", m->display_name);
	JwObjectEnd(w);
	JwObjectEnd(w);
}

/*
 * error_ratio
 *		The availability SLI's error ratio over a window: the share of
 *		failed scrapes of the release's targets (up == 0).
 */
static char *
error_ratio(const TenantModel *m, const char *window)
{
	return psprintf("(1 - avg(avg_over_time(up{namespace=\"%s\", job=~\"%s.*\"}[%s])))",
					m->namespace, AirflowReleaseName(m), window);
}

/*
 * sla_group
 *		The availability alerts of sla.uptime_percent: for each burn rate,
 *		error ratio over the long and the short window above factor x the
 *		error budget (1 - uptime_percent / 100).
 */
static void
sla_group(JsonWriter *w, const TenantModel *m, const char *uptime)
{
	char	   *budget = psprintf("(1 - %s / 100)", uptime);

	JwObjectStart(w, NULL);
	JwString(w, "name", psprintf("tenancy-%s-sla", m->name));
	JwArrayStart(w, "rules");
	for (int i = 0; i < (int) lengthof(burn_rates); i++)
	{
		const BurnRate *b = &burn_rates[i];
		char	   *threshold = psprintf("%g * %s", b->factor, budget);

		alert(w, m, psprintf("TenantErrorBudgetBurn%s", i == 0 ? "Fast" : i == 1 ? "High" : i == 2 ? "Medium" : "Slow"),
			  psprintf("%s > (%s)\nand\n%s > (%s)",
					   error_ratio(m, b->long_window), threshold,
					   error_ratio(m, b->short_window), threshold),
			  b->for_duration, b->priority, b->severity,
			  psprintf("Airflow of tenant %s is burning its %s%% availability budget %gx too fast (%s window)",
					   m->name, uptime, b->factor, b->long_window));
	}
	JwArrayEnd(w);
	JwObjectEnd(w);
}

/*
 * advanced_group
 *		features.advanced_monitoring: scheduler down, failing tasks, quota
 *		nearly used up, backups not succeeding.
 */
static void
advanced_group(JsonWriter *w, const TenantModel *m)
{
	const char *ns = m->namespace;
	Jsonb	   *spec = PlatformSpec(m);

	JwObjectStart(w, NULL);
	JwString(w, "name", psprintf("tenancy-%s-operations", m->name));
	JwArrayStart(w, "rules");
	alert(w, m, "TenantSchedulerHeartbeatMissing",
		  psprintf("sum(rate(airflow_scheduler_heartbeat{namespace=\"%s\"}[5m])) == 0", ns),
		  "5m", "critical", "critical",
		  psprintf("The Airflow scheduler of tenant %s sends no heartbeat", m->name));
	alert(w, m, "TenantTaskFailures",
		  psprintf("sum(increase(airflow_ti_failures{namespace=\"%s\"}[1h])) > 5", ns),
		  "10m", "high", "warning",
		  psprintf("More than 5 task failures in an hour for tenant %s", m->name));
	alert(w, m, "TenantQuotaNearlyUsed",
		  psprintf("max(kube_resourcequota{namespace=\"%s\", type=\"used\"} / ignoring(type) kube_resourcequota{namespace=\"%s\", type=\"hard\"}) > 0.9", ns, ns),
		  "15m", "medium", "warning",
		  psprintf("Tenant %s uses more than 90%% of a quota", m->name));
	if (SpecFlag(spec, "resources.database.backup.enabled", false))
		alert(w, m, "TenantBackupTooOld",
			  psprintf("time() - kube_cronjob_status_last_successful_time{namespace=\"%s\", cronjob=\"%s\"} > %d",
					   ns, PLATFORM_BACKUP_CRONJOB, PLATFORM_BACKUP_MAX_AGE_S),
			  "30m", "high", "warning",
			  psprintf("The last successful backup of tenant %s is older than %d hours",
					   m->name, PLATFORM_BACKUP_MAX_AGE_S / 3600));
	JwArrayEnd(w);
	JwObjectEnd(w);
}

/*
 * MonitoringPrometheusRule
 *		The PrometheusRule tenant-alerts, or NULL when the spec has neither
 *		an sla.uptime_percent nor features.advanced_monitoring.
 */
char *
MonitoringPrometheusRule(const TenantModel *m)
{
	Jsonb	   *spec = PlatformSpec(m);
	char	   *uptime = SpecText(spec, "sla.uptime_percent", NULL);
	bool		advanced = SpecFlag(spec, "features.advanced_monitoring", false);
	JsonWriter	w;

	if (uptime == NULL && !advanced)
		return NULL;
	K8sObjectStart(&w, m, "monitoring.coreos.com/v1", "PrometheusRule",
				   PLATFORM_PROMETHEUS_RULE);
	JwObjectStart(&w, "spec");
	JwArrayStart(&w, "groups");
	if (uptime != NULL)
		sla_group(&w, m, uptime);
	if (advanced)
		advanced_group(&w, m);
	JwArrayEnd(&w);
	JwObjectEnd(&w);
	JwObjectEnd(&w);
	return JwFinish(&w);
}
