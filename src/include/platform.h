/*-------------------------------------------------------------------------
 *
 * platform.h
 *	  The platform side of a tenant: the Kubernetes objects, the Airflow
 *	  release, the generated DAGs and the monitoring objects the planner
 *	  enqueues (plan_platform.c), and the worker's handlers for the steps
 *	  that are not one plain request (handler_*.c).
 *
 *	  platform_json.c    a small JSON writer and readers of the spec (jsonb)
 *	  k8s_objects.c      namespace, RBAC, quota, limit range, network policies
 *	  airflow_release.c  HelmRepository and HelmRelease (values from the spec)
 *	  dag_render.c       the DAG ConfigMap: generated Airflow DAG files
 *	  monitoring.c       ServiceMonitor, PrometheusRule, Grafana dashboard
 *	  backup.c           backup CronJob, its script and volume
 *	  handler_http.c     HTTP calls of handlers (with a query string)
 *	  handler_credentials.c  database credentials, Vault-backed secrets
 *	  handler_helm.c     tenancy.helm_mode = 'cli': helm upgrade --install
 *	  handler_validate.c validation, and waiting for a namespace to go
 *	  handler_owned.c    ownership: the namespace created or proved the
 *	                     tenant's, deletes only of the tenant's objects,
 *	                     the dashboard replaced only when the tenant's
 *	  owner_record.c     what handler_owned.c reads and writes of
 *	                     tenancy.tenants (the recorded namespace uid)
 *
 * Every object builder returns the object as JSON text built from the
 * tenant model and its spec only, so the same spec always gives the same
 * text: apply compares old and new text to plan only what changed.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENANCY_PLATFORM_H
#define TENANCY_PLATFORM_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

#include "plan.h"

/* Field manager of every server-side apply */
#define PLATFORM_FIELD_MANAGER "tenancy"

/* Names of the objects in a tenant's namespace */
#define PLATFORM_SERVICE_ACCOUNT "airflow-worker"
#define PLATFORM_ROLE_BINDING "airflow-worker"
#define PLATFORM_QUOTA "tenant-quota"
#define PLATFORM_LIMIT_RANGE "tenant-limits"
#define PLATFORM_POLICY_DENY "default-deny"
#define PLATFORM_POLICY_ALLOW "tenant-isolation"

/*
 * The official Airflow chart's statsd exporter: its Service names the
 * scrape port "statsd-scrape" (ports.statsdScrape, 9102).
 */
#define AIRFLOW_STATSD_SCRAPE_PORT_NAME "statsd-scrape"
#define AIRFLOW_STATSD_SCRAPE_PORT 9102
#define PLATFORM_DB_SECRET "database-credentials"
#define PLATFORM_METADATA_SECRET "airflow-metadata"
#define PLATFORM_RESULT_BACKEND_SECRET "airflow-result-backend"
#define PLATFORM_PLUGINS_CONFIGMAP "tenant-plugins"
#define PLATFORM_OAUTH_SECRET "oauth-credentials"
#define PLATFORM_HELM_REPOSITORY "apache-airflow"
#define PLATFORM_HELM_RELEASE "airflow"
#define PLATFORM_DAG_CONFIGMAP "tenant-dags"
#define PLATFORM_PROMETHEUS_RULE "tenant-alerts"
#define PLATFORM_BACKUP_CRONJOB "tenant-backup"
#define PLATFORM_BACKUP_CONFIGMAP "tenant-backup-script"
#define PLATFORM_BACKUP_PVC "tenant-backups"
#define PLATFORM_BACKUP_SECRET "backup-credentials"

/* A daily backup whose last success is older than this is reported */
#define PLATFORM_BACKUP_MAX_AGE_S (26 * 3600)

/* Values of tenancy.helm_mode */
typedef enum HelmMode
{
	HELM_MODE_FLUX,
	HELM_MODE_CLI
} HelmMode;

/*
 * JsonWriter: JSON text built front to back, commas placed automatically.
 * Keys are NULL inside arrays and at the top level.
 */
#define JSON_WRITER_MAX_DEPTH 32
typedef struct JsonWriter
{
	StringInfoData buf;
	int			depth;
	bool		has_member[JSON_WRITER_MAX_DEPTH];
} JsonWriter;

/* platform_json.c */
extern void JwInit(JsonWriter *w);
extern void JwObjectStart(JsonWriter *w, const char *key);
extern void JwObjectEnd(JsonWriter *w);
extern void JwArrayStart(JsonWriter *w, const char *key);
extern void JwArrayEnd(JsonWriter *w);
extern void JwString(JsonWriter *w, const char *key, const char *value);
extern void JwInt(JsonWriter *w, const char *key, int64 value);
extern void JwBool(JsonWriter *w, const char *key, bool value);
extern void JwRaw(JsonWriter *w, const char *key, const char *json);
extern char *JwFinish(JsonWriter *w);

extern Jsonb *PlatformSpec(const TenantModel *m);

/* k8s_objects.c */
extern char *K8sNamespace(const TenantModel *m);
extern char *K8sServiceAccount(const TenantModel *m);
extern char *K8sRoleBinding(const TenantModel *m);
extern char *K8sResourceQuota(const TenantModel *m);
extern char *K8sLimitRange(const TenantModel *m);
extern char *K8sDefaultDenyPolicy(const TenantModel *m);
extern char *K8sIsolationPolicy(const TenantModel *m);
extern void K8sDatabaseEndpoint(const TenantModel *m, char **host, int *port);
extern void K8sCheckDatabaseHost(const TenantModel *m);
extern void K8sLabels(JsonWriter *w, const TenantModel *m);
extern void K8sObjectStart(JsonWriter *w, const TenantModel *m,
						   const char *api_version, const char *kind,
						   const char *name);
extern char *K8sContacts(Jsonb *spec, const char *kind);

/* airflow_release.c */
extern char *AirflowHelmRepository(const TenantModel *m);
extern char *AirflowHelmRelease(const TenantModel *m);
extern char *AirflowReleaseName(const TenantModel *m);
extern char *AirflowValues(const TenantModel *m);
extern char *AirflowUrl(const TenantModel *m);
extern char *AirflowWarehouseConnId(const TenantModel *m);

/* dag_render.c */
extern char *DagConfigMap(const TenantModel *m);
extern List *DagFiles(const TenantModel *m);	/* of DagFile */
extern void AppendPythonString(StringInfo buf, const char *s);

typedef struct DagFile
{
	char	   *name;			/* e.g. acme_corp_bronze_1.py */
	char	   *source;			/* Python source */
} DagFile;

/* owner_record.c: the tenant of an operation, its recorded namespace uid */
extern bool OwnerRecordRead(int64 operation_id, char **tenant, char **namespace_uid);
extern void OwnerRecordSetNamespaceUid(int64 operation_id, const char *uid);
extern char *OwnerRecordObjectUid(int64 operation_id, const char *path);
extern void OwnerRecordSetObjectUid(int64 operation_id, const char *path,
									const char *uid);

/* backup.c */
extern const char *BackupScript(void);
extern char *BackupScriptConfigMap(const TenantModel *m);
extern char *BackupVolumeSize(const TenantModel *m);
extern char *BackupVolumeClaim(const TenantModel *m);
extern char *BackupSchedule(const TenantModel *m);
extern char *BackupCronJob(const TenantModel *m);
extern char *BackupImage(const TenantModel *m);

/* role_password.c */
extern void RoleSetPasswordQuietly(const char *role, const char *password);
extern void RoleSetVerifierQuietly(const char *role, const char *verifier);
extern void RoleSetPasswordHere(const char *role, const char *password);

/* scram_secret.c */
extern char *ScramVerifier(const char *password);

/* monitoring.c */
extern char *MonitoringServiceMonitor(const TenantModel *m);
extern char *MonitoringDashboardUid(const TenantModel *m);
extern char *MonitoringDashboardTag(const char *tenant);
extern char *MonitoringDashboard(const TenantModel *m);
extern char *MonitoringPrometheusRule(const TenantModel *m);


#endif							/* TENANCY_PLATFORM_H */
