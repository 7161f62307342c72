/*-------------------------------------------------------------------------
 *
 * tenancy.h
 *	  Declarations shared by the tenancy extension's source files: settings
 *	  (see guc.c) and the entry points each concern exports.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TENANCY_H
#define TENANCY_H

#include "postgres.h"

#include "fmgr.h"

#ifndef TENANCY_VERSION
#define TENANCY_VERSION "unknown"
#endif

/* Schema that holds the extension's catalog (fixed: relocatable = false). */
#define TENANCY_SCHEMA "tenancy"

/* guc.c: every tenancy.* setting, defined in one place */
extern char *tenancy_database;
extern int	tenancy_poll_interval_ms;
extern int	tenancy_max_attempts;
extern int	tenancy_max_catalog_relations;
extern int	tenancy_credential_max_age_days;
extern bool tenancy_allow_drop_with_tenants;
extern bool tenancy_allow_set_password;
extern int	tenancy_max_tenant_transaction_s;

extern char *tenancy_max_relations_per_tenant;
extern char *tenancy_session_ceilings;
extern int	tenancy_lock_timeout_ms;

/* guc.c: endpoints, credentials and limits of the worker's HTTP layer */
extern char *tenancy_kubernetes_url;
extern char *tenancy_kubernetes_ca_file;
extern char *tenancy_kubernetes_token_file;
extern char *tenancy_kubernetes_client_cert;
extern char *tenancy_kubernetes_client_key;
extern char *tenancy_vault_url;
extern char *tenancy_vault_ca_file;
extern char *tenancy_vault_token_file;
extern char *tenancy_vault_kv_mount;
extern char *tenancy_vault_auth_role;
extern char *tenancy_grafana_url;
extern char *tenancy_grafana_token_file;
extern int	tenancy_max_concurrent_requests;
extern int	tenancy_max_requests_per_host;
extern int	tenancy_connect_timeout_ms;
extern int	tenancy_request_timeout_ms;
extern int	tenancy_lease_duration_s;
extern int	tenancy_retry_base_delay_ms;
extern int	tenancy_retry_max_delay_ms;

/* guc.c: the platform steps (platform.h) */
extern int	tenancy_helm_mode;
extern char *tenancy_helm_binary;
extern char *tenancy_airflow_url_template;
extern char *tenancy_airflow_chart_repository;
extern char *tenancy_airflow_chart_version;
extern char *tenancy_ingress_class;
extern char *tenancy_ingress_namespace;
extern char *tenancy_warehouse_cidr;
extern char *tenancy_tenant_cluster_role;
extern char *tenancy_image_registry;
extern char *tenancy_openlineage_url;
extern char *tenancy_backup_image;
extern char *tenancy_server_major_versions;
extern char *tenancy_database_host;
extern char *tenancy_monitoring_namespace;
extern int	tenancy_release_ready_timeout_s;
extern int	tenancy_unreachable_timeout_s;

/* guc.c: the worker's libpq connections to warehouse servers (remote.c) */
extern char *tenancy_remote_passfile;

extern void DefineTenancySettings(void);

/* commands/argument_util.c: a command's arguments must not be NULL */
extern void RequireArguments(FunctionCallInfo fcinfo);

/* commands/setup.c: the worker's absence said; DROP EXTENSION refused */
extern char *WorkerProblem(bool running_now);
extern void RefuseDropWithTenants(Node *parsetree);

/* rls.c: tenants of roles, shared tables */
extern const char *TenantOfRole(Oid roleid);
extern char *SharedTenantColumn(Oid relid);
extern Oid	SharedTableOf(Oid relid, char **column);
extern void SharePartition(Oid relid);
typedef enum SharedRowsCheck
{
	SHARED_ROWS_PROVISION,		/* a new tenant of that name */
	SHARED_ROWS_DROP_DATA,		/* deprovision with drop_data */
	SHARED_ROWS_FORGET			/* tenancy.forget: the record goes */
} SharedRowsCheck;
extern void RefuseSharedRowsOf(const char *tenant, SharedRowsCheck why);

/* commands/hooks.c: every hook, calling the checks below and above */
extern void InstallHooks(void);

/* tenant_guard.c: the checks that hold tenants to their share */
extern Oid	TenantGuardBeforeUtility(Node *parsetree);
extern void TenantGuardAfterUtility(Node *parsetree, Oid next_oid_before);
extern void TenantGuardAroundQuery(void);
extern int	TenantRelationBudget(const char *tier);

#endif							/* TENANCY_H */
