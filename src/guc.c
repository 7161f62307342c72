/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  Every tenancy.* configuration setting, defined in one place.
 *
 * Settings that name endpoints, credentials or files are superuser-only
 * (GUC_SUPERUSER_ONLY): an unprivileged role must not learn where the
 * platform lives, nor point the worker somewhere else.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <errno.h>
#include <limits.h>

#include "utils/guc.h"

#include "tenancy.h"

char	   *tenancy_database = NULL;
int			tenancy_poll_interval_ms = 10000;
int			tenancy_max_attempts = 8;
int			tenancy_max_catalog_relations = 200000;
int			tenancy_credential_max_age_days = 90;
bool		tenancy_allow_drop_with_tenants = false;
bool		tenancy_allow_set_password = false;
int			tenancy_max_tenant_transaction_s = 6 * 3600;
char	   *tenancy_max_relations_per_tenant = NULL;
char	   *tenancy_session_ceilings = NULL;
int			tenancy_lock_timeout_ms = 5000;

char	   *tenancy_kubernetes_url = NULL;
char	   *tenancy_kubernetes_ca_file = NULL;
char	   *tenancy_kubernetes_token_file = NULL;
char	   *tenancy_kubernetes_client_cert = NULL;
char	   *tenancy_kubernetes_client_key = NULL;
char	   *tenancy_vault_url = NULL;
char	   *tenancy_vault_ca_file = NULL;
char	   *tenancy_vault_token_file = NULL;
char	   *tenancy_vault_kv_mount = NULL;
char	   *tenancy_vault_auth_role = NULL;
char	   *tenancy_grafana_url = NULL;
char	   *tenancy_grafana_token_file = NULL;
int			tenancy_max_concurrent_requests = 32;
int			tenancy_max_requests_per_host = 16;
int			tenancy_connect_timeout_ms = 5000;
int			tenancy_request_timeout_ms = 30000;
int			tenancy_lease_duration_s = 300;
int			tenancy_retry_base_delay_ms = 1000;
int			tenancy_retry_max_delay_ms = 300000;

char	   *tenancy_remote_passfile = NULL;

int			tenancy_helm_mode = 0;	/* HELM_MODE_FLUX */
char	   *tenancy_helm_binary = NULL;
char	   *tenancy_airflow_url_template = NULL;
char	   *tenancy_airflow_chart_repository = NULL;
char	   *tenancy_airflow_chart_version = NULL;
char	   *tenancy_ingress_class = NULL;
char	   *tenancy_ingress_namespace = NULL;
char	   *tenancy_warehouse_cidr = NULL;
char	   *tenancy_tenant_cluster_role = NULL;
char	   *tenancy_image_registry = NULL;
char	   *tenancy_openlineage_url = NULL;
char	   *tenancy_backup_image = NULL;
char	   *tenancy_server_major_versions = NULL;
char	   *tenancy_database_host = NULL;
char	   *tenancy_monitoring_namespace = NULL;
int			tenancy_release_ready_timeout_s = 600;
int			tenancy_unreachable_timeout_s = 1800;

static const struct config_enum_entry helm_mode_options[] = {
	{"flux", 0, false},
	{"cli", 1, false},
	{NULL, 0, false}
};

static void define_endpoint_setting(const char *name, const char *short_desc,
									const char *long_desc, char **variable,
									const char *boot_value);
static void define_worker_http_settings(void);
static void define_platform_settings(void);

/*
 * define_endpoint_setting
 *		One superuser-only, reloadable string setting naming an endpoint, a
 *		file or a credential source of the worker.
 */
static void
define_endpoint_setting(const char *name, const char *short_desc,
						const char *long_desc, char **variable,
						const char *boot_value)
{
	DefineCustomStringVariable(name,
							   short_desc,
							   long_desc,
							   variable,
							   boot_value,
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
}

/*
 * define_worker_http_settings
 *		Endpoints, credentials and limits of the worker's HTTP layer
 *		(endpoint.c, http.c) and of its journal (journal.c).
 */
static void
define_worker_http_settings(void)
{
	define_endpoint_setting("tenancy.kubernetes_url",
							"Base URL of the Kubernetes API server.",
							"Empty: the in-cluster address from KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT when set, otherwise Kubernetes steps are skipped.",
							&tenancy_kubernetes_url, "");
	define_endpoint_setting("tenancy.kubernetes_ca_file",
							"CA certificate file that signs the Kubernetes API server's certificate.",
							"Empty: the service account's ca.crt when present, otherwise the system CAs.",
							&tenancy_kubernetes_ca_file, "");
	define_endpoint_setting("tenancy.kubernetes_token_file",
							"File holding the bearer token for the Kubernetes API.",
							"Re-read when it changes (Kubernetes rotates projected tokens). Empty: the service account token when present.",
							&tenancy_kubernetes_token_file, "");
	define_endpoint_setting("tenancy.kubernetes_client_cert",
							"Client certificate file (PEM) for the Kubernetes API.",
							NULL,
							&tenancy_kubernetes_client_cert, "");
	define_endpoint_setting("tenancy.kubernetes_client_key",
							"Private key file (PEM) of the Kubernetes client certificate.",
							NULL,
							&tenancy_kubernetes_client_key, "");
	define_endpoint_setting("tenancy.vault_url",
							"Base URL of Vault.",
							"Empty: Vault steps are skipped.",
							&tenancy_vault_url, "");
	define_endpoint_setting("tenancy.vault_ca_file",
							"CA certificate file that signs Vault's certificate.",
							NULL,
							&tenancy_vault_ca_file, "");
	define_endpoint_setting("tenancy.vault_token_file",
							"File holding the Vault token.",
							"Re-read when it changes.",
							&tenancy_vault_token_file, "");
	define_endpoint_setting("tenancy.vault_kv_mount",
							"Mount path of the KV version 2 secrets engine in Vault.",
							NULL,
							&tenancy_vault_kv_mount, "secret");
	define_endpoint_setting("tenancy.vault_auth_role",
							"Vault role for Kubernetes authentication.",
							"When set and no token file is configured, the worker logs in to Vault with its service account token.",
							&tenancy_vault_auth_role, "");
	define_endpoint_setting("tenancy.grafana_url",
							"Base URL of Grafana.",
							"Empty: Grafana steps are skipped.",
							&tenancy_grafana_url, "");
	define_endpoint_setting("tenancy.grafana_token_file",
							"File holding the Grafana service account token.",
							"Re-read when it changes.",
							&tenancy_grafana_token_file, "");

	DefineCustomIntVariable("tenancy.max_concurrent_requests",
							"Requests the worker keeps in flight at once.",
							NULL,
							&tenancy_max_concurrent_requests,
							32,
							1,
							1024,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("tenancy.max_requests_per_host",
							"Connections the worker opens to one host at once.",
							"With HTTP/2 several requests share one connection.",
							&tenancy_max_requests_per_host,
							16,
							1,
							1024,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("tenancy.connect_timeout",
							"Time allowed to connect to an endpoint (TCP and TLS).",
							NULL,
							&tenancy_connect_timeout_ms,
							5000,
							1,
							3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("tenancy.request_timeout",
							"Time allowed for a whole request, connection included.",
							NULL,
							&tenancy_request_timeout_ms,
							30000,
							1,
							3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("tenancy.lease_duration",
							"How long a claimed step stays with the worker before it may run again.",
							"A step whose lease expired (the worker was killed) is run again: steps are idempotent.",
							&tenancy_lease_duration_s,
							300,
							1,
							86400,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("tenancy.retry_base_delay",
							"Delay before the first retry of a failed step; doubles at each attempt, with jitter.",
							NULL,
							&tenancy_retry_base_delay_ms,
							1000,
							1,
							3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("tenancy.retry_max_delay",
							"Longest delay between two attempts of a step.",
							"Also caps the Retry-After a server asks for.",
							&tenancy_retry_max_delay_ms,
							300000,
							1,
							24 * 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
}

/*
 * define_platform_string
 *		One reloadable string setting of the platform steps.
 */
static void
define_platform_string(const char *name, const char *short_desc,
					   const char *long_desc, char **variable,
					   const char *boot_value)
{
	DefineCustomStringVariable(name,
							   short_desc,
							   long_desc,
							   variable,
							   boot_value,
							   PGC_SIGHUP,
							   0,
							   NULL, NULL, NULL);
}

/*
 * check_cluster_role_name
 *		tenancy.tenant_cluster_role must be a name Kubernetes accepts for a
 *		ClusterRole: 1 to 253 characters of lower-case letters, digits,
 *		"-", "." and ":" (as in system:aggregate-to-edit).
 */
static bool
check_cluster_role_name(char **newval, void **extra, GucSource source)
{
	const char *name = *newval;
	size_t		len = name ? strlen(name) : 0;

	(void) extra;
	(void) source;
	if (len == 0 || len > 253 ||
		strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-.:") != len)
	{
		GUC_check_errdetail("A ClusterRole name is 1 to 253 characters of lower-case letters, digits, \"-\", \".\" and \":\".");
		return false;
	}
	return true;
}

/*
 * check_backup_image
 *		tenancy.backup_image is an image reference (letters, digits and
 *		"._-/:@") in which %s, at most once, stands for the major version of
 *		the server the tenant's data lives on; no other "%".
 */
static bool
check_backup_image(char **newval, void **extra, GucSource source)
{
	const char *image = *newval;
	const char *pct;
	size_t		len = image ? strlen(image) : 0;

	(void) extra;
	(void) source;
	if (len == 0 || len > 255 ||
		strspn(image, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/:@%") != len)
	{
		GUC_check_errdetail("An image reference is 1 to 255 letters, digits, \".\", \"_\", \"-\", \"/\", \":\", \"@\" and at most one %%s.");
		return false;
	}
	pct = strchr(image, '%');
	if (pct != NULL && (pct[1] != 's' || strchr(pct + 1, '%') != NULL))
	{
		GUC_check_errdetail("The only \"%%\" allowed is one %%s, which stands for the server's major version.");
		return false;
	}
	return true;
}

/*
 * check_server_major_versions
 *		tenancy.server_major_versions is a comma-separated list of
 *		server=major: a registered server's name and its PostgreSQL major
 *		version (10 to 99).
 */
static bool
check_server_major_versions(char **newval, void **extra, GucSource source)
{
	char	   *list = pstrdup(*newval);
	char	   *save = NULL;

	(void) extra;
	(void) source;
	for (char *item = strtok_r(list, ", ", &save); item != NULL;
		 item = strtok_r(NULL, ", ", &save))
	{
		char	   *eq = strchr(item, '=');
		char	   *end;
		long		major;

		if (eq == NULL || eq == item ||
			strspn(item, "abcdefghijklmnopqrstuvwxyz0123456789-") != (size_t) (eq - item))
		{
			GUC_check_errdetail("\"%s\" is not of the form server=major (a registered server's name).", item);
			return false;
		}
		errno = 0;
		major = strtol(eq + 1, &end, 10);
		if (eq[1] == '\0' || *end != '\0' || errno != 0 || major < 10 || major > 99)
		{
			GUC_check_errdetail("The major version in \"%s\" must be an integer from 10 to 99.", item);
			return false;
		}
	}
	return true;
}

/*
 * check_host_name
 *		tenancy.database_host: empty, or a DNS name or IP address (letters,
 *		digits, ".", "-", and ":" for IPv6), at most 253 characters.
 */
static bool
check_host_name(char **newval, void **extra, GucSource source)
{
	const char *host = *newval;
	size_t		len = host ? strlen(host) : 0;

	(void) extra;
	(void) source;
	if (len > 253 ||
		strspn(host ? host : "", "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:") != len)
	{
		GUC_check_errdetail("A host is a DNS name or an IP address of at most 253 characters.");
		return false;
	}
	return true;
}

/*
 * check_namespace_name
 *		tenancy.monitoring_namespace must be a Kubernetes namespace name (a
 *		DNS label: 1 to 63 lower-case letters, digits and "-", starting and
 *		ending with a letter or digit).
 */
static bool
check_namespace_name(char **newval, void **extra, GucSource source)
{
	const char *name = *newval;
	size_t		len = name ? strlen(name) : 0;

	(void) extra;
	(void) source;
	if (len == 0 || len > 63 ||
		strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != len ||
		name[0] == '-' || name[len - 1] == '-')
	{
		GUC_check_errdetail("A namespace name is 1 to 63 lower-case letters, digits and \"-\", starting and ending with a letter or digit.");
		return false;
	}
	return true;
}

/*
 * define_platform_settings
 *		Settings of the platform steps (plan_platform.c and the handlers):
 *		how the Airflow release is installed, where it is reached, and the
 *		network the tenant's pods may talk to.
 */
static void
define_platform_settings(void)
{
	DefineCustomEnumVariable("tenancy.helm_mode",
							 "How the Airflow release of a tenant is installed.",
							 "flux: a Flux HelmRelease (and its HelmRepository) in the tenant's namespace; cli: the worker runs helm upgrade --install.",
							 &tenancy_helm_mode,
							 0,
							 helm_mode_options,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("tenancy.helm_binary",
							   "The helm executable the worker runs when tenancy.helm_mode is cli.",
							   NULL,
							   &tenancy_helm_binary,
							   "helm",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	define_platform_string("tenancy.airflow_url_template",
						   "URL of a tenant's Airflow; {tenant} stands for the tenant name.",
						   "Gives the ingress host of the release and the URL the validation step checks (/health). Empty: no ingress and no health check.",
						   &tenancy_airflow_url_template, "");
	define_platform_string("tenancy.airflow_chart_repository",
						   "Helm repository of the Airflow chart.",
						   NULL,
						   &tenancy_airflow_chart_repository,
						   "https://airflow.apache.org");
	define_platform_string("tenancy.airflow_chart_version",
						   "Version of the Airflow chart.",
						   NULL,
						   &tenancy_airflow_chart_version, "1.15.0");
	define_platform_string("tenancy.ingress_class",
						   "Ingress class of the tenants' Airflow web ingress.",
						   NULL,
						   &tenancy_ingress_class, "nginx");
	define_platform_string("tenancy.ingress_namespace",
						   "Namespace of the ingress controller, allowed in by the tenants' network policy.",
						   NULL,
						   &tenancy_ingress_namespace, "ingress-nginx");
	define_platform_string("tenancy.warehouse_cidr",
						   "Network (CIDR) of the warehouse servers that tenant pods may reach on the database port.",
						   "Used when warehouse.database.host is a name rather than an IP address.",
						   &tenancy_warehouse_cidr, "10.0.0.0/8");
	define_platform_string("tenancy.image_registry",
						   "Registry of the images the generated DAGs run (etl runners, dbt).",
						   NULL,
						   &tenancy_image_registry, "registry.localhost");
	define_platform_string("tenancy.openlineage_url",
						   "OpenLineage endpoint (HTTP transport) of tenants with features.data_lineage.",
						   "Empty: their lineage events go to the console transport, i.e. to the task logs.",
						   &tenancy_openlineage_url, "");
	DefineCustomStringVariable("tenancy.backup_image",
							   "Image of the tenants' backup CronJob; %s stands for the PostgreSQL major version of the server the tenant's data lives on.",
							   "pg_dump refuses a server of a newer major version, and pg_restore an archive of a newer one: the backup runs in the image of the server's own major (tenancy.server_major_versions for registered servers).",
							   &tenancy_backup_image,
							   "postgres:%s",
							   PGC_SIGHUP,
							   0,
							   check_backup_image, NULL, NULL);
	DefineCustomStringVariable("tenancy.server_major_versions",
							   "PostgreSQL major versions of registered warehouse servers, as server=major, comma-separated.",
							   "A server not listed is taken to run this server's major version. It chooses the image of the backups of the tenants placed there (tenancy.backup_image).",
							   &tenancy_server_major_versions,
							   "",
							   PGC_SIGHUP,
							   0,
							   check_server_major_versions, NULL, NULL);
	DefineCustomStringVariable("tenancy.database_host",
							   "Host name (or address) at which the tenants' pods reach this PostgreSQL server.",
							   "The host of the credentials (and of the backups) of tenants whose data is on this server; Kubernetes pods cannot use localhost for it. Empty: provisioning such a tenant is refused.",
							   &tenancy_database_host,
							   "",
							   PGC_SIGHUP,
							   0,
							   check_host_name, NULL, NULL);
	DefineCustomStringVariable("tenancy.monitoring_namespace",
							   "Namespace of Prometheus, allowed by the tenants' network policy to scrape their Airflow metrics.",
							   NULL,
							   &tenancy_monitoring_namespace,
							   "monitoring",
							   PGC_SIGHUP,
							   0,
							   check_namespace_name, NULL, NULL);
	DefineCustomStringVariable("tenancy.tenant_cluster_role",
							   "ClusterRole bound to the Airflow service account in each new tenant namespace.",
							   "The Helm chart installs it (rbac.tenantRole.name); the worker holds only \"bind\" on it. A RoleBinding's roleRef is immutable: existing tenants keep the role they were bound to.",
							   &tenancy_tenant_cluster_role,
							   "tenancy-tenant-workload",
							   PGC_SIGHUP,
							   0,
							   check_cluster_role_name, NULL, NULL);

	DefineCustomIntVariable("tenancy.release_ready_timeout",
							"How long the validation step waits for a tenant's Airflow release to become Ready.",
							NULL,
							&tenancy_release_ready_timeout_s,
							600,
							1,
							24 * 3600,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("tenancy.unreachable_timeout",
							"How long the worker waits out a platform service that cannot serve a step before it fails the step.",
							"Refused connections, resets, timed-out requests and 408, 429 and 5xx answers are retried with growing delays, without using up tenancy.max_attempts, until the step has met nothing else for this long.",
							&tenancy_unreachable_timeout_s,
							1800,
							1,
							7 * 24 * 3600,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);
}

/*
 * check_relation_budgets
 *		tenancy.max_relations_per_tenant is a comma-separated list of
 *		tier=count, each tier basic, standard or enterprise, each count a
 *		non-negative integer.
 */
static bool
check_relation_budgets(char **newval, void **extra, GucSource source)
{
	char	   *list = pstrdup(*newval);
	char	   *save = NULL;

	(void) extra;
	(void) source;
	for (char *item = strtok_r(list, ", ", &save); item != NULL;
		 item = strtok_r(NULL, ", ", &save))
	{
		char	   *eq = strchr(item, '=');
		char	   *end;
		long		count;

		if (eq == NULL)
		{
			GUC_check_errdetail("\"%s\" is not of the form tier=count.", item);
			return false;
		}
		*eq = '\0';
		if (strcmp(item, "basic") != 0 && strcmp(item, "standard") != 0 &&
			strcmp(item, "enterprise") != 0)
		{
			GUC_check_errdetail("\"%s\" is not a tier; the tiers are basic, standard and enterprise.", item);
			return false;
		}
		errno = 0;
		count = strtol(eq + 1, &end, 10);
		if (eq[1] == '\0' || *end != '\0' || errno != 0 || count < 0 || count > INT_MAX)
		{
			GUC_check_errdetail("The budget of tier %s must be a non-negative integer.", item);
			return false;
		}
	}
	return true;
}

/*
 * check_session_ceilings
 *		tenancy.session_ceilings is a comma-separated list of name=value,
 *		each name one of the settings below, each value one of that
 *		setting's (units allowed).
 */
static bool
check_session_ceilings(char **newval, void **extra, GucSource source)
{
	static const char *const names[] = {
		"hash_mem_multiplier", "maintenance_work_mem", "temp_buffers",
		"max_parallel_workers_per_gather", "max_parallel_maintenance_workers",
		"max_parallel_workers"
	};
	char	   *list = pstrdup(*newval);
	char	   *save = NULL;

	(void) extra;
	(void) source;
	for (char *item = strtok_r(list, ", ", &save); item != NULL;
		 item = strtok_r(NULL, ", ", &save))
	{
		char	   *eq = strchr(item, '=');
		bool		known = false;
		bool		valid;
		double		real;
		int			integer;

		if (eq == NULL)
		{
			GUC_check_errdetail("\"%s\" is not of the form setting=value.", item);
			return false;
		}
		*eq = '\0';
		for (size_t i = 0; i < lengthof(names); i++)
			known |= strcmp(item, names[i]) == 0;
		if (!known)
		{
			GUC_check_errdetail("\"%s\" is not one of hash_mem_multiplier, maintenance_work_mem, temp_buffers, max_parallel_workers_per_gather, max_parallel_maintenance_workers and max_parallel_workers.", item);
			return false;
		}
		if (strcmp(item, "hash_mem_multiplier") == 0)
			valid = parse_real(eq + 1, &real, 0, NULL) && real >= 1;
		else
			valid = parse_int(eq + 1, &integer, GetConfigOptionFlags(item, false), NULL) &&
				integer >= 0;
		if (!valid)
		{
			GUC_check_errdetail("\"%s\" is not a valid value of %s.", eq + 1, item);
			return false;
		}
	}
	return true;
}

/*
 * DefineTenancySettings
 *		Register the tenancy.* settings; called once from _PG_init.
 */
void
DefineTenancySettings(void)
{
	DefineCustomStringVariable("tenancy.database",
							   "Database the tenancy worker connects to.",
							   "The platform database: the one where CREATE EXTENSION tenancy was run.",
							   &tenancy_database,
							   "postgres",
							   PGC_POSTMASTER,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("tenancy.poll_interval",
							"How often the worker looks for due steps when nothing wakes it.",
							"Commits that enqueue steps wake the worker at once; this is the fallback.",
							&tenancy_poll_interval_ms,
							10000,
							100,
							3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("tenancy.max_attempts",
							"Attempts of a step before its operation fails.",
							NULL,
							&tenancy_max_attempts,
							8,
							1,
							1000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("tenancy.max_catalog_relations",
							"Refuse to provision a tenant that would push pg_class past this many rows.",
							"Servers with many thousands of schemas degrade through per-backend relation cache growth.",
							&tenancy_max_catalog_relations,
							200000,
							0,
							INT_MAX,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	/*
	 * A tenant role's open transaction holds back VACUUM's cleanup horizon
	 * for the whole database (every tenant's tables).  The backup role may
	 * switch its timeouts off (pg_dump does): this bounds it, as a
	 * transaction_timeout ceiling from PostgreSQL 17 and as the audit's
	 * long_transaction check.
	 */
	DefineCustomIntVariable("tenancy.max_tenant_transaction",
							"Longest a tenant role's transaction may stay open (the audit reports longer ones; from PostgreSQL 17 the backup role's transaction_timeout ceiling).",
							"An open transaction holds back the cleanup of dead rows in every table of the database, other tenants' included. A backup (pg_dump) holds one for the whole dump.",
							&tenancy_max_tenant_transaction_s,
							6 * 3600,
							1,
							7 * 24 * 3600,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("tenancy.credential_max_age",
							"Age after which the audit reports a tenant's database credentials as due for rotation.",
							NULL,
							&tenancy_credential_max_age_days,
							90,
							1,
							3650,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomStringVariable("tenancy.max_relations_per_tenant",
							   "Budget of live relations of a tenant, by tier (tier=count, comma-separated).",
							   "A tenant role's statement that creates a relation is refused (53400) once the tenant holds this many relations (tables, indexes, sequences, views, TOAST tables) in its schemas or owned by its roles. A tier not listed has no budget.",
							   &tenancy_max_relations_per_tenant,
							   "basic=1000,standard=5000,enterprise=20000",
							   PGC_SUSET,
							   0,
							   check_relation_budgets, NULL, NULL);

	DefineCustomStringVariable("tenancy.session_ceilings",
							   "Ceilings of tenant sessions' settings that multiply one statement's memory and parallel workers (setting=value, comma-separated).",
							   "A tenant login role's session may not raise these settings above these values (SET refused with 42501; set_config(), startup options and function SET clauses lowered back), unless a DBA set the setting for the role, which is then its ceiling. A value from the server's configuration is left as it is.",
							   &tenancy_session_ceilings,
							   "hash_mem_multiplier=2,maintenance_work_mem=256MB,temp_buffers=64MB,"
							   "max_parallel_workers_per_gather=2,max_parallel_maintenance_workers=2,"
							   "max_parallel_workers=8",
							   PGC_SUSET,
							   0,
							   check_session_ceilings, NULL, NULL);

	DefineCustomIntVariable("tenancy.lock_timeout",
							"How long tenancy's maintenance, and the statements of provision, apply and deprovision, wait for a lock on a tenant's objects.",
							"tenancy.audit and tenancy.sample_usage skip a tenant whose objects they cannot lock in this time (a tenant holding a lock must not stall the others) and report it; a statement of provision, apply or deprovision fails (55P03), or leaves the role it drops behind.",
							&tenancy_lock_timeout_ms,
							5000,
							1,
							INT_MAX,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	define_worker_http_settings();
	define_platform_settings();

	DefineCustomStringVariable("tenancy.remote_passfile",
							   "Password file the worker's libpq connections to warehouse servers use.",
							   "Used when a registered server's conninfo names no passfile; empty: libpq's default (~/.pgpass of the server's OS user, or PGPASSFILE).",
							   &tenancy_remote_passfile,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	DefineCustomBoolVariable("tenancy.allow_drop_with_tenants",
							 "Let DROP EXTENSION tenancy run while tenants are not deprovisioned.",
							 "Off: DROP EXTENSION tenancy (and DROP SCHEMA tenancy) is refused while tenants exist, because it would leave their roles, schemas and platform objects behind with no record of them.",
							 &tenancy_allow_drop_with_tenants,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	/*
	 * Off by default: set_password lets every tenancy_admin log in as any
	 * local tenant's login role, that is read and write its data.  That is a
	 * superuser's decision (postgresql.conf, or ALTER ROLE admin SET for one
	 * administrator), not a side effect of CREATE EXTENSION.
	 */
	DefineCustomBoolVariable("tenancy.allow_set_password",
							 "Let tenancy.set_password set passwords on tenants' login roles (installations without Vault).",
							 "Whoever may call tenancy.set_password (tenancy_admin) can then log in as any login role of a tenant of this database. Off: it is refused.",
							 &tenancy_allow_set_password,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	MarkGUCPrefixReserved("tenancy");
}
